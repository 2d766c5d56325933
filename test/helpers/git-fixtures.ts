/**
 * Real git fixtures for the config-repo tests: a temporary bare origin seeded with files, a
 * second clone that pushes racing commits, server-side hooks, and a smart-HTTP server on
 * 127.0.0.1 (node:http + `git http-backend`) that demands a token. Fixtures drive plain `git`
 * through child_process with a hermetic env, separately from the code under test.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const fixtureEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: os.tmpdir(),
  LC_ALL: 'C',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
  GIT_AUTHOR_NAME: 'someone else',
  GIT_AUTHOR_EMAIL: 'other@example.invalid',
  GIT_COMMITTER_NAME: 'someone else',
  GIT_COMMITTER_EMAIL: 'other@example.invalid',
};

/** Runs plain git (fixtures only) and returns trimmed stdout. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: fixtureEnv,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

const roots: string[] = [];

/** A fresh temporary directory, removed by `cleanupFixtures()`. */
export function tempDir(prefix = 'stackswap-git-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  roots.push(dir);
  return dir;
}

export function cleanupFixtures(): void {
  for (const dir of roots.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface BareRepo {
  root: string;
  /** Path of the bare repository (usable as a remote URL with allowFileProtocol). */
  bare: string;
  branch: string;
}

/**
 * A bare repo whose first commit holds `files`. `symlinks` maps a repo path to a link target
 * (committed as a symlink).
 */
export function createBareRepo(
  files: Record<string, string>,
  options: { branch?: string; symlinks?: Record<string, string>; name?: string } = {},
): BareRepo {
  const branch = options.branch ?? 'main';
  const root = tempDir();
  const bare = path.join(root, options.name ?? 'origin.git');
  const seed = path.join(root, 'seed');
  git(root, 'init', '-q', '--bare', '-b', branch, bare);
  git(bare, 'config', 'gc.auto', '0');
  git(root, 'init', '-q', '-b', branch, seed);
  for (const [file, text] of Object.entries(files)) writeFile(seed, file, text);
  for (const [file, target] of Object.entries(options.symlinks ?? {})) {
    mkdirSync(path.dirname(path.join(seed, file)), { recursive: true });
    symlinkSync(target, path.join(seed, file));
  }
  git(seed, 'add', '-A');
  git(seed, 'commit', '-q', '-m', 'seed');
  git(seed, 'push', '-q', bare, branch);
  return { root, bare, branch };
}

function writeFile(dir: string, file: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
  writeFileSync(path.join(dir, file), text);
}

/** Another writer: its own clone of the bare repo, committing and pushing with plain git. */
export class OtherWriter {
  readonly dir: string;

  constructor(private readonly repo: BareRepo) {
    this.dir = path.join(tempDir('stackswap-other-'), 'clone');
    git(path.dirname(this.dir), 'clone', '-q', '--branch', repo.branch, repo.bare, this.dir);
  }

  /** Pulls, writes the files, commits and pushes; returns the new remote tip. */
  commitAndPush(files: Record<string, string>, message = 'foreign change'): string {
    git(this.dir, 'pull', '-q', '--ff-only', 'origin', this.repo.branch);
    for (const [file, text] of Object.entries(files)) writeFile(this.dir, file, text);
    git(this.dir, 'add', '-A');
    git(this.dir, 'commit', '-q', '-m', message);
    git(this.dir, 'push', '-q', 'origin', `HEAD:refs/heads/${this.repo.branch}`);
    return git(this.dir, 'rev-parse', 'HEAD');
  }
}

export function remoteTip(repo: BareRepo, branch = repo.branch): string {
  return git(repo.bare, 'rev-parse', `refs/heads/${branch}`);
}

export function showAtTip(repo: BareRepo, file: string, branch = repo.branch): string {
  return git(repo.bare, 'show', `refs/heads/${branch}:${file}`);
}

export function commitCount(repo: BareRepo, branch = repo.branch): number {
  return Number(git(repo.bare, 'rev-list', '--count', `refs/heads/${branch}`));
}

export function isAncestor(repo: BareRepo, commit: string, branch = repo.branch): boolean {
  try {
    git(repo.bare, 'merge-base', '--is-ancestor', commit, `refs/heads/${branch}`);
    return true;
  } catch {
    return false;
  }
}

/** Installs a server-side hook (e.g. pre-receive) into the bare repo. */
export function installHook(repo: BareRepo, name: string, script: string): void {
  const file = path.join(repo.bare, 'hooks', name);
  writeFileSync(file, script);
  chmodSync(file, 0o755);
}

/** A pre-receive hook refusing every push with `message` (as a GitLab server hook would). */
export function rejectEverythingHook(message: string): string {
  return `#!/bin/sh\necho ${shellQuote(message)} >&2\nexit 1\n`;
}

/** A pre-receive hook refusing pushes to `branch` with GitLab's protected-branch wording. */
export function protectedBranchHook(branch: string): string {
  return `#!/bin/sh
while read old new ref; do
  if [ "$ref" = "refs/heads/${branch}" ]; then
    echo "GitLab: You are not allowed to push code to protected branches on this project." >&2
    exit 1
  fi
done
exit 0
`;
}

/**
 * A hostile writer living in the server: on every push it first moves the branch itself, so
 * the incoming update fails with git's real server-side race wording
 * ("[remote rejected] (failed to update ref)", "cannot lock ref … is at X but expected Y").
 */
export function hostileWriterHook(branch: string): string {
  return `#!/bin/sh
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
export GIT_AUTHOR_NAME=hostile GIT_AUTHOR_EMAIL=hostile@example.invalid
export GIT_COMMITTER_NAME=hostile GIT_COMMITTER_EMAIL=hostile@example.invalid
tip=$(git rev-parse refs/heads/${branch})
next=$(git commit-tree -p "$tip" -m "hostile $(date +%s%N)" "$tip^{tree}")
git update-ref refs/heads/${branch} "$next" "$tip"
exit 0
`;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Every regular file under `dir` (recursively), for leak scans. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

export function readBytes(file: string): Buffer {
  return statSync(file).size > 50 * 1024 * 1024 ? Buffer.alloc(0) : readFileSync(file);
}

/** A sleep that records the requested delays and returns at once. */
export function recordingSleep(): { sleep: (ms: number) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (ms: number) => {
      delays.push(ms);
    },
  };
}

// --- smart HTTP -----------------------------------------------------------------------------

export interface RecordedRequest {
  method: string;
  url: string;
  service: string | undefined;
  /** The Basic-auth password offered, or undefined when none. */
  password: string | undefined;
  status: number;
}

export interface GitHttpServer {
  /** Base URL, e.g. http://127.0.0.1:1234 ; a repo is at `${baseUrl}/<name>.git`. */
  baseUrl: string;
  requests: RecordedRequest[];
  /**
   * The next `count` receive-pack POSTs are carried out in full (the ref is updated), but their
   * responses are never sent: the connection is cut instead.
   */
  dropPushResponses(count?: number): void;
  /**
   * The next `count` requests (default: all from now on) that pass the auth check, for
   * `service` when given, are answered with `status` and a short text body instead of reaching
   * git http-backend. Unauthenticated requests still get their 401 first, so git has sent the
   * token by the time it sees the fault.
   */
  failRequests(status: number, options?: RequestFault): void;
  close(): Promise<void>;
}

export interface RequestFault {
  count?: number;
  service?: 'git-upload-pack' | 'git-receive-pack';
  body?: string;
}

export interface GitHttpServerOptions {
  /** Directory holding the bare repos (GIT_PROJECT_ROOT). */
  projectRoot: string;
  /** The only password accepted (any username). */
  token: string;
  /** 'all': every request needs the token; 'push': anonymous reads, authenticated pushes. */
  requireAuthFor?: 'all' | 'push';
}

/**
 * `git http-backend` behind node:http on 127.0.0.1, demanding HTTP Basic auth with `token` as
 * the password and answering 401 otherwise (as GitLab/GitHub do).
 */
export async function startGitHttpServer(options: GitHttpServerOptions): Promise<GitHttpServer> {
  const backend = path.join(git(os.tmpdir(), '--exec-path'), 'git-http-backend');
  const requests: RecordedRequest[] = [];
  let dropPushes = 0;
  let fault: (RequestFault & { status: number; count: number }) | undefined;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const service =
      url.searchParams.get('service') ??
      (url.pathname.endsWith('/git-receive-pack')
        ? 'git-receive-pack'
        : url.pathname.endsWith('/git-upload-pack')
          ? 'git-upload-pack'
          : undefined);
    const isPush = service === 'git-receive-pack';
    const password = basicPassword(req.headers.authorization);
    const record = (status: number) =>
      requests.push({ method: req.method ?? '', url: req.url ?? '', service, password, status });

    const needsAuth = (options.requireAuthFor ?? 'all') === 'all' || isPush;
    if (needsAuth && password !== options.token) {
      record(401);
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="stackswap-test"' });
      res.end('Unauthorized\n');
      req.resume();
      return;
    }

    if (fault && fault.count > 0 && (fault.service === undefined || fault.service === service)) {
      fault.count--;
      record(fault.status);
      res.writeHead(fault.status, { 'Content-Type': 'text/plain' });
      res.end(fault.body ?? `injected failure ${fault.status}\n`);
      req.resume();
      return;
    }

    const child = spawn(backend, [], {
      env: httpBackendEnv(req, url, options.projectRoot, 'tester'),
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(child.stdin);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('close', () => {
      const out = Buffer.concat(chunks);
      if (isPush && req.method === 'POST' && dropPushes > 0) {
        // The ref update has happened; the client never hears about it.
        dropPushes--;
        record(0);
        req.socket.destroy();
        return;
      }
      const split = out.indexOf('\r\n\r\n') >= 0 ? out.indexOf('\r\n\r\n') : out.indexOf('\n\n');
      const sepLength = out.indexOf('\r\n\r\n') >= 0 ? 4 : 2;
      const head = out.subarray(0, split).toString('latin1');
      const body = out.subarray(split + sepLength);
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      record(status);
      res.writeHead(status, headers);
      res.end(body);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    dropPushResponses: (count = 1) => {
      dropPushes = count;
    },
    failRequests: (status, options = {}) => {
      fault = { ...options, status, count: options.count ?? Number.POSITIVE_INFINITY };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The password of an HTTP Basic `Authorization` header (undefined when there is none). */
export function basicPassword(header: string | undefined): string | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? undefined : decoded.slice(i + 1);
}

/** A TCP port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The CGI environment of one `git http-backend` request (the tests' https-auth server and
 * bench/git-path serve the same way): hermetic git config, the repo root, the request's method,
 * path, query and the headers git's smart HTTP protocol reads.
 */
export function httpBackendEnv(
  req: http.IncomingMessage,
  url: URL,
  projectRoot: string,
  remoteUser: string,
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    REMOTE_USER: remoteUser,
    REMOTE_ADDR: '127.0.0.1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
    ...(req.headers['content-encoding']
      ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] }
      : {}),
    ...(req.headers['git-protocol']
      ? { HTTP_GIT_PROTOCOL: String(req.headers['git-protocol']) }
      : {}),
  };
}
