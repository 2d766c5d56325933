/**
 * Token handling against a real smart-HTTP server (git http-backend on 127.0.0.1) that demands
 * HTTP Basic auth. The token must work, must never be retried when refused, and must appear
 * nowhere: not in errors, logs, the cache clone's files or commits, in any of its encodings.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AuthError, type StackswapError } from '../../../src/shared/errors.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import type { Plan, RepoLogger, Transaction } from '../../../src/gitops/git/repo.ts';
import {
  cleanupFixtures,
  commitCount,
  createBareRepo,
  filesUnder,
  git,
  readBytes,
  remoteTip,
  startGitHttpServer,
  tempDir,
  type BareRepo,
  type GitHttpServer,
} from '../../helpers/git-fixtures.ts';
import { openRepo, SEED_FILES, trailers } from './support.ts';

const TOKEN = 'glpat-T0k^en@/%+=s3cr3t';
const USERNAME = 'deploy-bot';

/** Every form the token could leak in. */
const secretForms = (token: string) => [
  token,
  encodeURIComponent(token),
  Buffer.from(token).toString('base64'),
  Buffer.from(`${USERNAME}:${token}`).toString('base64'),
  Buffer.from(`oauth2:${token}`).toString('base64'),
];

function recordingLogger(): RepoLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push(JSON.stringify({ level, message, ...fields }));
  };
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn') };
}

function expectNoSecretIn(haystacks: Array<string | Buffer>, token: string) {
  for (const form of secretForms(token)) {
    for (const text of haystacks) {
      expect(
        Buffer.isBuffer(text) ? text.includes(form) : text.includes(form),
        `leaked "${form}"`,
      ).toBe(false);
    }
  }
}

function errorTexts(error: StackswapError): string[] {
  return [
    error.message,
    error.describe(),
    String(error.stack),
    JSON.stringify(error),
    JSON.stringify(error.toJSON()),
    JSON.stringify(error.details ?? {}),
  ];
}

function cacheFiles(cacheDir: string): Buffer[] {
  return filesUnder(cacheDir).map(readBytes);
}

const servers: GitHttpServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});
afterAll(cleanupFixtures);

async function serve(origin: BareRepo, requireAuthFor: 'all' | 'push' = 'all') {
  const server = await startGitHttpServer({
    projectRoot: origin.root,
    token: TOKEN,
    requireAuthFor,
  });
  servers.push(server);
  return { server, url: `${server.baseUrl}/origin.git` };
}

const swapToGreen = async (tx: Transaction): Promise<Plan<string>> => {
  const text = await tx.readFile('apps/ingress/values.yaml');
  if (text.includes('green')) return { kind: 'noop', result: 'already green' };
  return {
    kind: 'commit',
    files: { 'apps/ingress/values.yaml': text.replace('blue', 'green') },
    message: { subject: 'swap shop: live blue -> green', trailers: trailers('swap', 'op-http') },
    result: 'swapped',
  };
};

describe('https token auth (smart HTTP on 127.0.0.1)', () => {
  it('clones, commits and pushes with the right token, which appears nowhere on disk or in logs', async () => {
    const origin = createBareRepo(SEED_FILES);
    const { server, url } = await serve(origin);
    const cacheDir = path.join(tempDir('stackswap-cache-'), 'cache');
    const logger = recordingLogger();
    const redactor = new Redactor();
    const repo = await openRepo(origin, {
      url,
      cacheDir,
      auth: { token: TOKEN, username: USERNAME },
      allowFileProtocol: false,
      allowInsecureHttp: true,
      redactor,
      logger,
    });
    expect(redactor.redact(`x ${TOKEN} y`)).toBe('x [REDACTED] y');

    const result = await repo.transact(swapToGreen);
    expect(result).toMatchObject({ committed: true, attempts: 1, result: 'swapped' });
    expect(remoteTip(origin)).toBe(result.sha);
    // The server saw the credentials only as Basic auth, and the username we configured.
    expect(
      server.requests.some((r) => r.password === TOKEN && r.service === 'git-receive-pack'),
    ).toBe(true);
    expect(server.requests.every((r) => !r.url.includes(encodeURIComponent(TOKEN)))).toBe(true);

    const gitConfig = readFileSync(path.join(repo.workdir, 'config'), 'utf8');
    expect(gitConfig).toContain(`url = ${url}`);
    expectNoSecretIn(
      [
        gitConfig,
        ...cacheFiles(cacheDir),
        git(origin.bare, 'log', '--format=%B%an%ae%cn%ce', 'main'),
        git(repo.workdir, 'remote', '-v'),
        logger.lines.join('\n'),
      ],
      TOKEN,
    );
  });

  it('a wrong token fails the clone with AuthError after exactly one authenticated request, leaking nothing', async () => {
    const origin = createBareRepo(SEED_FILES);
    const { server, url } = await serve(origin);
    const cacheDir = path.join(tempDir('stackswap-cache-'), 'cache');
    const logger = recordingLogger();
    const wrong = 'glpat-wr0ng^T0k@n/%+=nope';
    const error = (await openRepo(origin, {
      url,
      cacheDir,
      auth: { token: wrong, username: USERNAME },
      allowFileProtocol: false,
      allowInsecureHttp: true,
      logger,
    }).catch((e: unknown) => e)) as StackswapError;

    expect(error).toBeInstanceOf(AuthError);
    expect(error.exitCode).toBe(5);
    expect(error.message).toBe(`git authentication failed for ${url}`);
    expect(server.requests.filter((r) => r.password !== undefined)).toHaveLength(1);
    expectNoSecretIn(
      [...errorTexts(error), ...cacheFiles(cacheDir), logger.lines.join('\n')],
      wrong,
    );
  });

  it('a push refused for a wrong token is not retried and leaves the clone clean', async () => {
    const origin = createBareRepo(SEED_FILES);
    const { server, url } = await serve(origin, 'push'); // anonymous reads, authenticated pushes
    const cacheDir = path.join(tempDir('stackswap-cache-'), 'cache');
    const logger = recordingLogger();
    const wrong = 'glpat-expired-%2F-t0ken';
    const repo = await openRepo(origin, {
      url,
      cacheDir,
      auth: { token: wrong },
      allowFileProtocol: false,
      allowInsecureHttp: true,
      logger,
    });
    let calls = 0;
    const error = (await repo
      .transact(async (tx) => {
        calls++;
        return swapToGreen(tx);
      })
      .catch((e: unknown) => e)) as StackswapError;

    expect(error).toBeInstanceOf(AuthError);
    expect(calls).toBe(1);
    const pushAttempts = server.requests.filter(
      (r) => r.service === 'git-receive-pack' && r.password !== undefined,
    );
    expect(pushAttempts).toHaveLength(1);
    expect(commitCount(origin)).toBe(1);
    expect(git(repo.workdir, 'rev-parse', '--is-bare-repository')).toBe('true');
    expect(git(repo.workdir, 'rev-parse', 'HEAD')).toBe(remoteTip(origin));
    expectNoSecretIn(
      [...errorTexts(error), ...cacheFiles(cacheDir), logger.lines.join('\n')],
      wrong,
    );
  });

  it('a push answered 500 every time ends after 3 attempts as remote-unreachable, not a race', async () => {
    const origin = createBareRepo(SEED_FILES);
    const { server, url } = await serve(origin);
    const repo = await openRepo(origin, {
      url,
      auth: { token: TOKEN },
      allowFileProtocol: false,
      allowInsecureHttp: true,
    });
    server.failRequests(500, { service: 'git-receive-pack', body: 'the server is down' });
    let calls = 0;
    const error = (await repo
      .transact(async (tx) => {
        calls++;
        return swapToGreen(tx);
      })
      .catch((e: unknown) => e)) as StackswapError;

    expect(error.code).toBe('remote-unreachable');
    expect(error.exitCode).toBe(7);
    expect(error.message).toContain(`git push: cannot reach ${url}`);
    expect(error.message).toContain('(push, 3 attempts)');
    expect(error.hint).not.toContain('another writer');
    expect(calls).toBe(3);
    const unconfirmed = (error.details?.unconfirmedCommits ?? []) as string[];
    expect(new Set(unconfirmed).size).toBe(unconfirmed.length);
    expect(commitCount(origin)).toBe(1);
    expect(git(repo.workdir, 'rev-parse', 'HEAD')).toBe(remoteTip(origin));
    expectNoSecretIn(errorTexts(error), TOKEN);
  });

  it('no token configured against a remote demanding one: AuthError at once, no prompt', async () => {
    const origin = createBareRepo(SEED_FILES);
    const { url } = await serve(origin);
    const error = (await openRepo(origin, {
      url,
      allowFileProtocol: false,
      allowInsecureHttp: true,
    }).catch((e: unknown) => e)) as StackswapError;
    expect(error).toBeInstanceOf(AuthError);
    expect(error.message).toMatch(/asked for credentials and none are configured/);
  });

  it.each([
    // git re-sends the push itself, and the re-send reports a race against our own commit
    { drops: 1, wording: 'race' },
    // the re-send is cut off too: a transport failure
    { drops: 2, wording: 'maybe-landed' },
  ])(
    'a push whose response is lost after the ref update lands exactly one commit ($drops cut)',
    async ({ drops, wording }) => {
      const origin = createBareRepo(SEED_FILES);
      const { server, url } = await serve(origin);
      const logger = recordingLogger();
      const repo = await openRepo(origin, {
        url,
        auth: { token: TOKEN },
        allowFileProtocol: false,
        allowInsecureHttp: true,
        logger,
      });
      server.dropPushResponses(drops);
      let calls = 0;
      const result = await repo.transact(async (tx) => {
        calls++;
        return swapToGreen(tx);
      });
      expect(logger.lines.some((l) => l.includes(`"outcome":"${wording}"`))).toBe(true);
      expect(result).toMatchObject({ committed: true, attempts: 2, result: 'swapped' });
      expect(result.sha).toBe(remoteTip(origin));
      expect(calls).toBe(1); // the second attempt found its own commit: no second edit
      expect(commitCount(origin)).toBe(2);
      expect(server.requests.filter((r) => r.status === 0).length).toBeGreaterThanOrEqual(1);
    },
  );

  it('plaintext http is refused unless explicitly allowed for tests', async () => {
    const origin = createBareRepo(SEED_FILES);
    const { url } = await serve(origin);
    await expect(
      openRepo(origin, { url, allowFileProtocol: false, auth: { token: TOKEN } }),
    ).rejects.toThrow(/protocol "http" is not allowed/);
  });
});

describe('partial clone over https', () => {
  it('blobs fetched on demand authenticate too (the header goes with the env of the lazy fetch), and the token stays out of the cache', async () => {
    const origin = createBareRepo(SEED_FILES);
    // As GitLab and GitHub do: the server honours --filter, so the cache holds no blob at first.
    git(origin.bare, 'config', 'uploadpack.allowFilter', 'true');
    const { server, url } = await serve(origin);
    const cacheDir = path.join(tempDir('stackswap-cache-'), 'cache');
    const repo = await openRepo(origin, {
      url,
      cacheDir,
      auth: { token: TOKEN, username: USERNAME },
      allowFileProtocol: false,
      allowInsecureHttp: true,
    });
    expect(git(repo.workdir, 'config', 'remote.origin.partialclonefilter')).toBe('blob:none');
    const fetchesBefore = server.requests.filter((r) => r.service === 'git-upload-pack').length;
    expect(await repo.readFile('apps/shop/values-green.yaml')).toBe(
      SEED_FILES['apps/shop/values-green.yaml'],
    );
    const lazy = server.requests
      .filter((r) => r.service === 'git-upload-pack')
      .slice(fetchesBefore);
    // The blob came in a request of its own, answered once the token came as Basic auth.
    expect(lazy.some((r) => r.password === TOKEN && r.status === 200)).toBe(true);
    expect(lazy.every((r) => r.password === undefined || r.password === TOKEN)).toBe(true);
    const result = await repo.transact(swapToGreen);
    expect(result.committed).toBe(true);
    expect(showAtTipOf(origin)).toContain('green');
    expectNoSecretIn(cacheFiles(cacheDir), TOKEN);
    repo.close();
  });
});

const showAtTipOf = (origin: BareRepo) => git(origin.bare, 'show', 'main:apps/ingress/values.yaml');
