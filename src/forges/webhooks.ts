/**
 * Webhook deliveries from GitLab and GitHub: verification and parsing, pure functions of
 * (headers, raw body, secret). Nothing here does I/O; the service routes call these, answer,
 * and queue the work. Replay protection is the caller's (deduplicate on `deliveryId`).
 *
 * Verification is constant-time on fixed-length digests, so neither a wrong token's content
 * nor its length leaks (crypto.timingSafeEqual throws on unequal lengths). A missing secret
 * on our side rejects: an unconfigured hook must not accept everything.
 *
 * Parsing turns a payload into one ForgeEvent. Anything stackswap should not act on becomes
 * `{ kind: 'ignored', reason }`, the reason written for a log line. MR webhooks are hints:
 * the caller re-reads the MR through the API before acting (GitLab fires with empty
 * `changes`, and neither forge lists changed files in an MR event).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { ForgeName } from './errors.ts';

export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

/** A header by name, case-insensitively; the first value when repeated. */
export function headerValue(headers: HeaderBag, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== wanted) continue;
    return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
}

export type Verification = { ok: true } | { ok: false; reason: string };

function sameSecret(given: string | Buffer, expected: string | Buffer): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** GitLab sends the hook's secret token verbatim in X-Gitlab-Token. */
export function verifyGitlabToken(headers: HeaderBag, secret: string | undefined): Verification {
  if (!secret) return { ok: false, reason: 'no GitLab webhook secret is configured' };
  const token = headerValue(headers, 'x-gitlab-token');
  if (token === undefined || token === '') return { ok: false, reason: 'X-Gitlab-Token missing' };
  return sameSecret(token, secret) ? { ok: true } : { ok: false, reason: 'X-Gitlab-Token wrong' };
}

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`, over the bytes
 * as received (never re-serialised JSON). The SHA-1 X-Hub-Signature is not accepted.
 */
export function verifyGithubSignature(
  headers: HeaderBag,
  rawBody: Buffer | string,
  secret: string | undefined,
): Verification {
  if (!secret) return { ok: false, reason: 'no GitHub webhook secret is configured' };
  const signature = headerValue(headers, 'x-hub-signature-256');
  if (signature === undefined || signature === '') {
    return {
      ok: false,
      reason: headerValue(headers, 'x-hub-signature')
        ? 'only the SHA-1 X-Hub-Signature was sent; X-Hub-Signature-256 is required'
        : 'X-Hub-Signature-256 missing',
    };
  }
  const m = /^sha256=([0-9a-f]{64})$/i.exec(signature.trim());
  if (!m) return { ok: false, reason: 'X-Hub-Signature-256 is not "sha256=<64 hex digits>"' };
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(m[1]!.toLowerCase(), 'hex');
  return timingSafeEqual(given, expected)
    ? { ok: true }
    : { ok: false, reason: 'X-Hub-Signature-256 does not match the body' };
}

// ---------------------------------------------------------------------------------------------
// The normalised event

interface EventBase {
  forge: ForgeName;
  /**
   * The key to deduplicate on: GitLab `Idempotency-Key` (17.4+, the same on every retry), else
   * `X-Gitlab-Event-UUID`; GitHub `X-GitHub-Delivery` (the same on a redelivery).
   */
  deliveryId: string | undefined;
  /** The forge's event name (X-Gitlab-Event / X-GitHub-Event) and action, for logs. */
  event: string | undefined;
  action: string | undefined;
}

export interface MergeRequestEvent extends EventBase {
  kind: 'opened' | 'updated' | 'merged' | 'closed';
  /** "group/project" / "owner/repo" of the target (where the MR/PR lives). */
  project: string;
  projectId: number | undefined;
  /** MR iid / PR number. */
  number: number;
  sourceBranch: string;
  targetBranch: string;
  /** The MR/PR head: GitLab `last_commit.id`, GitHub `pull_request.head.sha`. */
  headSha: string;
  /**
   * What landed on the target branch, for `merged` only (see mergedShaSource). Treat it as a
   * hint and confirm it against the target branch head before deploying.
   */
  mergedSha: string | undefined;
  /**
   * GitLab `merge_commit_sha` (a merge commit, or the squash commit: GitLab puts it there in
   * webhooks), `squash_commit_sha`, or, when both are empty (a fast-forward merge), the
   * MR head `last_commit.id`, which is then the target branch head.
   */
  mergedShaSource: 'merge_commit_sha' | 'squash_commit_sha' | 'head (fast-forward)' | undefined;
  fork: boolean;
  draft: boolean;
  /** The project's default branch, when the payload says. */
  defaultBranch: string | undefined;
  url: string | undefined;
  /** MR/PR events carry no file list: the caller asks Forge.listChangedFiles. */
  changedFiles: undefined;
}

export interface PushEvent extends EventBase {
  kind: 'push';
  project: string;
  projectId: number | undefined;
  branch: string;
  before: string;
  /** The new branch head. */
  headSha: string;
  defaultBranch: string | undefined;
  /**
   * Files added, modified or removed by the pushed commits, when the payload lists every
   * commit; undefined when it was cut (GitLab lists 20, GitHub 2048), so the caller compares
   * `before..headSha` itself.
   */
  changedFiles: string[] | undefined;
}

export interface IgnoredEvent extends EventBase {
  kind: 'ignored';
  /** One sentence for the log line. */
  reason: string;
  project?: string;
}

export type ForgeEvent = MergeRequestEvent | PushEvent | IgnoredEvent;

// ---------------------------------------------------------------------------------------------
// Payload schemas: only what we read; everything else is kept (.loose()).

const Sha = z.string().regex(/^[0-9a-f]{7,64}$/i, 'a commit SHA');
const NULL_SHA = /^0+$/;

const GitlabProject = z
  .object({
    id: z.number().int().optional(),
    path_with_namespace: z.string().min(1),
    default_branch: z.string().nullish(),
  })
  .loose();

const GitlabMergeRequestHook = z
  .object({
    object_kind: z.literal('merge_request'),
    project: GitlabProject,
    object_attributes: z
      .object({
        iid: z.number().int(),
        action: z.string().optional(),
        state: z.string(),
        source_branch: z.string().min(1),
        target_branch: z.string().min(1),
        source_project_id: z.number().int().nullish(),
        target_project_id: z.number().int().nullish(),
        oldrev: z.string().nullish(),
        last_commit: z.object({ id: Sha }).loose(),
        merge_commit_sha: z.string().nullish(),
        squash_commit_sha: z.string().nullish(),
        draft: z.boolean().optional(),
        work_in_progress: z.boolean().optional(),
        url: z.string().optional(),
      })
      .loose(),
    changes: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

const CommitFiles = z
  .object({
    added: z.array(z.string()).optional(),
    modified: z.array(z.string()).optional(),
    removed: z.array(z.string()).optional(),
  })
  .loose();

const GitlabPushHook = z
  .object({
    object_kind: z.literal('push'),
    ref: z.string(),
    before: Sha,
    after: Sha,
    checkout_sha: z.string().nullish(),
    project: GitlabProject,
    commits: z.array(CommitFiles),
    total_commits_count: z.number().int().optional(),
  })
  .loose();

const GithubRepo = z
  .object({
    full_name: z.string().min(1),
    id: z.number().int().optional(),
    default_branch: z.string().optional(),
  })
  .loose();

const GithubPullRequestHook = z
  .object({
    action: z.string(),
    number: z.number().int(),
    pull_request: z
      .object({
        state: z.string(),
        merged: z.boolean().nullish(),
        draft: z.boolean().optional(),
        merge_commit_sha: z.string().nullish(),
        html_url: z.string().optional(),
        head: z.object({ ref: z.string().min(1), sha: Sha, repo: GithubRepo.nullable() }).loose(),
        base: z.object({ ref: z.string().min(1), repo: GithubRepo }).loose(),
      })
      .loose(),
    repository: GithubRepo,
    changes: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

const GithubPushHook = z
  .object({
    ref: z.string(),
    before: Sha,
    after: Sha,
    deleted: z.boolean().optional(),
    repository: GithubRepo,
    commits: z.array(CommitFiles),
  })
  .loose();

// ---------------------------------------------------------------------------------------------

function ignored(base: EventBase, reason: string, project?: string): IgnoredEvent {
  return { ...base, kind: 'ignored', reason, ...(project ? { project } : {}) };
}

function parseJson(
  rawBody: Buffer | string,
): { ok: true; value: unknown } | { ok: false; reason: string } {
  const text = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, reason: `the body is not JSON (${(error as Error).message})` };
  }
}

function schemaReason(error: z.ZodError, what: string): string {
  const issue = error.issues[0]!;
  return `not a ${what} payload: ${issue.path.join('.') || '(root)'}: ${issue.message}`;
}

/** Changed files from push commits, or undefined when the payload does not list them all. */
function pushedFiles(
  commits: z.infer<typeof CommitFiles>[],
  complete: boolean,
): string[] | undefined {
  if (!complete) return undefined;
  const files = new Set<string>();
  for (const c of commits) {
    for (const f of [...(c.added ?? []), ...(c.modified ?? []), ...(c.removed ?? [])]) files.add(f);
  }
  return [...files];
}

/** X-Gitlab-Event, X-Gitlab-Event-UUID / Idempotency-Key, and the body. */
export function parseGitlabWebhook(headers: HeaderBag, rawBody: Buffer | string): ForgeEvent {
  const event = headerValue(headers, 'x-gitlab-event');
  const base: EventBase = {
    forge: 'gitlab',
    deliveryId:
      headerValue(headers, 'idempotency-key') ?? headerValue(headers, 'x-gitlab-event-uuid'),
    event,
    action: undefined,
  };
  if (event !== 'Merge Request Hook' && event !== 'Push Hook') {
    return ignored(
      base,
      event ? `GitLab event "${event}" is not one stackswap acts on` : 'X-Gitlab-Event missing',
    );
  }
  const json = parseJson(rawBody);
  if (!json.ok) return ignored(base, json.reason);

  if (event === 'Push Hook') {
    const parsed = GitlabPushHook.safeParse(json.value);
    if (!parsed.success) return ignored(base, schemaReason(parsed.error, 'GitLab Push Hook'));
    const p = parsed.data;
    const project = p.project.path_with_namespace;
    if (!p.ref.startsWith('refs/heads/'))
      return ignored(base, `push to ${p.ref}, not a branch`, project);
    if (NULL_SHA.test(p.after)) return ignored(base, `${p.ref} was deleted`, project);
    const complete =
      p.total_commits_count === undefined || p.total_commits_count <= p.commits.length;
    return {
      ...base,
      kind: 'push',
      project,
      projectId: p.project.id,
      branch: p.ref.slice('refs/heads/'.length),
      before: p.before,
      headSha: p.checkout_sha || p.after,
      defaultBranch: p.project.default_branch ?? undefined,
      changedFiles: pushedFiles(p.commits, complete),
    };
  }

  const parsed = GitlabMergeRequestHook.safeParse(json.value);
  if (!parsed.success)
    return ignored(base, schemaReason(parsed.error, 'GitLab Merge Request Hook'));
  const p = parsed.data;
  const a = p.object_attributes;
  const project = p.project.path_with_namespace;
  const withAction: EventBase = { ...base, action: a.action };
  // A new target branch changes what the plan is compared with, like new commits do.
  const retargeted = p.changes !== undefined && 'target_branch' in p.changes;
  const kind = gitlabKind(a.action, a.state, Boolean(a.oldrev) || retargeted);
  if (typeof kind === 'object') return ignored(withAction, kind.reason, project);
  const merged = kind === 'merged';
  const mergedSha = merged
    ? a.merge_commit_sha || a.squash_commit_sha || a.last_commit.id
    : undefined;
  return {
    ...withAction,
    kind,
    project,
    projectId: p.project.id,
    number: a.iid,
    sourceBranch: a.source_branch,
    targetBranch: a.target_branch,
    headSha: a.last_commit.id,
    mergedSha,
    mergedShaSource: !merged
      ? undefined
      : a.merge_commit_sha
        ? 'merge_commit_sha'
        : a.squash_commit_sha
          ? 'squash_commit_sha'
          : 'head (fast-forward)',
    fork:
      a.source_project_id != null &&
      a.target_project_id != null &&
      a.source_project_id !== a.target_project_id,
    draft: a.draft ?? a.work_in_progress ?? false,
    defaultBranch: p.project.default_branch ?? undefined,
    url: a.url,
    changedFiles: undefined,
  };
}

function gitlabKind(
  action: string | undefined,
  state: string,
  newCommits: boolean,
): MergeRequestEvent['kind'] | { reason: string } {
  switch (action) {
    case 'open':
    case 'reopen':
      return 'opened';
    case 'update':
      // Without oldrev, only the title, labels, assignees… changed: the plan is the same.
      return newCommits
        ? 'updated'
        : { reason: 'MR updated without new commits or a new target branch (no oldrev)' };
    case 'merge':
      return 'merged';
    case 'close':
      return 'closed';
    case undefined:
      return state === 'merged' ? 'merged' : { reason: 'MR event without an action' };
    default:
      return { reason: `MR action "${action}" does not change the plan` };
  }
}

/** X-GitHub-Event, X-GitHub-Delivery, and the body. */
export function parseGithubWebhook(headers: HeaderBag, rawBody: Buffer | string): ForgeEvent {
  const event = headerValue(headers, 'x-github-event');
  const base: EventBase = {
    forge: 'github',
    deliveryId: headerValue(headers, 'x-github-delivery'),
    event,
    action: undefined,
  };
  if (event === 'ping') return ignored(base, 'ping (the webhook was just created)');
  if (event !== 'pull_request' && event !== 'push') {
    return ignored(
      base,
      event ? `GitHub event "${event}" is not one stackswap acts on` : 'X-GitHub-Event missing',
    );
  }
  const json = parseJson(rawBody);
  if (!json.ok) return ignored(base, json.reason);

  if (event === 'push') {
    const parsed = GithubPushHook.safeParse(json.value);
    if (!parsed.success) return ignored(base, schemaReason(parsed.error, 'GitHub push'));
    const p = parsed.data;
    const project = p.repository.full_name;
    if (!p.ref.startsWith('refs/heads/'))
      return ignored(base, `push to ${p.ref}, not a branch`, project);
    if (p.deleted || NULL_SHA.test(p.after)) return ignored(base, `${p.ref} was deleted`, project);
    return {
      ...base,
      kind: 'push',
      project,
      projectId: p.repository.id,
      branch: p.ref.slice('refs/heads/'.length),
      before: p.before,
      headSha: p.after,
      defaultBranch: p.repository.default_branch,
      // GitHub lists at most 2048 commits, without saying how many there were.
      changedFiles: pushedFiles(p.commits, p.commits.length < 2048),
    };
  }

  const parsed = GithubPullRequestHook.safeParse(json.value);
  if (!parsed.success) return ignored(base, schemaReason(parsed.error, 'GitHub pull_request'));
  const p = parsed.data;
  const pr = p.pull_request;
  const project = p.repository.full_name;
  const withAction: EventBase = { ...base, action: p.action };
  let kind: MergeRequestEvent['kind'];
  switch (p.action) {
    case 'opened':
    case 'reopened':
      kind = 'opened';
      break;
    case 'synchronize':
      kind = 'updated';
      break;
    case 'edited':
      // A new base branch changes what the plan is compared with; a new title does not.
      if (!p.changes || !('base' in p.changes)) {
        return ignored(withAction, 'PR edited without a base branch change', project);
      }
      kind = 'updated';
      break;
    case 'closed':
      kind = pr.merged ? 'merged' : 'closed';
      break;
    default:
      return ignored(withAction, `PR action "${p.action}" does not change the plan`, project);
  }
  const merged = kind === 'merged';
  return {
    ...withAction,
    kind,
    project,
    projectId: p.repository.id,
    number: p.number,
    sourceBranch: pr.head.ref,
    targetBranch: pr.base.ref,
    headSha: pr.head.sha,
    // Before the merge, merge_commit_sha is GitHub's test merge commit: not what landed.
    mergedSha: merged ? (pr.merge_commit_sha ?? undefined) : undefined,
    mergedShaSource: merged && pr.merge_commit_sha ? 'merge_commit_sha' : undefined,
    fork: pr.head.repo === null || pr.head.repo.full_name !== pr.base.repo.full_name,
    draft: pr.draft ?? false,
    defaultBranch: p.repository.default_branch,
    url: pr.html_url,
    changedFiles: undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// What this service acts on

export interface WebhookScope {
  /** The config repo on the forge: "group/project" or "owner/repo" (case-insensitive). */
  project: string;
  /** The branch stackswap deploys from (the config repo's branch). */
  branch: string;
  /** Deploy merges whose source branch is a fork. Default false. */
  deployForks?: boolean;
  /** Whether stackswap owns a path. Default: releases/*.yaml and stackswap.yaml. */
  owns?: (path: string) => boolean;
}

/** releases/<name>.yaml (or .yml) and stackswap.yaml at the root of the config repo. */
export function defaultOwnedPath(path: string): boolean {
  return /^releases\/[^/]+\.ya?ml$/.test(path) || path === 'stackswap.yaml';
}

/**
 * Narrows an event to what this service acts on: other repositories, other branches, fork
 * merges, and pushes that touch no file stackswap owns become `ignored` with the reason.
 * MR/PR events pass without a file check (they carry no files): call `ignoreUnowned` with
 * Forge.listChangedFiles.
 */
export function scopeEvent(event: ForgeEvent, scope: WebhookScope): ForgeEvent {
  if (event.kind === 'ignored') return event;
  const base: EventBase = {
    forge: event.forge,
    deliveryId: event.deliveryId,
    event: event.event,
    action: event.action,
  };
  if (event.project.toLowerCase() !== scope.project.toLowerCase()) {
    return ignored(
      base,
      `event for ${event.project}; this service watches ${scope.project}`,
      event.project,
    );
  }
  if (event.kind === 'push') {
    if (event.branch !== scope.branch) {
      return ignored(base, `push to ${event.branch}, not ${scope.branch}`, event.project);
    }
    return event.changedFiles === undefined
      ? event
      : ignoreUnowned(event, event.changedFiles, scope.owns);
  }
  if (event.targetBranch !== scope.branch) {
    return ignored(
      base,
      `MR !${event.number} targets ${event.targetBranch}, not ${scope.branch}`,
      event.project,
    );
  }
  if (event.kind === 'merged' && event.fork && !scope.deployForks) {
    return ignored(
      base,
      `MR !${event.number} was merged from a fork: not deployed automatically`,
      event.project,
    );
  }
  return event;
}

/** `ignored` when none of `files` is one stackswap owns; the event itself otherwise. */
export function ignoreUnowned<E extends ForgeEvent>(
  event: E,
  files: readonly string[],
  owns: (path: string) => boolean = defaultOwnedPath,
): E | IgnoredEvent {
  if (event.kind === 'ignored' || files.some(owns)) return event;
  return ignored(
    { forge: event.forge, deliveryId: event.deliveryId, event: event.event, action: event.action },
    files.length === 0
      ? 'no files changed'
      : `touches no file stackswap owns (${files.slice(0, 3).join(', ')}${files.length > 3 ? ', …' : ''})`,
    event.project,
  );
}
