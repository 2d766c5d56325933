/**
 * A fake GitLab REST v4 API (the calls src/forges/gitlab.ts makes, with the real answer shapes
 * from test/fixtures/forges-api). See index.ts for the overview.
 */
import {
  FakeForgeBase,
  fakeSha,
  fixture,
  paginate,
  reply,
  type FakeForgeBaseOptions,
  type FakeResponse,
  type RecordedCall,
} from './common.ts';

export interface FakeGitlabOptions extends FakeForgeBaseOptions {
  /** The project's path (default 'group/config'), id (default 1) and default branch ('main'). */
  project?: string;
  projectId?: number;
  defaultBranch?: string;
  /**
   * The project's merge method: 'merge' (a merge commit, GitLab's default), 'ff' (fast-forward
   * only: merge_commit_sha stays null; 406 when the source is behind), 'rebase_merge'
   * (fast-forward when possible, else a merge commit).
   */
  mergeMethod?: 'merge' | 'ff' | 'rebase_merge';
  /**
   * 'immediate' (default): a merge or auto_merge merges at once (no pipeline holds it).
   * 'arm': every MR waits for a pipeline: a plain merge gets 405, auto_merge arms
   * merge_when_pipeline_succeeds and releaseAutoMerge(iid) later merges it.
   */
  autoMerge?: 'immediate' | 'arm';
  /** Before GitLab 17.11: `auto_merge` is ignored; only merge_when_pipeline_succeeds arms. */
  legacyAutoMerge?: boolean;
}

export interface GitlabMrState {
  iid: number;
  id: number;
  title: string;
  description: string;
  sourceBranch: string;
  targetBranch: string;
  sha: string;
  state: 'opened' | 'closed' | 'merged' | 'locked';
  draft: boolean;
  sourceProjectId: number;
  mergeCommitSha: string | null;
  squashCommitSha: string | null;
  mergeWhenPipelineSucceeds: boolean;
  /** Waits for a pipeline (see FakeGitlabOptions.autoMerge). */
  blocked: boolean;
  /** Overrides detailed_merge_status (e.g. 'checking', 'not_approved'). */
  mergeStatus: string | undefined;
  removeSourceBranch: boolean;
  /** Files the MR changes (without a git repository). */
  changedFiles: string[];
  createdAt: string;
  mergedAt: string | null;
}

export interface GitlabNoteState {
  id: number;
  body: string;
  system: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface GitlabStatusState {
  id: number;
  sha: string;
  ref: string | null;
  status: string;
  name: string;
  targetUrl: string | null;
  description: string | null;
  createdAt: string;
}

const API = '/api/v4';

export class FakeGitlab extends FakeForgeBase {
  readonly project: string;
  readonly projectId: number;
  readonly defaultBranch: string;
  mergeMethod: 'merge' | 'ff' | 'rebase_merge';
  autoMerge: 'immediate' | 'arm';
  legacyAutoMerge: boolean;
  readonly mergeRequests = new Map<number, GitlabMrState>();
  readonly notes = new Map<number, GitlabNoteState[]>();
  readonly statuses: GitlabStatusState[] = [];
  /** Without a git repository: files by ref, then path. */
  readonly files = new Map<string, Map<string, string>>();
  private nextId = 100;
  private clockTick = 0;

  constructor(options: FakeGitlabOptions = {}) {
    super(options);
    this.project = options.project ?? 'group/config';
    this.projectId = options.projectId ?? 1;
    this.defaultBranch = options.defaultBranch ?? 'main';
    this.mergeMethod = options.mergeMethod ?? 'merge';
    this.autoMerge = options.autoMerge ?? 'immediate';
    this.legacyAutoMerge = options.legacyAutoMerge ?? false;
  }

  /** The instance URL (STACKSWAP_GITLAB_URL): http://127.0.0.1:<port>. */
  get url(): string {
    return this.origin;
  }

  /** CI_API_V4_URL */
  get apiUrl(): string {
    return `${this.origin}${API}`;
  }

  // -------------------------------------------------------------------------------------------
  // The test's side

  /** Opens an MR as a person would (emits the `open` hook). In git mode the head is the branch's. */
  async addMergeRequest(input: {
    sourceBranch: string;
    targetBranch?: string;
    title?: string;
    description?: string;
    headSha?: string;
    draft?: boolean;
    /** From a fork: another source project id. */
    fork?: boolean;
    changedFiles?: string[];
  }): Promise<GitlabMrState> {
    const mr = await this.createMr({
      sourceBranch: input.sourceBranch,
      targetBranch: input.targetBranch ?? this.defaultBranch,
      title: input.title ?? `Update ${input.sourceBranch}`,
      description: input.description ?? '',
      removeSourceBranch: false,
      ...(input.headSha ? { headSha: input.headSha } : {}),
    });
    mr.draft = input.draft ?? false;
    if (input.fork) mr.sourceProjectId = this.projectId + 1000;
    if (input.changedFiles) mr.changedFiles = input.changedFiles;
    this.emitMr(mr, 'open');
    return mr;
  }

  /** New commits on the MR: the head moves (to `headSha`, or the branch's head in git mode). */
  async pushToMergeRequest(iid: number, headSha?: string): Promise<GitlabMrState> {
    const mr = this.mr(iid);
    const oldrev = mr.sha;
    mr.sha = headSha ?? (await this.branchHead(mr.sourceBranch)) ?? mr.sha;
    await this.writeMrRef(mr);
    this.emitMr(mr, 'update', { oldrev });
    return mr;
  }

  /** Closes without merging (emits `close`). */
  closeMergeRequest(iid: number): void {
    const mr = this.mr(iid);
    mr.state = 'closed';
    this.emitMr(mr, 'close');
  }

  /** Merges an MR by hand (as the merge button; ignores `blocked`). */
  async mergeByHand(iid: number): Promise<GitlabMrState> {
    const mr = this.mr(iid);
    const r = await this.doMerge(mr, { squash: false });
    if (r) throw new Error(`fake gitlab: cannot merge !${iid}: ${JSON.stringify(r.body)}`);
    return mr;
  }

  /** The pipeline passed: an MR armed with auto-merge merges now; others are unblocked. */
  async releaseAutoMerge(iid: number): Promise<GitlabMrState> {
    const mr = this.mr(iid);
    mr.blocked = false;
    if (mr.mergeWhenPipelineSucceeds && mr.state === 'opened') {
      const r = await this.doMerge(mr, { squash: false });
      if (r) throw new Error(`fake gitlab: cannot merge !${iid}: ${JSON.stringify(r.body)}`);
    }
    return mr;
  }

  /** Without a git repository: a file's content at a ref. */
  setFile(ref: string, file: string, content: string): void {
    if (!this.files.has(ref)) this.files.set(ref, new Map());
    this.files.get(ref)!.set(file, content);
  }

  mr(iid: number): GitlabMrState {
    const mr = this.mergeRequests.get(iid);
    if (!mr) throw new Error(`fake gitlab: no MR !${iid}`);
    return mr;
  }

  notesOf(iid: number): GitlabNoteState[] {
    return this.notes.get(iid) ?? [];
  }

  /** Statuses set on `sha`, oldest first (optionally for one name). */
  statusesOf(sha: string, name?: string): GitlabStatusState[] {
    return this.statuses.filter((s) => s.sha === sha && (name === undefined || s.name === name));
  }

  // -------------------------------------------------------------------------------------------
  // Auth

  protected authorize(call: RecordedCall): FakeResponse | undefined {
    if (!call.path.startsWith(`${API}/`)) return undefined;
    const auth = call.headers.authorization;
    const token =
      (call.headers['private-token'] as string | undefined) ??
      (typeof auth === 'string' && /^Bearer /i.test(auth) ? auth.slice(7) : undefined) ??
      (call.headers['job-token'] as string | undefined);
    if (token !== undefined && this.tokens.has(token)) return undefined;
    const scopes = token !== undefined ? this.limitedTokens[token] : undefined;
    if (!scopes) return { status: 401, body: { message: '401 Unauthorized' } };
    if (call.method === 'GET' && scopes.includes('read_api')) return undefined;
    if (call.method === 'GET' && /\/personal_access_tokens\/self$/.test(call.path))
      return undefined;
    const description = 'The request requires higher privileges than provided by the access token.';
    return {
      status: 403,
      headers: {
        'www-authenticate': `Bearer realm="", error="insufficient_scope", error_description="${description}", scope="api"`,
      },
      body: { error: 'insufficient_scope', error_description: description, scope: 'api' },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Routes

  protected async route(call: RecordedCall): Promise<FakeResponse> {
    if (!call.rawPath.startsWith(`${API}/`)) reply(404, { message: '404 Not Found' });
    const seg = call.rawPath
      .slice(API.length + 1)
      .split('/')
      .map((s) => decodeURIComponent(s));
    const m = call.method;
    const body = (typeof call.body === 'object' && call.body !== null ? call.body : {}) as Record<
      string,
      unknown
    >;
    const params = { ...call.query, ...body } as Record<string, unknown>;

    if (seg[0] === 'user' && seg.length === 1 && m === 'GET') {
      return ok({ id: 1, username: 'stackswap-bot', name: 'stackswap', state: 'active' });
    }
    if (seg.join('/') === 'personal_access_tokens/self' && m === 'GET') {
      const token = String(call.headers['private-token'] ?? '');
      const scopes = this.tokens.has(token) ? ['api'] : (this.limitedTokens[token] ?? []);
      return ok({ id: 1, name: 'test', active: true, revoked: false, scopes });
    }
    if (seg[0] !== 'projects' || seg.length < 2) reply(404, { message: '404 Not Found' });
    if (seg[1] !== this.project && seg[1] !== String(this.projectId)) {
      reply(404, { message: '404 Project Not Found' });
    }
    const rest = seg.slice(2);

    if (rest.length === 0 && m === 'GET') {
      return ok({
        id: this.projectId,
        path_with_namespace: this.project,
        default_branch: this.defaultBranch,
        merge_method: this.mergeMethod,
        web_url: `${this.origin}/${this.project}`,
      });
    }

    if (rest[0] === 'merge_requests') {
      if (rest.length === 1 && m === 'GET') {
        const list = [...this.mergeRequests.values()]
          .filter(
            (mr) =>
              (!params.state || params.state === 'all' || params.state === mr.state) &&
              (!params.source_branch || params.source_branch === mr.sourceBranch) &&
              (!params.target_branch || params.target_branch === mr.targetBranch),
          )
          .sort((a, b) => b.iid - a.iid);
        const views = await Promise.all(list.map((mr) => this.view(mr, { list: true })));
        return paginate(views, call, this.origin, 20);
      }
      if (rest.length === 1 && m === 'POST') return this.createFromApi(params);
      const iid = Number(rest[1]);
      const mr = this.mergeRequests.get(iid);
      if (!mr) reply(404, { message: '404 Not found' });
      if (rest.length === 2 && m === 'GET') return ok(await this.view(mr));
      if (rest.length === 2 && m === 'PUT') {
        if (params.title !== undefined) mr.title = String(params.title);
        if (params.description !== undefined) mr.description = String(params.description);
        return ok(await this.view(mr));
      }
      if (rest[2] === 'diffs' && rest.length === 3 && m === 'GET') {
        const files = await this.changedFiles(mr);
        return paginate(
          files.map((f) => ({
            old_path: f.old,
            new_path: f.new,
            a_mode: '100644',
            b_mode: '100644',
            new_file: f.status === 'A',
            renamed_file: f.status === 'R',
            deleted_file: f.status === 'D',
            diff: '',
          })),
          call,
          this.origin,
          20,
        );
      }
      if (rest[2] === 'notes') return this.notesRoute(call, mr, rest.slice(3), params);
      if (rest[2] === 'merge' && rest.length === 3 && m === 'PUT') {
        return this.mergeFromApi(mr, params);
      }
    }

    if (rest[0] === 'statuses' && rest.length === 2 && m === 'POST') {
      return this.setStatus(rest[1]!, params);
    }
    if (
      rest[0] === 'repository' &&
      rest[1] === 'commits' &&
      rest[3] === 'statuses' &&
      m === 'GET'
    ) {
      const sha = (await this.resolve(rest[2]!)) ?? rest[2]!;
      const list = this.statuses
        .filter((s) => s.sha === sha && (!params.name || params.name === s.name))
        .reverse()
        .map((s) => this.statusView(s));
      return paginate(list, call, this.origin, 20);
    }
    if (rest[0] === 'repository' && rest[1] === 'files' && rest.length >= 3 && m === 'GET') {
      const raw = rest[3] === 'raw';
      const file = rest[2]!;
      const ref = String(params.ref ?? this.defaultBranch);
      const content = await this.readAt(ref, file);
      if (content === undefined) reply(404, { message: '404 File Not Found' });
      if (raw)
        return {
          status: 200,
          body: content.toString('utf8'),
          headers: { 'content-type': 'text/plain' },
        };
      return ok({
        file_name: file.split('/').at(-1),
        file_path: file,
        size: content.length,
        encoding: 'base64',
        content: content.toString('base64'),
        ref,
        blob_id: fakeSha(`blob:${file}:${content.toString('base64')}`),
        commit_id: (await this.resolve(ref)) ?? fakeSha(ref),
        last_commit_id: (await this.resolve(ref)) ?? fakeSha(ref),
      });
    }
    reply(404, { message: '404 Not Found' });
  }

  private notesRoute(
    call: RecordedCall,
    mr: GitlabMrState,
    rest: string[],
    params: Record<string, unknown>,
  ): FakeResponse {
    const list = this.notes.get(mr.iid) ?? [];
    this.notes.set(mr.iid, list);
    if (rest.length === 0 && call.method === 'GET') {
      const sorted = [...list].sort((a, b) => (params.sort === 'asc' ? a.id - b.id : b.id - a.id));
      return paginate(
        sorted.map((n) => this.noteView(mr, n)),
        call,
        this.origin,
        20,
      );
    }
    if (rest.length === 0 && call.method === 'POST') {
      const text = String(params.body ?? '');
      if (!text) reply(400, { message: '400 Bad request - body is missing' });
      if (Array.from(text).length > 1_000_000) {
        reply(400, { message: { note: ['is too long (maximum is 1000000 characters)'] } });
      }
      const now = this.now();
      const note = { id: this.nextId++, body: text, system: false, createdAt: now, updatedAt: now };
      list.push(note);
      return { status: 201, body: this.noteView(mr, note) };
    }
    const note = list.find((n) => n.id === Number(rest[0]));
    if (!note) reply(404, { message: '404 Not found' });
    if (call.method === 'PUT') {
      const text = String(params.body ?? '');
      if (Array.from(text).length > 1_000_000) {
        reply(400, { message: { note: ['is too long (maximum is 1000000 characters)'] } });
      }
      note.body = text;
      note.updatedAt = this.now();
      return ok(this.noteView(mr, note));
    }
    if (call.method === 'DELETE') {
      list.splice(list.indexOf(note), 1);
      return { status: 204 };
    }
    if (call.method === 'GET') return ok(this.noteView(mr, note));
    reply(405, { message: '405 Method Not Allowed' });
  }

  private setStatus(shaParam: string, params: Record<string, unknown>): FakeResponse {
    const state = String(params.state ?? '');
    if (!['pending', 'running', 'success', 'failed', 'canceled', 'skipped'].includes(state)) {
      reply(400, { message: 'state does not have a valid value' });
    }
    const name = String(params.name ?? params.context ?? 'default');
    const last = this.statuses.filter((s) => s.sha === shaParam && s.name === name).at(-1);
    if (last && last.status === state) {
      const event = { pending: 'enqueue', running: 'run', success: 'succeed', failed: 'drop' }[
        state
      ];
      reply(400, { message: `Cannot transition status via :${event ?? state} from :${state}` });
    }
    const description = params.description === undefined ? null : String(params.description);
    if (description !== null && description.length > 255) {
      reply(400, { message: { description: ['is too long (maximum is 255 characters)'] } });
    }
    const s: GitlabStatusState = {
      id: this.nextId++,
      sha: shaParam,
      ref: params.ref === undefined ? null : String(params.ref),
      status: state,
      name,
      targetUrl: params.target_url === undefined ? null : String(params.target_url),
      description,
      createdAt: this.now(),
    };
    this.statuses.push(s);
    return { status: 201, body: this.statusView(s) };
  }

  private async createFromApi(params: Record<string, unknown>): Promise<FakeResponse> {
    const source = String(params.source_branch ?? '');
    const target = String(params.target_branch ?? '');
    const title = String(params.title ?? '');
    if (!source || !target || !title) {
      reply(400, { message: 'source_branch, target_branch and title are required' });
    }
    const taken = [...this.mergeRequests.values()].find(
      (mr) => mr.state === 'opened' && mr.sourceBranch === source && mr.targetBranch === target,
    );
    if (taken) {
      reply(409, {
        message: [
          `Another open merge request already exists for this source branch: !${taken.iid}`,
        ],
      });
    }
    if (this.gitDir && !(await this.branchHead(source))) {
      reply(400, { message: ['Source branch does not exist'] });
    }
    const mr = await this.createMr({
      sourceBranch: source,
      targetBranch: target,
      title,
      description: String(params.description ?? ''),
      removeSourceBranch:
        params.remove_source_branch === true || params.remove_source_branch === 'true',
    });
    this.emitMr(mr, 'open');
    return { status: 201, body: await this.view(mr) };
  }

  private async mergeFromApi(
    mr: GitlabMrState,
    params: Record<string, unknown>,
  ): Promise<FakeResponse> {
    const flag = (v: unknown) => v === true || v === 'true';
    if (mr.state !== 'opened' || mr.draft) reply(405, { message: '405 Method Not Allowed' });
    await this.refreshHead(mr);
    if (params.sha !== undefined && params.sha !== mr.sha) {
      reply(409, { message: `SHA does not match HEAD of source branch: ${mr.sha}` });
    }
    const wantsAuto =
      (!this.legacyAutoMerge && flag(params.auto_merge)) ||
      flag(params.merge_when_pipeline_succeeds);
    if (params.should_remove_source_branch !== undefined) {
      mr.removeSourceBranch = flag(params.should_remove_source_branch);
    }
    if (mr.blocked) {
      if (!wantsAuto) reply(405, { message: '405 Method Not Allowed' });
      mr.mergeWhenPipelineSucceeds = true;
      return ok(await this.view(mr));
    }
    const refused = await this.doMerge(mr, {
      squash: flag(params.squash),
      ...(params.merge_commit_message ? { message: String(params.merge_commit_message) } : {}),
    });
    if (refused) return refused;
    return ok(await this.view(mr));
  }

  /** The merge itself; a refusal as an answer, or undefined when merged. */
  private async doMerge(
    mr: GitlabMrState,
    options: { squash: boolean; message?: string },
  ): Promise<FakeResponse | undefined> {
    await this.refreshHead(mr);
    const message =
      options.message ??
      `Merge branch '${mr.sourceBranch}' into '${mr.targetBranch}'\n\n${mr.title}\n\nSee merge request ${this.project}!${mr.iid}`;
    let landed: string;
    if (this.gitDir) {
      const before = await this.branchHead(mr.targetBranch);
      const mode = options.squash
        ? 'squash'
        : this.mergeMethod === 'ff'
          ? 'ff'
          : this.mergeMethod === 'rebase_merge'
            ? 'ff-or-merge'
            : 'merge';
      const r = await this.gitMerge({ target: mr.targetBranch, head: mr.sha, mode, message });
      if (r === 'conflict' || r === 'not-ff') {
        return { status: 406, body: { message: 'Branch cannot be merged' } };
      }
      landed = r.sha;
      mr.mergeCommitSha = r.fastForward || options.squash ? null : r.sha;
      mr.squashCommitSha = options.squash ? r.sha : null;
      this.emitPush(mr.targetBranch, before ?? '0'.repeat(40), r.sha);
    } else {
      landed = this.mergeMethod === 'ff' ? mr.sha : fakeSha(`merge:${mr.iid}:${mr.sha}`);
      mr.mergeCommitSha = this.mergeMethod === 'ff' || options.squash ? null : landed;
      mr.squashCommitSha = options.squash ? fakeSha(`squash:${mr.iid}:${mr.sha}`) : null;
    }
    mr.state = 'merged';
    mr.mergedAt = this.now();
    mr.mergeWhenPipelineSucceeds = false;
    if (mr.removeSourceBranch) await this.deleteBranch(mr.sourceBranch);
    this.emitMr(mr, 'merge');
    void landed;
    return undefined;
  }

  private async createMr(input: {
    sourceBranch: string;
    targetBranch: string;
    title: string;
    description: string;
    removeSourceBranch: boolean;
    headSha?: string;
  }): Promise<GitlabMrState> {
    const iid = Math.max(0, ...this.mergeRequests.keys()) + 1;
    const sha =
      input.headSha ??
      (await this.branchHead(input.sourceBranch)) ??
      fakeSha(`head:${input.sourceBranch}`);
    const mr: GitlabMrState = {
      iid,
      id: this.nextId++,
      title: input.title,
      description: input.description,
      sourceBranch: input.sourceBranch,
      targetBranch: input.targetBranch,
      sha,
      state: 'opened',
      draft: /^(draft:|\[draft\])/i.test(input.title),
      sourceProjectId: this.projectId,
      mergeCommitSha: null,
      squashCommitSha: null,
      mergeWhenPipelineSucceeds: false,
      blocked: this.autoMerge === 'arm',
      mergeStatus: undefined,
      removeSourceBranch: input.removeSourceBranch,
      changedFiles: [],
      createdAt: this.now(),
      mergedAt: null,
    };
    this.mergeRequests.set(iid, mr);
    await this.writeMrRef(mr);
    return mr;
  }

  private async writeMrRef(mr: GitlabMrState): Promise<void> {
    if (this.gitDir && (await this.revParse(mr.sha))) {
      await this.git(['update-ref', `refs/merge-requests/${mr.iid}/head`, mr.sha]);
    }
  }

  private async branchHead(branch: string): Promise<string | undefined> {
    return this.gitDir ? this.revParse(`refs/heads/${branch}`) : undefined;
  }

  /** In git mode an open MR's head follows its branch (a push the test made directly). */
  private async refreshHead(mr: GitlabMrState): Promise<void> {
    if (!this.gitDir || mr.state !== 'opened') return;
    const head = await this.branchHead(mr.sourceBranch);
    if (head && head !== mr.sha) {
      mr.sha = head;
      await this.writeMrRef(mr);
    }
  }

  private async resolve(ref: string): Promise<string | undefined> {
    return this.gitDir ? this.revParse(ref) : undefined;
  }

  private async readAt(ref: string, file: string): Promise<Buffer | undefined> {
    if (this.gitDir) return this.showFile(ref, file);
    const text = this.files.get(ref)?.get(file);
    return text === undefined ? undefined : Buffer.from(text, 'utf8');
  }

  private async changedFiles(
    mr: GitlabMrState,
  ): Promise<Array<{ old: string; new: string; status: string }>> {
    if (!this.gitDir) return mr.changedFiles.map((f) => ({ old: f, new: f, status: 'M' }));
    const target = await this.branchHead(mr.targetBranch);
    if (!target) return [];
    const out = await this.git(['diff', '--name-status', '-M', `${target}...${mr.sha}`]);
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [status, a, b] = line.split('\t');
        return { status: status![0]!, old: a!, new: b ?? a! };
      });
  }

  private now(): string {
    // Distinct, increasing timestamps (sorting by created_at must be stable).
    this.clockTick += 1;
    return new Date(Date.UTC(2026, 0, 1, 0, 0, 0, this.clockTick)).toISOString();
  }

  private async view(mr: GitlabMrState, options: { list?: boolean } = {}): Promise<unknown> {
    await this.refreshHead(mr);
    const base = fixture('forges-api/gitlab-merge-request.json');
    const status =
      mr.mergeStatus ??
      (mr.state !== 'opened'
        ? 'not_open'
        : mr.draft
          ? 'draft_status'
          : mr.blocked
            ? 'ci_still_running'
            : 'mergeable');
    const target = this.gitDir ? await this.branchHead(mr.targetBranch) : undefined;
    const mergeBase =
      target && this.gitDir
        ? (await this.git(['merge-base', target, mr.sha]).catch(() => '')).trim() || target
        : fakeSha(`base:${mr.targetBranch}`);
    const v: Record<string, unknown> = {
      ...base,
      id: mr.id,
      iid: mr.iid,
      project_id: this.projectId,
      title: mr.title,
      description: mr.description,
      state: mr.state,
      created_at: mr.createdAt,
      updated_at: mr.createdAt,
      merged_at: mr.mergedAt,
      target_branch: mr.targetBranch,
      source_branch: mr.sourceBranch,
      source_project_id: mr.sourceProjectId,
      target_project_id: this.projectId,
      draft: mr.draft,
      work_in_progress: mr.draft,
      merge_when_pipeline_succeeds: mr.mergeWhenPipelineSucceeds,
      merge_status: status === 'mergeable' ? 'can_be_merged' : 'cannot_be_merged',
      detailed_merge_status: status,
      sha: mr.sha,
      merge_commit_sha: mr.mergeCommitSha,
      squash_commit_sha: mr.squashCommitSha,
      should_remove_source_branch: mr.removeSourceBranch,
      force_remove_source_branch: mr.removeSourceBranch,
      web_url: `${this.origin}/${this.project}/-/merge_requests/${mr.iid}`,
      references: {
        short: `!${mr.iid}`,
        relative: `!${mr.iid}`,
        full: `${this.project}!${mr.iid}`,
      },
      diff_refs: { base_sha: mergeBase, head_sha: mr.sha, start_sha: target ?? mergeBase },
    };
    // Some GitLab versions leave `sha` out of the list; the adapter re-reads the MR.
    if (options.list) delete v.sha;
    return v;
  }

  private noteView(mr: GitlabMrState, n: GitlabNoteState): unknown {
    return {
      ...fixture<Record<string, unknown>>('forges-api/gitlab-note.json'),
      id: n.id,
      type: null,
      body: n.body,
      system: n.system,
      created_at: n.createdAt,
      updated_at: n.updatedAt,
      noteable_id: mr.id,
      noteable_type: 'MergeRequest',
      noteable_iid: mr.iid,
      project_id: this.projectId,
      resolvable: false,
    };
  }

  private statusView(s: GitlabStatusState): unknown {
    return {
      id: s.id,
      sha: s.sha,
      ref: s.ref,
      status: s.status,
      name: s.name,
      target_url: s.targetUrl,
      description: s.description,
      created_at: s.createdAt,
      started_at: s.status === 'running' ? s.createdAt : null,
      finished_at: ['success', 'failed', 'canceled'].includes(s.status) ? s.createdAt : null,
      allow_failure: false,
      coverage: null,
      pipeline_id: null,
      author: { id: 1, username: 'stackswap-bot', name: 'stackswap', state: 'active' },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Webhooks

  protected signDelivery(event: string): Record<string, string> {
    const id = this.deliveryId();
    return {
      'x-gitlab-event': event,
      'x-gitlab-event-uuid': id,
      'x-gitlab-webhook-uuid': '00000000-0000-4000-8000-000000000001',
      'idempotency-key': id,
      'x-gitlab-instance': this.origin,
      'user-agent': 'GitLab/17.11.0',
      ...(this.webhook?.secret !== undefined ? { 'x-gitlab-token': this.webhook.secret } : {}),
    };
  }

  private projectHook(): Record<string, unknown> {
    const base = fixture<{ project: Record<string, unknown> }>(
      'webhooks/gitlab-merge-request.open.json',
    ).project;
    return {
      ...base,
      id: this.projectId,
      name: this.project.split('/').at(-1),
      path_with_namespace: this.project,
      default_branch: this.defaultBranch,
      web_url: `${this.origin}/${this.project}`,
      git_http_url: `${this.origin}/${this.project}.git`,
      http_url: `${this.origin}/${this.project}.git`,
    };
  }

  private emitMr(mr: GitlabMrState, action: string, extra: { oldrev?: string } = {}): void {
    const base = fixture<Record<string, unknown> & { object_attributes: Record<string, unknown> }>(
      'webhooks/gitlab-merge-request.open.json',
    );
    const attrs: Record<string, unknown> = {
      ...base.object_attributes,
      id: mr.id,
      iid: mr.iid,
      action,
      state: mr.state,
      title: mr.title,
      description: mr.description,
      source_branch: mr.sourceBranch,
      target_branch: mr.targetBranch,
      source_project_id: mr.sourceProjectId,
      target_project_id: this.projectId,
      draft: mr.draft,
      work_in_progress: mr.draft,
      merge_commit_sha: mr.mergeCommitSha,
      squash_commit_sha: mr.squashCommitSha,
      merge_when_pipeline_succeeds: mr.mergeWhenPipelineSucceeds,
      detailed_merge_status: mr.state === 'opened' ? 'mergeable' : 'not_open',
      url: `${this.origin}/${this.project}/-/merge_requests/${mr.iid}`,
      last_commit: {
        id: mr.sha,
        message: mr.title,
        title: mr.title,
        timestamp: mr.createdAt,
        url: `${this.origin}/${this.project}/-/commit/${mr.sha}`,
        author: { name: this.committer.name, email: this.committer.email },
      },
    };
    if (extra.oldrev !== undefined) attrs.oldrev = extra.oldrev;
    else delete attrs.oldrev;
    this.emit('Merge Request Hook', {
      ...base,
      object_kind: 'merge_request',
      event_type: 'merge_request',
      project: this.projectHook(),
      object_attributes: attrs,
      changes: action === 'update' && extra.oldrev === undefined ? {} : (base.changes ?? {}),
      repository: {
        name: this.project.split('/').at(-1),
        url: `${this.origin}/${this.project}.git`,
        homepage: `${this.origin}/${this.project}`,
      },
    });
  }

  private emitPush(branch: string, before: string, after: string): void {
    const base = fixture('webhooks/gitlab-push.json');
    this.emit('Push Hook', {
      ...base,
      object_kind: 'push',
      event_name: 'push',
      before,
      after,
      ref: `refs/heads/${branch}`,
      ref_protected: branch === this.defaultBranch,
      checkout_sha: after,
      project_id: this.projectId,
      project: this.projectHook(),
      commits: [],
      total_commits_count: 1,
    });
  }
}

function ok(body: unknown): FakeResponse {
  return { status: 200, body };
}
