/**
 * Reliability case 4: a local config repo (a path or a file:// URL) is accepted only in sandbox
 * mode (STACKSWAP_SANDBOX=1), by the CLI and the service alike, and refused before any git
 * runs otherwise. Remote URLs are unaffected by the switch.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateConfigRepo, readEnvironment } from '../../../src/config/environment.ts';
import { isStackswapError, ValidationError } from '../../../src/shared/errors.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import { keepInstructions } from '../../../src/demo/keep.ts';
import { startSandbox } from '../../../src/sandbox/sandbox.ts';
import { createService } from '../../../src/server/service.ts';
import { runCli, spawnCli } from '../../helpers/cli.ts';
import { configRepoFiles, seedBareRepo } from '../../helpers/config-repo.ts';
import { startGitHttpServer, type GitHttpServer } from '../../helpers/git-fixtures.ts';

const REFUSED = 'local repositories are allowed only in sandbox mode (STACKSWAP_SANDBOX=1)';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'stackswap-sandbox-mode-'));
let n = 0;
/** A cache dir path that does not exist yet: it exists afterwards only if git ran. */
const freshCache = () => path.join(scratch, `cache-${++n}`);
const cacheUsed = (dir: string) => existsSync(dir) && readdirSync(dir).length > 0;

let bare: string;
beforeAll(() => {
  ({ bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }])));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const status = (repo: string, cache: string, env: NodeJS.ProcessEnv) =>
  runCli(['--repo', repo, '--cache-dir', cache, '--no-sync', '--stack', 'shop', 'status'], {
    env,
  });

describe('the CLI outside sandbox mode', () => {
  it.each([
    ['a bare local path', () => bare],
    ['a file:// URL', () => pathToFileURL(bare).href],
  ])('refuses %s with exit 2, naming it, before any git runs', async (_, repo) => {
    const cache = freshCache();
    const r = await status(repo(), cache, { STACKSWAP_SANDBOX: '' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`--repo: ${REFUSED}: ${repo()}`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(cacheUsed(cache)).toBe(false);
  });

  it.each([
    ['unset', undefined],
    ['0', '0'],
    ['false', 'false'],
  ])('refuses STACKSWAP_REPO as a local path with STACKSWAP_SANDBOX %s', async (_, value) => {
    const cache = freshCache();
    const r = await runCli(['--cache-dir', cache, '--no-sync', '--stack', 'shop', 'status'], {
      env: { STACKSWAP_REPO: bare, STACKSWAP_SANDBOX: value },
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`STACKSWAP_REPO: ${REFUSED}: ${bare}`);
    expect(cacheUsed(cache)).toBe(false);
  });

  it('refuses a relative path too, naming it as given', async () => {
    const relative = path.relative(process.cwd(), bare);
    const r = await status(relative, freshCache(), { STACKSWAP_SANDBOX: '' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${REFUSED}: ${relative}`);
  });

  it('spawns no git process at all (a git on PATH that leaves a mark)', async () => {
    const bin = mkdtempSync(path.join(scratch, 'bin-'));
    const mark = path.join(scratch, 'git-ran');
    writeFileSync(path.join(bin, 'git'), `#!/bin/sh\necho "$@" >> '${mark}'\nexit 1\n`);
    chmodSync(path.join(bin, 'git'), 0o755);
    const cache = freshCache();
    const r = await spawnCli(
      ['--repo', bare, '--cache-dir', cache, '--no-sync', '--stack', 'shop', 'status'],
      { PATH: `${bin}:${process.env.PATH}`, STACKSWAP_SANDBOX: '' },
    );
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${REFUSED}: ${bare}`);
    expect(existsSync(mark)).toBe(false);
    expect(cacheUsed(cache)).toBe(false);
  });

  it('reads a remote (http on 127.0.0.1 here) as before: the switch is about local repos', async () => {
    let server: GitHttpServer | undefined;
    try {
      const token = 'remote-token-0123456789';
      server = await startGitHttpServer({ projectRoot: path.dirname(bare), token });
      const url = `${server.baseUrl}/${path.basename(bare)}`;
      const r = await status(url, freshCache(), {
        STACKSWAP_SANDBOX: '',
        STACKSWAP_GIT_ALLOW_HTTP: 'true',
        STACKSWAP_GIT_TOKEN: token,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/blue/);
    } finally {
      await server?.close();
    }
  });
});

describe('the CLI in sandbox mode', () => {
  it.each([
    ['1', () => bare],
    ['true', () => bare],
    ['1', () => pathToFileURL(bare).href],
  ])('STACKSWAP_SANDBOX=%s accepts a local repo', async (value, repo) => {
    const cache = freshCache();
    const r = await status(repo(), cache, { STACKSWAP_SANDBOX: value });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/blue/);
    expect(cacheUsed(cache)).toBe(true);
  });

  it('is a clear exit-2 error for any other value of STACKSWAP_SANDBOX', async () => {
    for (const value of ['maybe', 'yes', 'TRUE', ' 1']) {
      const cache = freshCache();
      const r = await status(bare, cache, { STACKSWAP_SANDBOX: value });
      expect(r.code, `${value}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(
        'environment variable STACKSWAP_SANDBOX: must be 1, true, 0, false or empty',
      );
      expect(cacheUsed(cache)).toBe(false);
    }
  });
});

describe('locateConfigRepo', () => {
  const env = (sandbox: string | undefined) =>
    readEnvironment({ STACKSWAP_SANDBOX: sandbox }, new Redactor());

  it.each([
    'https://gitlab.example.com/platform/config.git',
    'ssh://git@gitlab.example.com/platform/config.git',
    'git@gitlab.example.com:platform/config.git',
    // git reads host:path as ssh when no "/" comes before the first ":".
    'gitlab.example.com:platform/config.git',
    'HTTPS://gitlab.example.com/x.git',
  ])('leaves the remote %s to ConfigRepo, whatever the switch', (url) => {
    for (const sandbox of [undefined, '1']) {
      expect(locateConfigRepo(url, env(sandbox), 'STACKSWAP_REPO')).toEqual({ url, local: false });
    }
  });

  it('lets file:// URLs with a host through to the URL validation (no credentials echoed)', () => {
    for (const url of ['file://user:pw@localhost/srv/repo', 'file://other-host/srv/repo']) {
      expect(locateConfigRepo(url, env(undefined), 'STACKSWAP_REPO').local).toBe(false);
    }
  });

  it('refuses local forms outside sandbox mode, and resolves them in it', () => {
    for (const url of ['/srv/repo', 'file:///srv/repo', 'file://localhost/srv/repo', 'repo.git']) {
      let error: unknown;
      try {
        locateConfigRepo(url, env('0'), 'STACKSWAP_REPO');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toBe(`${REFUSED}: ${url}`);
      expect((error as ValidationError).exitCode).toBe(2);
      expect(locateConfigRepo(url, env('1'), 'STACKSWAP_REPO').local).toBe(true);
    }
    expect(locateConfigRepo('repo.git', env('1'), 'x').url).toBe(path.resolve('repo.git'));
    expect(locateConfigRepo('file:///srv/repo', env('1'), 'x').url).toBe('file:///srv/repo');
  });

  it('shows control characters in a refused path instead of printing them', () => {
    expect(() => locateConfigRepo('/srv/a\nb', env(undefined), 'STACKSWAP_REPO')).toThrow(
      `${REFUSED}: /srv/a\\x0ab`,
    );
  });
});

describe('the service', () => {
  const serviceEnv = (extra: NodeJS.ProcessEnv, cache: string): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    STACKSWAP_REPO: bare,
    STACKSWAP_CACHE_DIR: cache,
    STACKSWAP_TOKENS: '[]',
    ...extra,
  });

  it.each([
    ['a local path', () => bare],
    ['a file:// URL', () => pathToFileURL(bare).href],
  ])('refuses %s at start outside sandbox mode, before any git runs', async (_, repo) => {
    const cache = freshCache();
    const dataDir = path.join(scratch, `data-${++n}`);
    const error = await createService({
      env: serviceEnv({ STACKSWAP_REPO: repo() }, cache),
      dataDir,
      logLevel: 'silent',
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStackswapError(error) && error.exitCode).toBe(2);
    expect((error as Error).message).toBe(`${REFUSED}: ${repo()}`);
    expect(cacheUsed(cache)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('starts on a local repo in sandbox mode', async () => {
    const service = await createService({
      env: serviceEnv({ STACKSWAP_SANDBOX: '1' }, freshCache()),
      dataDir: path.join(scratch, `data-${++n}`),
      logLevel: 'silent',
    });
    await service.shutdown({ graceMs: 1_000, settleMs: 1_000 });
  });

  it('refuses an unknown STACKSWAP_SANDBOX value at start', async () => {
    await expect(
      createService({
        env: serviceEnv({ STACKSWAP_SANDBOX: 'maybe' }, freshCache()),
        dataDir: path.join(scratch, `data-${++n}`),
        logLevel: 'silent',
      }),
    ).rejects.toThrow('environment variable STACKSWAP_SANDBOX: must be 1, true, 0, false or empty');
  });
});

describe('the sandbox', () => {
  it('exports STACKSWAP_SANDBOX=1 with its local repo (sandbox up, npm start -- --keep)', async () => {
    const sandbox = await startSandbox({ dir: path.join(scratch, 'sandbox') });
    try {
      expect(sandbox.env).toMatchObject({
        STACKSWAP_SANDBOX: '1',
        STACKSWAP_REPO: sandbox.repoPath,
      });
      expect(keepInstructions(sandbox)).toContain('export STACKSWAP_SANDBOX=1\n');
      // Its env alone is enough for the CLI (the test helper's own default switched off).
      const r = await runCli(['--no-sync', 'status'], {
        env: { STACKSWAP_SANDBOX: undefined, ...sandbox.env },
      });
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await sandbox.close();
    }
  });
});

describe('plan validate --dir (a merge request job validating its own checkout)', () => {
  it('reads the files without git, a repo or sandbox mode; a bad plan is exit 2 with file:line', async () => {
    const checkout = mkdtempSync(path.join(scratch, 'checkout-'));
    for (const [file, text] of Object.entries(configRepoFiles([{ name: 'shop' }]))) {
      mkdirSync(path.dirname(path.join(checkout, file)), { recursive: true });
      writeFileSync(path.join(checkout, file), text);
    }
    const env = { STACKSWAP_SANDBOX: '', STACKSWAP_REPO: undefined };
    const ok = await runCli(['plan', 'validate', '--dir', checkout], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('ok releases/shop.yaml (shop)');

    writeFileSync(
      path.join(checkout, 'releases/shop.yaml'),
      'stack: shop\ncomponents:\n  web: "1.1.0"\n  api: "1.1 beta"\n',
    );
    const bad = await runCli(['plan', 'validate', '--dir', checkout], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/releases\/shop\.yaml:4: .*not a valid OCI image tag/);
  });
});
