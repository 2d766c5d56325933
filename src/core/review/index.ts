/**
 * Merge-request review of release plans (issue 12): what merging would deploy, per stack,
 * published as one sticky comment and a commit status. See review.ts and publish.ts.
 */
export {
  fetchReviewCommits,
  isPlanFile,
  reviewPlanChange,
  type PlanReview,
  type ReviewRequest,
  type StackReview,
} from './review.ts';
export {
  mergeRequestRef,
  publishPending,
  publishReview,
  reviewMergeRequest,
  statusContext,
  type PublishedStack,
  type PublishOptions,
  type ReviewMergeRequestInput,
  type ReviewMergeRequestResult,
  type ReviewTarget,
} from './publish.ts';
export { appSource, diffRenders, normalise } from './manifests.ts';
