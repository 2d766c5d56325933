/**
 * Publishing a review on the merge request: per stack one sticky comment (found again by its
 * hidden marker and edited in place; split on section boundaries to the forge's limit by
 * src/forges/comment.ts, truncated with a note beyond `maxParts`) and a commit status
 * `stackswap/<stack>` on the head: pending while the review runs, then success or failed with
 * a one-line reason and a link to the operation.
 *
 * `reviewMergeRequest` is the whole flow for a face that has a Forge and the config repo (the
 * service on an MR webhook; `stackswap plan comment` in CI).
 */
import { renderPlanComment } from '../../forges/comment.ts';
import { planCommentKey, type CommentSyncResult, type Forge } from '../../forges/forge.ts';
import type { ConfigRepo } from '../../gitops/git/repo.ts';
import { isStackswapError } from '../../shared/errors.ts';
import { loadStructuralConfig } from '../config-file.ts';
import {
  fetchReviewCommits,
  isPlanFile,
  reviewPlanChange,
  type PlanReview,
  type StackReview,
} from './review.ts';

export interface ReviewTarget {
  /** GitLab "group/project" (or id), GitHub "owner/repo". */
  project: string;
  /** MR iid / PR number. */
  number: number;
  headSha: string;
  /** GitLab: the source branch, so the status lands on its pipeline. */
  ref?: string;
}

export interface PublishOptions {
  /** The operation in the service (status target_url, and the comment's link). */
  targetUrl?: string;
  /** Comments per stack at most (default 10); what does not fit is cut with a note. */
  maxParts?: number;
}

/** `stackswap/<stack>`: GitLab's status name, GitHub's context. */
export function statusContext(stack: string): string {
  return `stackswap/${stack}`;
}

/** The merge-request ref holding the MR head on the forge (a fork's head lives only there). */
export function mergeRequestRef(forge: Forge['name'], number: number): string {
  return forge === 'gitlab' ? `refs/merge-requests/${number}/head` : `refs/pull/${number}/head`;
}

export async function publishPending(
  forge: Forge,
  target: ReviewTarget,
  stacks: readonly string[],
  options: PublishOptions = {},
): Promise<void> {
  for (const stack of stacks) {
    await forge.setCommitStatus(target.project, {
      sha: target.headSha,
      context: statusContext(stack),
      state: 'pending',
      description: 'stackswap is reviewing the release plan',
      ...(options.targetUrl ? { targetUrl: options.targetUrl } : {}),
      ...(target.ref ? { ref: target.ref } : {}),
    });
  }
}

export interface PublishedStack {
  stack: string;
  verdict: StackReview['verdict'];
  reason: string;
  comments: CommentSyncResult;
}

/** One sticky comment and a final status per reviewed stack. */
export async function publishReview(
  forge: Forge,
  target: ReviewTarget,
  review: PlanReview,
  options: PublishOptions = {},
): Promise<PublishedStack[]> {
  const out: PublishedStack[] = [];
  for (const s of review.stacks) {
    const bodies = renderPlanComment(
      {
        stack: s.stack,
        headSha: review.headSha,
        ...(s.colour ? { colour: s.colour } : {}),
        ...(options.targetUrl ? { operationUrl: options.targetUrl } : {}),
        problems: s.problems,
        valuesDiff: s.valuesDiff,
        manifestDiff: s.manifestDiff,
        verificationDiff: s.verificationDiff,
      },
      {
        limit: forge.limits.commentChars,
        ...(options.maxParts !== undefined ? { maxParts: options.maxParts } : {}),
      },
    );
    const comments = await forge.syncComments(
      target.project,
      target.number,
      planCommentKey(s.stack),
      bodies,
    );
    await forge.setCommitStatus(target.project, {
      sha: target.headSha,
      context: statusContext(s.stack),
      state: s.verdict === 'success' ? 'success' : 'failed',
      description: s.reason,
      ...(options.targetUrl ? { targetUrl: options.targetUrl } : {}),
      ...(target.ref ? { ref: target.ref } : {}),
    });
    out.push({ stack: s.stack, verdict: s.verdict, reason: s.reason, comments });
  }
  return out;
}

export interface ReviewMergeRequestInput extends PublishOptions {
  forge: Forge;
  /** The config repo (ConfigRepo.open on the target branch). */
  repo: ConfigRepo;
  project: string;
  number: number;
  /** The head the event named; default: the MR's head as the forge reports it now. */
  headSha?: string;
  /** Paths changed (default: Forge.listChangedFiles). */
  changedFiles?: readonly string[];
  scratchDir?: string;
  helmTimeoutMs?: number;
}

export type ReviewMergeRequestResult =
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'reviewed'; review: PlanReview; published: PublishedStack[] };

/**
 * The whole review of one MR: read it, skip it when it changes no plan (no comment, no status),
 * set pending statuses, fetch its head into the cache, review, publish. When the review itself
 * fails (git, helm crash), the pending statuses become failed with the reason, and the error
 * is thrown on.
 */
export async function reviewMergeRequest(
  input: ReviewMergeRequestInput,
): Promise<ReviewMergeRequestResult> {
  const { forge, repo } = input;
  const mr = await forge.getMergeRequest(input.project, input.number);
  if (mr.state !== 'open')
    return { outcome: 'ignored', reason: `the merge request is ${mr.state}` };
  const headSha = input.headSha ?? mr.headSha;
  const changed = input.changedFiles ?? (await forge.listChangedFiles(input.project, input.number));
  const baseSha = await repo.sync();
  const baseConfig = await loadStructuralConfig(repo.readerAt(baseSha)).catch(() => undefined);
  const planFiles = new Set([...(baseConfig?.stacks.values() ?? [])].map((s) => s.planFile));
  const relevant = changed.filter((f) => isPlanFile(f, planFiles));
  if (relevant.length === 0) {
    return {
      outcome: 'ignored',
      reason: 'it changes no release plan (releases/*.yaml) and not stackswap.yaml',
    };
  }
  const target: ReviewTarget = {
    project: input.project,
    number: input.number,
    headSha,
    ...(forge.name === 'gitlab' ? { ref: mr.sourceBranch } : {}),
  };
  const stacks = relevant.some((f) => f === 'stackswap.yaml')
    ? [...(baseConfig?.stacks.keys() ?? [])]
    : [...(baseConfig?.stacks.values() ?? [])]
        .filter((s) => relevant.includes(s.planFile))
        .map((s) => s.name);
  await publishPending(forge, target, stacks, input);
  try {
    const commits = await fetchReviewCommits(repo, {
      headRef: mergeRequestRef(forge.name, input.number),
      headSha,
    });
    const review = await reviewPlanChange({
      repo,
      baseSha: commits.baseSha,
      headSha: commits.headSha,
      changedFiles: changed,
      ...(input.scratchDir ? { scratchDir: input.scratchDir } : {}),
      ...(input.helmTimeoutMs ? { helmTimeoutMs: input.helmTimeoutMs } : {}),
    });
    const published = await publishReview(forge, target, review, input);
    // A stack marked pending that the review did not cover (it left the config): resolve it.
    for (const stack of stacks.filter((s) => !review.stacks.some((r) => r.stack === s))) {
      await forge.setCommitStatus(input.project, {
        sha: headSha,
        context: statusContext(stack),
        state: 'success',
        description: 'no longer affected by this merge request',
        ...(target.ref ? { ref: target.ref } : {}),
      });
    }
    return { outcome: 'reviewed', review, published };
  } catch (error) {
    // The MR moved on while we looked: the next event reviews the new head; the old one
    // keeps its pending status (GitLab and GitHub show the statuses of the head only).
    if (isStackswapError(error) && error.code === 'conflict') throw error;
    const reason = `stackswap could not review the plan: ${error instanceof Error ? error.message : String(error)}`;
    for (const stack of stacks) {
      await forge
        .setCommitStatus(input.project, {
          sha: headSha,
          context: statusContext(stack),
          state: 'failed',
          description: reason,
          ...(input.targetUrl ? { targetUrl: input.targetUrl } : {}),
          ...(target.ref ? { ref: target.ref } : {}),
        })
        .catch(() => undefined);
    }
    throw error;
  }
}
