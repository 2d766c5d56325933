/**
 * One app's successive states from two sources merged: the watch stream, for prompt detection,
 * and a GET every `pollIntervalMs` as the safety net (a stream can stall silently behind a
 * proxy, and some events are de-duplicated server-side). The stream is re-opened with backoff
 * after it ends, breaks or reports an in-band error, resuming from the last resourceVersion
 * (the server re-sends the app as ADDED because `name` is set). If the stream endpoint does not
 * exist, polling carries on alone. At most one stream is open per observer.
 */
import { isStackswapError } from '../shared/errors.ts';
import type { ArgoCdApi } from './client.ts';
import type { Clock } from './clock.ts';
import { ArgoCdApiError } from './errors.ts';
import { backoffDelay, type RetryPolicy } from './retry.ts';
import type { Application } from './schema.ts';

export type Observation =
  | { kind: 'app'; source: 'stream' | 'poll'; app: Application }
  | { kind: 'deleted' }
  | { kind: 'fatal'; error: unknown }
  | { kind: 'notice'; notice: ObserverNotice };

export type ObserverNotice =
  | { type: 'stream-reconnect'; attempt: number; delayMs: number; reason: string }
  | { type: 'poll-fallback'; reason: string }
  | { type: 'poll-error'; reason: string };

export interface ObserveOptions {
  api: ArgoCdApi;
  app: string;
  appNamespace?: string | undefined;
  project?: string | undefined;
  pollIntervalMs: number;
  /** false: poll only. */
  watch: boolean;
  reconnect: RetryPolicy;
  clock: Clock;
  random?: () => number;
  signal: AbortSignal;
}

/** Reconnect after 0.5 s, doubling to 15 s, jittered; reset once a stream delivers again. */
export const STREAM_RECONNECT_POLICY: RetryPolicy = {
  retries: Number.POSITIVE_INFINITY,
  baseDelayMs: 500,
  maxDelayMs: 15_000,
  factor: 2,
  jitter: 0.5,
};

/** Errors no retry can fix: stop observing and let the waiter fail with them. */
function isFatal(error: unknown): boolean {
  return (
    isStackswapError(error) &&
    ['auth', 'forbidden', 'argocd-forbidden', 'not-found', 'validation'].includes(error.code)
  );
}

export async function* observeApp(options: ObserveOptions): AsyncIterable<Observation> {
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  const queue: Observation[] = [];
  let wake: (() => void) | undefined;
  const push = (o: Observation) => {
    queue.push(o);
    wake?.();
  };
  const producers = [pollLoop(options, signal, push)];
  if (options.watch) producers.push(streamLoop(options, signal, push));
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    while (!signal.aborted) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    stop.abort();
    await Promise.allSettled(producers);
  }
}

async function streamLoop(
  o: ObserveOptions,
  signal: AbortSignal,
  push: (x: Observation) => void,
): Promise<void> {
  let failures = 0;
  let resourceVersion: string | undefined;
  while (!signal.aborted) {
    let reason = 'the stream ended';
    try {
      for await (const event of o.api.watchApplications({
        name: o.app,
        ...(o.appNamespace ? { appNamespace: o.appNamespace } : {}),
        ...(resourceVersion ? { resourceVersion } : {}),
        signal,
      })) {
        const app = event.application;
        if (app.metadata.name !== o.app) continue;
        failures = 0;
        resourceVersion = app.metadata.resourceVersion ?? resourceVersion;
        push(
          event.type === 'DELETED' ? { kind: 'deleted' } : { kind: 'app', source: 'stream', app },
        );
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ArgoCdApiError && error.isRouteMissing) {
        push({ kind: 'notice', notice: { type: 'poll-fallback', reason: error.message } });
        return;
      }
      if (isFatal(error)) {
        push({ kind: 'fatal', error });
        return;
      }
      reason = reasonOf(error);
    }
    if (signal.aborted) return;
    failures += 1;
    const delayMs = backoffDelay(failures, o.reconnect, o.random);
    push({
      kind: 'notice',
      notice: { type: 'stream-reconnect', attempt: failures, delayMs, reason },
    });
    try {
      await o.clock.sleep(delayMs, signal);
    } catch {
      return;
    }
  }
}

async function pollLoop(
  o: ObserveOptions,
  signal: AbortSignal,
  push: (x: Observation) => void,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await o.clock.sleep(o.pollIntervalMs, signal);
    } catch {
      return;
    }
    try {
      const app = await o.api.getApplication(o.app, {
        ...(o.appNamespace ? { appNamespace: o.appNamespace } : {}),
        ...(o.project !== undefined ? { project: o.project } : {}),
        signal,
      });
      push({ kind: 'app', source: 'poll', app });
    } catch (error) {
      if (signal.aborted) return;
      if (isFatal(error)) {
        push({ kind: 'fatal', error });
        return;
      }
      // Argo CD unreachable for now: the deadline bounds how long we keep trying.
      push({ kind: 'notice', notice: { type: 'poll-error', reason: reasonOf(error) } });
    }
  }
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
