/** Reads a server-sent event stream to its end (the service ends it after the result). */
import { createParser } from 'eventsource-parser';

export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: Record<string, unknown>;
}

export async function readEvents(
  url: string,
  headers: Record<string, string>,
  options: { onEvent?: (event: SseEvent) => void; timeoutMs?: number } = {},
): Promise<{ status: number; contentType: string | null; events: SseEvent[] }> {
  const res = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  const events: SseEvent[] = [];
  const parser = createParser({
    onEvent: (e) => {
      const event = {
        id: e.id,
        event: e.event,
        data: JSON.parse(e.data) as Record<string, unknown>,
      };
      events.push(event);
      options.onEvent?.(event);
    },
  });
  const decoder = new TextDecoder();
  if (res.body) {
    for await (const chunk of res.body) parser.feed(decoder.decode(chunk, { stream: true }));
  }
  return { status: res.status, contentType: res.headers.get('content-type'), events };
}

/** The step-start/step-end/result skeleton of a stream, for order assertions. */
export function skeleton(events: readonly SseEvent[]): string[] {
  return events
    .filter((e) => e.event !== 'info' && e.event !== 'event')
    .map((e) => (e.event === 'result' ? `result:${e.data.state}` : `${e.event}:${e.data.step}`));
}

/** The lifecycle event types (src/shared/events.ts) a stream carried, in order. */
export function lifecycleTypes(events: readonly SseEvent[]): string[] {
  return events
    .filter((e) => e.event === 'event')
    .map((e) => String((e.data.event as { type?: unknown } | undefined)?.type));
}
