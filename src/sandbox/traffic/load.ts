/**
 * Steady concurrent load through the gateway until stopped, tallied per phase. The caller
 * switches the phase label (e.g. deploy, swap, revert) as its scenario moves on; a request
 * counts in the phase that was current when it was SENT. A run always ends by itself after
 * `maxDurationMs` or `maxRequests`.
 */
import http from 'node:http';
import { setTimeout as realSleep } from 'node:timers/promises';
import { TimeoutError } from '../../shared/errors.ts';
import { keepAliveAgent } from './local-server.ts';
import { Tally, type LoadReport, type MixedPredicate, type Outcome } from './tally.ts';

export interface LoadOptions {
  /** The gateway, e.g. `gateway.url`. */
  target: URL;
  /** Host header (selects the VirtualService). Default: the target's host (the loopback rule). */
  host?: string;
  /** Default `/`. */
  path?: string;
  /** Requests in flight at once. Default 8. */
  concurrency?: number;
  /** Cap on requests per second over all workers. Default: as fast as answers come. */
  ratePerSecond?: number;
  /** Default 60 s. */
  maxDurationMs?: number;
  /** Default 100 000. */
  maxRequests?: number;
  /** A request without an answer by then counts as failed (`timeout`). Default 5 s. */
  requestTimeoutMs?: number;
  /** Send the preview header, so requests go to the preview colour. */
  preview?: boolean;
  /** Default `x-stackswap-preview` (the chart's previewHeader). */
  previewHeader?: string;
  /** Extra request headers. */
  headers?: Readonly<Record<string, string>>;
  /** The first phase label. Default `start`. */
  phase?: string;
  isMixed?: MixedPredicate;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Every answer as it is tallied (the demo times a bad release's first and last error). */
  onOutcome?: (phase: string, outcome: Outcome) => void;
}

export interface LoadRun {
  /**
   * Requests sent from now on count in `phase`. Resolves once every request sent under an
   * earlier label has been answered, so what the caller does next cannot show in those.
   */
  setPhase(phase: string): Promise<void>;
  readonly phase: string;
  /** The tallies so far. */
  report(): LoadReport;
  /**
   * Resolves with the report as soon as `predicate` holds for it (checked after every answer);
   * rejects with TimeoutError after `timeoutMs`, or when the run ends first.
   */
  until(predicate: (report: LoadReport) => boolean, timeoutMs?: number): Promise<LoadReport>;
  /** Stops sending, waits for the requests in flight, and returns the final report. */
  stop(): Promise<LoadReport>;
  /** Settles with the final report when the run ends, for whatever reason. */
  readonly done: Promise<LoadReport>;
}

interface Waiter {
  predicate: (report: LoadReport) => boolean;
  resolve: (report: LoadReport) => void;
  reject: (error: Error) => void;
}

export function startLoad(options: LoadOptions): LoadRun {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => realSleep(ms));
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const maxDurationMs = options.maxDurationMs ?? 60_000;
  const maxRequests = options.maxRequests ?? 100_000;
  const tally = new Tally(options.isMixed);
  const agent = keepAliveAgent({ maxSockets: concurrency });
  const headers: Record<string, string> = {
    host: options.host ?? options.target.host,
    ...(options.preview ? { [options.previewHeader ?? 'x-stackswap-preview']: 'true' } : {}),
    ...options.headers,
  };
  const startedAt = now();
  const interval = options.ratePerSecond ? 1000 / options.ratePerSecond : 0;
  let nextSlot = startedAt;
  let phase = options.phase ?? 'start';
  let sent = 0;
  let ended: LoadReport['ended'] = 'running';
  const waiters = new Set<Waiter>();
  // Every setPhase starts a generation; a phase switch is drained when no request of an
  // earlier generation is in flight.
  let generation = 0;
  const inFlightByGeneration = new Map<number, number>();
  const drains = new Set<{ generation: number; resolve: () => void }>();
  const checkDrains = () => {
    for (const drain of [...drains]) {
      const busy = [...inFlightByGeneration].some(([g, n]) => g < drain.generation && n > 0);
      if (busy) continue;
      drains.delete(drain);
      drain.resolve();
    }
  };

  const report = (): LoadReport => {
    const phases = tally.phasesSoFar();
    return {
      phases,
      total: phases.reduce((n, p) => n + p.total, 0),
      failed: phases.reduce((n, p) => n + p.failed, 0),
      mixed: phases.reduce((n, p) => n + p.mixed, 0),
      durationMs: now() - startedAt,
      ended,
    };
  };

  const checkWaiters = () => {
    if (waiters.size === 0) return;
    const current = report();
    for (const waiter of [...waiters]) {
      if (!waiter.predicate(current)) continue;
      waiters.delete(waiter);
      waiter.resolve(current);
    }
  };

  /** Claims the next request, or says why the run is over. */
  const claim = (): boolean => {
    if (ended !== 'running') return false;
    if (sent >= maxRequests) ended = 'max-requests';
    else if (now() - startedAt >= maxDurationMs) ended = 'max-duration';
    else {
      sent++;
      return true;
    }
    return false;
  };

  const worker = async () => {
    while (claim()) {
      if (interval > 0) {
        const slot = Math.max(now(), nextSlot);
        nextSlot = slot + interval;
        if (slot > now()) await sleep(slot - now());
      }
      const requestPhase = phase;
      const requestGeneration = generation;
      inFlightByGeneration.set(
        requestGeneration,
        (inFlightByGeneration.get(requestGeneration) ?? 0) + 1,
      );
      const outcome = await send(options, headers, agent);
      const left = inFlightByGeneration.get(requestGeneration)! - 1;
      if (left === 0) inFlightByGeneration.delete(requestGeneration);
      else inFlightByGeneration.set(requestGeneration, left);
      tally.record(requestPhase, outcome);
      options.onOutcome?.(requestPhase, outcome);
      checkDrains();
      checkWaiters();
    }
  };

  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
    agent.destroy();
    const final = report();
    for (const waiter of waiters) {
      waiter.reject(
        new TimeoutError(`the load run ended (${final.ended}) before the condition held`),
      );
    }
    waiters.clear();
    return final;
  });

  return {
    setPhase(next) {
      phase = next;
      generation++;
      const drained = new Promise<void>((resolve) => drains.add({ generation, resolve }));
      checkDrains();
      return drained;
    },
    get phase() {
      return phase;
    },
    report,
    until(predicate, timeoutMs = 10_000) {
      const current = report();
      if (predicate(current)) return Promise.resolve(current);
      if (ended !== 'running') {
        return Promise.reject(new TimeoutError(`the load run has ended (${ended})`));
      }
      return new Promise<LoadReport>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new TimeoutError(`the load condition did not hold within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter: Waiter = {
          predicate,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        waiters.add(waiter);
      });
    },
    stop() {
      if (ended === 'running') ended = 'stopped';
      return done;
    },
    done,
  };
}

function send(
  options: LoadOptions,
  headers: Record<string, string>,
  agent: http.Agent,
): Promise<Outcome> {
  const timeoutMs = options.requestTimeoutMs ?? 5_000;
  return new Promise((resolve) => {
    const request = http.get(
      {
        host: options.target.hostname,
        port: options.target.port,
        path: options.path ?? '/',
        headers,
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            kind: 'served',
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', (error) => resolve(networkFailure(error)));
      },
    );
    request.setTimeout(timeoutMs, () => {
      request.destroy();
      resolve({ kind: 'failed', reason: 'timeout' });
    });
    request.on('error', (error) => resolve(networkFailure(error)));
  });
}

function networkFailure(error: Error): Outcome {
  return {
    kind: 'failed',
    reason: `network ${(error as NodeJS.ErrnoException).code ?? error.message}`,
  };
}
