/**
 * Delivers the outbox: asynchronous, never in the way of the operation that emitted the event.
 *
 * - `publish(event, targets)` picks the targets that want the event's type, records one
 *   outbox entry per target (deduplicated by `<event id>><target>`), and returns once they are
 *   recorded; delivery runs in the background. It never throws into the operation: a store
 *   failure is reported through `onError`.
 * - Ordered per stack: each (stack, target) pair is a lane; an entry is attempted only after
 *   the one before it in its lane was delivered or given up. Lanes run side by side, so a slow
 *   Slack holds back neither the webhook of the same stack nor another stack.
 * - Retries: backoff doubling from `baseDelayMs` to `maxDelayMs` (half fixed, half jitter);
 *   `Retry-After` (Slack's 429) is honoured, up to `maxRetryAfterMs`. After `maxAttempts`, or
 *   at once for a permanent answer (404, other 4xx, a missing variable), the entry is recorded
 *   as failed with the reason, and `onSettled` reports it (journal, metrics, logs).
 * - Each attempt's outcome is written to the store before the next wait, so a restart
 *   (`start()`) resumes every pending entry with its attempt count and not-before time.
 * - `drain(ms)` waits at most that long for the lanes to empty (the CLI at exit); `close()`
 *   stops waiting and attempting, leaving pending entries pending.
 *
 * Time is injected (`clock.now`, `clock.sleep`), so tests see exact delays and never wait.
 */
import type { Dispatcher } from 'undici';
import type { StackEvent } from '../shared/events.ts';
import type { Redactor } from '../shared/redact.ts';
import { targetWants, type NotificationTarget } from '../config/notifications-config.ts';
import { attemptDelivery, type AttemptOutcome } from './deliver.ts';
import { newEntry, type OutboxEntry, type OutboxStore } from './outbox.ts';
import { sleepUnlessAborted } from '../shared/sleep.ts';

export interface NotifyClock {
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realClock: NotifyClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepUnlessAborted(ms, signal),
};

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
  timeoutMs: number;
  maxResponseBytes: number;
}

export const DEFAULT_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  maxRetryAfterMs: 15 * 60_000,
  timeoutMs: 10_000,
  maxResponseBytes: 64 * 1024,
};

export interface NotifierOptions {
  store: OutboxStore;
  env: NodeJS.ProcessEnv;
  redactor: Redactor;
  clock?: NotifyClock;
  policy?: Partial<RetryPolicy>;
  /** 0 <= r < 1; the jitter half of each backoff. Default Math.random. */
  random?: () => number;
  dispatcher?: Dispatcher;
  /** An entry was delivered or given up (state `delivered` / `failed`). */
  onSettled?: (entry: OutboxEntry) => void;
  /** An attempt failed and will be repeated after `delayMs`. */
  onRetry?: (entry: OutboxEntry, reason: string, delayMs: number) => void;
  /** The store could not record something (the delivery goes on from memory). */
  onError?: (error: unknown, entry: OutboxEntry | undefined) => void;
}

interface LaneItem {
  entry: OutboxEntry;
  /** Resolves true once recorded as new, false when the store already had it (a duplicate). */
  ready: Promise<boolean>;
}

interface Lane {
  items: LaneItem[];
  running: Promise<void> | undefined;
}

export class Notifier {
  private readonly lanes = new Map<string, Lane>();
  /** Keys offered in this process: a duplicate is dropped before it reaches a lane. */
  private readonly seen = new Set<string>();
  private readonly stop = new AbortController();
  private readonly clock: NotifyClock;
  private readonly policy: RetryPolicy;
  private readonly random: () => number;
  private idle: (() => void)[] = [];
  /** Entries settled in this process, for the CLI's summary (the newest 1000). */
  readonly settled: OutboxEntry[] = [];

  constructor(private readonly options: NotifierOptions) {
    this.clock = options.clock ?? realClock;
    this.policy = { ...DEFAULT_POLICY, ...options.policy };
    this.random = options.random ?? Math.random;
  }

  /** Resumes what the store holds as pending (after a restart); returns how many. */
  async start(): Promise<number> {
    const pending = await this.options.store.pending();
    for (const entry of pending) {
      if (this.seen.has(entry.key)) continue;
      this.seen.add(entry.key);
      this.enqueue({ entry, ready: Promise.resolve(true) });
    }
    return pending.length;
  }

  /** Records the event for each target that wants it; delivery goes on in the background. */
  async publish(event: StackEvent, targets: readonly NotificationTarget[]): Promise<void> {
    if (this.stop.signal.aborted) return;
    const now = this.clock.now();
    const entries = targets
      .filter((t) => targetWants(t, event.type))
      .map((t) => newEntry(event, t, now))
      .filter((e) => !this.seen.has(e.key));
    if (entries.length === 0) return;
    for (const e of entries) this.seen.add(e.key);
    const recorded = this.options.store.add(entries).then(
      (added) => new Set(added.map((e) => e.key)),
      (error: unknown) => {
        // Not durable, but not lost for this process either: deliver from memory.
        this.options.onError?.(error, entries[0]);
        return new Set(entries.map((e) => e.key));
      },
    );
    // Enqueued now, in the order events were emitted; each waits for its own record.
    for (const entry of entries) {
      this.enqueue({ entry, ready: recorded.then((added) => added.has(entry.key)) });
    }
    await recorded;
  }

  /** Waits until every lane is empty, at most `timeoutMs`; returns what is still pending. */
  async drain(timeoutMs: number): Promise<OutboxEntry[]> {
    if (this.busyLanes() > 0) {
      const timer = new AbortController();
      await Promise.race([
        new Promise<void>((resolve) => this.idle.push(resolve)),
        // A bound in wall time: how long a CLI run may linger, whatever the retry clock says.
        realClock.sleep(timeoutMs, AbortSignal.any([timer.signal, this.stop.signal])),
      ]);
      timer.abort();
    }
    return [...this.lanes.values()].flatMap((l) => l.items.map((i) => i.entry));
  }

  /** Stops attempting; pending entries stay pending in the store. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all([...this.lanes.values()].map((l) => l.running));
  }

  private busyLanes(): number {
    return [...this.lanes.values()].filter((l) => l.items.length > 0).length;
  }

  private enqueue(item: LaneItem): void {
    const key = `${item.entry.stack}\n${item.entry.target.name}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { items: [], running: undefined };
      this.lanes.set(key, lane);
    }
    lane.items.push(item);
    lane.running ??= this.runLane(lane);
  }

  private async runLane(lane: Lane): Promise<void> {
    try {
      while (lane.items.length > 0 && !this.stop.signal.aborted) {
        const item = lane.items[0]!;
        if (await item.ready) await this.deliver(item.entry);
        if (this.stop.signal.aborted) break;
        lane.items.shift();
      }
    } finally {
      lane.running = undefined;
      if (this.busyLanes() === 0) {
        const waiting = this.idle;
        this.idle = [];
        for (const resolve of waiting) resolve();
      }
    }
  }

  /** Attempts until delivered or given up; returns early (entry still pending) on close. */
  private async deliver(entry: OutboxEntry): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const wait = entry.nextAttemptAt - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait, signal);
      if (signal.aborted) return;
      let outcome: AttemptOutcome;
      try {
        outcome = await attemptDelivery(entry, {
          env: this.options.env,
          redactor: this.options.redactor,
          timeoutMs: this.policy.timeoutMs,
          maxResponseBytes: this.policy.maxResponseBytes,
          now: () => this.clock.now(),
          signal,
          ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
        });
      } catch (e) {
        outcome = { kind: 'retry', reason: `unexpected: ${(e as Error).message}` };
      }
      if (signal.aborted) return; // cut short by close(): not counted, tried again after a restart
      entry.attempts += 1;
      const now = this.clock.now();
      if (outcome.kind === 'delivered') {
        delete entry.lastError;
        await this.record(entry, { state: 'delivered', settledAt: now });
        return;
      }
      entry.lastError = outcome.reason;
      if (outcome.kind === 'permanent' || entry.attempts >= this.policy.maxAttempts) {
        const why =
          outcome.kind === 'permanent'
            ? outcome.reason
            : `${outcome.reason} (gave up after ${entry.attempts} attempts)`;
        entry.lastError = why;
        await this.record(entry, { state: 'failed', settledAt: now });
        return;
      }
      const delay = this.delayFor(entry.attempts, outcome.retryAfterMs);
      entry.nextAttemptAt = now + delay;
      await this.persist(entry);
      this.options.onRetry?.(entry, outcome.reason, delay);
    }
  }

  private delayFor(attempts: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, this.policy.maxRetryAfterMs);
    const ceiling = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (attempts - 1));
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  private async record(
    entry: OutboxEntry,
    settled: { state: 'delivered' | 'failed'; settledAt: number },
  ): Promise<void> {
    entry.state = settled.state;
    entry.settledAt = settled.settledAt;
    await this.persist(entry);
    // From here the store's key is the dedup (memory stays bounded in a long-running service).
    this.seen.delete(entry.key);
    this.settled.push(entry);
    if (this.settled.length > 1000) this.settled.shift();
    this.options.onSettled?.(entry);
  }

  private async persist(entry: OutboxEntry): Promise<void> {
    try {
      await this.options.store.update(entry.key, {
        state: entry.state,
        attempts: entry.attempts,
        nextAttemptAt: entry.nextAttemptAt,
        ...(entry.lastError !== undefined ? { lastError: entry.lastError } : {}),
        ...(entry.settledAt !== undefined ? { settledAt: entry.settledAt } : {}),
      });
    } catch (error) {
      this.options.onError?.(error, entry);
    }
  }
}
