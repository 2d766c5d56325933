/**
 * A fake GitHub REST API (plus the one GraphQL mutation src/forges/github.ts sends), with the
 * real answer shapes from test/fixtures/forges-api. See index.ts for the overview.
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

export interface FakeGithubOptions extends FakeForgeBaseOptions {
  /** "owner/repo" (default 'acme/config'); default branch 'main'. */
  repo?: string;
  defaultBranch?: string;
  /**
   * 'immediate' (default): PRs are `clean`, so enableAutoMerge merges directly.
   * 'arm': PRs are `blocked` by a required check: a plain merge gets 405, the GraphQL
   * mutation arms auto-merge and releaseAutoMerge(n) merges it later.
   * 'unavailable': `blocked`, and the repository does not allow auto-merge.
   */
  autoMerge?: 'immediate' | 'arm' | 'unavailable';
}

export interface GithubPullState {
  number: number;
  id: number;
  nodeId: string;
  title: string;
  body: string;
  head: string;
  base: string;
  sha: string;
  state: 'open' | 'closed';
  merged: boolean;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  draft: boolean;
  /** The head repository's full name (another one for a fork; null: a deleted fork). */
  headRepo: string | null;
  blocked: boolean;
  autoMerge: { merge_method: string } | null;
  /** Overrides mergeable_state (e.g. 'unknown', 'dirty'). */
  mergeableState: string | undefined;
  changedFiles: string[];
  createdAt: string;
}

export interface GithubCommentState {
  id: number;
  issue: number;
  body: string;
  createdAt: string;
  updatedAt: string;
}

export interface GithubStatusState {
  id: number;
  sha: string;
  state: string;
  context: string;
  description: string | null;
  targetUrl: string | null;
  createdAt: string;
}

export class FakeGithub extends FakeForgeBase {
  readonly repo: string;
  readonly defaultBranch: string;
  autoMerge: 'immediate' | 'arm' | 'unavailable';
  readonly pulls = new Map<number, GithubPullState>();
  readonly comments: GithubCommentState[] = [];
  readonly statuses: GithubStatusState[] = [];
  readonly files = new Map<string, Map<string, string>>();
  private nextId = 5000;
  private clockTick = 0;

  constructor(options: FakeGithubOptions = {}) {
    super(options);
    this.repo = options.repo ?? 'acme/config';
    this.defaultBranch = options.defaultBranch ?? 'main';
    this.autoMerge = options.autoMerge ?? 'immediate';
  }

  /** STACKSWAP_GITHUB_API_URL */
  get apiUrl(): string {
    return this.origin;
  }

  get owner(): string {
    return this.repo.split('/')[0]!;
  }

  // -------------------------------------------------------------------------------------------
  // The test's side

  async addPullRequest(input: {
    head: string;
    base?: string;
    title?: string;
    body?: string;
    headSha?: string;
    draft?: boolean;
    /** From a fork (another head repository). */
    fork?: boolean;
    changedFiles?: string[];
  }): Promise<GithubPullState> {
    const pr = await this.createPull({
      head: input.head,
      base: input.base ?? this.defaultBranch,
      title: input.title ?? `Update ${input.head}`,
      body: input.body ?? '',
      draft: input.draft ?? false,
      ...(input.headSha ? { headSha: input.headSha } : {}),
    });
    if (input.fork) pr.headRepo = `fork-owner/${this.repo.split('/')[1]}`;
    if (input.changedFiles) pr.changedFiles = input.changedFiles;
    this.emitPull(pr, 'opened');
    return pr;
  }

  async pushToPullRequest(number: number, headSha?: string): Promise<GithubPullState> {
    const pr = this.pull(number);
    const before = pr.sha;
    pr.sha = headSha ?? (await this.branchHead(pr.head)) ?? pr.sha;
    pr.autoMerge = null; // GitHub disarms auto-merge on a push by someone without write access; keep it simple: always.
    await this.writePullRef(pr);
    this.emitPull(pr, 'synchronize', { before, after: pr.sha });
    return pr;
  }

  closePullRequest(number: number): void {
    const pr = this.pull(number);
    pr.state = 'closed';
    this.emitPull(pr, 'closed');
  }

  async mergeByHand(number: number): Promise<GithubPullState> {
    const pr = this.pull(number);
    const r = await this.doMerge(pr, 'merge');
    if ('status' in r)
      throw new Error(`fake github: cannot merge #${number}: ${JSON.stringify(r.body)}`);
    return pr;
  }

  /** The required check passed: an armed PR merges now; others become `clean`. */
  async releaseAutoMerge(number: number): Promise<GithubPullState> {
    const pr = this.pull(number);
    pr.blocked = false;
    if (pr.autoMerge && pr.state === 'open') {
      const r = await this.doMerge(pr, pr.autoMerge.merge_method);
      if ('status' in r)
        throw new Error(`fake github: cannot merge #${number}: ${JSON.stringify(r.body)}`);
    }
    return pr;
  }

  setFile(ref: string, file: string, content: string): void {
    if (!this.files.has(ref)) this.files.set(ref, new Map());
    this.files.get(ref)!.set(file, content);
  }

  pull(number: number): GithubPullState {
    const pr = this.pulls.get(number);
    if (!pr) throw new Error(`fake github: no PR #${number}`);
    return pr;
  }

  commentsOf(number: number): GithubCommentState[] {
    return this.comments.filter((c) => c.issue === number);
  }

  statusesOf(sha: string, context?: string): GithubStatusState[] {
    return this.statuses.filter(
      (s) => s.sha === sha && (context === undefined || s.context === context),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Auth

  protected authorize(call: RecordedCall): FakeResponse | undefined {
    const auth = String(call.headers.authorization ?? '');
    const token = /^(token|bearer) /i.test(auth)
      ? auth.replace(/^(token|bearer) /i, '')
      : undefined;
    if (token !== undefined && this.tokens.has(token)) return undefined;
    const scopes = token !== undefined ? this.limitedTokens[token] : undefined;
    if (!scopes) {
      return {
        status: 401,
        body: {
          message: 'Bad credentials',
          documentation_url: 'https://docs.github.com/rest',
          status: '401',
        },
      };
    }
    if (call.path === '/user') return undefined;
    if (scopes.includes('repo:status') && /\/(statuses|status)(\/|$)/.test(call.path)) {
      return undefined;
    }
    return {
      status: 403,
      headers: { 'x-accepted-oauth-scopes': 'repo', 'x-oauth-scopes': scopes.join(', ') },
      body: {
        message: 'Resource not accessible by personal access token',
        documentation_url: 'https://docs.github.com/rest',
        status: '403',
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Routes

  protected async route(call: RecordedCall): Promise<FakeResponse> {
    const m = call.method;
    const body = (typeof call.body === 'object' && call.body !== null ? call.body : {}) as Record<
      string,
      unknown
    >;
    const params = { ...call.query, ...body } as Record<string, unknown>;
    if (call.path === '/user' && m === 'GET') {
      const token = String(call.headers.authorization ?? '').replace(/^(token|bearer) /i, '');
      const scopes = this.tokens.has(token) ? ['repo'] : (this.limitedTokens[token] ?? []);
      return {
        status: 200,
        body: { login: 'stackswap-bot', id: 1, type: 'User' },
        headers: { 'x-oauth-scopes': scopes.join(', ') },
      };
    }
    if (call.path === '/graphql' && m === 'POST') return this.graphql(body);

    const seg = call.rawPath
      .split('/')
      .slice(1)
      .map((s) => decodeURIComponent(s));
    if (seg[0] !== 'repos' || `${seg[1]}/${seg[2]}` !== this.repo) {
      reply(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    }
    const rest = seg.slice(3);

    if (rest.length === 0 && m === 'GET') {
      return ok({
        full_name: this.repo,
        default_branch: this.defaultBranch,
        allow_auto_merge: this.autoMerge !== 'unavailable',
        html_url: `${this.origin}/${this.repo}`,
      });
    }
    if (rest[0] === 'pulls') {
      if (rest.length === 1 && m === 'GET') {
        const state = String(params.state ?? 'open');
        const headFilter = params.head === undefined ? undefined : String(params.head);
        const list = [...this.pulls.values()]
          .filter(
            (pr) =>
              (state === 'all' || pr.state === state) &&
              (headFilter === undefined ||
                headFilter === `${(pr.headRepo ?? '').split('/')[0]}:${pr.head}`) &&
              (params.base === undefined || params.base === pr.base),
          )
          .sort((a, b) => b.number - a.number);
        const views = await Promise.all(list.map((pr) => this.view(pr, { list: true })));
        return paginate(views, call, this.origin, 30);
      }
      if (rest.length === 1 && m === 'POST') return this.createFromApi(params);
      const pr = this.pulls.get(Number(rest[1]));
      if (!pr)
        reply(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
      if (rest.length === 2 && m === 'GET') return ok(await this.view(pr));
      if (rest.length === 2 && m === 'PATCH') {
        if (params.title !== undefined) pr.title = String(params.title);
        if (params.body !== undefined) pr.body = String(params.body);
        return ok(await this.view(pr));
      }
      if (rest[2] === 'files' && m === 'GET') {
        const files = await this.changedFiles(pr);
        return paginate(
          files.map((f) => ({
            sha: fakeSha(`file:${f.new}`),
            filename: f.new,
            status:
              { A: 'added', D: 'removed', R: 'renamed', M: 'modified' }[f.status] ?? 'modified',
            additions: 1,
            deletions: 1,
            changes: 2,
            ...(f.status === 'R' ? { previous_filename: f.old } : {}),
          })),
          call,
          this.origin,
          30,
        );
      }
      if (rest[2] === 'merge' && m === 'PUT') return this.mergeFromApi(pr, params);
    }
    if (rest[0] === 'issues' && rest[1] === 'comments' && rest.length === 3) {
      const c = this.comments.find((x) => x.id === Number(rest[2]));
      if (!c) reply(404, { message: 'Not Found' });
      if (m === 'PATCH') {
        const text = String(params.body ?? '');
        this.checkLength(text);
        c.body = text;
        c.updatedAt = this.now();
        return ok(this.commentView(c));
      }
      if (m === 'DELETE') {
        this.comments.splice(this.comments.indexOf(c), 1);
        return { status: 204 };
      }
      if (m === 'GET') return ok(this.commentView(c));
    }
    if (rest[0] === 'issues' && rest[2] === 'comments' && rest.length === 3) {
      const n = Number(rest[1]);
      if (!this.pulls.has(n)) reply(404, { message: 'Not Found' });
      if (m === 'GET') {
        return paginate(
          this.comments.filter((c) => c.issue === n).map((c) => this.commentView(c)),
          call,
          this.origin,
          30,
        );
      }
      if (m === 'POST') {
        const text = String(params.body ?? '');
        this.checkLength(text);
        const now = this.now();
        const c = { id: this.nextId++, issue: n, body: text, createdAt: now, updatedAt: now };
        this.comments.push(c);
        return { status: 201, body: this.commentView(c) };
      }
    }
    if (rest[0] === 'statuses' && rest.length === 2 && m === 'POST') {
      const state = String(params.state ?? '');
      if (!['error', 'failure', 'pending', 'success'].includes(state)) {
        reply(422, { message: 'Validation Failed', errors: [{ field: 'state', code: 'invalid' }] });
      }
      const description = params.description === undefined ? null : String(params.description);
      if (description !== null && description.length > 140) {
        reply(422, {
          message: 'Validation Failed',
          errors: [
            {
              resource: 'Status',
              code: 'custom',
              field: 'description',
              message: 'description is too long (maximum is 140 characters)',
            },
          ],
        });
      }
      const s: GithubStatusState = {
        id: this.nextId++,
        sha: rest[1]!,
        state,
        context: String(params.context ?? 'default'),
        description,
        targetUrl: params.target_url === undefined ? null : String(params.target_url),
        createdAt: this.now(),
      };
      this.statuses.push(s);
      return { status: 201, body: this.statusView(s) };
    }
    if (rest[0] === 'commits' && rest.length === 3 && rest[2] === 'statuses' && m === 'GET') {
      const sha = (await this.resolve(rest[1]!)) ?? rest[1]!;
      return paginate(
        this.statuses
          .filter((s) => s.sha === sha)
          .reverse()
          .map((s) => this.statusView(s)),
        call,
        this.origin,
        30,
      );
    }
    if (rest[0] === 'commits' && rest.length === 3 && rest[2] === 'status' && m === 'GET') {
      const sha = (await this.resolve(rest[1]!)) ?? rest[1]!;
      const latest = new Map<string, GithubStatusState>();
      for (const s of this.statuses.filter((x) => x.sha === sha))
        latest.set(s.context.toLowerCase(), s);
      const all = [...latest.values()];
      const state = all.some((s) => s.state === 'error' || s.state === 'failure')
        ? 'failure'
        : all.length === 0 || all.some((s) => s.state === 'pending')
          ? 'pending'
          : 'success';
      return ok({
        state,
        sha,
        total_count: all.length,
        statuses: all.map((s) => this.statusView(s)),
      });
    }
    if (rest[0] === 'contents' && rest.length >= 2 && m === 'GET') {
      const file = rest.slice(1).join('/');
      const ref = String(params.ref ?? this.defaultBranch);
      const content = await this.readAt(ref, file);
      if (content === undefined)
        reply(404, {
          message: 'Not Found',
          documentation_url: 'https://docs.github.com/rest/repos/contents#get-repository-content',
          status: '404',
        });
      if (/application\/vnd\.github(\.v3)?\.raw/.test(String(call.headers.accept ?? ''))) {
        return {
          status: 200,
          body: content.toString('utf8'),
          headers: { 'content-type': 'application/vnd.github.raw' },
        };
      }
      const big = content.length > 1024 * 1024;
      return ok({
        type: 'file',
        encoding: big ? 'none' : 'base64',
        size: content.length,
        name: file.split('/').at(-1),
        path: file,
        content: big ? '' : content.toString('base64').replace(/(.{60})/g, '$1\n'),
        sha: fakeSha(`blob:${file}:${content.length}`),
      });
    }
    reply(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  }

  private checkLength(text: string): void {
    if (Array.from(text).length > 65_536) {
      reply(422, {
        message: 'Validation Failed',
        errors: [
          {
            resource: 'IssueComment',
            code: 'unprocessable',
            field: 'data',
            message: 'Body is too long (maximum is 65536 characters)',
          },
        ],
        documentation_url: 'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
        status: '422',
      });
    }
  }

  private async createFromApi(params: Record<string, unknown>): Promise<FakeResponse> {
    const head = String(params.head ?? '').replace(/^[^:]+:/, '');
    const base = String(params.base ?? '');
    const title = String(params.title ?? '');
    if (!head || !base || !title) {
      reply(422, {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', code: 'missing_field' }],
      });
    }
    const taken = [...this.pulls.values()].find(
      (pr) => pr.state === 'open' && pr.head === head && pr.base === base,
    );
    if (taken) {
      reply(422, {
        message: 'Validation Failed',
        errors: [
          {
            resource: 'PullRequest',
            code: 'custom',
            message: `A pull request already exists for ${this.owner}:${head}.`,
          },
        ],
        documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
        status: '422',
      });
    }
    if (this.gitDir && !(await this.branchHead(head))) {
      reply(422, {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }],
      });
    }
    const pr = await this.createPull({
      head,
      base,
      title,
      body: String(params.body ?? ''),
      draft: params.draft === true,
    });
    this.emitPull(pr, 'opened');
    return { status: 201, body: await this.view(pr) };
  }

  private async mergeFromApi(
    pr: GithubPullState,
    params: Record<string, unknown>,
  ): Promise<FakeResponse> {
    await this.refreshHead(pr);
    if (pr.state !== 'open' || pr.draft) {
      reply(405, {
        message: 'Pull Request is not mergeable',
        documentation_url: 'https://docs.github.com/rest/pulls/pulls#merge-a-pull-request',
        status: '405',
      });
    }
    if (params.sha !== undefined && params.sha !== pr.sha) {
      reply(409, {
        message: 'Head branch was modified. Review and try the merge again.',
        documentation_url: 'https://docs.github.com/rest/pulls/pulls#merge-a-pull-request',
        status: '409',
      });
    }
    if (pr.blocked) {
      reply(405, {
        message: 'Required status check "ci" is expected.',
        documentation_url: 'https://docs.github.com/rest/pulls/pulls#merge-a-pull-request',
        status: '405',
      });
    }
    const r = await this.doMerge(
      pr,
      String(params.merge_method ?? 'merge'),
      params.commit_message ? String(params.commit_message) : undefined,
    );
    if ('status' in r) return r;
    return ok({ sha: r.sha, merged: true, message: 'Pull Request successfully merged' });
  }

  private async doMerge(
    pr: GithubPullState,
    method: string,
    message?: string,
  ): Promise<{ sha: string } | FakeResponse> {
    await this.refreshHead(pr);
    const text =
      message ?? `Merge pull request #${pr.number} from ${this.owner}/${pr.head}\n\n${pr.title}`;
    let sha: string;
    if (this.gitDir) {
      const before = await this.branchHead(pr.base);
      const mode = method === 'squash' ? 'squash' : method === 'rebase' ? 'ff-or-merge' : 'merge';
      const r = await this.gitMerge({ target: pr.base, head: pr.sha, mode, message: text });
      if (r === 'conflict' || r === 'not-ff') {
        return { status: 405, body: { message: 'Pull Request is not mergeable', status: '405' } };
      }
      sha = r.sha;
      this.emitPush(pr.base, before ?? '0'.repeat(40), sha);
    } else {
      sha = fakeSha(`merge:${pr.number}:${pr.sha}:${method}`);
    }
    pr.state = 'closed';
    pr.merged = true;
    pr.mergedAt = this.now();
    pr.mergeCommitSha = sha;
    pr.autoMerge = null;
    this.emitPull(pr, 'closed');
    return { sha };
  }

  private graphql(body: Record<string, unknown>): FakeResponse {
    const query = String(body.query ?? '');
    const vars = (body.variables ?? {}) as Record<string, unknown>;
    const fail = (message: string, type = 'UNPROCESSABLE'): FakeResponse => ({
      status: 200,
      body: {
        data: { enablePullRequestAutoMerge: null },
        errors: [
          {
            type,
            path: ['enablePullRequestAutoMerge'],
            locations: [{ line: 2, column: 3 }],
            message,
          },
        ],
      },
    });
    if (!/enablePullRequestAutoMerge/.test(query)) {
      return {
        status: 200,
        body: { errors: [{ message: 'fake github: only enablePullRequestAutoMerge is served' }] },
      };
    }
    const pr = [...this.pulls.values()].find((p) => p.nodeId === vars.pullRequestId);
    if (!pr)
      return fail(
        `Could not resolve to a node with the global id of '${String(vars.pullRequestId)}'`,
        'NOT_FOUND',
      );
    if (this.autoMerge === 'unavailable')
      return fail('Pull request Auto merge is not allowed for this repository');
    if (!pr.blocked) return fail('Pull request Pull request is in clean status');
    if (vars.expectedHeadOid !== undefined && vars.expectedHeadOid !== pr.sha) {
      return fail('Pull request head has been modified');
    }
    pr.autoMerge = { merge_method: String(vars.mergeMethod ?? 'MERGE').toLowerCase() };
    this.emitPull(pr, 'auto_merge_enabled');
    return {
      status: 200,
      body: {
        data: {
          enablePullRequestAutoMerge: {
            pullRequest: { number: pr.number, autoMergeRequest: { enabledAt: this.now() } },
          },
        },
      },
    };
  }

  private async createPull(input: {
    head: string;
    base: string;
    title: string;
    body: string;
    draft: boolean;
    headSha?: string;
  }): Promise<GithubPullState> {
    const number = Math.max(0, ...this.pulls.keys()) + 1;
    const pr: GithubPullState = {
      number,
      id: this.nextId++,
      nodeId: `PR_kwFake${number}`,
      title: input.title,
      body: input.body,
      head: input.head,
      base: input.base,
      sha: input.headSha ?? (await this.branchHead(input.head)) ?? fakeSha(`head:${input.head}`),
      state: 'open',
      merged: false,
      mergedAt: null,
      mergeCommitSha: null,
      draft: input.draft,
      headRepo: this.repo,
      blocked: this.autoMerge !== 'immediate',
      autoMerge: null,
      mergeableState: undefined,
      changedFiles: [],
      createdAt: this.now(),
    };
    this.pulls.set(number, pr);
    await this.writePullRef(pr);
    return pr;
  }

  private async writePullRef(pr: GithubPullState): Promise<void> {
    if (this.gitDir && (await this.revParse(pr.sha))) {
      await this.git(['update-ref', `refs/pull/${pr.number}/head`, pr.sha]);
    }
  }

  private async branchHead(branch: string): Promise<string | undefined> {
    return this.gitDir ? this.revParse(`refs/heads/${branch}`) : undefined;
  }

  private async refreshHead(pr: GithubPullState): Promise<void> {
    if (!this.gitDir || pr.state !== 'open') return;
    const head = await this.branchHead(pr.head);
    if (head && head !== pr.sha) {
      pr.sha = head;
      await this.writePullRef(pr);
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
    pr: GithubPullState,
  ): Promise<Array<{ old: string; new: string; status: string }>> {
    if (!this.gitDir) return pr.changedFiles.map((f) => ({ old: f, new: f, status: 'M' }));
    const target = await this.branchHead(pr.base);
    if (!target) return [];
    const out = await this.git(['diff', '--name-status', '-M', `${target}...${pr.sha}`]);
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [status, a, b] = line.split('\t');
        return { status: status![0]!, old: a!, new: b ?? a! };
      });
  }

  private now(): string {
    this.clockTick += 1;
    return new Date(Date.UTC(2026, 0, 1, 0, 0, this.clockTick)).toISOString().replace('.000Z', 'Z');
  }

  private repoView(fullName: string | null): unknown {
    if (fullName === null) return null;
    const [owner, name] = fullName.split('/');
    return {
      id: fullName === this.repo ? 1 : 2,
      name,
      full_name: fullName,
      owner: { login: owner, id: fullName === this.repo ? 10 : 20, type: 'Organization' },
      private: true,
      fork: fullName !== this.repo,
      html_url: `${this.origin}/${fullName}`,
      clone_url: `${this.origin}/${fullName}.git`,
      default_branch: this.defaultBranch,
    };
  }

  private async view(pr: GithubPullState, options: { list?: boolean } = {}): Promise<unknown> {
    await this.refreshHead(pr);
    const base = fixture('forges-api/github-pull.json');
    const baseSha = (await this.branchHead(pr.base)) ?? fakeSha(`base:${pr.base}`);
    const state =
      pr.mergeableState ??
      (pr.merged || pr.state === 'closed'
        ? 'unknown'
        : pr.draft
          ? 'draft'
          : pr.blocked
            ? 'blocked'
            : 'clean');
    const v: Record<string, unknown> = {
      ...base,
      url: `${this.origin}/repos/${this.repo}/pulls/${pr.number}`,
      id: pr.id,
      node_id: pr.nodeId,
      html_url: `${this.origin}/${this.repo}/pull/${pr.number}`,
      number: pr.number,
      state: pr.state,
      title: pr.title,
      body: pr.body,
      created_at: pr.createdAt,
      updated_at: pr.createdAt,
      closed_at: pr.state === 'closed' ? (pr.mergedAt ?? pr.createdAt) : null,
      merged_at: pr.mergedAt,
      // Before the merge GitHub shows its test merge commit here: meaningless to stackswap.
      merge_commit_sha: pr.mergeCommitSha ?? fakeSha(`test-merge:${pr.number}:${pr.sha}`),
      draft: pr.draft,
      merged: pr.merged,
      mergeable: pr.state === 'open' ? state !== 'dirty' : null,
      mergeable_state: state,
      auto_merge: pr.autoMerge
        ? {
            enabled_by: { login: 'stackswap-bot' },
            merge_method: pr.autoMerge.merge_method,
            commit_title: null,
            commit_message: null,
          }
        : null,
      head: {
        label: `${(pr.headRepo ?? 'unknown').split('/')[0]}:${pr.head}`,
        ref: pr.head,
        sha: pr.sha,
        repo: this.repoView(pr.headRepo),
      },
      base: {
        label: `${this.owner}:${pr.base}`,
        ref: pr.base,
        sha: baseSha,
        repo: this.repoView(this.repo),
      },
    };
    if (options.list) {
      delete v.mergeable;
      delete v.mergeable_state;
      delete v.merged;
    }
    return v;
  }

  private commentView(c: GithubCommentState): unknown {
    return {
      id: c.id,
      node_id: `IC_kwFake${c.id}`,
      url: `${this.origin}/repos/${this.repo}/issues/comments/${c.id}`,
      html_url: `${this.origin}/${this.repo}/pull/${c.issue}#issuecomment-${c.id}`,
      issue_url: `${this.origin}/repos/${this.repo}/issues/${c.issue}`,
      body: c.body,
      user: { login: 'stackswap-bot', id: 1, type: 'User' },
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      author_association: 'MEMBER',
    };
  }

  private statusView(s: GithubStatusState): unknown {
    return {
      url: `${this.origin}/repos/${this.repo}/statuses/${s.sha}`,
      id: s.id,
      node_id: `SC_kwFake${s.id}`,
      state: s.state,
      description: s.description,
      target_url: s.targetUrl,
      context: s.context,
      created_at: s.createdAt,
      updated_at: s.createdAt,
      creator: { login: 'stackswap-bot', id: 1, type: 'User' },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Webhooks

  protected signDelivery(event: string, body: string): Record<string, string> {
    return {
      'x-github-event': event,
      'x-github-delivery': this.deliveryId(),
      'x-github-hook-id': '424242',
      'x-github-hook-installation-target-type': 'repository',
      'user-agent': 'GitHub-Hookshot/fake',
      ...(this.webhook?.secret !== undefined ? { 'x-hub-signature-256': this.hmac(body) } : {}),
    };
  }

  private emitPull(
    pr: GithubPullState,
    action: string,
    extra: { before?: string; after?: string } = {},
  ): void {
    const base = fixture<Record<string, unknown>>('webhooks/github-pull_request.opened.json');
    const snapshot = { ...pr };
    this.emit(
      'pull_request',
      this.view(snapshot).then((pull) => ({
        ...base,
        action,
        number: pr.number,
        pull_request: pull,
        repository: { ...(base.repository as object), ...(this.repoView(this.repo) as object) },
        ...(extra.before ? { before: extra.before, after: extra.after } : {}),
      })),
    );
  }

  private emitPush(branch: string, before: string, after: string): void {
    const base = fixture<Record<string, unknown>>('webhooks/github-push.json');
    this.emit('push', {
      ...base,
      ref: `refs/heads/${branch}`,
      before,
      after,
      created: false,
      deleted: false,
      forced: false,
      repository: { ...(base.repository as object), ...(this.repoView(this.repo) as object) },
      head_commit: { id: after, message: 'merge', timestamp: this.now() },
      commits: [],
    });
  }
}

function ok(body: unknown): FakeResponse {
  return { status: 200, body };
}
