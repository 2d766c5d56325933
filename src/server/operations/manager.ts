/**
 * Runs the service's operations: accepts a request (202 + id), runs it in the background with
 * the same core code the CLI runs, journals it, relays its progress, and answers for it.
 *
 * - One operation per stack at a time: a request for a busy stack is refused with 409 and the
 *   running operation's id (not queued: a queued promotion would run against a state nobody
 *   looked at, and the caller can follow or retry). Different stacks run in parallel. This only
 *   avoids wasted work; git compare-and-swap remains the guard against other writers.
 * - `Idempotency-Key`: the same key (per caller) with the same request returns the operation it
 *   started; with a different request it is refused (422).
 * - Shutdown: new operations are refused (503); running ones get a grace period, then their
 *   AbortSignal fires and they stop at the next safe point; whatever did not finish is recorded
 *   as `interrupted` with how to resume. An operation found running in the journal at start (the
 *   process died) is recorded the same way.
 * - Several replicas (`shared`, PostgreSQL): the stack guard is a claim in the database held
 *   for the run (a replica that dies frees it), idempotency keys are looked up there, and reads
 *   of an operation come from there, so every replica answers the same. An operation whose
 *   replica died is found by `sweep()` (or by the next claim of its stack) and recorded as
 *   interrupted. An operation whose claim is lost (its database connection failed) is stopped
 *   at the next safe point and recorded as interrupted, saying so.
 */
import { randomUUID } from 'node:crypto';
import { StackswapError, isStackswapError } from '../../shared/errors.ts';
import type { OperationResult } from '../../core/operations/context.ts';
import { Progress, type ProgressEvent, type StepTiming } from '../../shared/progress.ts';
import type { Redactor } from '../../shared/redact.ts';
import type { StackEvent } from '../../shared/events.ts';
import { ApiError } from '../errors.ts';
import type { ServerMetrics } from '../metrics.ts';
import type {
  ErrorJson,
  Interruption,
  OperationKind,
  OperationOutcome,
  OperationRequest,
  OperationState,
  OperationView,
} from '../schemas.ts';
import type { EndEntry, JournalEvent, JournaledOperation, StartEntry } from './journal.ts';
import {
  IdempotencyConflict,
  type JournalWriter,
  type SharedOperations,
  type StackClaim,
} from './store.ts';

export const RESUME_HINT =
  'POST the same request again: operations are idempotent, so a re-run skips what is already done (an existing commit is not made twice) and resumes from there';

/** An event as relayed over SSE: progress, or the final result (always last). */
export type OperationEvent =
  JournalEvent | { seq: number; type: 'result'; data: Record<string, unknown> };

export interface ExecuteInput {
  id: string;
  stack: string;
  kind: OperationKind;
  requestedBy: string;
  request: OperationRequest;
  progress: Progress;
  signal: AbortSignal;
}

export interface StartInput {
  stack: string;
  kind: OperationKind;
  requestedBy: string;
  request: OperationRequest;
  idempotency?: { scope: string; key: string; fingerprint: string };
}

export interface OperationManagerOptions {
  journal: JournalWriter;
  /** Shared state of several replicas (PostgreSQL); without it, this process is the truth. */
  shared?: SharedOperations;
  /** How often `follow` reads an operation another replica runs; default 500 ms. */
  followPollMs?: number;
  /** Runs the operation (the core operation with a context built for it). */
  execute: (input: ExecuteInput) => Promise<OperationResult>;
  redactor: Redactor;
  metrics: ServerMetrics;
  logger: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
  now?: () => number;
  /** Called when an operation on the stack ends (the status cache drops the stack). */
  onSettled?: (stack: string) => void;
  /** Finished operations kept in memory (and their idempotency keys); default 1000. */
  maxRetained?: number;
  /** Events kept per operation; later ones are counted, not kept; default 2000. */
  maxEventsPerOperation?: number;
  /** Notifications (issue 13): each lifecycle event as journaled (redacted), and the deliveries of an operation. */
  notifications?: {
    onEvent(event: StackEvent): void;
    deliveries(operationId: string): Promise<OperationView['notifications']>;
  };
}

interface Tracked {
  start: StartEntry;
  state: OperationState;
  events: OperationEvent[];
  steps: StepTiming[];
  end: EndEntry | undefined;
  listeners: Set<(event: OperationEvent) => void>;
  controller: AbortController | undefined;
  done: Promise<void> | undefined;
  claim?: StackClaim | undefined;
}

/** The reason an operation's signal carries when the service stops it. */
export class ShutdownAbort extends StackswapError {
  constructor() {
    super('operation-failed', 'the service is shutting down; the operation was stopped', {
      hint: RESUME_HINT,
    });
    this.name = 'ShutdownAbort';
  }
}

/** The reason an operation's signal carries when its stack claim is lost. */
export class ClaimLost extends StackswapError {
  constructor(why: string) {
    super(
      'operation-failed',
      `the operation was stopped: its hold on the stack was lost (${why}); another replica may take the stack`,
      { hint: RESUME_HINT },
    );
    this.name = 'ClaimLost';
  }
}

export class OperationManager {
  private readonly ops = new Map<string, Tracked>();
  private readonly busy = new Map<string, string>();
  /**
   * Stacks whose database claim is under way here: the id in `busy` is nobody's operation yet
   * (and never will be if the claim is refused), so a 409 must not name it. Resolves once the
   * claim is decided (to the operation holding the stack, when known).
   */
  private readonly starting = new Map<string, Promise<string | undefined>>();
  /** Operations other replicas run, as of the last sweep (stack -> id). */
  private remoteRunning = new Map<string, string>();
  private readonly idempotency = new Map<string, string>();
  private closing = false;
  private readonly now: () => number;

  constructor(private readonly options: OperationManagerOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Loads the journal's operations; those that never ended were cut off by the end of the
   * process: they are recorded as interrupted now.
   */
  async restore(operations: readonly JournaledOperation[]): Promise<{ interrupted: string[] }> {
    const interrupted: string[] = [];
    for (const op of operations) {
      const tracked = this.track(op.start, op.events);
      if (op.end) {
        this.applyEnd(tracked, op.end);
        continue;
      }
      const end = this.endEntry(tracked, 'interrupted', {
        interrupted: this.interruption(
          tracked,
          'the service stopped while the operation was running',
        ),
      });
      await this.options.journal.append(end);
      this.applyEnd(tracked, end);
      interrupted.push(op.start.id);
    }
    this.trim();
    return { interrupted };
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Starts an operation, or returns the one an earlier request with the same key started. */
  async start(input: StartInput): Promise<{ operation: OperationView; replayed: boolean }> {
    const shared = this.options.shared;
    if (input.idempotency && shared) {
      const existing = await this.sharedRead(() =>
        shared.byIdempotency(input.idempotency!.scope, input.idempotency!.key),
      );
      if (existing) return this.replay(existing, input.idempotency);
    }
    if (input.idempotency) {
      const key = idempotencyKey(input.idempotency);
      const existing = this.idempotency.get(key);
      const tracked = existing ? this.ops.get(existing) : undefined;
      if (tracked) {
        if (tracked.start.idempotency?.fingerprint !== input.idempotency.fingerprint) {
          throw new ApiError(
            422,
            'idempotency-key-reused',
            'idempotency key reused with a different request',
            { operationId: tracked.start.id },
          );
        }
        return { operation: this.view(tracked), replayed: true };
      }
    }
    if (this.closing) {
      throw new ApiError(
        503,
        'shutting-down',
        'the service is shutting down and accepts no new operations; retry against another instance or after the restart',
        {},
        { 'retry-after': '30' },
      );
    }
    const starting = this.starting.get(input.stack);
    if (starting) {
      // Decided once that claim is: a replay of it, a 409 naming a readable operation, or ours.
      await starting;
      return this.start(input);
    }
    const running = this.busy.get(input.stack);
    if (running) throw busyError(input.stack, running, this.ops.get(running)?.start.kind);

    const start: StartEntry = {
      t: 'start',
      id: randomUUID(),
      stack: input.stack,
      kind: input.kind,
      requestedBy: input.requestedBy,
      createdAt: new Date(this.now()).toISOString(),
      request: input.request,
      ...(input.idempotency ? { idempotency: input.idempotency } : {}),
    };
    // Claimed before the first await, so two requests can never both pass the check above.
    this.busy.set(input.stack, start.id);
    let announce: (holder: string | undefined) => void = () => {};
    if (shared) {
      const holder = new Promise<string | undefined>((resolve) => (announce = resolve));
      this.starting.set(input.stack, holder);
      const settled = announce;
      announce = (id) => {
        if (this.starting.get(input.stack) === holder) this.starting.delete(input.stack);
        settled(id);
      };
    }
    let claim: StackClaim | undefined;
    if (shared) {
      let claimed: Awaited<ReturnType<SharedOperations['claim']>>;
      try {
        claimed = await shared.claim(input.stack);
      } catch (e) {
        this.busy.delete(input.stack);
        announce(undefined);
        throw databaseUnavailable(e);
      }
      if ('busy' in claimed) {
        this.busy.delete(input.stack);
        announce(claimed.busy);
        // A request with the same key, on another replica, may have been first.
        if (input.idempotency) {
          const existing = await this.sharedRead(() =>
            shared.byIdempotency(input.idempotency!.scope, input.idempotency!.key),
          );
          if (existing) return this.replay(existing, input.idempotency);
        }
        throw busyError(input.stack, claimed.busy, undefined);
      }
      claim = claimed;
      try {
        await this.interruptOrphans(claim.orphans);
      } catch (e) {
        this.busy.delete(input.stack);
        announce(undefined);
        await claim.release();
        throw databaseUnavailable(e);
      }
    }
    const tracked = this.track(start, []);
    try {
      await this.options.journal.append(start);
    } catch (e) {
      this.busy.delete(input.stack);
      announce(undefined);
      this.forget(tracked);
      await claim?.release();
      if (e instanceof IdempotencyConflict && input.idempotency && shared) {
        const existing = await this.sharedRead(() =>
          shared.byIdempotency(input.idempotency!.scope, input.idempotency!.key),
        );
        if (existing) return this.replay(existing, input.idempotency);
      }
      throw shared ? databaseUnavailable(e) : e;
    }
    announce(start.id);
    tracked.claim = claim;
    this.options.metrics.operationStarted(input.stack, start.id);
    this.options.logger.info(
      {
        operationId: start.id,
        stack: start.stack,
        kind: start.kind,
        requestedBy: start.requestedBy,
      },
      'operation accepted',
    );
    tracked.controller = new AbortController();
    const controller = tracked.controller;
    claim?.lost.addEventListener('abort', () => {
      const why = (claim.lost.reason as Error | undefined)?.message ?? 'lost';
      this.options.logger.warn(
        { operationId: start.id, stack: start.stack, why },
        'the stack claim was lost; stopping the operation at its next safe point',
      );
      controller.abort(new ClaimLost(why));
    });
    tracked.done = this.run(tracked, controller.signal);
    this.trim();
    return { operation: this.view(tracked), replayed: false };
  }

  /** An operation by id: from the database with several replicas (the same everywhere). */
  async get(id: string): Promise<OperationView | undefined> {
    const view = await this.getView(id);
    const notifications = view && (await this.options.notifications?.deliveries(id));
    return view && notifications?.length ? { ...view, notifications } : view;
  }

  private async getView(id: string): Promise<OperationView | undefined> {
    const tracked = this.ops.get(id);
    const shared = this.options.shared;
    // Running here with its claim held: this process writes its record, so memory is at least
    // as new as the database (which gets the same events a moment later). No query.
    if (tracked?.state === 'running' && tracked.claim && !tracked.claim.lost.aborted) {
      return this.view(tracked);
    }
    if (shared) {
      try {
        const op = await shared.get(id);
        if (op) return this.view(this.detached(op));
      } catch (e) {
        // The database is away: what this replica knows is still true.
        if (!tracked) throw databaseUnavailable(e);
      }
    }
    return tracked ? this.view(tracked) : undefined;
  }

  /** Newest first. */
  async list(filter: {
    stack?: string;
    state?: OperationState;
    limit: number;
  }): Promise<OperationView[]> {
    const shared = this.options.shared;
    if (shared) {
      const ops = await this.sharedRead(() => shared.list(filter));
      return ops.map((op) => this.view(this.detached(op)));
    }
    const out: OperationView[] = [];
    for (const tracked of [...this.ops.values()].reverse()) {
      if (filter.stack && tracked.start.stack !== filter.stack) continue;
      if (filter.state && tracked.state !== filter.state) continue;
      out.push(this.view(tracked));
      if (out.length >= filter.limit) break;
    }
    return out;
  }

  runningOn(stack: string): string | undefined {
    const local = this.starting.has(stack) ? undefined : this.busy.get(stack);
    return local ?? this.remoteRunning.get(stack);
  }

  /**
   * With several replicas: reads which operations run anywhere (for `runningOn`), and records
   * as interrupted those whose replica is gone (their stack's claim is free). Returns their ids.
   */
  async sweep(): Promise<string[]> {
    const shared = this.options.shared;
    if (!shared) return [];
    const recorded = await shared.running();
    const running = new Map([...recorded].map(([stack, r]) => [stack, r.id]));
    const interrupted: string[] = [];
    for (const [stack, { held }] of recorded) {
      if (held || this.busy.has(stack)) continue;
      const claim = await shared.claim(stack);
      if ('busy' in claim) continue;
      try {
        interrupted.push(...(await this.interruptOrphans(claim.orphans)));
      } finally {
        await claim.release();
      }
    }
    for (const id of interrupted) {
      for (const [stack, runningId] of running) if (runningId === id) running.delete(stack);
    }
    for (const [stack, id] of running) if (this.busy.get(stack) === id) running.delete(stack);
    this.remoteRunning = running;
    if (interrupted.length > 0) {
      this.options.logger.warn(
        { operations: interrupted },
        'operations whose replica stopped were recorded as interrupted (POST the same request again to resume)',
      );
    }
    return interrupted;
  }

  /** Records operations left running by a replica that is gone (their claim was free). */
  private async interruptOrphans(orphans: readonly JournaledOperation[]): Promise<string[]> {
    const ids: string[] = [];
    for (const op of orphans) {
      if (op.end || this.ops.get(op.start.id)?.state === 'running') continue;
      const tracked = this.detached(op);
      const end = this.endEntry(tracked, 'interrupted', {
        interrupted: this.interruption(
          tracked,
          'the replica running the operation stopped (its database session ended)',
        ),
      });
      await this.options.journal.append(end);
      this.options.onSettled?.(op.start.stack);
      ids.push(op.start.id);
    }
    return ids;
  }

  /** A journaled operation as a Tracked that is not kept (for its view). */
  private detached(op: JournaledOperation): Tracked {
    const steps: StepTiming[] = [];
    for (const e of op.events) if (e.type === 'step-end') steps.push(stepOf(e.data));
    const tracked: Tracked = {
      start: op.start,
      state: 'running',
      events: [...op.events],
      steps,
      end: undefined,
      listeners: new Set(),
      controller: undefined,
      done: undefined,
    };
    if (op.end) this.applyEnd(tracked, op.end);
    return tracked;
  }

  private replay(
    existing: JournaledOperation,
    idempotency: NonNullable<StartInput['idempotency']>,
  ): { operation: OperationView; replayed: boolean } {
    if (existing.start.idempotency?.fingerprint !== idempotency.fingerprint) {
      throw new ApiError(
        422,
        'idempotency-key-reused',
        'idempotency key reused with a different request',
        { operationId: existing.start.id },
      );
    }
    const local = this.ops.get(existing.start.id);
    return { operation: this.view(local ?? this.detached(existing)), replayed: true };
  }

  private async sharedRead<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (e) {
      throw databaseUnavailable(e);
    }
  }

  /**
   * Replays the events after `afterSeq`, then relays live ones, the result event last.
   * Returns undefined for an unknown id; otherwise a function that stops the relay.
   */
  async follow(
    id: string,
    afterSeq: number,
    listener: (event: OperationEvent) => void,
  ): Promise<(() => void) | undefined> {
    const tracked = this.ops.get(id);
    const shared = this.options.shared;
    if (shared && !(tracked && tracked.state === 'running')) {
      return this.followShared(shared, id, afterSeq, listener);
    }
    if (!tracked) return undefined;
    for (const event of tracked.events) if (event.seq > afterSeq) listener(event);
    if (tracked.state !== 'running') return () => {};
    tracked.listeners.add(listener);
    return () => tracked.listeners.delete(listener);
  }

  /** Follows an operation recorded in the database (run here or by another replica). */
  private async followShared(
    shared: SharedOperations,
    id: string,
    afterSeq: number,
    listener: (event: OperationEvent) => void,
  ): Promise<(() => void) | undefined> {
    const first = await this.sharedRead(() => shared.get(id));
    if (!first) return undefined;
    let seen = afterSeq;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const emit = (op: JournaledOperation): boolean => {
      const tracked = this.detached(op);
      for (const event of tracked.events) {
        if (event.seq <= seen) continue;
        seen = event.seq;
        listener(event);
      }
      return op.end !== undefined;
    };
    if (emit(first)) return () => {};
    const poll = async () => {
      if (stopped) return;
      try {
        const op = await shared.get(id);
        if (op && emit(op)) return;
      } catch {
        // The database is away; keep following.
      }
      if (!stopped) timer = setTimeout(() => void poll(), this.options.followPollMs ?? 500);
    };
    timer = setTimeout(() => void poll(), this.options.followPollMs ?? 500);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  /**
   * Stops accepting operations; waits up to `graceMs` for running ones, then aborts them and
   * waits up to `settleMs` for them to reach a safe point. Whatever is still running then is
   * recorded as interrupted. Resolves when every operation has a recorded end.
   */
  async shutdown(options: { graceMs: number; settleMs: number }): Promise<void> {
    this.closing = true;
    const running = () => [...this.ops.values()].filter((t) => t.state === 'running');
    const all = () => Promise.all(running().map((t) => t.done));
    if (running().length > 0) {
      this.options.logger.info(
        { running: running().map((t) => t.start.id), graceMs: options.graceMs },
        'shutting down: waiting for running operations',
      );
    }
    await raceTimeout(all(), options.graceMs);
    for (const t of running()) t.controller?.abort(new ShutdownAbort());
    await raceTimeout(all(), options.settleMs);
    for (const t of running()) {
      const end = this.endEntry(t, 'interrupted', {
        interrupted: this.interruption(t, 'the service shut down before the operation stopped'),
      });
      await this.options.journal.append(end).catch(() => undefined);
      this.settle(t, end, undefined);
    }
  }

  /** Whether the database answers (with several replicas); true without one. */
  async databaseOk(): Promise<void> {
    await this.options.shared?.ping();
  }

  // ---------------------------------------------------------------------------------------

  private async run(tracked: Tracked, signal: AbortSignal): Promise<void> {
    const { start } = tracked;
    const progress = new Progress((event) => this.onProgress(tracked, event), this.now);
    const began = this.now();
    let end: EndEntry;
    let attempts: number | undefined;
    try {
      const result = await this.options.execute({
        id: start.id,
        stack: start.stack,
        kind: start.kind,
        requestedBy: start.requestedBy,
        request: start.request,
        progress,
        signal,
      });
      attempts = result.attempts;
      end = this.endEntry(tracked, 'succeeded', { result: this.outcome(result) });
    } catch (e) {
      if (signal.aborted && signal.reason instanceof ShutdownAbort) {
        end = this.endEntry(tracked, 'interrupted', {
          interrupted: this.interruption(tracked, 'the service shut down during the operation'),
        });
      } else if (signal.aborted && signal.reason instanceof ClaimLost) {
        end = this.endEntry(tracked, 'interrupted', {
          interrupted: this.interruption(tracked, signal.reason.message),
        });
      } else {
        const attemptsDetail = isStackswapError(e) ? e.details?.attempts : undefined;
        if (typeof attemptsDetail === 'number') attempts = attemptsDetail;
        end = this.endEntry(tracked, 'failed', { error: this.errorJson(e, start.id) });
        if (!isStackswapError(e) || e.code === 'internal') {
          this.options.logger.error({ err: e, operationId: start.id }, 'operation failed');
        }
      }
    }
    if (tracked.state !== 'running') return; // recorded by a shutdown that gave up waiting
    try {
      await this.options.journal.append(end);
    } catch (e) {
      this.options.logger.error({ err: e, operationId: start.id }, 'could not journal the end');
    }
    this.settle(tracked, end, { durationMs: this.now() - began, attempts });
  }

  private settle(
    tracked: Tracked,
    end: EndEntry,
    timing: { durationMs: number; attempts: number | undefined } | undefined,
  ): void {
    if (tracked.state !== 'running') return;
    this.applyEnd(tracked, end);
    const { stack, kind, id } = tracked.start;
    if (this.busy.get(stack) === id) this.busy.delete(stack);
    // After the end is journaled (run() appends it first): the next claimant finds it ended.
    void tracked.claim?.release();
    this.options.metrics.operationFinished(
      stack,
      kind,
      end.state,
      timing?.durationMs ?? Date.parse(end.finishedAt) - Date.parse(tracked.start.createdAt),
      timing?.attempts,
      id,
    );
    this.options.logger.info(
      {
        operationId: id,
        stack,
        kind,
        requestedBy: tracked.start.requestedBy,
        state: end.state,
        sha: end.result?.sha,
        error: end.error?.code,
      },
      'operation finished',
    );
    this.options.onSettled?.(stack);
    const result = tracked.events.at(-1);
    for (const listener of [...tracked.listeners]) if (result) listener(result);
    tracked.listeners.clear();
    this.trim();
  }

  private onProgress(tracked: Tracked, event: ProgressEvent): void {
    if (tracked.state !== 'running') return;
    const data = JSON.parse(this.options.redactor.redact(JSON.stringify(event))) as Record<
      string,
      unknown
    >;
    const seq = (tracked.events.at(-1)?.seq ?? 0) + 1;
    const journalEvent: JournalEvent = { seq, type: event.type, data };
    if (event.type === 'step-end') {
      const { type: _type, at: _at, ...timing } = event;
      tracked.steps.push(timing);
      if (event.step === 'sync') {
        this.options.metrics.argoWaitObserved(
          tracked.start.stack,
          tracked.start.kind,
          event.ok,
          event.durationMs,
        );
      }
    }
    const max = this.options.maxEventsPerOperation ?? 2000;
    if (tracked.events.length >= max && event.type === 'info') return;
    tracked.events.push(journalEvent);
    this.options.journal
      .append({ t: 'event', id: tracked.start.id, event: journalEvent })
      .catch((e: unknown) =>
        this.options.logger.warn(
          { err: e, operationId: tracked.start.id },
          'journal append failed',
        ),
      );
    for (const listener of tracked.listeners) listener(journalEvent);
    if (event.type === 'event') this.options.notifications?.onEvent(data.event as StackEvent);
  }

  private track(start: StartEntry, events: readonly JournalEvent[]): Tracked {
    const steps: StepTiming[] = [];
    for (const e of events) {
      if (e.type === 'step-end') steps.push(stepOf(e.data));
    }
    const tracked: Tracked = {
      start,
      state: 'running',
      events: [...events],
      steps,
      end: undefined,
      listeners: new Set(),
      controller: undefined,
      done: undefined,
    };
    this.ops.set(start.id, tracked);
    if (start.idempotency) this.idempotency.set(idempotencyKey(start.idempotency), start.id);
    return tracked;
  }

  private applyEnd(tracked: Tracked, end: EndEntry): void {
    tracked.end = end;
    tracked.state = end.state;
    const seq = (tracked.events.at(-1)?.seq ?? 0) + 1;
    tracked.events.push({ seq, type: 'result', data: resultData(end) });
  }

  private forget(tracked: Tracked): void {
    this.ops.delete(tracked.start.id);
    if (tracked.start.idempotency) {
      this.idempotency.delete(idempotencyKey(tracked.start.idempotency));
    }
  }

  /** Drops the oldest finished operations beyond the retention limit. */
  private trim(): void {
    const max = this.options.maxRetained ?? 1000;
    if (this.ops.size <= max) return;
    for (const tracked of this.ops.values()) {
      if (this.ops.size <= max) break;
      if (tracked.state !== 'running') this.forget(tracked);
    }
  }

  private endEntry(
    tracked: Tracked,
    state: EndEntry['state'],
    outcome: Pick<EndEntry, 'result' | 'error' | 'interrupted'>,
  ): EndEntry {
    return {
      t: 'end',
      id: tracked.start.id,
      state,
      finishedAt: new Date(this.now()).toISOString(),
      ...outcome,
    };
  }

  private interruption(tracked: Tracked, reason: string): Interruption {
    const last = tracked.steps.filter((s) => s.ok).at(-1);
    const commit = tracked.steps.find((s) => s.step === 'commit' && s.ok);
    const synced = tracked.steps.some((s) => s.step === 'sync' && s.ok);
    const where =
      commit && !synced
        ? `; git: ${commit.detail ?? 'committed'}, the Argo CD wait did not finish`
        : '';
    return {
      reason: `${reason}${where}`,
      ...(last ? { lastCompletedStep: last } : {}),
      resume: `${RESUME_HINT}: POST ${tracked.start.request.path} with the same body`,
    };
  }

  private outcome(result: OperationResult): OperationOutcome {
    const value: OperationOutcome = {
      committed: result.committed,
      sha: result.sha,
      attempts: result.attempts,
      summary: result.summary,
      live: result.live as OperationOutcome['live'],
      preview: result.preview as OperationOutcome['preview'],
      apps: result.apps.map((a) => ({
        app: a.app,
        syncStatus: a.syncStatus,
        health: a.health,
        ...(a.revision ? { revision: a.revision } : {}),
        ...(a.operationPhase ? { operationPhase: a.operationPhase } : {}),
        ...(a.message ? { message: a.message } : {}),
      })),
      ...(result.details ? { details: result.details } : {}),
    };
    return JSON.parse(this.options.redactor.redact(JSON.stringify(value))) as OperationOutcome;
  }

  /** Domain errors as the CLI's JSON shows them; anything else hidden behind "internal". */
  private errorJson(e: unknown, id: string): ErrorJson {
    if (isStackswapError(e) && e.code !== 'internal') {
      return JSON.parse(this.options.redactor.redact(JSON.stringify(e.toJSON()))) as ErrorJson;
    }
    return {
      code: 'internal',
      message: `internal error; the service log has the cause (operation ${id})`,
    };
  }

  private view(tracked: Tracked): OperationView {
    const { start, end } = tracked;
    const self = `/v1/operations/${start.id}`;
    return {
      id: start.id,
      stack: start.stack,
      kind: start.kind,
      state: tracked.state,
      requestedBy: start.requestedBy,
      createdAt: start.createdAt,
      ...(end ? { finishedAt: end.finishedAt } : {}),
      request: start.request,
      steps: tracked.steps,
      ...(end?.result ? { result: end.result } : {}),
      ...(end?.error ? { error: end.error } : {}),
      ...(end?.interrupted ? { interrupted: end.interrupted } : {}),
      links: { self, events: `${self}/events` },
    };
  }
}

function busyError(stack: string, running: string | undefined, kind: string | undefined) {
  return new ApiError(
    409,
    'stack-busy',
    running
      ? `stack ${stack} is busy with operation ${running}${kind ? ` (${kind})` : ''}; follow it or retry when it has finished`
      : `stack ${stack} is busy with an operation another replica is starting; retry when it has finished`,
    running ? { operationId: running, location: `/v1/operations/${running}` } : {},
  );
}

function databaseUnavailable(cause: unknown): ApiError {
  if (cause instanceof ApiError) return cause;
  return new ApiError(
    503,
    'database-unavailable',
    'the database of the operations journal is not reachable; nothing was started, retry shortly',
    {},
    { 'retry-after': '5' },
  );
}

function idempotencyKey(i: { scope: string; key: string }): string {
  return `${i.scope}\n${i.key}`;
}

function stepOf(data: Record<string, unknown>): StepTiming {
  return {
    step: String(data.step),
    title: String(data.title),
    durationMs: Number(data.durationMs),
    ok: data.ok === true,
    ...(typeof data.detail === 'string' ? { detail: data.detail } : {}),
  };
}

function resultData(end: EndEntry): Record<string, unknown> {
  return {
    state: end.state,
    finishedAt: end.finishedAt,
    ...(end.result ? { result: end.result } : {}),
    ...(end.error ? { error: end.error } : {}),
    ...(end.interrupted ? { interrupted: end.interrupted } : {}),
  };
}

async function raceTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
