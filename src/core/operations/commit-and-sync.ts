/**
 * The shape every changing operation shares: a compare-and-swap commit (re-reading state and
 * re-checking preconditions on every attempt), then Argo CD applies exactly that commit to the
 * affected app and we wait until it is live. A no-op still verifies the app at the head commit,
 * so re-running an operation that failed after its push resumes it.
 *
 * In plan mode (`ctx.plan`, dry runs) the commit step runs the same attempt once on the synced
 * head without committing, hands the plan to the sink, and the sync step does nothing.
 */
import type { OperationKind } from '../audit.ts';
import type { AppStatus } from '../../shared/deployer.ts';
import type { CommitOutcome, OperationContext, OperationResult } from './context.ts';
import type { Plan, Transaction } from '../../gitops/git/repo.ts';
import { setOrCreateValue, type ValuesNotice } from '../../gitops/values-edit.ts';
import { isStackswapError } from '../../shared/errors.ts';
import { isProtectedBranchRejection } from '../../gitops/git/classify.ts';
import type { ViaMergeRequest } from '../../config/promotion-config.ts';
import { hookTrailers, Trailer } from '../audit.ts';
import { loadStructuralConfig } from '../config-file.ts';
import { landViaMergeRequest } from './via-merge-request.ts';

export type { CommitOutcome } from './context.ts';

/** Thrown inside an attempt to stop `transact` before its push: the change goes through an MR. */
class ThroughMergeRequest extends Error {}

export async function commitStep<T>(
  ctx: OperationContext,
  title: string,
  attempt: (tx: Transaction) => Promise<Plan<T>>,
): Promise<CommitOutcome<T>> {
  const sink = ctx.plan;
  if (sink) {
    return ctx.progress.step(
      'commit',
      `${title} (dry run)`,
      async () => {
        const planned = await ctx.repo.plan(attempt, ctx.signal ? { signal: ctx.signal } : {});
        sink(planned);
        const { plan, baseSha } = planned;
        return { sha: baseSha, committed: false, attempts: 1, result: plan.result };
      },
      (r) => `planned on ${r.sha.slice(0, 12)}; nothing committed (dry run)`,
    );
  }
  const ledger = ctx.hookLedger;
  // Hook verdicts given since the last commit go into this one's trailers (the commit they
  // gate), and a --no-hooks skip into every commit of the operation.
  const withHooks: typeof attempt = ledger
    ? async (tx) => {
        const plan = await attempt(tx);
        if (plan.kind !== 'commit') return plan;
        const trailers = hookTrailers(ledger);
        return {
          ...plan,
          message: { ...plan.message, trailers: { ...trailers, ...plan.message.trailers } },
        };
      }
    : attempt;
  // The stack's promotion.viaMergeRequest, read from the same snapshot as the attempt.
  let route: ViaMergeRequest = 'never';
  const routed = async (tx: Transaction): Promise<Plan<T>> => {
    const plan = await withHooks(tx);
    route = plan.kind === 'commit' ? await viaMergeRequestOf(tx, plan.message.trailers) : 'never';
    if (route === 'always') throw new ThroughMergeRequest();
    return plan;
  };
  const outcome = await ctx.progress.step(
    'commit',
    title,
    async (): Promise<CommitOutcome<T>> => {
      try {
        return await ctx.repo.transact(routed, ctx.signal ? { signal: ctx.signal } : {});
      } catch (e) {
        if (e instanceof ThroughMergeRequest) return landViaMergeRequest(ctx, withHooks, 'always');
        if (route === 'fallback' && isProtectedBranchRejection(e)) {
          ctx.progress.info(
            `branch protection refused the push to ${ctx.repo.branch}; landing the change through a merge request`,
            'commit',
          );
          return landViaMergeRequest(ctx, withHooks, 'protected');
        }
        throw e;
      }
    },
    (r) =>
      r.mergeRequest
        ? `merged through ${r.mergeRequest.url} as ${r.sha.slice(0, 12)}`
        : r.committed
          ? `pushed ${r.sha.slice(0, 12)}${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}`
          : `already in the desired state at ${r.sha.slice(0, 12)}; nothing to commit`,
  );
  if (ledger && outcome.committed) ledger.unrecorded = [];
  return outcome;
}

/** `promotion.viaMergeRequest` of the stack a commit is for (`never` for all-stack edits). */
async function viaMergeRequestOf(
  tx: Transaction,
  trailers: Record<string, string>,
): Promise<ViaMergeRequest> {
  const stack = trailers[Trailer.stack];
  if (!stack || stack === '*') return 'never';
  // A stackswap.yaml that does not parse at the head (values set can be what repairs it) has
  // no promotion setting to honour; every other operation has failed on it already.
  const config = await loadStructuralConfig(tx).catch(() => undefined);
  return config?.stacks.get(stack)?.viaMergeRequest ?? 'never';
}

export async function syncStep(
  ctx: OperationContext,
  app: string,
  sha: string,
): Promise<AppStatus[]> {
  if (ctx.plan) {
    // A dry run may carry a deployer for read-only precondition checks (swap); it never syncs.
    ctx.progress.info(`dry run: ${app} not synced`);
    return [];
  }
  const deployer = ctx.deployer;
  if (!deployer) {
    ctx.progress.info(`argo: not configured or --no-sync; ${app} not synced`);
    return [];
  }
  try {
    const status = await ctx.progress.step(
      'sync',
      `sync ${app} at ${sha.slice(0, 12)}${ctx.wait ? ' and wait until healthy' : ''}`,
      () =>
        deployer.syncAndWait({
          app,
          revision: sha,
          wait: ctx.wait,
          timeoutMs: ctx.timeoutMs,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        }),
      (s) => `${s.syncStatus} at ${s.revision?.slice(0, 12) ?? '?'}, ${s.health}`,
    );
    return [status];
  } catch (e) {
    // Git already holds the change (our commit, or the head a no-op verified): say so, or the
    // user may think nothing happened. Bugs (non-StackswapErrors) pass through untouched.
    if (isStackswapError(e)) {
      throw e.addContext({ hint: pushedHint(sha, e.code), details: { pushed: sha } });
    }
    throw e;
  }
}

/**
 * True both after our push and after a no-op (the remote head already had the change). A
 * re-run resumes when Argo CD was unreachable, slow or refusing; a version that made the app
 * Degraded or whose sync failed needs a new deploy instead (the error's own hint says so).
 */
export function pushedHint(sha: string, code?: string): string {
  const pushed = `commit ${sha.slice(0, 12)} is pushed (git has the change)`;
  if (code === 'degraded' || code === 'operation-failed') return pushed;
  return `${pushed}; re-run the same command or request to resume: it makes no new commit and syncs and waits again`;
}

/**
 * Applies several scalar edits to one values file; returns the new text (unchanged when no-op).
 * `onNotice` hears what the user should know: other paths changed through an anchor's aliases,
 * duplicate keys Helm reads as their last occurrence (see valuesNotices).
 */
export function editValues(
  source: string,
  file: string,
  edits: readonly (readonly [path: readonly string[], value: string | number | boolean | null])[],
  onNotice?: (notice: ValuesNotice) => void,
): string {
  return edits.reduce(
    (text, [path, value]) =>
      setOrCreateValue(text, path, value, { file, ...(onNotice ? { onNotice } : {}) }),
    source,
  );
}

/**
 * A notice callback for the values edits of one operation: each distinct notice becomes one
 * progress info line (CLI step output, SSE events), once, however often a compare-and-swap
 * retry repeats the edit. Create it outside the attempt.
 */
export function valuesNotices(ctx: OperationContext): (notice: ValuesNotice) => void {
  const seen = new Set<string>();
  return (notice) => {
    // A duplicate is one notice however its line moves when an earlier edit inserts lines.
    const key =
      notice.kind === 'duplicate-key' ? `dup\u0000${notice.path.join('\u0000')}` : notice.message;
    if (seen.has(key)) return;
    seen.add(key);
    ctx.progress.info(notice.message, 'commit');
  };
}

/** The result every changing operation reports, from its commit outcome and what it synced. */
export function operationResult(
  ctx: OperationContext,
  operation: OperationKind,
  stack: string,
  outcome: CommitOutcome<unknown>,
  view: Pick<OperationResult, 'summary' | 'live' | 'preview' | 'apps' | 'details'>,
): OperationResult {
  return {
    operation,
    stack,
    operationId: ctx.actor.operationId,
    committed: outcome.committed,
    sha: outcome.sha,
    attempts: outcome.attempts,
    ...view,
    ...(outcome.mergeRequest
      ? { details: { ...view.details, mergeRequest: outcome.mergeRequest } }
      : {}),
    steps: ctx.progress.steps,
  };
}
