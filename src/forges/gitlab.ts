/**
 * The Forge port on GitLab, through @gitbeaker/rest. gitbeaker builds the URLs, bodies and
 * pagination; the requests themselves go through our requester (createForgeFetch), because
 * gitbeaker's own retries ignore Retry-After and wait a fraction of a millisecond. Every
 * answer is checked with zod before it is used.
 */
import { Gitlab } from '@gitbeaker/rest';
import { createRequesterFn } from '@gitbeaker/requester-utils';
import { z } from 'zod';
import { classifyHttpError, ForgeError, isForgeError } from './errors.ts';
import {
  createOnce,
  FORGE_LIMITS,
  oneLine,
  planCommentSync,
  type CommentSyncResult,
  type CommitStatusInput,
  type Forge,
  type MergeInput,
  type MergeOutcome,
  type MergeRequest,
  type OpenMergeRequestInput,
  createdPartId,
} from './forge.ts';
import {
  createForgeFetch,
  systemForgeClock,
  type ForgeClock,
  type ForgeFetchOptions,
} from './http.ts';

export interface GitlabForgeOptions {
  /** The instance, e.g. https://gitlab.com (the API is under /api/v4). */
  url: string;
  token: string | undefined;
  http?: Omit<ForgeFetchOptions, 'forge'>;
  /** For the 406 re-tries of a merge right after the MR is created. */
  clock?: ForgeClock;
}

const GitlabMergeRequest = z
  .object({
    iid: z.number().int(),
    project_id: z.number().int().optional(),
    state: z.enum(['opened', 'closed', 'merged', 'locked']),
    title: z.string(),
    source_branch: z.string(),
    target_branch: z.string(),
    sha: z.string().nullable().optional(),
    merge_commit_sha: z.string().nullable().optional(),
    squash_commit_sha: z.string().nullable().optional(),
    draft: z.boolean().optional(),
    work_in_progress: z.boolean().optional(),
    source_project_id: z.number().int().optional(),
    target_project_id: z.number().int().optional(),
    detailed_merge_status: z.string().optional(),
    merge_status: z.string().optional(),
    merge_when_pipeline_succeeds: z.boolean().optional(),
    web_url: z.string(),
  })
  .loose();
type GitlabMergeRequest = z.infer<typeof GitlabMergeRequest>;

const GitlabNote = z
  .object({ id: z.number().int(), body: z.string(), system: z.boolean().optional() })
  .loose();
const GitlabDiff = z.object({ old_path: z.string(), new_path: z.string() }).loose();
const GitlabFile = z.object({ content: z.string(), encoding: z.string() }).loose();

/** detailed_merge_status values that mean "GitLab will merge now". */
const MERGEABLE_NOW = new Set(['mergeable']);
/** Values that mean "still computing": ask again. */
const MERGE_STATUS_UNKNOWN = new Set(['unchecked', 'checking', 'preparing', 'approvals_syncing']);

function parse<T>(schema: z.ZodType<T>, value: unknown, call: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new ForgeError(
    { forge: 'gitlab', kind: 'bad-response', call },
    `GitLab answered ${call} with an unexpected body: ${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
}

function toMergeRequest(project: string, mr: GitlabMergeRequest): MergeRequest {
  const status = mr.detailed_merge_status ?? mr.merge_status;
  const headSha = mr.sha ?? '';
  const merged = mr.state === 'merged';
  return {
    forge: 'gitlab',
    project,
    number: mr.iid,
    state: mr.state === 'opened' ? 'open' : mr.state,
    title: mr.title,
    sourceBranch: mr.source_branch,
    targetBranch: mr.target_branch,
    headSha,
    // Fast-forward merges leave merge_commit_sha null: the head itself landed on the target.
    mergedSha: merged
      ? mr.merge_commit_sha || mr.squash_commit_sha || headSha || undefined
      : undefined,
    draft: mr.draft ?? mr.work_in_progress ?? false,
    fork:
      mr.source_project_id !== undefined &&
      mr.target_project_id !== undefined &&
      mr.source_project_id !== mr.target_project_id,
    mergeable:
      status === undefined || MERGE_STATUS_UNKNOWN.has(status)
        ? 'unknown'
        : MERGEABLE_NOW.has(status) || status === 'can_be_merged'
          ? 'yes'
          : 'no',
    mergeStatus: status,
    autoMergeEnabled: mr.merge_when_pipeline_succeeds ?? false,
    webUrl: mr.web_url,
  };
}

type RequestOptions = {
  headers?: Record<string, string>;
  method?: string;
  searchParams?: string;
  prefixUrl?: string;
  body?: string | FormData;
  asStream?: boolean;
  signal?: AbortSignal;
};

async function readBody(response: Response): Promise<unknown> {
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const text = await response.text();
  if (type === 'application/json' && text) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** gitbeaker's requester, with our fetch underneath. */
function requesterFor(forgeFetch: typeof fetch) {
  return createRequesterFn(
    async (_service, requestOptions) => requestOptions,
    async (endpoint: string, raw?: Record<string, unknown>) => {
      const options = (raw ?? {}) as RequestOptions;
      const base = options.prefixUrl?.endsWith('/') ? options.prefixUrl : `${options.prefixUrl}/`;
      const url = new URL(endpoint, base);
      url.search = options.searchParams ?? '';
      const method = options.method ?? 'GET';
      const call = `${method} /${endpoint.split('?')[0]}`;
      const response = await forgeFetch(url, {
        method,
        headers: options.headers ?? {},
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const headers = Object.fromEntries(response.headers.entries());
      if (!response.ok) {
        const body = await readBody(response);
        throw classifyHttpError('gitlab', call, response.status, response.headers, body, {
          mergeCall: /\/merge_requests\/\d+\/merge$/.test(url.pathname),
        });
      }
      const body = response.status === 204 ? null : await readBody(response);
      return { body: body as never, headers, status: response.status };
    },
  );
}

export class GitlabForge implements Forge {
  readonly name = 'gitlab' as const;
  readonly limits = FORGE_LIMITS.gitlab;
  private readonly api: InstanceType<typeof Gitlab<false>>;
  private readonly clock: ForgeClock | undefined;

  constructor(options: GitlabForgeOptions) {
    const forgeFetch = createForgeFetch({ forge: 'gitlab', ...options.http });
    this.clock = options.clock ?? options.http?.clock;
    this.api = new Gitlab({
      host: options.url,
      // Sent as PRIVATE-TOKEN (personal, project and group access tokens). Without one, calls
      // go anonymous: reads of public projects only.
      ...(options.token ? { token: options.token } : {}),
      requesterFn: requesterFor(forgeFetch),
      queryTimeout: null,
    });
  }

  async getMergeRequest(project: string, number: number): Promise<MergeRequest> {
    const raw = await this.api.MergeRequests.show(project, number);
    return toMergeRequest(project, parse(GitlabMergeRequest, raw, 'MergeRequests.show'));
  }

  async findOpenMergeRequest(
    project: string,
    query: { sourceBranch: string; targetBranch?: string },
  ): Promise<MergeRequest | undefined> {
    const raw = await this.api.MergeRequests.all({
      projectId: project,
      state: 'opened',
      sourceBranch: query.sourceBranch,
      ...(query.targetBranch ? { targetBranch: query.targetBranch } : {}),
      perPage: 100,
    });
    const list = parse(z.array(GitlabMergeRequest), raw, 'MergeRequests.all');
    // The list omits `sha` on some versions: read the one we pick in full.
    const first = list
      .filter((mr) => mr.source_branch === query.sourceBranch)
      .sort((a, b) => a.iid - b.iid)[0];
    return first ? this.getMergeRequest(project, first.iid) : undefined;
  }

  async listChangedFiles(project: string, number: number): Promise<string[]> {
    const raw = await this.api.MergeRequests.allDiffs(project, number, { perPage: 100 });
    const diffs = parse(z.array(GitlabDiff), raw, 'MergeRequests.allDiffs');
    return [...new Set(diffs.flatMap((d) => [d.old_path, d.new_path]))];
  }

  private async allNotes(project: string, number: number) {
    const raw = await this.api.MergeRequestNotes.all(project, number, {
      sort: 'asc',
      orderBy: 'created_at',
      perPage: 100,
    });
    return parse(z.array(GitlabNote), raw, 'MergeRequestNotes.all')
      .filter((n) => !n.system)
      .map((n) => ({ id: String(n.id), body: n.body }));
  }

  async syncComments(
    project: string,
    number: number,
    key: string,
    bodies: readonly string[],
  ): Promise<CommentSyncResult> {
    const plan = planCommentSync(key, await this.allNotes(project, number), bodies);
    const ids = new Map<number, string>();
    for (const u of plan.unchanged) ids.set(u.part, u.id);
    for (const e of plan.edits) {
      await this.api.MergeRequestNotes.edit(project, number, Number(e.id), { body: e.body });
      ids.set(e.part, e.id);
    }
    for (const c of plan.creates) {
      const created = await createOnce(
        () => this.api.MergeRequestNotes.create(project, number, c.body),
        async () => createdPartId(key, await this.allNotes(project, number), bodies, c.part),
      );
      ids.set(
        c.part,
        typeof created === 'string'
          ? created
          : String(parse(GitlabNote, created, 'MergeRequestNotes.create').id),
      );
    }
    for (const id of plan.deletes) {
      await this.api.MergeRequestNotes.remove(project, number, Number(id));
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
    try {
      await this.api.Commits.editStatus(project, status.sha, status.state, {
        name: status.context,
        context: status.context,
        description: oneLine(status.description, this.limits.statusDescriptionChars),
        ...(status.targetUrl ? { targetUrl: status.targetUrl } : {}),
        ...(status.ref ? { ref: status.ref } : {}),
      });
    } catch (error) {
      // GitLab refuses to set the state a status already has ("Cannot transition status via
      // :enqueue from :pending"): the status is what we wanted.
      if (
        isForgeError(error, 'rejected') &&
        error.status === 400 &&
        /Cannot transition status/i.test(error.message)
      ) {
        return;
      }
      throw error;
    }
  }

  async openMergeRequest(
    project: string,
    input: OpenMergeRequestInput,
  ): Promise<{ mergeRequest: MergeRequest; created: boolean }> {
    const existing = await this.findOpenMergeRequest(project, input);
    if (existing)
      return { mergeRequest: await this.retitle(project, existing, input), created: false };
    try {
      const raw = await this.api.MergeRequests.create(
        project,
        input.sourceBranch,
        input.targetBranch,
        input.title,
        {
          description: input.description,
          removeSourceBranch: input.removeSourceBranch ?? true,
        },
      );
      const mr = parse(GitlabMergeRequest, raw, 'MergeRequests.create');
      return { mergeRequest: toMergeRequest(project, mr), created: true };
    } catch (error) {
      // 409 "Another open merge request already exists for this source branch": a race with
      // another opener (or an earlier attempt that timed out). Use that one.
      if (
        isForgeError(error) &&
        (error.kind === 'conflict' || error.kind === 'unavailable' || error.kind === 'timeout')
      ) {
        const raced = await this.findOpenMergeRequest(project, input);
        if (raced)
          return { mergeRequest: await this.retitle(project, raced, input), created: false };
      }
      throw error;
    }
  }

  /**
   * A reused MR says what its branch holds now: its source branch may have been replaced by a
   * newer change since it was opened, and reviewers approve what the description says.
   */
  private async retitle(
    project: string,
    mr: MergeRequest,
    input: OpenMergeRequestInput,
  ): Promise<MergeRequest> {
    const raw = await this.api.MergeRequests.edit(project, mr.number, {
      title: input.title,
      description: input.description,
    });
    return toMergeRequest(project, parse(GitlabMergeRequest, raw, 'MergeRequests.edit'));
  }

  /** PUT …/merge, re-tried a few times on 406, which GitLab answers spuriously while it checks. */
  private async acceptWith(
    project: string,
    number: number,
    options: Record<string, unknown>,
  ): Promise<MergeRequest> {
    const delays = [1_000, 2_000, 4_000];
    for (let attempt = 0; ; attempt += 1) {
      try {
        const raw = await this.api.MergeRequests.merge(project, number, options);
        return toMergeRequest(project, parse(GitlabMergeRequest, raw, 'MergeRequests.merge'));
      } catch (error) {
        if (isForgeError(error, 'unavailable') || isForgeError(error, 'timeout')) {
          // The merge may have gone through: ask what happened before reporting a failure.
          const after = await this.getMergeRequest(project, number);
          const armed =
            (options.autoMerge || options.mergeWhenPipelineSucceeds) && after.autoMergeEnabled;
          if (after.state === 'merged' || armed) return after;
          throw error;
        }
        const transient406 = isForgeError(error, 'not-mergeable') && error.status === 406;
        if (!transient406 || attempt >= delays.length) throw explainMergeError(error, options.sha);
        const current = await this.getMergeRequest(project, number);
        if (current.mergeable === 'no' && current.mergeStatus !== 'unchecked') {
          throw explainMergeError(error, options.sha, current.mergeStatus);
        }
        await (this.clock ?? systemForgeClock).sleep(delays[attempt]!);
      }
    }
  }

  async merge(project: string, number: number, input: MergeInput): Promise<MergeOutcome> {
    const mr = await this.acceptWith(project, number, mergeOptions(input));
    return { outcome: 'merged', mergedSha: mr.mergedSha };
  }

  async enableAutoMerge(project: string, number: number, input: MergeInput): Promise<MergeOutcome> {
    let mr: MergeRequest;
    try {
      mr = await this.acceptWith(project, number, { ...mergeOptions(input), autoMerge: true });
    } catch (error) {
      // Before GitLab 17.11 `auto_merge` is unknown (ignored), so the call is a plain merge,
      // refused with 405 while the pipeline runs: ask again the old way.
      if (!(isForgeError(error, 'not-mergeable') && error.status === 405)) throw error;
      mr = await this.acceptWith(project, number, {
        ...mergeOptions(input),
        mergeWhenPipelineSucceeds: true,
      });
    }
    if (mr.state === 'merged') return { outcome: 'merged', mergedSha: mr.mergedSha };
    if (mr.autoMergeEnabled) return { outcome: 'auto-merge-enabled' };
    return {
      outcome: 'waiting',
      reason: `GitLab accepted the merge request but neither merged it nor set auto-merge (status ${mr.mergeStatus ?? 'unknown'})`,
    };
  }

  async readFile(project: string, path: string, ref: string): Promise<string | undefined> {
    try {
      const raw = await this.api.RepositoryFiles.show(project, path, ref);
      const file = parse(GitlabFile, raw, 'RepositoryFiles.show');
      return file.encoding === 'base64'
        ? Buffer.from(file.content, 'base64').toString('utf8')
        : file.content;
    } catch (error) {
      if (isForgeError(error, 'not-found')) return undefined;
      throw error;
    }
  }
}

function mergeOptions(input: MergeInput): Record<string, unknown> {
  return {
    sha: input.sha,
    ...(input.method === 'squash' ? { squash: true } : {}),
    ...(input.removeSourceBranch !== undefined
      ? { shouldRemoveSourceBranch: input.removeSourceBranch }
      : {}),
    ...(input.commitMessage ? { mergeCommitMessage: input.commitMessage } : {}),
  };
}

function explainMergeError(error: unknown, sha: unknown, mergeStatus?: string): unknown {
  if (!isForgeError(error)) return error;
  if (error.kind === 'conflict') {
    return error.addContext({
      hint: `the source branch no longer points at ${String(sha)}: someone pushed to it; review the new head before merging`,
    });
  }
  if (error.kind === 'not-mergeable') {
    return error.addContext({
      hint:
        error.status === 406
          ? `GitLab cannot merge it${mergeStatus ? ` (${mergeStatus})` : ''}: conflicts, or a check still running`
          : `GitLab will not merge it now${mergeStatus ? ` (${mergeStatus})` : ''}: draft, closed, unapproved, or a pipeline pending or failed`,
    });
  }
  return error;
}
