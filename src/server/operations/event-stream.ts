/**
 * An operation's events as server-sent events: past events first (after `Last-Event-ID`), then
 * live ones, ending after the final `result`. One relay for the API route and the dashboard's
 * page script, so both streams frame events, keep alive and end the same way.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OperationEvent, OperationManager } from './manager.ts';

export interface EventStreamOptions {
  keepAliveMs: number;
  /**
   * The operation had already finished and the client saw its result (Last-Event-ID): send an
   * `end` event before closing, so an EventSource stops reconnecting (the dashboard).
   */
  sayEnd?: boolean;
}

export function streamOperationEvents(
  operations: Pick<OperationManager, 'follow' | 'get'>,
  request: FastifyRequest,
  reply: FastifyReply,
  id: string,
  after: number,
  options: EventStreamOptions,
): void {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    // As every API answer (an event stream is never stored by a proxy either).
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write('retry: 2000\n\n');
  let ended = false;
  let stop: (() => void) | undefined;
  let keepalive: NodeJS.Timeout | undefined;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(keepalive);
    stop?.();
    raw.end();
  };
  const send = (event: OperationEvent) => {
    if (ended) return;
    raw.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
    if (event.type === 'result') end();
  };
  request.raw.on('close', end);
  raw.on('close', end);
  void (async () => {
    stop = await operations.follow(id, after, send);
    if (ended) return stop?.();
    if ((await operations.get(id))?.state !== 'running') {
      // Finished, and the client has seen the result already: nothing to wait for.
      if (options.sayEnd) raw.write(`event: end\ndata: {}\n\n`);
      return end();
    }
    keepalive = setInterval(() => raw.write(': keepalive\n\n'), options.keepAliveMs);
  })().catch(() => end());
}
