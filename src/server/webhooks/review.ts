/**
 * The `review` operation a merge request webhook starts, one per stack the MR touches: the
 * core review (src/core/review: validation as `plan validate`, the deploy's values diff, the
 * rendered manifest diff of the preview colour, verification config changes, on the merged
 * tree) around the forge: `stackswap/<stack>` pending on the MR head, the MR's head fetched by
 * its merge-request ref (pinned to the head the webhook named), the review, the one sticky
 * comment (edited in place on every push), then the status success or failed with a one-line
 * reason and a link to this operation. A review that cannot run (git, helm) leaves the status
 * failed with the reason, and the operation fails with it.
 */
import type { StackswapConfig } from '../../config/stackswap-config.ts';
import type { OperationResult } from '../../core/operations/context.ts';
import {
  fetchReviewCommits,
  mergeRequestRef,
  publishPending,
  publishReview,
  reviewPlanChange,
  statusContext,
  type ReviewTarget,
} from '../../core/review/index.ts';
import type { ForgeName } from '../../forges/errors.ts';
import type { Forge } from '../../forges/forge.ts';
import type { ConfigRepo } from '../../gitops/git/repo.ts';
import type { Deployer } from '../../shared/deployer.ts';
import { ValidationError } from '../../shared/errors.ts';
import type { Progress } from '../../shared/progress.ts';
import { ReviewBody } from '../schemas.ts';

export interface ReviewExecutorInput {
  id: string;
  stack: string;
  /** The journaled request body (ReviewBody). */
  body: unknown;
  forges: Partial<Record<ForgeName, Forge>>;
  /** A synced clone of the config repo (the reader: reviews never commit). */
  repo: ConfigRepo;
  progress: Progress;
  signal: AbortSignal;
  now: () => number;
  /** The operation's address in the service (status target_url). */
  link: (operationId: string) => string;
  deployer: (config: StackswapConfig) => Deployer | undefined;
}

export type ReviewExecutor = (input: ReviewExecutorInput) => Promise<OperationResult>;

export const runReview: ReviewExecutor = async (input) => {
  const { stack, progress, repo } = input;
  const b = ReviewBody.parse(input.body);
  const forge = input.forges[b.forge];
  if (!forge) {
    throw new ValidationError(
      `no ${b.forge === 'gitlab' ? 'STACKSWAP_GITLAB_TOKEN' : 'STACKSWAP_GITHUB_TOKEN'}: the review cannot be posted`,
      {
        where: { key: b.forge === 'gitlab' ? 'STACKSWAP_GITLAB_TOKEN' : 'STACKSWAP_GITHUB_TOKEN' },
      },
    );
  }
  const targetUrl = input.link(input.id);
  const target: ReviewTarget = {
    project: b.project,
    number: b.number,
    headSha: b.headSha,
    ...(b.forge === 'gitlab' ? { ref: b.sourceBranch } : {}),
  };
  await progress.step('pending', `stackswap/${stack} pending on ${b.headSha.slice(0, 12)}`, () =>
    publishPending(forge, target, [stack], { targetUrl }),
  );
  try {
    const changed = await forge.listChangedFiles(b.project, b.number);
    const commits = await progress.step('fetch', 'fetch the MR head and the target branch', () =>
      fetchReviewCommits(repo, {
        headRef: mergeRequestRef(forge.name, b.number),
        headSha: b.headSha,
      }),
    );
    const review = await progress.step(
      'review',
      'validate the plan, values and rendered manifest diff',
      () =>
        reviewPlanChange({
          repo,
          baseSha: commits.baseSha,
          headSha: commits.headSha,
          changedFiles: changed,
        }),
    );
    const mine = { ...review, stacks: review.stacks.filter((s) => s.stack === stack) };
    const published =
      mine.stacks.length === 0
        ? []
        : await progress.step(
            'publish',
            'the MR comment and the commit status',
            () => publishReview(forge, target, mine, { targetUrl }),
            (p) => p.map((s) => `${s.verdict}: ${s.reason}`).join('; '),
          );
    if (mine.stacks.length === 0) {
      await forge.setCommitStatus(b.project, {
        sha: b.headSha,
        context: statusContext(stack),
        state: 'success',
        description: 'no longer affected by this merge request',
        targetUrl,
        ...(target.ref ? { ref: target.ref } : {}),
      });
    }
    const s = mine.stacks[0];
    const preview = s?.colour ?? 'green';
    return {
      operation: 'review',
      stack,
      operationId: input.id,
      committed: false,
      sha: commits.headSha,
      attempts: 1,
      summary: s
        ? `${stack}: ${s.verdict === 'success' ? 'the plan is valid' : 'the plan has problems'} (${s.reason})`
        : `${stack}: no longer affected by this merge request`,
      live: preview === 'green' ? 'blue' : 'green',
      preview,
      apps: [],
      steps: progress.steps,
      details: {
        forge: b.forge,
        mergeRequest: b.number,
        headSha: commits.headSha,
        baseSha: commits.baseSha,
        ...(s ? { verdict: s.verdict, reason: s.reason, versions: s.versions ?? {} } : {}),
        comments: published.map((p) => p.comments),
      },
    };
  } catch (error) {
    const reason = `stackswap could not review the plan: ${error instanceof Error ? error.message : String(error)}`;
    await forge
      .setCommitStatus(b.project, {
        sha: b.headSha,
        context: statusContext(stack),
        state: 'failed',
        description: reason,
        targetUrl,
        ...(target.ref ? { ref: target.ref } : {}),
      })
      .catch(() => undefined);
    throw error;
  }
};
