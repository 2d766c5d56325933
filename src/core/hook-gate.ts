/**
 * Lifecycle hooks at the points of the core operations (issue 13). `gateAt` asks every hook
 * declared at a point, in order, with the point's event as the body; each verdict becomes a
 * `hook.result` event and waits in the operation's ledger for the next commit's trailers. The
 * first hook that does not pass stops the operation with a `hook-vetoed` error; the caller
 * undoes what the point follows (afterDeploy, afterSwap) so nothing is left half-done.
 *
 * Dry runs never call hooks. `--no-hooks` (CLI, for the stack's `hooks.admins`) and
 * `"hooks": false` (service, admin tokens) skip them, recorded in every commit's trailers.
 */
import { StackswapError } from '../shared/errors.ts';
import type { StackEventInput } from '../shared/events.ts';
import type { HookPoint } from '../config/hooks-config.ts';
import type { StackConfig } from '../config/stackswap-config.ts';
import type { HookResult } from '../hooks/contract.ts';
import { passed } from '../hooks/contract.ts';
import { HOOK_POINTS } from '../config/hooks-config.ts';
import type { OperationKind } from './audit.ts';
import { buildStackEvent, emitStackEvent } from './events.ts';
import type { OperationContext } from './operations/context.ts';

export function hasHooks(stack: StackConfig): boolean {
  const hooks = stack.hooks;
  return hooks !== undefined && HOOK_POINTS.some((p) => hooks[p].length > 0);
}

export interface GateRequest {
  point: HookPoint;
  operation: OperationKind;
  /** The body's event (the envelope is filled in); its `commit.sha` is the gate's commit. */
  event: Omit<StackEventInput, 'operation' | 'stack'> & { commit: { sha: string } };
}

/** Asks the hooks of one point; throws `hook-vetoed` at the first that does not pass. */
export async function gateAt(
  ctx: OperationContext,
  stack: StackConfig,
  request: GateRequest,
): Promise<HookResult[]> {
  if (!hasHooks(stack)) return [];
  const hooks = stack.hooks!;
  const list = hooks[request.point];
  if (ctx.plan) {
    if (list.length > 0)
      ctx.progress.info(`dry run: hooks at ${request.point} not called`, 'hooks');
    return [];
  }
  const ledger = (ctx.hookLedger ??= { unrecorded: [] });
  const env = ctx.hooks;
  if (env?.skip) {
    if (!env.skip.admin && !hooks.admins.includes(env.skip.by)) {
      throw new StackswapError(
        'usage',
        `running ${stack.name} without its hooks is for admins: "${env.skip.by}" is not in stacks.${stack.name}.hooks.admins`,
        { hint: 'drop --no-hooks, or ask an admin (listed in hooks.admins) to run it' },
      );
    }
    ledger.skipped = `--no-hooks by ${env.skip.by}`;
    const results = list.map((h): HookResult => ({
      point: request.point,
      name: h.name,
      result: 'skipped',
      executionId: 'none',
      durationMs: 0,
      message: ledger.skipped!,
    }));
    for (const r of results) record(ctx, stack, request, r);
    return results;
  }
  if (list.length === 0) return [];
  if (!env) {
    throw new StackswapError(
      'internal',
      `${stack.name} declares hooks but this entry point cannot call them; refusing to run without them`,
    );
  }
  // Loaded on use: the HTTP client is not needed by a stack without hooks (CLI start-up).
  const { runHook } = await import('../hooks/runner.ts');
  const event = buildStackEvent(ctx, stack.name, request.operation, request.event);
  const results: HookResult[] = [];
  for (const hook of list) {
    const result = await ctx.progress.step(
      'hooks',
      `hook ${request.point}/${hook.name}`,
      () =>
        runHook(hook, { ...event, id: '' }, env, {
          point: request.point,
          stack: stack.name,
          operationId: ctx.actor.operationId,
          sha: request.event.commit.sha,
          allowed: hooks.allowed,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        }),
      (r) => `${r.result}${r.message ? `: ${r.message}` : ''}`,
    );
    results.push(result);
    record(ctx, stack, request, result);
    if (!passed(result)) throw hookVetoed(stack, request.point, result, results);
  }
  return results;
}

function record(
  ctx: OperationContext,
  stack: StackConfig,
  request: GateRequest,
  result: HookResult,
): void {
  ctx.hookLedger!.unrecorded.push(result);
  const { type: _type, data: _data, hook: _hook, ...envelope } = request.event;
  emitStackEvent(ctx, stack.name, request.operation, {
    ...envelope,
    type: 'hook.result',
    ...(passed(result)
      ? {}
      : { reason: result.message ?? `${result.point}/${result.name}: ${result.result}` }),
    hook: {
      point: result.point,
      name: result.name,
      result: result.result,
      executionId: result.executionId,
      durationMs: result.durationMs,
      ...(result.message ? { message: result.message } : {}),
    },
    data: { ...(result.deferred ? { deferred: true } : {}) },
  });
}

export function hookVetoed(
  stack: StackConfig,
  point: HookPoint,
  result: HookResult,
  results: readonly HookResult[],
  stopped?: string,
): StackswapError {
  return new StackswapError(
    'hook-vetoed',
    `hook ${point}/${result.name} stopped the operation (${result.result}): ${result.message ?? 'no message'}${stopped ? `; ${stopped}` : ''}`,
    {
      hint: `see the hook's verdict with: stackswap history --stack ${stack.name}`,
      details: { hooks: results.map((r) => ({ ...r })), point, hook: result.name },
    },
  );
}

/** Rethrows a veto with what was undone appended (the undo commit's sha). */
export function vetoWithUndo(
  e: StackswapError,
  stopped: string,
  undoneSha: string,
): StackswapError {
  return new StackswapError('hook-vetoed', `${e.message}; ${stopped}`, {
    ...(e.hint ? { hint: e.hint } : {}),
    details: { ...e.details, undone: undoneSha },
  });
}
