/**
 * The lifecycle events and hook points of a swap (issue 13), kept out of swap.ts and
 * gated-swap.ts so those only say where they happen:
 *
 * - afterTestTraffic: the preview passed its pre-swap checks (or has none); beforeSwap: the
 *   last word before user traffic. A veto at either changes nothing (no commit yet).
 * - afterSwap: the new colour is live; a veto reverts to the colour that is still running, in
 *   one `revert` commit whose trailers carry the hook's verdict, and `revert.finished` says
 *   `automatic: true` with the reason.
 */
import { StackswapError, isStackswapError } from '../../shared/errors.ts';
import type { StackEventInput } from '../../shared/events.ts';
import type { Colour } from '../../config/names.ts';
import type { StackConfig } from '../../config/stackswap-config.ts';
import { commitMessage } from '../audit.ts';
import { emitStackEvent, versionSets } from '../events.ts';
import { gateAt, vetoWithUndo } from '../hook-gate.ts';
import { formatVersions, readStackState } from '../stack-state.ts';
import { commitStep, editValues, syncStep } from './commit-and-sync.ts';
import type { OperationContext } from './context.ts';

export interface SwapView {
  live: Colour;
  target: Colour;
  versions: Partial<Record<Colour, Readonly<Record<string, string | undefined>>>>;
}

type EventBody = Omit<StackEventInput, 'operation' | 'stack'>;

function envelope(view: SwapView, live: Colour): Pick<EventBody, 'live' | 'preview' | 'versions'> {
  return {
    live,
    preview: live === 'blue' ? 'green' : 'blue',
    versions: versionSets(view.versions),
  };
}

/** Emits a swap event (not in dry runs); `live` is the colour live once it happened. */
export function swapEvent(
  ctx: OperationContext,
  stack: StackConfig,
  view: SwapView,
  input: Omit<EventBody, 'live' | 'preview' | 'versions'> & { live?: Colour },
): void {
  if (ctx.plan) return;
  emitStackEvent(ctx, stack.name, 'swap', { ...envelope(view, input.live ?? view.live), ...input });
}

/** afterTestTraffic, then beforeSwap, at the commit the swap starts from. */
export async function beforeTrafficGates(
  ctx: OperationContext,
  stack: StackConfig,
  view: SwapView,
  sha: string,
  preSwap: Record<string, unknown> | undefined,
): Promise<void> {
  const base = { ...envelope(view, view.live), commit: { sha } };
  await gateAt(ctx, stack, {
    point: 'afterTestTraffic',
    operation: 'swap',
    event: {
      ...base,
      type: 'verification.result',
      data: preSwap ?? {
        phase: 'pre-swap',
        result: 'none',
        note: 'no pre-swap verification configured',
      },
    },
  });
  await gateAt(ctx, stack, {
    point: 'beforeSwap',
    operation: 'swap',
    event: {
      ...base,
      type: 'swap.finished',
      data: { from: view.live, to: view.target, pending: true },
    },
  });
}

/**
 * afterSwap at the flip commit: a veto reverts to `view.live` (still running) and throws
 * `hook-vetoed` saying so; a failed revert is `rollback-failed`.
 */
export async function afterSwapGate(
  ctx: OperationContext,
  stack: StackConfig,
  view: SwapView,
  flipSha: string,
): Promise<void> {
  try {
    await gateAt(ctx, stack, {
      point: 'afterSwap',
      operation: 'swap',
      event: {
        ...envelope(view, view.target),
        type: 'swap.finished',
        commit: { sha: flipSha },
        data: { from: view.live, to: view.target },
      },
    });
  } catch (e) {
    if (!isStackswapError(e) || e.code !== 'hook-vetoed') throw e;
    const reason = e.message.split('\n')[0]!;
    const reverted = await revertAfterVeto(ctx, stack, view, flipSha, reason, e);
    throw vetoWithUndo(
      e,
      `${view.target} was reverted automatically: ${view.live} is live again (commit ${reverted.slice(0, 12)})`,
      reverted,
    );
  }
}

/**
 * A swap re-run that finds the target live already: if an afterSwap hook of the flip is still
 * open in the pending store (the service restarted while it waited), it is resumed now, and a
 * fail reverts as it would have. Without an open one nothing is asked (plain no-op).
 */
export async function resumeAfterSwap(
  ctx: OperationContext,
  stack: StackConfig,
  headSha: string,
): Promise<void> {
  const pending = ctx.hooks?.pending;
  const hooks = stack.hooks?.afterSwap ?? [];
  if (ctx.plan || ctx.hooks?.skip || pending?.kind !== 'callback' || hooks.length === 0) return;
  const { gateKey } = await import('../../hooks/pending.ts');
  const open = await Promise.all(
    hooks.map((h) => pending.store.openFor(gateKey(stack.name, 'afterSwap', h.name, headSha))),
  );
  if (!open.some(Boolean)) return;
  const state = await readStackState(ctx.repo, stack);
  ctx.progress.info('resuming the afterSwap hooks of the swap that made it live', 'hooks');
  await afterSwapGate(
    ctx,
    stack,
    {
      live: state.preview,
      target: state.live,
      versions: { blue: state.colours.blue.versions, green: state.colours.green.versions },
    },
    headSha,
  );
}

async function revertAfterVeto(
  ctx: OperationContext,
  stack: StackConfig,
  view: SwapView,
  flipSha: string,
  reason: string,
  veto: StackswapError,
): Promise<string> {
  const { live, target } = view;
  const revertCtx: OperationContext = { ...ctx, actor: { ...ctx.actor, reason } };
  delete revertCtx.signal; // the revert must happen even when the run is being stopped
  try {
    const outcome = await commitStep(
      revertCtx,
      `revert ${stack.name}: live ${target} -> ${live} (afterSwap hook vetoed)`,
      async (tx) => {
        const state = await readStackState(tx, stack);
        if (state.live === live) return { kind: 'noop', result: undefined };
        const source = await tx.readFile(stack.liveFile);
        return {
          kind: 'commit',
          files: { [stack.liveFile]: editValues(source, stack.liveFile, [[stack.liveKey, live]]) },
          message: commitMessage(
            `revert ${stack.name}: live ${target} -> ${live} (afterSwap hook vetoed; undoes ${flipSha.slice(0, 12)})`,
            'revert',
            stack.name,
            revertCtx.actor,
            { from: target, to: live, versions: formatVersions(view.versions[live] ?? {}) },
          ),
          result: undefined,
        };
      },
    );
    await syncStep(revertCtx, stack.apps.ingress, outcome.sha);
    emitStackEvent(ctx, stack.name, 'swap', {
      ...envelope(view, live),
      type: 'revert.finished',
      automatic: true,
      reason,
      commit: { sha: outcome.sha },
      data: { from: target, to: live, undoes: flipSha, trigger: 'afterSwap hook' },
    });
    return outcome.sha;
  } catch (e) {
    throw new StackswapError(
      'rollback-failed',
      `${veto.message} and the automatic revert failed: ${isStackswapError(e) ? e.message : String(e)}; traffic may still be on ${target}`,
      {
        hint: `move it by hand: stackswap swap --stack ${stack.name} --to ${live}`,
        details: { ...veto.details, badColour: target },
        cause: e,
      },
    );
  }
}
