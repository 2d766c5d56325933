/**
 * The Forge port on GitHub, through @octokit/rest (REST for everything, GraphQL for
 * enablePullRequestAutoMerge, which has no REST form). Octokit is given our fetch
 * (createForgeFetch), so timeouts, retries and rate limits behave as on GitLab. Commit
 * statuses, not check runs: check runs need a GitHub App, statuses work with any token.
 */
import { Octokit } from '@octokit/rest';
import { z } from 'zod';
import { classifyHttpError, ForgeError, isForgeError } from './errors.ts';
import {
  createOnce,
  FORGE_LIMITS,
  oneLine,
  planCommentSync,
  type CommentSyncResult,
  type CommitState,
  type CommitStatusInput,
  type Forge,
  type MergeInput,
  type MergeOutcome,
  type MergeRequest,
  type OpenMergeRequestInput,
  createdPartId,
} from './forge.ts';
import { createForgeFetch, type ForgeFetchOptions } from './http.ts';

export interface GithubForgeOptions {
  /** REST root: https://api.github.com, or https://ghe.example.com/api/v3. */
  apiUrl: string;
  token: string | undefined;
  http?: Omit<ForgeFetchOptions, 'forge'>;
}

const Repo = z.object({ full_name: z.string() }).loose();
const GithubPull = z
  .object({
    number: z.number().int(),
    node_id: z.string().optional(),
    state: z.enum(['open', 'closed']),
    merged: z.boolean().optional(),
    merged_at: z.string().nullable().optional(),
    title: z.string(),
    draft: z.boolean().optional(),
    head: z.object({ ref: z.string(), sha: z.string(), repo: Repo.nullable() }).loose(),
    base: z.object({ ref: z.string(), repo: Repo }).loose(),
    merge_commit_sha: z.string().nullable().optional(),
    mergeable: z.boolean().nullable().optional(),
    mergeable_state: z.string().optional(),
    auto_merge: z.unknown().optional(),
    html_url: z.string(),
  })
  .loose();
type GithubPull = z.infer<typeof GithubPull>;

const GithubComment = z
  .object({ id: z.number().int(), body: z.string().nullable().optional() })
  .loose();
const GithubFile = z
  .object({ filename: z.string(), previous_filename: z.string().optional() })
  .loose();
const GithubContent = z
  .object({ type: z.string(), encoding: z.string().optional(), content: z.string().optional() })
  .loose();
const GithubMerge = z
  .object({ merged: z.boolean(), sha: z.string().nullable().optional() })
  .loose();

const STATE: Record<CommitState, 'pending' | 'success' | 'failure'> = {
  pending: 'pending',
  running: 'pending',
  success: 'success',
  failed: 'failure',
};

function split(project: string): { owner: string; repo: string } {
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(project);
  if (!m) {
    throw new ForgeError(
      { forge: 'github', kind: 'rejected', call: 'repository' },
      `GitHub repository ${JSON.stringify(project)}: expected "owner/repo"`,
    );
  }
  return { owner: m[1]!, repo: m[2]! };
}

function parse<T>(schema: z.ZodType<T>, value: unknown, call: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new ForgeError(
    { forge: 'github', kind: 'bad-response', call },
    `GitHub answered ${call} with an unexpected body: ${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
}

/** Octokit's RequestError (or our fetch's ForgeError inside it) as a ForgeError. */
function translate(error: unknown, call: string, options: { mergeCall?: boolean } = {}): unknown {
  if (isForgeError(error)) return error;
  if (!(error instanceof Error)) return error;
  const cause = (error as { cause?: unknown }).cause;
  if (isForgeError(cause)) return cause;
  const e = error as Error & {
    status?: unknown;
    response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
  };
  if (typeof e.status === 'number' && e.response) {
    const headers = new Headers();
    for (const [k, v] of Object.entries(e.response.headers ?? {})) {
      if (v !== undefined) headers.set(k, String(v));
    }
    return classifyHttpError('github', call, e.status, headers, e.response.data, options);
  }
  return error;
}

async function call<T>(
  name: string,
  fn: () => Promise<T>,
  options: { mergeCall?: boolean } = {},
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw translate(error, name, options);
  }
}

function toMergeRequest(project: string, pr: GithubPull): MergeRequest {
  const merged = pr.merged === true || Boolean(pr.merged_at);
  const mergeStatus = pr.mergeable_state;
  return {
    forge: 'github',
    project,
    number: pr.number,
    state: merged ? 'merged' : pr.state,
    title: pr.title,
    sourceBranch: pr.head.ref,
    targetBranch: pr.base.ref,
    headSha: pr.head.sha,
    // Before the merge, merge_commit_sha is GitHub's test merge: meaningless to us.
    mergedSha: merged ? (pr.merge_commit_sha ?? undefined) : undefined,
    draft: pr.draft ?? false,
    // A deleted fork leaves head.repo null: still a fork.
    fork: pr.head.repo === null || pr.head.repo.full_name !== pr.base.repo.full_name,
    mergeable:
      pr.mergeable === undefined || pr.mergeable === null || mergeStatus === 'unknown'
        ? 'unknown'
        : pr.mergeable && mergeStatus === 'clean'
          ? 'yes'
          : 'no',
    mergeStatus,
    autoMergeEnabled: pr.auto_merge !== undefined && pr.auto_merge !== null,
    webUrl: pr.html_url,
  };
}

const AUTO_MERGE_MUTATION = `mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID) {
  enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid}) {
    pullRequest { number autoMergeRequest { enabledAt } }
  }
}`;

export class GithubForge implements Forge {
  readonly name = 'github' as const;
  readonly limits = FORGE_LIMITS.github;
  private readonly octokit: Octokit;

  constructor(options: GithubForgeOptions) {
    const forgeFetch = createForgeFetch({ forge: 'github', ...options.http });
    this.octokit = new Octokit({
      ...(options.token ? { auth: options.token } : {}),
      baseUrl: options.apiUrl,
      userAgent: 'stackswap',
      request: { fetch: forgeFetch },
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
  }

  private async pull(project: string, number: number): Promise<GithubPull> {
    const { owner, repo } = split(project);
    const r = await call('pulls.get', () =>
      this.octokit.rest.pulls.get({ owner, repo, pull_number: number }),
    );
    return parse(GithubPull, r.data, 'pulls.get');
  }

  async getMergeRequest(project: string, number: number): Promise<MergeRequest> {
    return toMergeRequest(project, await this.pull(project, number));
  }

  async findOpenMergeRequest(
    project: string,
    query: { sourceBranch: string; targetBranch?: string },
  ): Promise<MergeRequest | undefined> {
    const { owner, repo } = split(project);
    const r = await call('pulls.list', () =>
      this.octokit.rest.pulls.list({
        owner,
        repo,
        state: 'open',
        head: `${owner}:${query.sourceBranch}`,
        ...(query.targetBranch ? { base: query.targetBranch } : {}),
        per_page: 100,
      }),
    );
    const first = parse(z.array(GithubPull), r.data, 'pulls.list')
      .filter((pr) => pr.head.ref === query.sourceBranch)
      .sort((a, b) => a.number - b.number)[0];
    // The list leaves out mergeable/mergeable_state: read the PR itself.
    return first ? this.getMergeRequest(project, first.number) : undefined;
  }

  async listChangedFiles(project: string, number: number): Promise<string[]> {
    const { owner, repo } = split(project);
    const files = await call('pulls.listFiles', () =>
      this.octokit.paginate(this.octokit.rest.pulls.listFiles, {
        owner,
        repo,
        pull_number: number,
        per_page: 100,
      }),
    );
    const parsed = parse(z.array(GithubFile), files, 'pulls.listFiles');
    return [
      ...new Set(
        parsed.flatMap((f) =>
          f.previous_filename ? [f.previous_filename, f.filename] : [f.filename],
        ),
      ),
    ];
  }

  private async allComments(project: string, number: number) {
    const { owner, repo } = split(project);
    const comments = await call('issues.listComments', () =>
      this.octokit.paginate(this.octokit.rest.issues.listComments, {
        owner,
        repo,
        issue_number: number,
        per_page: 100,
      }),
    );
    return parse(z.array(GithubComment), comments, 'issues.listComments').map((c) => ({
      id: String(c.id),
      body: c.body ?? '',
    }));
  }

  async syncComments(
    project: string,
    number: number,
    key: string,
    bodies: readonly string[],
  ): Promise<CommentSyncResult> {
    const { owner, repo } = split(project);
    const plan = planCommentSync(key, await this.allComments(project, number), bodies);
    const ids = new Map<number, string>();
    for (const u of plan.unchanged) ids.set(u.part, u.id);
    for (const e of plan.edits) {
      await call('issues.updateComment', () =>
        this.octokit.rest.issues.updateComment({
          owner,
          repo,
          comment_id: Number(e.id),
          body: e.body,
        }),
      );
      ids.set(e.part, e.id);
    }
    for (const c of plan.creates) {
      const created = await createOnce(
        () =>
          call('issues.createComment', () =>
            this.octokit.rest.issues.createComment({
              owner,
              repo,
              issue_number: number,
              body: c.body,
            }),
          ),
        async () => createdPartId(key, await this.allComments(project, number), bodies, c.part),
      );
      ids.set(
        c.part,
        typeof created === 'string'
          ? created
          : String(parse(GithubComment, created.data, 'issues.createComment').id),
      );
    }
    for (const id of plan.deletes) {
      await call('issues.deleteComment', () =>
        this.octokit.rest.issues.deleteComment({ owner, repo, comment_id: Number(id) }),
      );
    }
    return {
      ids: bodies.map((_, i) => ids.get(i + 1)!),
      created: plan.creates.length,
      updated: plan.edits.length,
      unchanged: plan.unchanged.length,
      deleted: plan.deletes.length,
    };
  }

  async setCommitStatus(project: string, status: CommitStatusInput): Promise<void> {
    const { owner, repo } = split(project);
    await call('repos.createCommitStatus', () =>
      this.octokit.rest.repos.createCommitStatus({
        owner,
        repo,
        sha: status.sha,
        state: STATE[status.state],
        context: status.context,
        description: oneLine(status.description, this.limits.statusDescriptionChars),
        ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
      }),
    );
  }

  async openMergeRequest(
    project: string,
    input: OpenMergeRequestInput,
  ): Promise<{ mergeRequest: MergeRequest; created: boolean }> {
    const existing = await this.findOpenMergeRequest(project, input);
    if (existing)
      return { mergeRequest: await this.retitle(project, existing, input), created: false };
    const { owner, repo } = split(project);
    try {
      const r = await call('pulls.create', () =>
        this.octokit.rest.pulls.create({
          owner,
          repo,
          head: input.sourceBranch,
          base: input.targetBranch,
          title: oneLine(input.title, 255),
          body: input.description,
          maintainer_can_modify: false,
        }),
      );
      return {
        mergeRequest: toMergeRequest(project, parse(GithubPull, r.data, 'pulls.create')),
        created: true,
      };
    } catch (error) {
      // 422 "A pull request already exists for owner:branch": opened meanwhile (or by an
      // earlier attempt that timed out). Use that one.
      if (isForgeError(error) && ['rejected', 'unavailable', 'timeout'].includes(error.kind)) {
        const raced = await this.findOpenMergeRequest(project, input);
        if (raced)
          return { mergeRequest: await this.retitle(project, raced, input), created: false };
      }
      throw error;
    }
  }

  /**
   * A reused PR says what its branch holds now: its head branch may have been replaced by a
   * newer change since it was opened, and reviewers approve what the description says.
   */
  private async retitle(
    project: string,
    pr: MergeRequest,
    input: OpenMergeRequestInput,
  ): Promise<MergeRequest> {
    const { owner, repo } = split(project);
    const r = await call('pulls.update', () =>
      this.octokit.rest.pulls.update({
        owner,
        repo,
        pull_number: pr.number,
        title: oneLine(input.title, 255),
        body: input.description,
      }),
    );
    return toMergeRequest(project, parse(GithubPull, r.data, 'pulls.update'));
  }

  async merge(project: string, number: number, input: MergeInput): Promise<MergeOutcome> {
    const { owner, repo } = split(project);
    try {
      const r = await call(
        'pulls.merge',
        () =>
          this.octokit.rest.pulls.merge({
            owner,
            repo,
            pull_number: number,
            sha: input.sha,
            merge_method: input.method ?? 'merge',
            ...(input.commitMessage ? { commit_message: input.commitMessage } : {}),
          }),
        { mergeCall: true },
      );
      const merged = parse(GithubMerge, r.data, 'pulls.merge');
      return { outcome: 'merged', mergedSha: merged.sha ?? undefined };
    } catch (error) {
      if (isForgeError(error, 'unavailable') || isForgeError(error, 'timeout')) {
        // The merge may have gone through: ask what happened before reporting a failure.
        const after = await this.getMergeRequest(project, number);
        if (after.state === 'merged') return { outcome: 'merged', mergedSha: after.mergedSha };
        throw error;
      }
      if (isForgeError(error, 'conflict')) {
        throw error.addContext({
          hint: `the head branch no longer points at ${input.sha}: someone pushed to it; review the new head before merging`,
        });
      }
      if (isForgeError(error, 'not-mergeable')) {
        throw error.addContext({
          hint: 'GitHub will not merge it now: draft, conflicts, required reviews or checks missing',
        });
      }
      throw error;
    }
  }

  async enableAutoMerge(project: string, number: number, input: MergeInput): Promise<MergeOutcome> {
    const raw = await this.pull(project, number);
    const pr = toMergeRequest(project, raw);
    if (pr.state === 'merged') return { outcome: 'merged', mergedSha: pr.mergedSha };
    if (pr.headSha !== input.sha) {
      throw new ForgeError(
        { forge: 'github', kind: 'conflict', call: 'enablePullRequestAutoMerge' },
        `GitHub: PR #${number} head is ${pr.headSha}, not ${input.sha}`,
        { hint: 'someone pushed to the head branch; review the new head before merging' },
      );
    }
    if (pr.autoMergeEnabled) return { outcome: 'auto-merge-enabled' };
    // enablePullRequestAutoMerge refuses a PR that can merge now ("clean status"): merge it.
    if (pr.mergeable === 'yes') return this.merge(project, number, input);
    const nodeId = raw.node_id;
    if (!nodeId) {
      throw new ForgeError(
        { forge: 'github', kind: 'bad-response', call: 'pulls.get' },
        `GitHub: PR #${number} has no node_id (needed for auto-merge)`,
      );
    }
    try {
      await call('enablePullRequestAutoMerge', () =>
        this.octokit.graphql(AUTO_MERGE_MUTATION, {
          pullRequestId: nodeId,
          mergeMethod: (input.method ?? 'merge').toUpperCase(),
          expectedHeadOid: input.sha,
        }),
      );
      return { outcome: 'auto-merge-enabled' };
    } catch (error) {
      const messages = graphqlMessages(error);
      if (messages === undefined) throw error;
      const text = messages.join('; ');
      if (/clean status/i.test(text)) return this.merge(project, number, input);
      if (
        /auto.?merge is not allowed|not enabled for this repository|protected branch rules not configured/i.test(
          text,
        )
      ) {
        return {
          outcome: 'waiting',
          reason: `GitHub will not arm auto-merge on PR #${number}: ${text} (enable "Allow auto-merge" and a branch protection rule, or merge it by hand)`,
        };
      }
      throw new ForgeError(
        { forge: 'github', kind: 'rejected', call: 'enablePullRequestAutoMerge' },
        `GitHub refused auto-merge on PR #${number}: ${text}`,
      );
    }
  }

  async readFile(project: string, path: string, ref: string): Promise<string | undefined> {
    const { owner, repo } = split(project);
    try {
      const r = await call('repos.getContent', () =>
        this.octokit.rest.repos.getContent({ owner, repo, path, ref }),
      );
      const file = parse(GithubContent, r.data, 'repos.getContent');
      if (file.type !== 'file') {
        throw new ForgeError(
          { forge: 'github', kind: 'rejected', call: 'repos.getContent' },
          `GitHub: ${path} at ${ref} is a ${file.type}, not a file`,
        );
      }
      if (file.encoding === 'base64' && file.content !== undefined) {
        return Buffer.from(file.content, 'base64').toString('utf8');
      }
      // Over 1 MB the JSON form carries no content (encoding "none"): ask for the raw bytes.
      const raw = await call('repos.getContent', () =>
        this.octokit.rest.repos.getContent({
          owner,
          repo,
          path,
          ref,
          mediaType: { format: 'raw' },
        }),
      );
      return typeof raw.data === 'string'
        ? raw.data
        : Buffer.from(raw.data as unknown as ArrayBuffer).toString('utf8');
    } catch (error) {
      if (isForgeError(error, 'not-found')) return undefined;
      throw error;
    }
  }
}

/** The messages of a GraphQL errors answer (Octokit's GraphqlResponseError), else undefined. */
function graphqlMessages(error: unknown): string[] | undefined {
  const inner = isForgeError(error) ? (error.cause ?? error) : error;
  if (!(inner instanceof Error) || inner.name !== 'GraphqlResponseError') return undefined;
  const errors = (inner as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return [inner.message];
  return errors.map((e) =>
    e && typeof e === 'object' && 'message' in e
      ? String((e as { message: unknown }).message)
      : String(e),
  );
}
