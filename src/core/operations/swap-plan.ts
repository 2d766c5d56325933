/**
 * The dry run of a weighted swap (`swap --dry-run` with steps, the service's `dryRun: true`):
 * it plans the commits the real run (gated-swap.ts) makes, in order: one per step setting the
 * preview's weight, then the flip (`global.live` to the target and the weight back to 0), each
 * with the subject and trailers the real commit carries. Every plan is made on the synced head;
 * each step sets one key to an absolute value, so planning it on the head gives exactly the
 * content the real step writes, and plan-diff.ts diffs each commit against the one before.
 *
 * Verification itself is not run by a dry run: no check or query is sent; the plan says which
 * commits a passing run makes.
 */
import { commitMessage } from '../audit.ts';
import { loadConfig, stackOf } from '../load-config.ts';
import { formatVersions, readStackState } from '../stack-state.ts';
import { otherColour, type Colour } from '../../config/names.ts';
import type { Transaction } from '../../gitops/git/repo.ts';
import { commitStep, editValues, operationResult } from './commit-and-sync.ts';
import type { OperationContext, OperationResult } from './context.ts';
import type { GatedSwapRequest, SwapPreconditions } from './gated-swap.ts';

/** The same default as gated-swap.ts. */
const DEFAULT_WEIGHT_KEY = ['global', 'previewWeight'];

/**
 * Plans a swap with weighted steps; undefined when the swap has none (one flip: swap.ts plans
 * it as before). Only in plan mode (`ctx.plan`).
 */
export async function planSteppedSwap(
  ctx: OperationContext,
  request: GatedSwapRequest,
  preconditions: SwapPreconditions,
): Promise<OperationResult | undefined> {
  const stack = stackOf(await loadConfig(ctx.repo), request.stack);
  const v = stack.verification;
  const weights = request.steps ?? v?.steps.weights ?? [];
  const partial = weights.filter((w) => w < 100);
  if (partial.length === 0) return undefined;
  const weightKey = v?.weightKey ?? DEFAULT_WEIGHT_KEY;

  let live: Colour | undefined;
  let target = request.to;
  const resolve = async (tx: Transaction) => {
    const resolved = await preconditions(tx, stack, target, true);
    if (resolved === 'already-live') return undefined;
    target = resolved.target;
    live = resolved.live;
    return resolved;
  };

  for (const weight of partial) {
    await commitStep(
      ctx,
      `swap ${stack.name}: ${weight}% to ${target ?? 'the preview'}`,
      async (tx) => {
        const resolved = await resolve(tx);
        if (!resolved) return { kind: 'noop', result: undefined };
        const source = await tx.readFile(stack.liveFile);
        return {
          kind: 'commit',
          files: { [stack.liveFile]: editValues(source, stack.liveFile, [[weightKey, weight]]) },
          message: commitMessage(
            `swap ${stack.name}: ${weight}% of traffic to ${resolved.target}`,
            'swap-step',
            stack.name,
            ctx.actor,
            { from: resolved.live, to: resolved.target, weight: String(weight) },
          ),
          result: undefined,
        };
      },
    );
  }
  const flip = await commitStep(ctx, `swap ${stack.name}`, async (tx) => {
    const resolved = await resolve(tx);
    if (!resolved) return { kind: 'noop', result: undefined };
    const state = await readStackState(tx, stack);
    const source = await tx.readFile(stack.liveFile);
    return {
      kind: 'commit',
      files: {
        [stack.liveFile]: editValues(source, stack.liveFile, [
          [stack.liveKey, resolved.target],
          [weightKey, 0],
        ]),
      },
      message: commitMessage(
        `swap ${stack.name}: live ${state.live} -> ${resolved.target}`,
        'swap',
        stack.name,
        ctx.actor,
        {
          from: state.live,
          to: resolved.target,
          versions: formatVersions(state.colours[resolved.target].versions),
          ...(v ? { verification: 'passed' } : {}),
        },
      ),
      result: undefined,
    };
  });
  // Already live: every attempt was a no-op and the target is the live colour.
  const current = await readStackState(ctx.repo, stack);
  const to = target ?? current.live;
  return operationResult(ctx, 'swap', stack.name, flip, {
    summary: `${stack.name}: would move ${describeWeights(weights)} to ${to}, then live ${live ?? current.live} -> ${to}${v ? ', each step verified' : ''} (dry run)`,
    live: to,
    preview: otherColour(to),
    apps: [],
  });
}

function describeWeights(weights: readonly number[]): string {
  return weights.map((w) => `${w}%`).join(', ');
}
