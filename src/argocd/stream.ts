/**
 * Message framing of Argo CD's `/api/v1/stream/*` endpoints (grpc-gateway v1
 * `ForwardResponseStream` behind argoproj/pkg's stream forwarder). Two modes, chosen by Accept:
 * - `text/event-stream`: SSE, `data: {"result":…} \n\n` per message plus a `:` keepalive comment
 *   every 15 s. We ask for this one: the keepalives let us notice a dead connection.
 * - otherwise newline-delimited JSON, one complete object per line, no keepalives.
 * The reader follows the response's Content-Type, so a server that ignores Accept still works.
 */
import { createParser } from 'eventsource-parser';

export type ByteStream = AsyncIterable<Uint8Array>;

/** The JSON text of each message, in order. `onActivity` fires on every chunk (keepalives too). */
export function streamMessages(
  body: ByteStream,
  contentType: string | null,
  onActivity: () => void = () => {},
): AsyncIterable<string> {
  return /text\/event-stream/i.test(contentType ?? '')
    ? sseMessages(body, onActivity)
    : ndjsonMessages(body, onActivity);
}

export async function* sseMessages(
  body: ByteStream,
  onActivity: () => void = () => {},
): AsyncIterable<string> {
  const decoder = new TextDecoder();
  const pending: string[] = [];
  const parser = createParser({ onEvent: (event) => pending.push(event.data) });
  for await (const chunk of body) {
    onActivity();
    parser.feed(decoder.decode(chunk, { stream: true }));
    while (pending.length > 0) yield pending.shift()!;
  }
  parser.feed(decoder.decode());
  parser.reset({ consume: true });
  while (pending.length > 0) yield pending.shift()!;
}

export async function* ndjsonMessages(
  body: ByteStream,
  onActivity: () => void = () => {},
): AsyncIterable<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    onActivity();
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    // encoding/json escapes newlines inside strings, so every raw "\n" ends a message.
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) yield line;
    }
  }
  const rest = (buffer + decoder.decode()).trim();
  if (rest) yield rest;
}
