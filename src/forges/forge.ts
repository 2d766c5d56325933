/**
 * The port to a code forge: the few things stackswap asks of GitLab and GitHub, in words that
 * mean the same on both. `gitlab.ts` and `github.ts` implement it; the core receives a Forge
 * and never sees a client library. A project is "group/sub/project" on GitLab (a numeric id
 * works too) and "owner/repo" on GitHub; `number` is the MR iid or the PR number.
 */
import { isForgeError, type ForgeName } from './errors.ts';

export type { ForgeName } from './errors.ts';

export type MergeRequestState = 'open' | 'closed' | 'merged' | 'locked';

export interface MergeRequest {
  forge: ForgeName;
  project: string;
  number: number;
  state: MergeRequestState;
  title: string;
  sourceBranch: string;
  targetBranch: string;
  /** The head of the source branch (GitLab `sha`, GitHub `head.sha`). */
  headSha: string;
  /**
   * The commit that landed on the target branch, once merged: GitLab `merge_commit_sha`, else
   * `squash_commit_sha`, else (a fast-forward merge) the head SHA; GitHub `merge_commit_sha`.
   */
  mergedSha: string | undefined;
  draft: boolean;
  /** The source branch lives in another project/repository. */
  fork: boolean;
  /** yes: the forge says it can merge now; no: it says it cannot; unknown: still computing. */
  mergeable: 'yes' | 'no' | 'unknown';
  /** The forge's own word for it (GitLab detailed_merge_status, GitHub mergeable_state). */
  mergeStatus: string | undefined;
  autoMergeEnabled: boolean;
  webUrl: string;
}

export interface OpenMergeRequestInput {
  sourceBranch: string;
  targetBranch: string;
  title: string;
  description: string;
  /** GitLab: delete the source branch after the merge (default true). */
  removeSourceBranch?: boolean;
}

/** stackswap's commit states; each forge maps them (GitHub has no running: pending). */
export type CommitState = 'pending' | 'running' | 'success' | 'failed';

export interface CommitStatusInput {
  sha: string;
  /** `stackswap/<stack>`: GitLab `name`, GitHub `context`. */
  context: string;
  state: CommitState;
  /** One line; cut to the forge's limit (GitLab 255, GitHub 140 characters). */
  description: string;
  /** The operation in the service. */
  targetUrl?: string;
  /** GitLab only: the branch, so the status lands on that ref's pipeline. */
  ref?: string;
}

export type MergeMethod = 'merge' | 'squash' | 'rebase';

export interface MergeInput {
  /** The reviewed head: the forge refuses (409) if the branch has moved. */
  sha: string;
  method?: MergeMethod;
  /** GitLab: delete the source branch after the merge. */
  removeSourceBranch?: boolean;
  commitMessage?: string;
}

export type MergeOutcome =
  | { outcome: 'merged'; mergedSha: string | undefined }
  /** Auto-merge is armed: the forge merges when its checks pass. Wait for the merge event. */
  | { outcome: 'auto-merge-enabled' }
  /**
   * Neither merged nor armed (auto-merge not allowed on the repo, or not available): the
   * caller waits for a human (or polls getMergeRequest) and says so. `reason` is a sentence.
   */
  | { outcome: 'waiting'; reason: string };

export interface CommentSyncResult {
  /** Comment ids in part order (1..n). */
  ids: string[];
  created: number;
  updated: number;
  unchanged: number;
  /** Leftover parts of an earlier, longer split, deleted. */
  deleted: number;
}

export interface ForgeLimits {
  /** Longest comment body, in characters as the forge counts them (Unicode code points). */
  commentChars: number;
  statusDescriptionChars: number;
}

export const FORGE_LIMITS: Record<ForgeName, ForgeLimits> = {
  github: { commentChars: 65_536, statusDescriptionChars: 140 },
  gitlab: { commentChars: 1_000_000, statusDescriptionChars: 255 },
};

export interface Forge {
  readonly name: ForgeName;
  readonly limits: ForgeLimits;

  /** Throws ForgeError(not-found) when there is no such MR/PR. */
  getMergeRequest(project: string, number: number): Promise<MergeRequest>;
  /** The open MR/PR from `sourceBranch` (into `targetBranch` when given), if any. */
  findOpenMergeRequest(
    project: string,
    query: { sourceBranch: string; targetBranch?: string },
  ): Promise<MergeRequest | undefined>;
  /** Paths the MR/PR changes (old and new path of a rename), all pages. */
  listChangedFiles(project: string, number: number): Promise<string[]>;

  /**
   * Makes the MR/PR carry exactly `bodies.length` comments keyed by `key`, found by their
   * hidden markers (see commentMarker): edits each in place, creates only what is missing,
   * deletes parts left over from a longer earlier split. Pages through every comment; never
   * creates a second comment for a part that exists.
   */
  syncComments(
    project: string,
    number: number,
    key: string,
    bodies: readonly string[],
  ): Promise<CommentSyncResult>;

  setCommitStatus(project: string, status: CommitStatusInput): Promise<void>;

  /** Opens an MR/PR, or returns the one already open for the same source and target branch. */
  openMergeRequest(
    project: string,
    input: OpenMergeRequestInput,
  ): Promise<{ mergeRequest: MergeRequest; created: boolean }>;

  /** Merges now, pinned to `sha`. ForgeError conflict (head moved) / not-mergeable otherwise. */
  merge(project: string, number: number, input: MergeInput): Promise<MergeOutcome>;
  /**
   * Merges when the forge's checks pass, pinned to `sha`. GitLab: `auto_merge`, falling back to
   * `merge_when_pipeline_succeeds` (before 17.11). GitHub: a direct merge when the PR is clean,
   * else GraphQL enablePullRequestAutoMerge, with a direct merge when GitHub answers "clean
   * status", and `waiting` when the repository does not allow auto-merge.
   */
  enableAutoMerge(project: string, number: number, input: MergeInput): Promise<MergeOutcome>;

  /** The file's text at `ref` (branch, tag or SHA); undefined when it does not exist there. */
  readFile(project: string, path: string, ref: string): Promise<string | undefined>;
}

/**
 * The hidden first line of a stackswap comment. Part 1 is `<!-- <key> -->` whatever the
 * split, so a comment that fits stays the same comment when a later plan needs more parts.
 */
export function commentMarker(key: string, part = 1): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9:._/-]*$/.test(key)) {
    throw new Error(`comment key ${JSON.stringify(key)}: letters, digits and : . _ / - only`);
  }
  return part === 1 ? `<!-- ${key} -->` : `<!-- ${key} part ${part} -->`;
}

/** Which part of `key` a comment body is, by its first line; undefined when it is not one. */
export function commentPart(key: string, body: string): number | undefined {
  const firstLine = body.split('\n', 1)[0]!.trim();
  if (firstLine === `<!-- ${key} -->`) return 1;
  const prefix = `<!-- ${key} part `;
  if (firstLine.startsWith(prefix) && firstLine.endsWith(' -->')) {
    const n = firstLine.slice(prefix.length, -' -->'.length);
    if (/^[1-9]\d{0,3}$/.test(n)) return Number(n);
  }
  return undefined;
}

/** The comment key for a stack's plan: `stackswap:plan:<stack>`. */
export function planCommentKey(stack: string): string {
  return `stackswap:plan:${stack}`;
}

/** Cuts to `max` code points, ending with "…" when cut; one line (newlines become spaces). */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  const chars = Array.from(flat);
  return chars.length <= max ? flat : `${chars.slice(0, max - 1).join('')}…`;
}

/** With its marker as the first line (added when the body does not start with it). */
export function withMarker(key: string, part: number, body: string): string {
  const marker = commentMarker(key, part);
  return commentPart(key, body) === part ? body : `${marker}\n${body}`;
}

/** Equal as the forge shows them: line endings and trailing whitespace do not count. */
function sameText(a: string, b: string): boolean {
  const norm = (t: string) => t.replace(/\r\n/g, '\n').trimEnd();
  return norm(a) === norm(b);
}

/**
 * The plan for syncing parts, shared by both forges: given the existing comments (oldest
 * first), which to edit, create and delete. Duplicates of a part (from some earlier fault)
 * are left alone; the oldest is the one edited.
 */
export function planCommentSync(
  key: string,
  existing: ReadonlyArray<{ id: string; body: string }>,
  bodies: readonly string[],
): {
  edits: Array<{ id: string; body: string; part: number }>;
  unchanged: Array<{ id: string; part: number }>;
  creates: Array<{ body: string; part: number }>;
  deletes: string[];
} {
  const byPart = new Map<number, { id: string; body: string }>();
  for (const c of existing) {
    const part = commentPart(key, c.body);
    if (part !== undefined && !byPart.has(part)) byPart.set(part, c);
  }
  const edits: Array<{ id: string; body: string; part: number }> = [];
  const unchanged: Array<{ id: string; part: number }> = [];
  const creates: Array<{ body: string; part: number }> = [];
  bodies.forEach((raw, i) => {
    const part = i + 1;
    const body = withMarker(key, part, raw);
    const found = byPart.get(part);
    if (!found) creates.push({ body, part });
    else if (sameText(found.body, body)) unchanged.push({ id: found.id, part });
    else edits.push({ id: found.id, body, part });
  });
  const deletes = [...byPart.entries()]
    .filter(([part]) => part > bodies.length)
    .map(([, c]) => c.id);
  return { edits, unchanged, creates, deletes };
}

/**
 * After a create whose answer was lost: the id of `part` if the comments read again show it was
 * made after all, else undefined (create it). Shared by both forges' sticky-comment sync.
 */
export function createdPartId(
  key: string,
  existing: ReadonlyArray<{ id: string; body: string }>,
  bodies: readonly string[],
  part: number,
): string | undefined {
  const again = planCommentSync(key, existing, bodies);
  return again.creates.some((x) => x.part === part)
    ? undefined
    : [...again.edits, ...again.unchanged].find((x) => x.part === part)?.id;
}

/**
 * Creates something once. After an ambiguous failure (the forge may have acted: a 5xx, a
 * timeout), looks for what the create would have made before trying again, so a retry never
 * leaves two. `find` returns the existing id, or undefined.
 */
export async function createOnce<T>(
  create: () => Promise<T>,
  find: () => Promise<string | undefined>,
): Promise<T | string> {
  try {
    return await create();
  } catch (error) {
    if (!isForgeError(error) || !['unavailable', 'timeout'].includes(error.kind)) throw error;
    const found = await find();
    if (found !== undefined) return found;
    return create();
  }
}
