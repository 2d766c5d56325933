/**
 * What the GitLab and GitHub fakes share: the node:http server on 127.0.0.1 (random port), the
 * call log, injected faults, the optional bare git repository the merges happen in, and the
 * webhook queue. See index.ts for how a test uses them.
 */
import { execFile } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RecordedCall {
  method: string;
  /** Path without the query, decoded once (so `group%2Fconfig` reads `group/config`). */
  path: string;
  /** The raw path as sent, with %2F etc. */
  rawPath: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, else the text ('' when none). */
  body: unknown;
  /** What the fake answered. */
  status: number;
}

export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A fault: answer `response` (or never answer: 'hang') to the next `times` matching calls. */
export interface Fault {
  method?: string;
  /** Matched against the decoded path. */
  path: RegExp | string;
  response: FakeResponse | 'hang';
  times?: number;
}

export interface WebhookDelivery {
  /** The forge's event header value: 'Merge Request Hook' / 'pull_request', 'Push Hook' / 'push'. */
  event: string;
  headers: Record<string, string>;
  /** The raw JSON text, as it is signed and sent. */
  body: string;
  /** The HTTP status the receiver answered (undefined for a callback, or a transport error). */
  status?: number;
  error?: string;
}

export interface WebhookOptions {
  /** POSTed to with the forge's real headers (token / HMAC signature, delivery id). */
  url?: string;
  /** GitLab: sent verbatim as X-Gitlab-Token. GitHub: the HMAC key for X-Hub-Signature-256. */
  secret?: string;
  /** Called with each delivery instead of (or as well as) the POST. */
  callback?: (delivery: WebhookDelivery) => void | Promise<void>;
}

export interface FakeForgeBaseOptions {
  /** Tokens with every scope. Default: ['test-token']. */
  tokens?: string[];
  /**
   * Tokens with only the given scopes. GitLab: 'read_api' may GET, anything else gets 403
   * insufficient_scope. GitHub (classic scopes): 'repo:status' may set statuses only;
   * 'read:user' may only GET /user.
   */
  limitedTokens?: Record<string, string[]>;
  /**
   * A bare git repository: merges are made in it with git, heads are read from its branches,
   * files are read from it. Without one, MR heads and files are what the test sets.
   */
  gitDir?: string;
  webhook?: WebhookOptions;
  /** Identity of the merge commits the fake writes. */
  committer?: { name: string; email: string };
}

const FIXTURES = path.join(import.meta.dirname, '../../fixtures');

/** A parsed copy of a fixture under test/fixtures. */
export function fixture<T = Record<string, unknown>>(relative: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES, relative), 'utf8')) as T;
}

export class HttpReply {
  constructor(readonly response: FakeResponse) {}
}

/** Throw from a handler to answer with this status. */
export function reply(status: number, body?: unknown, headers?: Record<string, string>): never {
  throw new HttpReply({
    status,
    ...(body !== undefined ? { body } : {}),
    ...(headers ? { headers } : {}),
  });
}

export abstract class FakeForgeBase {
  /** Every call, in order (also the ones answered by a fault or refused for the token). */
  readonly calls: RecordedCall[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  protected readonly tokens: Set<string>;
  protected readonly limitedTokens: Record<string, string[]>;
  readonly gitDir: string | undefined;
  private readonly faults: Array<Fault & { left: number }> = [];
  private server: http.Server | undefined;
  private readonly hanging = new Set<http.ServerResponse>();
  private webhookChain: Promise<void> = Promise.resolve();
  protected readonly webhook: WebhookOptions | undefined;
  protected readonly committer: { name: string; email: string };
  private port = 0;

  constructor(options: FakeForgeBaseOptions) {
    this.tokens = new Set(options.tokens ?? ['test-token']);
    this.limitedTokens = options.limitedTokens ?? {};
    this.gitDir = options.gitDir;
    this.webhook = options.webhook;
    this.committer = options.committer ?? { name: 'Fake Forge', email: 'forge@example.invalid' };
  }

  /** http://127.0.0.1:<port> */
  get origin(): string {
    if (!this.port) throw new Error('fake forge not started');
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    await this.webhookChain;
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  /** Queue a fault; it applies to the next `times` (default 1) calls that match. */
  fail(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  /** Calls matching method and path (a RegExp, or a string the path must equal). */
  callsTo(method: string, pathPattern: RegExp | string): RecordedCall[] {
    return this.calls.filter(
      (c) =>
        c.method === method &&
        (typeof pathPattern === 'string' ? c.path === pathPattern : pathPattern.test(c.path)),
    );
  }

  /** Resolves when every queued webhook has been delivered. */
  async idle(): Promise<void> {
    let chain: Promise<void>;
    do {
      chain = this.webhookChain;
      await chain;
    } while (chain !== this.webhookChain);
  }

  // -------------------------------------------------------------------------------------------

  protected abstract route(call: RecordedCall): Promise<FakeResponse>;
  /** 401/403 for the token, or undefined to go on. */
  protected abstract authorize(call: RecordedCall): FakeResponse | undefined;
  protected abstract signDelivery(event: string, body: string): Record<string, string>;

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let body: unknown = text;
    if (text && /json/.test(req.headers['content-type'] ?? '')) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    } else if (text && /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
      body = Object.fromEntries(new URLSearchParams(text));
    }
    const call: RecordedCall = {
      method: (req.method ?? 'GET').toUpperCase(),
      rawPath: url.pathname,
      path: safeDecode(url.pathname),
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
      status: 0,
    };
    this.calls.push(call);

    const fault = this.faults.find(
      (f) =>
        f.left > 0 &&
        (f.method === undefined || f.method.toUpperCase() === call.method) &&
        (typeof f.path === 'string' ? f.path === call.path : f.path.test(call.path)),
    );
    let response: FakeResponse;
    if (fault) {
      fault.left -= 1;
      if (fault.response === 'hang') {
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      }
      response = fault.response;
    } else {
      try {
        response = this.authorize(call) ?? (await this.route(call));
      } catch (error) {
        if (error instanceof HttpReply) response = error.response;
        else {
          response = { status: 500, body: { message: `fake forge: ${String(error)}` } };
        }
      }
    }
    call.status = response.status;
    const headers: Record<string, string> = { ...response.headers };
    let payload = '';
    if (response.body !== undefined) {
      if (typeof response.body === 'string' && headers['content-type']) payload = response.body;
      else {
        payload = JSON.stringify(response.body);
        headers['content-type'] ??= 'application/json';
      }
    }
    res.writeHead(response.status, headers);
    res.end(payload);
  }

  /**
   * Queues a webhook; delivered in order, after the current answer. `payload` may be a
   * promise (built from a snapshot taken when the event happened).
   */
  protected emit(event: string, payload: unknown): void {
    const options = this.webhook;
    if (!options || (!options.url && !options.callback)) return;
    const built = Promise.resolve(payload);
    this.webhookChain = this.webhookChain.then(async () => {
      const body = JSON.stringify(await built);
      const delivery: WebhookDelivery = {
        event,
        headers: { 'content-type': 'application/json', ...this.signDelivery(event, body) },
        body,
      };
      this.deliveries.push(delivery);
      // Let the API answer that caused it reach the client first, as a real forge would.
      await new Promise((r) => setImmediate(r));
      try {
        if (options.callback) await options.callback(delivery);
        if (options.url) {
          const r = await fetch(options.url, {
            method: 'POST',
            headers: delivery.headers,
            body,
          });
          delivery.status = r.status;
          await r.body?.cancel();
        }
      } catch (error) {
        delivery.error = String(error);
      }
    });
  }

  protected deliveryId(): string {
    return randomUUID();
  }

  protected hmac(body: string): string {
    return `sha256=${createHmac('sha256', this.webhook?.secret ?? '')
      .update(body)
      .digest('hex')}`;
  }

  // -------------------------------------------------------------------------------------------
  // git, when a bare repository is given

  protected async git(args: string[], env: Record<string, string> = {}): Promise<string> {
    if (!this.gitDir) throw new Error('fake forge: no gitDir');
    const { stdout } = await run('git', ['--git-dir', this.gitDir, ...args], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LC_ALL: 'C',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_NAME: this.committer.name,
        GIT_AUTHOR_EMAIL: this.committer.email,
        GIT_COMMITTER_NAME: this.committer.name,
        GIT_COMMITTER_EMAIL: this.committer.email,
        ...env,
      },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  }

  /** The commit `ref` names, or undefined. */
  protected async revParse(ref: string): Promise<string | undefined> {
    try {
      return (await this.git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim();
    } catch {
      return undefined;
    }
  }

  protected async showFile(ref: string, file: string): Promise<Buffer | undefined> {
    if (!this.gitDir) return undefined;
    try {
      const { stdout } = await run('git', ['--git-dir', this.gitDir, 'show', `${ref}:${file}`], {
        encoding: 'buffer',
        env: { PATH: process.env.PATH, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    } catch {
      return undefined;
    }
  }

  /**
   * Merges `head` into branch `target` in the bare repository, as the forge would: a
   * fast-forward when `fastForward` and possible, else a merge commit (or a squash commit).
   * Answers the new target head, whether it fast-forwarded, or 'conflict' / 'not-ff'.
   */
  protected async gitMerge(input: {
    target: string;
    head: string;
    mode: 'merge' | 'ff' | 'squash' | 'ff-or-merge';
    message: string;
  }): Promise<{ sha: string; fastForward: boolean } | 'conflict' | 'not-ff'> {
    const targetRef = `refs/heads/${input.target}`;
    const old = await this.revParse(targetRef);
    if (!old) throw new Error(`fake forge: no branch ${input.target} in ${this.gitDir}`);
    const canFf = await this.git(['merge-base', '--is-ancestor', old, input.head]).then(
      () => true,
      () => false,
    );
    if (input.mode === 'ff' || (input.mode === 'ff-or-merge' && canFf)) {
      if (!canFf) return 'not-ff';
      await this.git(['update-ref', targetRef, input.head, old]);
      return { sha: input.head, fastForward: true };
    }
    let tree: string;
    try {
      tree = (await this.git(['merge-tree', '--write-tree', old, input.head])).split('\n')[0]!;
    } catch {
      return 'conflict';
    }
    const parents = input.mode === 'squash' ? ['-p', old] : ['-p', old, '-p', input.head];
    const sha = (
      await this.git(['commit-tree', tree.trim(), ...parents, '-m', input.message])
    ).trim();
    await this.git(['update-ref', targetRef, sha, old]);
    return { sha, fastForward: false };
  }

  protected async deleteBranch(branch: string): Promise<void> {
    if (this.gitDir) await this.git(['update-ref', '-d', `refs/heads/${branch}`]).catch(() => {});
  }
}

function safeDecode(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

/** Link-header pagination over `items` (page, per_page as both forges take them). */
export function paginate<T>(
  items: readonly T[],
  call: RecordedCall,
  origin: string,
  defaultPerPage: number,
): FakeResponse {
  const perPage = Math.min(100, Number(call.query.per_page ?? defaultPerPage) || defaultPerPage);
  const page = Math.max(1, Number(call.query.page ?? 1) || 1);
  const slice = items.slice((page - 1) * perPage, page * perPage);
  const headers: Record<string, string> = {
    'x-page': String(page),
    'x-per-page': String(perPage),
    'x-total': String(items.length),
    'x-total-pages': String(Math.max(1, Math.ceil(items.length / perPage))),
  };
  if (page * perPage < items.length) {
    const next = new URLSearchParams({
      ...call.query,
      page: String(page + 1),
      per_page: String(perPage),
    });
    headers.link = `<${origin}${call.rawPath}?${next}>; rel="next"`;
    headers['x-next-page'] = String(page + 1);
  }
  return { status: 200, body: slice, headers };
}

/** A 40-hex id that looks like a commit, for fakes without a git repository. */
export function fakeSha(seed: string): string {
  let h = 0x811c9dc5;
  let out = '';
  for (let round = 0; out.length < 40; round += 1) {
    for (const ch of `${seed}:${round}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out.slice(0, 40);
}
