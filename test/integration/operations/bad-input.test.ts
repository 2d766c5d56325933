/**
 * Bad input through the CLI: each gets a clear error naming what and where, its documented
 * exit code, and changes nothing in the config repo.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commitCount, configRepoFiles, seedBareRepo } from '../../helpers/config-repo.ts';
import { runCli } from '../../helpers/cli.ts';
import {
  filesUnder,
  installHook,
  protectedBranchHook,
  startGitHttpServer,
  closedPort,
} from '../../helpers/git-fixtures.ts';

const cacheDir = () => mkdtempSync(path.join(os.tmpdir(), 'stackswap-cache-'));

function repoWith(overrides: Record<string, string | undefined>) {
  const files: Record<string, string> = { ...configRepoFiles([{ name: 'shop' }]) };
  for (const [file, text] of Object.entries(overrides)) {
    if (text === undefined) delete files[file];
    else files[file] = text;
  }
  return seedBareRepo(files).bare;
}

async function expectRefused(
  bare: string,
  args: string[],
  exitCode: number,
  message: RegExp,
  env = {},
) {
  const before = commitCount(bare);
  const r = await runCli(
    ['--repo', bare, '--cache-dir', cacheDir(), '--no-sync', '--stack', 'shop', ...args],
    { env },
  );
  expect(r.code, r.stderr).toBe(exitCode);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(commitCount(bare)).toBe(before);
  return r;
}

describe('bad input changes nothing', () => {
  it('a colour other than blue or green', async () => {
    await expectRefused(repoWith({}), ['swap', '--to', 'red'], 2, /argument 'red' is invalid/);
  });

  it('a plan in the repo with an unknown component, a missing version, an unquoted number', async () => {
    await expectRefused(
      repoWith({
        'releases/shop.yaml': 'components:\n  web: "1.1.0"\n  api: "1.1.0"\n  db: "1"\n',
      }),
      ['deploy'],
      2,
      /releases\/shop.yaml:4: components.db: unknown component "db"/,
    );
    await expectRefused(
      repoWith({ 'releases/shop.yaml': 'components:\n  web: "1.1.0"\n' }),
      ['deploy'],
      2,
      /releases\/shop.yaml:\d: components: the plan has no version for api/,
    );
    await expectRefused(
      repoWith({ 'releases/shop.yaml': 'components:\n  web: 1.10\n  api: "1"\n' }),
      ['deploy'],
      2,
      /releases\/shop.yaml:2: components.web: version must be a string; quote it/,
    );
  });

  it('malformed and alias-bomb YAML in the repo', async () => {
    await expectRefused(
      repoWith({ 'apps/shop/values-green.yaml': 'global:\n  replicas: 0\n web: [\n' }),
      ['deploy'],
      2,
      /apps\/shop\/values-green.yaml:\d+/,
    );
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    await expectRefused(
      repoWith({ 'releases/shop.yaml': `${bomb.join('\n')}\ncomponents: {web: "1", api: "1"}\n` }),
      ['deploy'],
      2,
      /releases\/shop.yaml.*alias/i,
    );
  });

  it('a missing values file', async () => {
    await expectRefused(
      repoWith({ 'apps/shop/values-green.yaml': undefined }),
      ['deploy'],
      2,
      /apps\/shop\/values-green.yaml: values file is missing/,
    );
  });

  it('a values key path through a reserved key (constructor, __proto__, prototype)', async () => {
    const r = await expectRefused(
      repoWith({}),
      ['values', 'set', 'apps/shop/values-blue.yaml', 'constructor.x=1'],
      2,
      /apps\/shop\/values-blue.yaml: constructor.x: key path "constructor.x" uses the reserved key constructor/,
    );
    expect(r.stderr).not.toMatch(/internal error|this is a bug/);
  });

  it('a path in stackswap.yaml that escapes the repo', async () => {
    await expectRefused(
      repoWith({
        'stackswap.yaml':
          'version: 1\nstacks:\n  shop:\n    components: [web, api]\n    plan: ../../etc/passwd\n',
      }),
      ['deploy'],
      2,
      /stackswap.yaml:5: stacks.shop.plan: path escapes the config repo/,
    );
  });

  it('a protected branch', async () => {
    const bare = repoWith({});
    installHook(
      { bare, root: path.dirname(bare), branch: 'main' },
      'pre-receive',
      protectedBranchHook('main'),
    );
    const r = await expectRefused(
      bare,
      ['deploy'],
      7,
      /not allowed to push code to protected branches/,
    );
    expect(r.stderr).not.toContain('Stackswap-Operation');
  });

  it('an unreachable remote', async () => {
    const port = await closedPort();
    const r = await runCli(
      [
        '--repo',
        `https://127.0.0.1:${port}/config.git`,
        '--cache-dir',
        cacheDir(),
        '--no-sync',
        'status',
      ],
      {},
    );
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/cannot reach https:\/\/127.0.0.1:\d+\/config.git/);
  });
});

describe('credentials', () => {
  const token = 'glpat-s3cr3t-T0KEN-value-1234';
  let close: (() => Promise<void>) | undefined;
  afterAll(async () => close?.());

  it('wrong credentials are an auth error; the token appears nowhere', async () => {
    const { bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }]));
    const server = await startGitHttpServer({ projectRoot: path.dirname(bare), token });
    close = () => server.close();
    const url = `${server.baseUrl}/${path.basename(bare)}`;
    const cache = cacheDir();
    const env = { STACKSWAP_GIT_ALLOW_HTTP: 'true' };

    const wrong = await runCli(
      ['--repo', url, '--cache-dir', cache, '--no-sync', '--stack', 'shop', 'deploy'],
      {
        env: { ...env, STACKSWAP_GIT_TOKEN: 'wrong-token-value-999' },
      },
    );
    expect(wrong.code, wrong.stderr).toBe(5);
    expect(wrong.stderr + wrong.stdout).not.toContain('wrong-token-value-999');

    const right = await runCli(
      [
        '--repo',
        url,
        '--cache-dir',
        cache,
        '--no-sync',
        '--stack',
        'shop',
        '--output',
        'json',
        'deploy',
      ],
      { env: { ...env, STACKSWAP_GIT_TOKEN: token } },
    );
    expect(right.code, right.stderr).toBe(0);
    const forms = [
      token,
      encodeURIComponent(token),
      Buffer.from(`oauth2:${token}`).toString('base64'),
    ];
    for (const form of forms) {
      expect(right.stdout + right.stderr).not.toContain(form);
      for (const file of filesUnder(cache))
        expect(readFileSync(file).includes(form), file).toBe(false);
      expect(readFileSync(path.join(bare, 'config')).includes(form)).toBe(false);
    }
    const { git } = await import('../../helpers/config-repo.ts');
    expect(git(bare, 'log', '--format=%B', 'main')).not.toContain(token);
  });
});
