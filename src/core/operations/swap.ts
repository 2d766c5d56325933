/**
 * swap: move live traffic to the other colour by changing one key (global.live), so the whole
 * stack moves at once. `swap` resolves the preview colour when it starts; if that colour is
 * already live when it commits (another swap won the race) it is a successful no-op, so two
 * concurrent swaps never flip twice, and once the plan is live a second `swap` is a no-op too.
 * `swap --to <colour>` is idempotent in the same way.
 */
import { PreconditionError } from '../../shared/errors.ts';
import { commitMessage } from '../audit.ts';
import { isLiveAt } from '../../shared/deployer.ts';
import { loadConfig, loadPlanFromRepo, loadStructuralConfig, stackOf } from '../load-config.ts';
import { withLifecycle } from '../events.ts';
import { hasHooks } from '../hook-gate.ts';
import { swapEvent, type SwapView } from './swap-lifecycle.ts';
import {
  carriesVersions,
  formatVersions,
  readStackState,
  type StackState,
} from '../stack-state.ts';
import { otherColour, type Colour } from '../../config/names.ts';
import type { StackConfig } from '../../config/stackswap-config.ts';
import type { Transaction } from '../../gitops/git/repo.ts';
import { setValue } from '../../gitops/values-edit.ts';
import type { OperationContext, OperationResult } from './context.ts';
import { commitStep, operationResult, syncStep, valuesNotices } from './commit-and-sync.ts';
import type { SwapPreconditions } from './gated-swap.ts';
import { refuseRejected } from '../rejected.ts';

export interface SwapRequest {
  stack: string;
  to?: Colour;
  /** Weighted steps in percent ending at 100 (`--steps`); default the stack's verification.steps. */
  steps?: number[];
  /** false (`--no-verify`): flip at once without the stack's verification gates. */
  verify?: boolean;
  /**
   * true: swap to a version set recorded as rejected (src/core/rejected.ts; CLI --force).
   * Default false: refused with `release-rejected` (exit 6, HTTP 412).
   */
  force?: boolean;
}

export function swap(ctx: OperationContext, request: SwapRequest): Promise<OperationResult> {
  return withLifecycle(ctx, 'swap', request.stack, () => runSwap(ctx, request));
}

async function runSwap(ctx: OperationContext, request: SwapRequest): Promise<OperationResult> {
  // Verification gates and weighted steps (issue 11), lifecycle hooks (issue 13):
  // gated-swap.ts; dry runs plan the flip. --no-verify drops the gates, never the hooks.
  if (!ctx.plan) {
    await ctx.repo.sync();
    const verify = request.verify !== false;
    const stack = stackOf(
      await (verify ? loadConfig(ctx.repo) : loadStructuralConfig(ctx.repo)),
      request.stack,
    );
    if (verify || hasHooks(stack)) {
      // Loaded on use: the gates pull in the HTTP and Prometheus clients, which a deploy or a
      // git-only run never needs (CLI start-up stays light).
      const { gatedSwap } = await import('./gated-swap.ts');
      const preconditions = swapPreconditions(ctx, request.force);
      const gated = verify
        ? await gatedSwap(ctx, request, stack, preconditions)
        : await gatedSwap(
            ctx,
            {
              stack: request.stack,
              ...(request.to ? { to: request.to } : {}),
              ...(request.force ? { force: true } : {}),
            },
            { ...stack, verification: undefined },
            preconditions,
          );
      if (gated) return gated;
    }
  }
  // A dry run of a weighted swap plans each step's commit, then the flip (swap-plan.ts).
  if (ctx.plan && request.verify !== false) {
    const { planSteppedSwap } = await import('./swap-plan.ts');
    const planned = await planSteppedSwap(ctx, request, swapPreconditions(ctx, request.force));
    if (planned) return planned;
  }
  let target = request.to;
  let from: Colour | undefined;
  let versions: SwapView['versions'] = {};
  const onNotice = valuesNotices(ctx);
  const outcome = await commitStep(ctx, `swap ${request.stack}`, async (tx) => {
    const stack = stackOf(await loadConfig(tx), request.stack);
    const state = await readStackState(tx, stack);
    target ??= await defaultTarget(tx, stack, state);
    from = state.live;
    versions = { blue: state.colours.blue.versions, green: state.colours.green.versions };
    if (state.live === target) return { kind: 'noop', result: stack };
    await checkSwappable(ctx, tx, stack, state, target, request.force);
    const source = await tx.readFile(stack.liveFile);
    return {
      kind: 'commit',
      files: {
        [stack.liveFile]: setValue(source, stack.liveKey, target, {
          file: stack.liveFile,
          onNotice,
        }),
      },
      message: commitMessage(
        `swap ${stack.name}: live ${state.live} -> ${target}`,
        'swap',
        stack.name,
        ctx.actor,
        {
          from: state.live,
          to: target,
          versions: formatVersions(state.colours[target].versions),
        },
      ),
      result: stack,
    };
  });
  const stack = outcome.result;
  const live = target!;
  const apps = await syncStep(ctx, stack.apps.ingress, outcome.sha);
  if (outcome.committed) {
    swapEvent(
      ctx,
      stack,
      { live: from!, target: live, versions },
      {
        type: 'swap.finished',
        live,
        commit: { sha: outcome.sha },
        data: { from, to: live },
      },
    );
  }
  return operationResult(ctx, 'swap', stack.name, outcome, {
    summary: outcome.committed
      ? `${stack.name}: live ${from} -> ${live}`
      : `${stack.name}: ${live} is already live; nothing to swap`,
    live,
    preview: otherColour(live),
    apps,
  });
}

/** The swap preconditions for gated-swap.ts: target resolution and checkSwappable. */
function swapPreconditions(ctx: OperationContext, force: boolean | undefined): SwapPreconditions {
  return async (tx, stack, to, checkArgo) => {
    const state = await readStackState(tx, stack);
    const target = to ?? (await defaultTarget(tx, stack, state));
    if (state.live === target) return 'already-live';
    await checkSwappable(
      checkArgo ? ctx : { ...ctx, deployer: undefined },
      tx,
      stack,
      state,
      target,
      force,
    );
    return {
      target,
      live: state.live,
      versions: {
        blue: state.colours.blue.versions,
        green: state.colours.green.versions,
      },
    };
  };
}

/**
 * Plain `swap` means "make the release plan live": the preview colour, unless the live colour
 * already carries the plan and the preview does not (the swap already happened), so running
 * `swap` twice does not flip traffic back.
 */
async function defaultTarget(
  tx: Transaction,
  stack: StackConfig,
  state: StackState,
): Promise<Colour> {
  if (!(await tx.fileExists(stack.planFile))) return state.preview;
  const plan = await loadPlanFromRepo(tx, stack);
  const liveHasPlan = carriesVersions(state.colours[state.live], plan);
  const previewHasPlan = carriesVersions(state.colours[state.preview], plan);
  return liveHasPlan && !previewHasPlan ? state.live : state.preview;
}

/**
 * Swap preconditions, checked on every attempt against the commit it builds on: the target
 * runs replicas, carries the release plan's versions, and (with Argo CD) is synced at this very
 * commit and Healthy.
 */
async function checkSwappable(
  ctx: OperationContext,
  tx: Transaction,
  stack: StackConfig,
  state: StackState,
  target: Colour,
  force: boolean | undefined,
): Promise<void> {
  const colour = state.colours[target];
  if (colour.replicas === 0) {
    throw new PreconditionError(`${target} has 0 replicas: there is nothing to send traffic to`, {
      hint: `deploy ${stack.name} first (stackswap deploy --stack ${stack.name})`,
    });
  }
  if (await tx.fileExists(stack.planFile)) {
    const plan = await loadPlanFromRepo(tx, stack);
    if (!carriesVersions(colour, plan)) {
      throw new PreconditionError(
        `${target} runs ${formatVersions(colour.versions)} but the release plan ${stack.planFile} says ${formatVersions(plan)}`,
        { hint: `deploy the plan first (stackswap deploy --stack ${stack.name})` },
      );
    }
  }
  await refuseRejected(tx, stack.name, colour.versions, { force, action: 'swap to' });
  if (ctx.deployer) {
    const app = await ctx.deployer.appStatus(colour.app, {
      refresh: true,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    if (!isLiveAt(app, tx.headSha)) {
      throw new PreconditionError(
        `${colour.app} is not synced and healthy at ${tx.headSha.slice(0, 12)} (sync ${app.syncStatus} at ${app.revision?.slice(0, 12) ?? '?'}, health ${app.health}${app.message ? `: ${app.message}` : ''})`,
        {
          hint: `wait for the deploy to finish, or run: stackswap app wait ${colour.app} --revision ${tx.headSha}`,
        },
      );
    }
  }
}
