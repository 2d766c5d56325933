/**
 * The `review` operation a merge request webhook starts (one per stack the MR touches): the
 * forge side around the core review. Sets `stackswap/<stack>` pending on the MR head, has the
 * core compute the review at that head (validation as `plan validate`, the values diff, the
 * rendered manifest diff of the preview colour, verification config changes), writes it as
 * the MR's one sticky comment (edited in place on every push), then sets the status to
 * success or failure with a one-line reason and a link to this operation.
 */
import type { StackswapConfig } from '../../config/stackswap-config.ts';
import type { OperationResult } from '../../core/operations/context.ts';
import type { ForgeName } from '../../forges/errors.ts';
import type { Forge } from '../../forges/forge.ts';
import type { ConfigRepo } from '../../gitops/git/repo.ts';
import type { Deployer } from '../../shared/deployer.ts';
import { StackswapError } from '../../shared/errors.ts';
import type { Progress } from '../../shared/progress.ts';

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

/** The default executor: replaced by the core review (src/core/review) once it is merged. */
export const runReview: ReviewExecutor = () =>
  Promise.reject(
    new StackswapError('internal', 'the merge request review is not available in this build'),
  );
