/**
 * Runs the hooks of one lifecycle point, in their declared order, stopping at the first that
 * does not pass. A hook that answers "pending" is waited for within its `pendingTimeout`:
 *
 * - in the service (`pending.kind: 'callback'`): the execution is recorded in the pending
 *   store before the hook is called, the request carries the callback URL and a one-time
 *   token, and the store is watched until the callback route decides it or the deadline
 *   passes. A re-run at the same gate after a restart resumes the same execution.
 * - in the CLI (`pending.kind: 'poll'`): the hook's `statusUrl` is polled (a signed GET).
 *
 * No verdict in time applies `onTimeout` (default fail). An operation stopped meanwhile
 * (its signal) is interrupted, never passed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { HookEntry, HookPoint } from '../config/hooks-config.ts';
import type { StackEvent } from '../shared/events.ts';
import type { HostPattern } from '../shared/hosts.ts';
import { StackswapError } from '../shared/errors.ts';
import { callHook, pollStatus, type CallOptions } from './call.ts';
import type { HookResult } from './contract.ts';
import { gateKey, tokenDigest, type PendingHookStore, type PendingRecord } from './pending.ts';
import { sleepUnlessAborted } from '../shared/sleep.ts';

export interface HookClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realHookClock: HookClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepUnlessAborted(ms, signal),
};

export type PendingMode =
  | {
      kind: 'callback';
      store: PendingHookStore;
      /** The service's public URL of `POST /v1/hooks/:id/result`. */
      callbackUrl: (executionId: string) => string;
      /** How often the store is read while waiting; default 500 ms. */
      pollMs?: number;
    }
  | { kind: 'poll'; intervalMs?: number };

/** What an entry point (CLI or service) gives the core so hooks can be called. */
export interface HookEnvironment {
  /** The value of a hook's `secretEnv` (the entry point registers it with its redactor). */
  secret: (envName: string) => string | undefined;
  pending: PendingMode;
  /** `--no-hooks` (CLI) or `"hooks": false` (service); `admin`: the entry point vouched for it. */
  skip?: { by: string; admin: boolean };
  clock?: HookClock;
  dispatcher?: Dispatcher;
}

export interface HookRun {
  point: HookPoint;
  stack: string;
  operationId: string;
  /** The commit the gate is about (see pending.ts `gate`). */
  sha: string;
  allowed: readonly HostPattern[];
  signal?: AbortSignal;
}

/** Thrown when the operation is stopped while a hook is being waited for. */
export class HookInterrupted extends StackswapError {
  constructor(point: string, name: string) {
    super(
      'operation-failed',
      `the operation was stopped while hook ${point}/${name} was running; not passed`,
      {
        hint: 'run the same command or request again: a pending hook is resumed, not asked twice',
      },
    );
    this.name = 'HookInterrupted';
  }
}

export async function runHook(
  hook: HookEntry,
  event: StackEvent,
  env: HookEnvironment,
  run: HookRun,
): Promise<HookResult> {
  const clock = env.clock ?? realHookClock;
  const started = clock.now();
  const gate = gateKey(run.stack, run.point, hook.name, run.sha);
  const secret = env.secret(hook.secretEnv);
  const base = { point: run.point, name: hook.name };
  const finish = (
    executionId: string,
    result: HookResult['result'],
    message?: string,
    deferred?: boolean,
  ): HookResult => ({
    ...base,
    executionId,
    result,
    ...(message ? { message } : {}),
    durationMs: clock.now() - started,
    ...(deferred ? { deferred } : {}),
  });
  if (!secret) {
    return finish(
      'none',
      'fail',
      `hook ${hook.name}: the environment variable ${hook.secretEnv} (its secret) is not set`,
    );
  }
  const options: CallOptions = {
    secret,
    allowed: run.allowed,
    nowSeconds: () => Math.floor(clock.now() / 1000),
    ...(env.dispatcher ? { dispatcher: env.dispatcher } : {}),
    ...(run.signal ? { signal: run.signal } : {}),
  };
  const timeoutResult = (id: string, why: string, deferred?: boolean) =>
    finish(
      id,
      hook.onTimeout === 'pass' ? 'timeout-pass' : 'timeout-fail',
      `${why} (onTimeout: ${hook.onTimeout})`,
      deferred,
    );

  const mode = env.pending;
  if (mode.kind === 'callback') {
    // A verdict recorded for this gate by an earlier, interrupted run: resume it.
    const open = await mode.store.openFor(gate);
    if (open) return resumeOpen(open);
  }

  const executionId = randomUUID();
  const token = randomBytes(24).toString('base64url');
  const deadline = clock.now() + hook.pendingTimeout;
  if (mode.kind === 'callback') {
    await mode.store.create({
      id: executionId,
      operationId: run.operationId,
      gate,
      tokenSha256: tokenDigest(token),
      state: 'pending',
      createdAt: clock.now(),
      expiresAt: deadline,
    });
  }
  const body: StackEvent = {
    ...event,
    id: `${event.operationId}.${run.point}.${hook.name}`,
    hook: {
      point: run.point,
      name: hook.name,
      executionId,
      deadline: new Date(deadline).toISOString(),
      ...(mode.kind === 'callback'
        ? { callbackUrl: mode.callbackUrl(executionId), callbackToken: token }
        : {}),
    },
  };
  const answer = await callHook(hook, body, options);
  if (run.signal?.aborted) throw new HookInterrupted(run.point, hook.name);

  if (answer.kind !== 'pending') {
    const result =
      answer.kind === 'timeout'
        ? timeoutResult(executionId, answer.message)
        : finish(executionId, answer.kind, answer.message);
    if (mode.kind === 'callback') {
      const state = result.result === 'pass' || result.result === 'timeout-pass' ? 'pass' : 'fail';
      await mode.store.decide(
        executionId,
        { state, ...(result.message ? { message: result.message } : {}), by: 'answer' },
        { now: clock.now() },
      );
      await mode.store.consume(executionId);
    }
    return result;
  }

  if (mode.kind === 'poll') {
    if (!answer.statusUrl) {
      return finish(
        executionId,
        'fail',
        `hook ${hook.name} answered pending without a statusUrl; the CLI cannot take callbacks, so it needs a status URL to poll`,
      );
    }
    const interval = mode.intervalMs ?? 2000;
    for (;;) {
      if (clock.now() >= deadline) {
        return timeoutResult(
          executionId,
          `hook ${hook.name} was still pending after ${hook.pendingTimeout / 1000}s`,
          true,
        );
      }
      await clock.sleep(Math.min(interval, Math.max(0, deadline - clock.now())), run.signal);
      if (run.signal?.aborted) throw new HookInterrupted(run.point, hook.name);
      const status = await pollStatus(hook, answer.statusUrl, options);
      if (run.signal?.aborted) throw new HookInterrupted(run.point, hook.name);
      if (status.kind === 'pass' || status.kind === 'fail') {
        return finish(executionId, status.kind, status.message, true);
      }
    }
  }
  const record = await mode.store.get(executionId);
  return waitFor(record!);

  async function resumeOpen(open: PendingRecord): Promise<HookResult> {
    return waitFor(open);
  }

  async function waitFor(record: PendingRecord): Promise<HookResult> {
    if (mode.kind !== 'callback') throw new Error('unreachable');
    const pollMs = mode.pollMs ?? 500;
    let current: PendingRecord | undefined = record;
    for (;;) {
      if (!current)
        return finish(record.id, 'fail', `hook ${hook.name}: its pending record vanished`);
      if (current.state === 'pass' || current.state === 'fail') {
        await mode.store.consume(current.id);
        return finish(current.id, current.state, current.message, true);
      }
      if (current.state === 'expired' || clock.now() > current.expiresAt) {
        if (current.state === 'pending') {
          await mode.store.decide(
            current.id,
            { state: 'expired', by: 'timeout' },
            { now: clock.now() },
          );
        }
        await mode.store.consume(current.id);
        return timeoutResult(
          current.id,
          `hook ${hook.name} did not report within ${hook.pendingTimeout / 1000}s`,
          true,
        );
      }
      await clock.sleep(
        Math.min(pollMs, Math.max(1, current.expiresAt - clock.now() + 1)),
        run.signal,
      );
      if (run.signal?.aborted) throw new HookInterrupted(run.point, hook.name);
      current = await mode.store.get(record.id);
    }
  }
}
