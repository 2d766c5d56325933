/**
 * What git is actually run with, seen from a `git` wrapper first on PATH of a real CLI process
 * (test/helpers/git-spy.ts): its argv, working directory and environment variable names.
 *
 * - Case 1: a bad branch is refused (exit 2) before any git process starts.
 * - Case 10: over HTTP with a token, no argv carries the token in any form, no URL in argv has
 *   userinfo; the token reaches git only in its environment, as the Basic Authorization header
 *   of env-borne config scoped to the remote's URL (sent on the first request: no 401 round
 *   trip), and in no other variable or form.
 * - Case 22: every push is a plain fast-forward push of the configured branch (no force, no
 *   lease, no mirror, no "+" refspec); a foreign commit that raced in survives.
 * - Case 11: git failing (unresolvable host, HTTP 500, 403, 401) with a token full of URL
 *   metacharacters: the CLI's stdout/stderr, text and JSON, with --verbose logs, carry none of
 *   the token's forms. A stalled transfer is not covered: see the note at that describe.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ASKPASS_HELPER, ASKPASS_PASSWORD_VAR } from '../../../src/gitops/git/git-factory.ts';
import { spawnCli, type CliRun } from '../../helpers/cli.ts';
import { configRepoFiles } from '../../helpers/config-repo.ts';
import {
  cleanupFixtures,
  createBareRepo,
  git,
  hostileWriterHook,
  installHook,
  isAncestor,
  remoteTip,
  startGitHttpServer,
  tempDir,
  type BareRepo,
  type GitHttpServer,
  type RequestFault,
} from '../../helpers/git-fixtures.ts';
import { createGitSpy, type GitInvocation, type GitSpy } from '../../helpers/git-spy.ts';

const TOKEN = 'glpat-T0k^en@/%+=s3cr3t';
const USERNAME = 'deploy-bot';
const FILES = configRepoFiles([{ name: 'shop' }]);

/** Every form a token could leak in: raw, URL-encoded, and the Basic-auth encodings. */
function secretForms(token: string, username = USERNAME): Record<string, string> {
  return {
    raw: token,
    urlEncoded: encodeURIComponent(token),
    base64: Buffer.from(token).toString('base64'),
    basicUserToken: Buffer.from(`${username}:${token}`).toString('base64'),
    basicOauth2Token: Buffer.from(`oauth2:${token}`).toString('base64'),
  };
}

// --- fixtures ---------------------------------------------------------------------------------

const spies: GitSpy[] = [];
const servers: GitHttpServer[] = [];
afterAll(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const spy of spies.splice(0)) spy.dispose();
  cleanupFixtures();
});

function spyOn(markers: Record<string, string> = {}): GitSpy {
  const spy = createGitSpy({ markers, dir: tempDir('stackswap-git-spy-') });
  spies.push(spy);
  return spy;
}

/** A config repo behind the token-demanding smart-HTTP server; `extraBranch` forks main. */
async function httpRemote(options: { extraBranch?: string } = {}) {
  const origin = createBareRepo(FILES);
  if (options.extraBranch) git(origin.bare, 'branch', options.extraBranch, origin.branch);
  const server = await startGitHttpServer({ projectRoot: origin.root, token: TOKEN });
  servers.push(server);
  return { origin, server, url: `${server.baseUrl}/origin.git` };
}

/** The env of a CLI run against an http remote with a token (not in sandbox mode). */
function tokenEnv(spy: GitSpy, token = TOKEN): NodeJS.ProcessEnv {
  return spy.env({
    STACKSWAP_SANDBOX: '',
    STACKSWAP_GIT_ALLOW_HTTP: 'true',
    STACKSWAP_GIT_TOKEN: token,
    STACKSWAP_GIT_USERNAME: USERNAME,
  });
}

const freshCache = () => path.join(tempDir('stackswap-cache-'), 'cache');

/** `stackswap values set` of a value unique to the call: always a commit and a push. */
let edits = 0;
function valuesSet(url: string, cache: string, env: NodeJS.ProcessEnv, extra: string[] = []) {
  return spawnCli(
    [
      '--repo',
      url,
      '--cache-dir',
      cache,
      '--no-sync',
      ...extra,
      'values',
      'set',
      'apps/shop/values-green.yaml',
      `global.note=edit-${++edits}`,
    ],
    env,
  );
}

// --- what the spy log must show ----------------------------------------------------------------

/** The git subcommand: the first argument that is not a global option (or its value). */
function subcommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-c' || arg === '-C') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/** URLs in argv that carry a user or a password (`scheme://user[:pw]@host`). */
function urlsWithUserinfo(argv: readonly string[]): string[] {
  return argv.filter((arg) => {
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(arg)) return false;
    try {
      const url = new URL(arg);
      return url.username !== '' || url.password !== '';
    } catch {
      return /^[^:]+:\/\/[^/]*@/.test(arg);
    }
  });
}

/** Options that overwrite or delete remote refs, or push more than the one branch. */
const FORBIDDEN_PUSH_OPTION =
  /^(?:--force(?:-with-lease|-if-includes)?(?:=.*)?|--mirror|--all|--branches|--tags|--follow-tags|--delete|--prune|--repo(?:=.*)?|--receive-pack(?:=.*)?|--exec(?:=.*)?)$/;

/** Why this push invocation is not a plain push of HEAD to refs/heads/<branch>, if it is not. */
function pushProblems(argv: readonly string[], branch: string): string[] {
  const problems: string[] = [];
  const start = argv.indexOf('push');
  const before = argv.slice(0, start);
  if (before.length > 0) problems.push(`global options before push: ${before.join(' ')}`);
  const positional: string[] = [];
  for (const arg of argv.slice(start + 1)) {
    if (arg === '--') continue;
    if (FORBIDDEN_PUSH_OPTION.test(arg)) problems.push(`forbidden option ${arg}`);
    else if (/^-[^-]/.test(arg) && /[fd]/.test(arg.slice(1))) problems.push(`short option ${arg}`);
    else if (!arg.startsWith('-')) positional.push(arg);
  }
  const [remote, ...refspecs] = positional;
  if (remote !== 'origin') problems.push(`pushes to ${remote ?? 'the default remote'}`);
  if (refspecs.length !== 1) problems.push(`refspecs: ${JSON.stringify(refspecs)}`);
  for (const refspec of refspecs) {
    if (refspec.startsWith('+')) problems.push(`forced refspec ${refspec}`);
    const destination = refspec.includes(':') ? refspec.slice(refspec.indexOf(':') + 1) : refspec;
    if (destination !== `refs/heads/${branch}`) problems.push(`pushes to ${destination}`);
  }
  return problems;
}

/** Case 10: the properties every recorded invocation of a token run must have. */
function expectTokenOnlyInAuthHeaderEnv(invocations: GitInvocation[], url: string) {
  expect(invocations.length).toBeGreaterThan(0);
  for (const call of invocations) {
    const shown = `git ${call.argv.join(' ')}`;
    for (const [form, text] of Object.entries(secretForms(TOKEN))) {
      expect(
        call.argv.filter((arg) => arg.includes(text)),
        `${form} in argv of ${shown}`,
      ).toEqual([]);
    }
    expect(urlsWithUserinfo(call.argv), shown).toEqual([]);
    // In the environment only: as the Basic header of env-borne config for the remote's URL
    // (sent on the first request), nowhere else, in no other form; no askpass needed then.
    expect(call.markersInEnv, shown).toEqual({ basicUserToken: ['GIT_CONFIG_VALUE_0'] });
    expect(call.envNames, shown).not.toContain('GIT_ASKPASS');
    expect(call.envNames, shown).not.toContain(ASKPASS_PASSWORD_VAR);
    expect(call.envNames, shown).not.toContain('STACKSWAP_GIT_TOKEN');
  }
  // The remote went to git exactly as configured: no credentials added on the way.
  const clones = invocations.filter((c) => subcommand(c.argv) === 'clone');
  for (const clone of clones) expect(clone.argv).toContain(url);
}

function expectNoSecretIn(run: CliRun, token: string) {
  for (const [form, text] of Object.entries(secretForms(token))) {
    expect(run.stdout.includes(text), `${form} on stdout:\n${run.stdout}`).toBe(false);
    expect(run.stderr.includes(text), `${form} on stderr:\n${run.stderr}`).toBe(false);
  }
}

// --- case 1 ------------------------------------------------------------------------------------

describe('case 1: a bad branch never reaches git', () => {
  const statusWith = (spy: GitSpy, repo: BareRepo, branch: string) =>
    spawnCli(
      ['--repo', repo.bare, '--branch', branch, '--cache-dir', freshCache(), '--no-sync'].concat([
        '--stack',
        'shop',
        'status',
      ]),
      spy.env(),
    );

  it('the spy sees the git runs of a good branch (the control)', async () => {
    const repo = createBareRepo(FILES);
    const spy = spyOn();
    const r = await statusWith(spy, repo, 'main');
    expect(r.code, r.stderr).toBe(0);
    const calls = spy.invocations();
    expect(calls.map((c) => subcommand(c.argv))).toContain('clone');
    expect(calls.find((c) => subcommand(c.argv) === 'clone')!.argv).toContain(repo.bare);
    // Every git ran inside the cache directory, none in the caller's working directory.
    for (const call of calls) expect(call.cwd).toContain(`${path.sep}cache${path.sep}git`);
  });

  it.concurrent.for([
    '-h',
    'a..b',
    '--upload-pack=x',
    '--upload-pack=touch PWNED',
    'x.lock',
    '@{-1}',
    'main\nx',
  ])('--branch %j exits 2 and runs no git', async (branch, { expect }) => {
    const repo = createBareRepo(FILES);
    const spy = spyOn();
    const pwned = path.join(repo.root, 'PWNED');
    const r = await statusWith(spy, repo, branch.replace('PWNED', pwned));
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/repo\.branch: branch/);
    expect(spy.invocations()).toEqual([]);
    expect(existsSync(pwned)).toBe(false);
  });
});

// --- cases 10 and 22 ----------------------------------------------------------------------------

describe('case 10: the token reaches git through its environment only', () => {
  it('clone, commit, push, then fetch, commit, push: no token in argv, no userinfo in URLs', async () => {
    const { origin, server, url } = await httpRemote();
    const spy = spyOn({ ...secretForms(TOKEN), askpassHelper: ASKPASS_HELPER });
    const cache = freshCache();
    const env = tokenEnv(spy);

    const deploy = await spawnCli(
      ['--repo', url, '--cache-dir', cache, '--no-sync', '--stack', 'shop', 'deploy'],
      env,
    );
    expect(deploy.code, deploy.stderr).toBe(0);
    const edit = await valuesSet(url, cache, env); // reuses the clone: fetch, commit, push
    expect(edit.code, edit.stderr).toBe(0);

    const calls = spy.invocations();
    const commands = calls.map((c) => subcommand(c.argv));
    for (const command of ['clone', 'fetch', 'cat-file', 'commit-tree', 'push']) {
      expect(commands).toContain(command);
    }
    // No working tree: nothing is checked out, staged, committed through the index or reset.
    for (const command of ['checkout', 'reset', 'add', 'commit', 'clean', 'status']) {
      expect(commands).not.toContain(command);
    }
    expect(commands.filter((c) => c === 'push')).toHaveLength(2);
    expectTokenOnlyInAuthHeaderEnv(calls, url);
    // The token did work, as Basic auth to the server, and both commits landed.
    const pushes = server.requests.filter((r) => r.service === 'git-receive-pack');
    expect(pushes.some((r) => r.password === TOKEN)).toBe(true);
    // On the first request of each git run: the server never had to answer 401.
    expect(server.requests.filter((r) => r.password !== TOKEN)).toEqual([]);
    expect(git(origin.bare, 'rev-list', '--count', 'main')).toBe('3');
    expectNoSecretIn(deploy, TOKEN);
    expectNoSecretIn(edit, TOKEN);
  });
});

describe('case 22: pushes never force and touch only the configured branch', () => {
  it('a push that loses a race is retried as a plain push; the foreign commit survives', async () => {
    const branch = 'release';
    const { origin, url } = await httpRemote({ extraBranch: branch });
    const mainBefore = remoteTip(origin, 'main');
    // A writer inside the server moves the branch during our first push (once).
    installHook(
      origin,
      'pre-receive',
      hostileWriterHook(branch).replace(
        '#!/bin/sh\n',
        '#!/bin/sh\n[ -e hostile-done ] && exit 0\n: > hostile-done\n',
      ),
    );
    const spy = spyOn({ ...secretForms(TOKEN), askpassHelper: ASKPASS_HELPER });

    const r = await valuesSet(url, freshCache(), tokenEnv(spy), ['--branch', branch]);
    expect(r.code, r.stderr).toBe(0);

    const pushes = spy.invocations().filter((c) => subcommand(c.argv) === 'push');
    expect(pushes.length).toBe(2); // lost the race once, then went through
    for (const push of pushes) {
      expect(pushProblems(push.argv, branch), push.argv.join(' ')).toEqual([]);
    }
    const foreign = git(origin.bare, 'log', '--format=%H %an', branch)
      .split('\n')
      .filter((line) => line.endsWith(' hostile'))
      .map((line) => line.split(' ')[0]!);
    expect(foreign).toHaveLength(1);
    expect(isAncestor(origin, foreign[0]!, branch)).toBe(true);
    expect(remoteTip(origin, 'main')).toBe(mainBefore);
    expectTokenOnlyInAuthHeaderEnv(spy.invocations(), url);
  });

  it('the argv checks themselves catch forcing pushes and credentials in URLs', () => {
    expect(
      urlsWithUserinfo(['clone', '--', 'https://git.example.invalid/x.git', '/tmp/x']),
    ).toEqual([]);
    for (const url of ['https://u:p@git.example.invalid/x.git', 'http://oauth2@127.0.0.1/x.git']) {
      expect(urlsWithUserinfo(['clone', '--', url, '/tmp/x'])).toEqual([url]);
    }
    const ok = ['push', '--porcelain', '--no-verify', 'origin', 'HEAD:refs/heads/main'];
    expect(pushProblems(ok, 'main')).toEqual([]);
    for (const bad of [
      ['push', '--force', 'origin', 'HEAD:refs/heads/main'],
      ['push', '-f', 'origin', 'HEAD:refs/heads/main'],
      ['push', '-qf', 'origin', 'HEAD:refs/heads/main'],
      ['push', '--force-with-lease=main:abc', 'origin', 'HEAD:refs/heads/main'],
      ['push', '--mirror', 'origin'],
      ['push', 'origin', '+HEAD:refs/heads/main'],
      ['push', 'origin', 'HEAD:refs/heads/other'],
      ['push', 'origin', 'HEAD:refs/heads/main', 'HEAD:refs/heads/other'],
      ['-c', 'remote.origin.mirror=true', 'push', 'origin', 'HEAD:refs/heads/main'],
    ]) {
      expect(pushProblems(bad, 'main'), bad.join(' ')).not.toEqual([]);
    }
  });
});

// --- case 11 -----------------------------------------------------------------------------------

interface FailureCase {
  name: string;
  /** Where the CLI points; default: the fixture server. */
  url?: (serverUrl: string) => string;
  fault?: RequestFault & { status: number };
  /** The token the CLI is given (default TOKEN; the server always wants TOKEN). */
  token?: string;
  /** 'read': status (clone only); 'write': values set (clone, commit, push). */
  command: 'read' | 'write';
  exitCode: number;
  /** What the error (or, for a retried failure, the verbose log) must show. */
  shows: RegExp;
}

const WRONG_TOKEN = 'glpat-wr0ng^T0k@n/%+=n0pe';

const failures: FailureCase[] = [
  {
    name: 'an unresolvable host',
    url: () => 'https://git.example.invalid/x.git',
    command: 'read',
    exitCode: 7,
    shows: /Could not resolve host: git\.example\.invalid/,
  },
  {
    name: 'HTTP 500 on clone',
    fault: { status: 500, service: 'git-upload-pack' },
    command: 'read',
    exitCode: 7,
    shows: /returned error: 500/,
  },
  {
    // Git says nothing about whether it landed: stackswap retries and the second push works.
    name: 'HTTP 500 on the first push (retried)',
    fault: { status: 500, service: 'git-receive-pack', count: 1 },
    command: 'write',
    exitCode: 0,
    shows: /returned error: 500/,
  },
  {
    name: 'HTTP 403 on clone',
    fault: { status: 403, service: 'git-upload-pack' },
    command: 'read',
    exitCode: 5,
    shows: /refused access/,
  },
  {
    name: 'HTTP 403 on push',
    fault: { status: 403, service: 'git-receive-pack' },
    command: 'write',
    exitCode: 5,
    shows: /refused access/,
  },
  {
    // Git prints a text/plain error body as "remote:" lines: a proxy echoing the credentials.
    name: 'HTTP 403 on push whose body echoes the credentials',
    fault: {
      status: 403,
      service: 'git-receive-pack',
      body: Object.values(secretForms(TOKEN))
        .map((form) => `denied for ${form}\n`)
        .join(''),
    },
    command: 'write',
    exitCode: 5,
    shows: /remote: denied for \[REDACTED\]/,
  },
  {
    name: 'HTTP 401 for a wrong token',
    token: WRONG_TOKEN,
    command: 'read',
    exitCode: 5,
    shows: /authentication failed/,
  },
];

describe('case 11: a failing git leaks no token form into the CLI output', () => {
  it.concurrent.for(
    failures.flatMap((failure) => [
      { ...failure, output: 'text' as const },
      { ...failure, output: 'json' as const },
    ]),
  )('$name, --output $output --verbose', async (failure, { expect }) => {
    const token = failure.token ?? TOKEN;
    const { server, url: serverUrl } = await httpRemote();
    if (failure.fault) server.failRequests(failure.fault.status, failure.fault);
    const url = failure.url?.(serverUrl) ?? serverUrl;
    const spy = spyOn(secretForms(token));
    const env = tokenEnv(spy, token);
    const flags = ['--output', failure.output, '--verbose'];

    const r =
      failure.command === 'write'
        ? await valuesSet(url, freshCache(), env, flags)
        : await spawnCli(
            ['--repo', url, '--cache-dir', freshCache(), '--no-sync', ...flags, 'status'],
            env,
          );

    expect(r.code, r.stdout + r.stderr).toBe(failure.exitCode);
    expect(r.stdout + r.stderr).toMatch(failure.shows);
    if (failure.fault) {
      expect(server.requests.some((q) => q.status === failure.fault!.status)).toBe(true);
    }
    if (failure.output === 'json' && failure.exitCode !== 0) {
      const printed = JSON.parse(r.stdout) as { ok: boolean; error: { message: string } };
      expect(printed.ok).toBe(false);
    }
    expectNoSecretIn(r, token);
    // Nor did git get it on its command line while failing.
    for (const call of spy.invocations()) {
      for (const text of Object.values(secretForms(token))) {
        expect(call.argv.some((arg) => arg.includes(text))).toBe(false);
      }
    }
  });

  // A stalled transfer (case 11's "timeout") is not covered: the fixture server cannot stall
  // (it can only cut a push's response), and git's low-speed abort in the CLI is fixed at 30 s.
});
