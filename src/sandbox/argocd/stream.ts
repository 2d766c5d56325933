/**
 * `GET /api/v1/stream/applications`, in both wire modes of Argo CD's stream forwarder:
 * newline-delimited `{"result": {...}}` JSON by default, Server-Sent Events
 * (`data: {...} \n\n` + `\n`, `:` keepalive comments) when `Accept: text/event-stream`.
 * Initial ADDED events per matching app (when no resourceVersion, or a name, is given), then
 * every store change; identical consecutive payloads per app name are suppressed, and `fields`
 * filtering applies to the whole `{"result": ...}` envelope.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StandInClock, Timer } from './clock.ts';
import type { Faults } from './faults.ts';
import { filterJson, parseFields } from './fields.ts';
import { ApiError, GrpcCode } from './grpc-errors.ts';
import { GATEWAY_HEADERS, goJson } from './http-util.ts';
import type { ApplicationStore } from './store.ts';
import type { Application, ApplicationWatchEvent } from './types.ts';

export interface WatchRequest {
  /** Whether the caller may see this app (query filters and RBAC). */
  visible: (app: Application) => boolean;
  /** Send the initial ADDED events (no resourceVersion, or a single-app watch). */
  initial: boolean;
  fields: string | null;
}

export interface StreamDeps {
  store: ApplicationStore;
  clock: StandInClock;
  faults: Faults;
  sseKeepaliveMs: number;
}

/** Serves one watch until the client or the stand-in closes it; returns a closer. */
export function serveWatch(
  req: IncomingMessage,
  res: ServerResponse,
  watch: WatchRequest,
  deps: StreamDeps,
): () => void {
  const sse = req.headers.accept === 'text/event-stream';
  res.writeHead(200, {
    ...GATEWAY_HEADERS,
    'Content-Type': sse ? 'text/event-stream' : 'application/json',
    ...(sse ? { 'X-Content-Type-Options': 'nosniff' } : {}),
  });
  // Headers go out at once (Argo CD sends them with the first event; see the module docs).
  res.flushHeaders();

  const selection = parseFields(watch.fields);
  const lastByName = new Map<string, string>();
  const timers: Timer[] = [];
  let closed = false;

  const frame = (json: string) => (sse ? `data: ${json} \n\n` : json);
  const send = (event: ApplicationWatchEvent) => {
    if (closed || !watch.visible(event.application)) return;
    const payload = frame(goJson(filterJson({ result: event }, selection)));
    const name = event.application.metadata.name;
    if (lastByName.get(name) === payload) return;
    lastByName.set(name, payload);
    res.write(`${payload}\n`);
  };

  if (watch.initial) {
    for (const application of deps.store.list()) send({ type: 'ADDED', application });
  }
  const unsubscribe = deps.store.subscribe(send);

  const keepalive = () => {
    timers.push(
      deps.clock.setTimeout(() => {
        if (closed) return;
        res.write(':\n');
        keepalive();
      }, deps.sseKeepaliveMs),
    );
  };
  if (sse && deps.sseKeepaliveMs > 0) keepalive();

  const dropAfter = deps.faults.current.dropStreamsAfterMs ?? 0;
  if (dropAfter > 0) {
    const mode = deps.faults.current.dropStreamsMode ?? 'destroy';
    timers.push(deps.clock.setTimeout(() => drop(mode), dropAfter));
  }

  const cleanup = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    for (const timer of timers) timer.cancel();
  };
  const drop = (mode: 'destroy' | 'end' | 'error') => {
    if (closed) return;
    cleanup();
    if (mode === 'destroy') {
      res.destroy();
      return;
    }
    if (mode === 'error') {
      const custom = deps.faults.current.streamError;
      const chunk = (
        custom
          ? new ApiError(custom.code as GrpcCode, custom.message)
          : new ApiError(GrpcCode.unavailable, 'transport is closing')
      ).streamBody();
      res.write(`${frame(goJson(chunk))}\n`);
    }
    res.end();
  };
  // Not req 'close': for a request without a body that fires as soon as it is read.
  res.on('close', cleanup);
  return () => drop('destroy');
}

/**
 * An error before the first message (grpc-gateway v1.16 `handleForwardResponseStreamError` with
 * nothing written yet): the error's HTTP status, the stream's headers, and one chunk
 * `{"error": {grpc_code, http_code, message, http_status}}`, framed `data: ... \n\n` under SSE.
 */
export function sendStreamError(req: IncomingMessage, res: ServerResponse, error: ApiError): void {
  const sse = req.headers.accept === 'text/event-stream';
  const json = goJson(error.streamBody());
  res.writeHead(error.httpStatus, {
    ...GATEWAY_HEADERS,
    'Content-Type': sse ? 'text/event-stream' : 'application/json',
    ...(sse ? { 'X-Content-Type-Options': 'nosniff' } : {}),
  });
  res.end(sse ? `data: ${json} \n\n` : json);
}
