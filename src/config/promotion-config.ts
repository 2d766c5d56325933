/**
 * `stacks.<name>.promotion` in stackswap.yaml: how a stack's changes reach its branch (issue 12).
 *
 * `viaMergeRequest`:
 * - `never` (default): push to the branch; a push refused by branch protection fails (exit 7).
 * - `fallback`: push; when branch protection refuses it, land the same change through a merge
 *   request (GitLab MR / GitHub PR) from `stackswap/<stack>/<operation>` instead.
 * - `always`: never push to the branch; every change goes through such a merge request.
 *
 * Either way stackswap enables auto-merge (or merges, pinned to the commit, when it may), waits
 * for the merge within the operation's timeout, then syncs Argo CD at the merged commit.
 */
import { z } from 'zod';

export const VIA_MERGE_REQUEST = ['never', 'fallback', 'always'] as const;
export type ViaMergeRequest = (typeof VIA_MERGE_REQUEST)[number];

export const ViaMergeRequestSetting = z.enum(VIA_MERGE_REQUEST, {
  error: 'must be never, fallback or always',
});
