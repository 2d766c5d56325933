/**
 * Landing an operation's commit through a merge request (issue 12, item 5), for stacks whose
 * `promotion.viaMergeRequest` is `always`, or `fallback` when branch protection refused the
 * push. The commit is the one the push would have carried (same attempt, same trailers), on
 * the branch's current head; it goes to a branch stackswap owns, `stackswap/<stack>/<kind>`,
 * and an MR/PR from there into the configured branch. Then: auto-merge (or a merge pinned to
 * the commit when the forge says it can merge now), a wait for the merge within the
 * operation's timeout, and the commit that landed (a merge or squash commit has its own SHA)
 * is what Argo CD syncs and waits on.
 *
 * Nothing is half-done on failure: the configured branch is untouched until the forge merges,
 * and the MR branch and MR stay for a retry, which finds them (the same branch name) and reuses
 * them as they are when the change is the same on the same head.
 */
import type { CommitMessage, Plan, Transaction } from '../../gitops/git/repo.ts';
import type { MergeOutcome, MergeRequest } from '../../forges/forge.ts';
import { isForgeError } from '../../forges/errors.ts';
import {
  ConflictError,
  PreconditionError,
  StackswapError,
  TimeoutError,
  ValidationError,
  isStackswapError,
} from '../../shared/errors.ts';
import { Trailer } from '../audit.ts';
import type { CommitOutcome, ForgeTarget, MergeRequestInfo, OperationContext } from './context.ts';
import { sleepUnlessAborted } from '../../shared/sleep.ts';

/** Why the change goes through a merge request. */
export type MergeRequestRoute = 'always' | 'protected';

const DEFAULT_POLL_MS = 5_000;
/** GitLab caps titles at 255 characters. */
const MAX_TITLE = 255;

/**
 * `stackswap/<stack>/<operation kind>`: one branch (so one open MR) per stack and kind. A retry
 * of the same operation (the CLI gives each run a new operation id) finds the same branch and
 * MR; a later operation of the same kind replaces the unmerged one instead of piling up a
 * second MR that would conflict with it. A change to every stack (`values set` without a
 * stack, trailer `*`) uses `all-stacks`.
 */
export function mergeRequestBranch(stack: string, kind: string): string {
  const part = (s: string) =>
    s === '*'
      ? 'all-stacks'
      : s
          .toLowerCase()
          .replace(/[^a-z0-9-]+/g, '-')
          .replace(/^-+|-+$/g, '') || 'unnamed';
  return `stackswap/${part(stack)}/${part(kind)}`;
}

/** The MR's title and description: what the operation is, why an MR, and the same trailers. */
export function mergeRequestText(
  message: CommitMessage,
  context: { targetBranch: string; baseSha: string; route: MergeRequestRoute },
): { title: string; description: string } {
  const t = message.trailers;
  const kind = t[Trailer.operation] ?? 'change';
  const stack = t[Trailer.stack] ?? '*';
  const why =
    context.route === 'protected'
      ? `\`${context.targetBranch}\` is protected (the direct push was refused), and the stack has \`promotion.viaMergeRequest: fallback\`.`
      : `The stack has \`promotion.viaMergeRequest: always\`: its changes land through merge requests.`;
  const lines = [
    `**stackswap ${kind}** of stack \`${stack === '*' ? 'all stacks' : stack}\`: ${message.subject}`,
    '',
    `- requested by: ${t[Trailer.requestedBy] ?? 'unknown'}`,
    `- operation id: \`${t[Trailer.operationId] ?? 'unknown'}\``,
    `- prepared on \`${context.baseSha.slice(0, 12)}\` of \`${context.targetBranch}\``,
    '',
    why,
    'stackswap merges this when the forge allows it (auto-merge), waits for the merge, then has Argo CD sync and wait at the merged commit. Closing it without merging cancels the operation; nothing is deployed.',
    ...(message.body ? ['', message.body] : []),
    '',
    ...Object.entries(t).map(([key, value]) => `${key}: ${value}`),
  ];
  const chars = Array.from(message.subject);
  const title =
    chars.length <= MAX_TITLE ? message.subject : `${chars.slice(0, MAX_TITLE - 1).join('')}…`;
  return { title, description: lines.join('\n') };
}

/**
 * Runs `attempt` on the branch head and lands its commit through a merge request; returns the
 * commit that landed (committed) or, when the branch is already in the desired state, its head
 * (not committed). Called inside the operation's commit step.
 */
export async function landViaMergeRequest<T>(
  ctx: OperationContext,
  attempt: (tx: Transaction) => Promise<Plan<T>>,
  route: MergeRequestRoute,
): Promise<CommitOutcome<T>> {
  const target = ctx.forge;
  const repo = ctx.repo;
  if (!target) throw noForge(route, repo.branch);
  const signal = ctx.signal;
  const prepared = await repo.prepareCommit(attempt, signal ? { signal } : {});
  if (prepared.kind === 'noop') {
    return { sha: prepared.sha, committed: false, attempts: 1, result: prepared.result };
  }
  const trailers = prepared.message.trailers;
  const branch = mergeRequestBranch(
    trailers[Trailer.stack] ?? '*',
    trailers[Trailer.operation] ?? 'change',
  );
  const pushed = await repo.pushBranch(prepared.sha, branch, signal ? { signal } : {});
  ctx.progress.info(
    pushed.pushed
      ? `pushed ${pushed.sha.slice(0, 12)} to ${branch}`
      : `${branch} already holds this change at ${pushed.sha.slice(0, 12)}; reusing it`,
    'commit',
  );
  const { forge, project } = target;
  const text = mergeRequestText(prepared.message, {
    targetBranch: repo.branch,
    baseSha: prepared.baseSha,
    route,
  });
  const opened = await forgeCall(
    () =>
      forge.openMergeRequest(project, {
        sourceBranch: branch,
        targetBranch: repo.branch,
        title: text.title,
        description: text.description,
      }),
    { branch },
  );
  const info: MergeRequestInfo = {
    number: opened.mergeRequest.number,
    url: opened.mergeRequest.webUrl,
    branch,
    headSha: pushed.sha,
    created: opened.created,
  };
  ctx.progress.info(
    `${opened.created ? 'opened' : 'reusing the open'} ${label(forge.name, info.number)} ${info.url}`,
    'commit',
  );
  const merged = await waitForMerge(ctx, target, opened.mergeRequest, info);
  info.mergedSha = merged;
  ctx.progress.info(
    `${label(forge.name, info.number)} merged; ${repo.branch} has it at ${merged.slice(0, 12)}`,
    'commit',
  );
  return {
    sha: merged,
    committed: true,
    attempts: 1,
    result: prepared.result,
    mergeRequest: info,
  };
}

/**
 * Arms auto-merge (or merges) and polls the MR until it is merged and the branch holds what
 * landed. Returns that commit. Throws a clear error on a closed MR, a refused merge, a head
 * that moved, or the deadline.
 */
async function waitForMerge(
  ctx: OperationContext,
  target: ForgeTarget,
  first: MergeRequest,
  info: MergeRequestInfo,
): Promise<string> {
  const { forge, project } = target;
  const pollMs = target.pollMs ?? DEFAULT_POLL_MS;
  const sleep = target.sleep ?? sleepUnlessAborted;
  const deadline = ctx.now() + ctx.timeoutMs;
  const name = label(forge.name, info.number);
  const context = { mergeRequest: info.url, branch: info.branch, number: info.number };
  let mr = first;
  let armed = first.autoMergeEnabled;
  let armTried = false;
  let refusals = 0;
  let lastWaiting = '';
  const waiting = (reason: string) => {
    if (reason !== lastWaiting) ctx.progress.info(`waiting for ${name}: ${reason}`, 'commit');
    lastWaiting = reason;
  };

  for (;;) {
    if (ctx.signal?.aborted) throw cancelledWhileWaiting(ctx.signal, name, context);
    if (mr.state === 'merged') {
      const landed = await landedSha(ctx, mr);
      if (landed) return landed;
      waiting(`merged; waiting for ${ctx.repo.branch} to show the merged commit`);
    } else if (mr.state === 'closed') {
      throw new PreconditionError(`${name} was closed without being merged: nothing was deployed`, {
        hint: `re-open and merge it, then re-run the operation; or re-run it to propose the change again`,
        details: context,
      });
    } else if (mr.headSha !== info.headSha) {
      // The forge has not seen our push yet, or somebody pushed to stackswap's branch.
      waiting(`its head is ${mr.headSha.slice(0, 12)}, not ${info.headSha.slice(0, 12)} yet`);
    } else if (mr.mergeable === 'no' && isConflict(mr.mergeStatus)) {
      throw new ConflictError(`${name} cannot be merged: it conflicts with ${ctx.repo.branch}`, {
        hint: 're-run the operation: it prepares the change again on the current branch head and replaces the merge request branch',
        details: { ...context, mergeStatus: mr.mergeStatus },
      });
    } else {
      const outcome = await tryMerge();
      if (outcome?.outcome === 'merged') {
        mr = await readMr();
        if (mr.state !== 'merged') mr = { ...mr, state: 'merged', mergedSha: outcome.mergedSha };
        continue;
      }
    }
    const left = deadline - ctx.now();
    if (left <= 0) {
      throw new TimeoutError(
        `timed out after ${Math.round(ctx.timeoutMs / 1000)}s waiting for ${name} to be merged (${describe(mr)})`,
        {
          hint: `${info.url} and the branch ${info.branch} stay open: merge it, then re-run the operation (it reuses them); or raise --timeout`,
          details: { ...context, state: mr.state, mergeStatus: mr.mergeStatus },
        },
      );
    }
    await sleep(Math.min(pollMs, left), ctx.signal);
    if (ctx.signal?.aborted) throw cancelledWhileWaiting(ctx.signal, name, context);
    mr = await readMr();
  }

  async function readMr(): Promise<MergeRequest> {
    return forgeCall(() => forge.getMergeRequest(project, info.number), context);
  }

  /** Auto-merge once; then, if it is not armed, a pinned merge whenever the forge says yes. */
  async function tryMerge(): Promise<MergeOutcome | undefined> {
    const input = { sha: info.headSha, removeSourceBranch: true };
    let outcome: MergeOutcome | undefined;
    try {
      if (!armed && !armTried) {
        armTried = true;
        outcome = await forge.enableAutoMerge(project, info.number, input);
      } else if (!armed && mr.mergeable === 'yes' && !mr.draft) {
        outcome = await forge.merge(project, info.number, input);
      } else {
        waiting(
          armed
            ? `auto-merge is enabled (${mr.mergeStatus ?? 'checks pending'})`
            : `not mergeable yet (${mr.mergeStatus ?? mr.mergeable})`,
        );
        return undefined;
      }
    } catch (e) {
      if (isForgeError(e, 'not-mergeable')) {
        // GitLab answers 406 right after creation while it is still checking: once is news,
        // a second refusal is the answer.
        refusals += 1;
        if (refusals >= 2) {
          throw new PreconditionError(`${name}: the forge refused the merge: ${e.message}`, {
            hint: `see ${info.url} (checks, approvals, conflicts); merge it there, then re-run the operation`,
            details: { ...context, forge: e.details },
            cause: e,
          });
        }
        waiting(`the forge refused the merge for now (${e.message.split('\n')[0]})`);
        return undefined;
      }
      if (isForgeError(e, 'conflict')) {
        throw new ConflictError(
          `${name}: its branch moved away from ${info.headSha.slice(0, 12)}; not merging a commit stackswap did not make`,
          {
            hint: `somebody pushed to ${info.branch}; re-run the operation to prepare the change again`,
            details: context,
            cause: e,
          },
        );
      }
      throw withContext(e, context);
    }
    if (outcome.outcome === 'auto-merge-enabled') {
      armed = true;
      ctx.progress.info(`auto-merge enabled on ${name}`, 'commit');
    } else if (outcome.outcome === 'waiting') {
      waiting(outcome.reason);
    }
    return outcome;
  }
}

/**
 * The commit the merge put on the configured branch, once the branch (fetched again) holds
 * it: the merge or squash commit when the forge names it, else (a fast-forward) the head.
 */
async function landedSha(ctx: OperationContext, mr: MergeRequest): Promise<string | undefined> {
  await ctx.repo.sync();
  const candidate = mr.mergedSha ?? mr.headSha;
  if (await ctx.repo.contains(candidate)) return candidate;
  return undefined;
}

function isConflict(status: string | undefined): boolean {
  // GitLab detailed_merge_status, GitHub mergeable_state.
  return status === 'conflict' || status === 'dirty' || status === 'need_rebase';
}

function describe(mr: MergeRequest): string {
  const parts = [`state ${mr.state}`, `mergeable ${mr.mergeable}`];
  if (mr.mergeStatus) parts.push(mr.mergeStatus);
  if (mr.autoMergeEnabled) parts.push('auto-merge enabled');
  if (mr.draft) parts.push('draft');
  return parts.join(', ');
}

function label(forge: string, n: number): string {
  return forge === 'gitlab' ? `merge request !${n}` : `pull request #${n}`;
}

function noForge(route: MergeRequestRoute, branch: string): StackswapError {
  return new ValidationError(
    route === 'protected'
      ? `the push to ${branch} was refused by branch protection, and no forge is configured to open a merge request instead`
      : `promotion.viaMergeRequest is "always" but no forge is configured to open a merge request`,
    {
      where: { key: 'STACKSWAP_FORGE' },
      hint: 'set STACKSWAP_FORGE (gitlab or github), STACKSWAP_FORGE_PROJECT when the repo URL does not tell it, and STACKSWAP_GITLAB_TOKEN or STACKSWAP_GITHUB_TOKEN',
    },
  );
}

async function forgeCall<R>(call: () => Promise<R>, context: Record<string, unknown>): Promise<R> {
  try {
    return await call();
  } catch (e) {
    throw withContext(e, context);
  }
}

function withContext(e: unknown, context: Record<string, unknown>): unknown {
  if (!isStackswapError(e)) return e;
  return e.addContext({
    hint: `the branch ${String(context.branch)} is kept; re-run the operation to resume`,
    details: context,
  });
}

function cancelledWhileWaiting(
  signal: AbortSignal,
  name: string,
  context: Record<string, unknown>,
): StackswapError {
  const reason: unknown = signal.reason;
  if (isStackswapError(reason)) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new TimeoutError(`timed out waiting for ${name} to be merged`, { details: context });
  }
  return new StackswapError('operation-failed', `cancelled while waiting for ${name}`, {
    hint: 'the merge request and its branch stay; re-run the operation to resume',
    details: context,
  });
}
