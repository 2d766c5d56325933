/**
 * The operations through the real CLI code path against real bare repos (git only, --no-sync):
 * what each one commits, that re-running changes nothing, and the preconditions.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  commitCount,
  configRepoFiles,
  git,
  readAtHead,
  seedBareRepo,
} from '../../helpers/config-repo.ts';
import { runCli } from '../../helpers/cli.ts';

let bare: string;
let cache: string;
let clock: number;

beforeEach(() => {
  ({ bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }, { name: 'blog' }])));
  cache = mkdtempSync(path.join(os.tmpdir(), 'stackswap-cache-'));
  clock = Date.now();
});

const cli = (...args: string[]) =>
  runCli(['--repo', bare, '--cache-dir', cache, '--no-sync', '--requested-by', 'alice', ...args], {
    now: () => clock,
  });

const lastCommit = () => git(bare, 'log', '-1', '--format=%B', 'main');

describe('deploy', () => {
  it('puts the plan into the preview colour only, with an audit trail, once', async () => {
    const before = commitCount(bare);
    const first = await cli('--stack', 'shop', 'deploy');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/green \(preview\) runs web=1.1.0,api=1.1.0; blue stays live/);
    expect(commitCount(bare)).toBe(before + 1);
    const green = readAtHead(bare, 'apps/shop/values-green.yaml');
    expect(green).toContain('replicas: 2 # set by stackswap');
    expect(green).toContain('tag: "1.1.0"  # pinned per colour');
    // The live colour and the ingress are untouched.
    expect(readAtHead(bare, 'apps/shop/values-blue.yaml')).toContain('tag: "1.0.0"');
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: blue');
    const message = lastCommit();
    expect(message).toMatch(/^deploy shop to green \(preview\): web=1.1.0,api=1.1.0/);
    expect(message).toContain('Stackswap-Operation: deploy');
    expect(message).toContain('Stackswap-Stack: shop');
    expect(message).toContain('Stackswap-Requested-By: alice');
    expect(message).toMatch(/Stackswap-Operation-Id: [0-9a-f-]{36}/);

    const again = await cli('--stack', 'shop', 'deploy');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('(unchanged)');
    expect(commitCount(bare)).toBe(before + 1);
  });

  it('takes --set over the repo plan and --plan files, and refuses bad versions', async () => {
    const set = await cli('--stack', 'shop', 'deploy', '--set', 'web=2.0.0');
    expect(set.code).toBe(0);
    expect(readAtHead(bare, 'apps/shop/values-green.yaml')).toMatch(
      /web:\n {2}image:\n {4}tag: "2.0.0"/,
    );

    const before = commitCount(bare);
    for (const args of [
      ['deploy', '--set', 'db=1.0.0'],
      ['deploy', '--set', 'web=not a tag'],
      ['deploy', '--set', 'web'],
    ]) {
      const r = await cli('--stack', 'shop', ...args);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect(commitCount(bare)).toBe(before);
  });

  it('creates the release plan when the repo has none', async () => {
    const files = configRepoFiles([{ name: 'shop' }]);
    delete files['releases/shop.yaml'];
    ({ bare } = seedBareRepo(files));
    expect((await cli('--stack', 'shop', 'deploy')).code).toBe(2);
    const r = await cli('--stack', 'shop', 'deploy', '--set', 'web=1.10', '--set', 'api=2.0.0');
    expect(r.code, r.stderr).toBe(0);
    expect(readAtHead(bare, 'releases/shop.yaml')).toBe(
      '# Release plan of shop: component -> version (image tag).\nstack: shop\ncomponents:\n  web: "1.10"\n  api: 2.0.0',
    );
  });

  it('names the file, key and line of a bad plan file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'plan-'));
    const plan = path.join(dir, 'plan.yaml');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(plan, 'components:\n  web: 1.10\n  api: "1.0"\n'),
    );
    const r = await cli('--stack', 'shop', 'deploy', '--plan', plan);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${plan}:2: components.web: version must be a string; quote it`);
  });

  it('refuses an unknown stack with the list of stacks', async () => {
    const r = await cli('--stack', 'nope', 'deploy');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown stack "nope" \(stacks in stackswap.yaml: shop, blog\)/);
  });
});

describe('swap and revert', () => {
  it('refuses to swap to a preview that does not carry the plan', async () => {
    const r = await cli('--stack', 'shop', 'swap');
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/green has 0 replicas/);
  });

  it('swaps once, reverts once, and both are idempotent', async () => {
    expect((await cli('--stack', 'shop', 'deploy')).code).toBe(0);
    const swapped = await cli('--stack', 'shop', 'swap');
    expect(swapped.code).toBe(0);
    expect(swapped.stdout).toMatch(/shop: live blue -> green/);
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain(
      'shopLive: green   # edited by stackswap',
    );
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('blogLive: blue');
    expect(lastCommit()).toContain('Stackswap-From: blue');
    expect(lastCommit()).toContain('Stackswap-To: green');

    const count = commitCount(bare);
    expect((await cli('--stack', 'shop', 'swap')).stdout).toMatch(/green is already live/);
    expect((await cli('--stack', 'shop', 'swap', '--to', 'green')).code).toBe(0);
    expect(commitCount(bare)).toBe(count);

    const reverted = await cli('--stack', 'shop', 'revert');
    expect(reverted.code).toBe(0);
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: blue');
    expect(lastCommit()).toMatch(/^revert shop: live green -> blue \(undoes [0-9a-f]{12}\)/);
    const again = await cli('--stack', 'shop', 'revert');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/blue is already live; nothing to revert/);
    expect(commitCount(bare)).toBe(count + 1);
  });

  it('refuses to revert when nothing was swapped', async () => {
    const r = await cli('--stack', 'shop', 'revert');
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/nothing to revert/);
  });
});

describe('scale-down', () => {
  it('waits for the retention window, then refuses a revert to the scaled-down colour', async () => {
    await cli('--stack', 'shop', 'deploy');
    await cli('--stack', 'shop', 'swap');
    const early = await cli('--stack', 'shop', 'scale-down');
    expect(early.code).toBe(6);
    expect(early.stderr).toMatch(/retention window/);

    clock += 31 * 60_000;
    const later = await cli('--stack', 'shop', 'scale-down');
    expect(later.code).toBe(0);
    expect(readAtHead(bare, 'apps/shop/values-blue.yaml')).toContain(
      'replicas: 0 # set by stackswap',
    );
    expect(readAtHead(bare, 'apps/shop/values-green.yaml')).toContain('replicas: 2');
    expect((await cli('--stack', 'shop', 'scale-down')).stdout).toMatch(/already at 0 replicas/);

    const revert = await cli('--stack', 'shop', 'revert');
    expect(revert.code).toBe(6);
    expect(revert.stderr).toMatch(/cannot revert to blue: it has been scaled to 0 replicas/);
    expect(revert.stderr).toMatch(
      /hint: bring it back first: stackswap deploy --stack shop --set web=1.0.0 --set api=1.0.0/,
    );
  });
});

describe('init, status, history', () => {
  it('reports the state and writes a GitLab dotenv', async () => {
    await cli('--stack', 'shop', 'deploy');
    const dotenv = path.join(mkdtempSync(path.join(os.tmpdir(), 'dotenv-')), 'deploy.env');
    const init = await cli('--stack', 'shop', 'init', '--dotenv', dotenv);
    expect(init.code).toBe(0);
    const text = await import('node:fs/promises').then((fs) => fs.readFile(dotenv, 'utf8'));
    expect(text).toContain('LIVE_COLOR=blue\n');
    expect(text).toContain('PREVIEW_COLOR=green\n');
    expect(text).toContain('PREVIEW_NAMESPACE=shop-green\n');
    expect(text).toContain('PREVIEW_VERSION_WEB=1.1.0\n');
    expect(text).toMatch(/^[A-Z0-9_]+=[^\n]*$/m);

    const status = await cli('--stack', 'shop', '--output', 'json', 'status');
    const parsed = JSON.parse(status.stdout) as {
      ok: boolean;
      result: { live: string; colours: { green: { replicas: number } } };
    };
    expect(parsed.ok).toBe(true);
    expect(parsed.result.live).toBe('blue');
    expect(parsed.result.colours.green.replicas).toBe(2);

    const history = await cli('--stack', 'shop', '--output', 'json', 'history');
    const entries = (
      JSON.parse(history.stdout) as { result: { operation: string; requestedBy: string }[] }
    ).result;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ operation: 'deploy', requestedBy: 'alice' });
  });

  it('prints one JSON error document with the exit code', async () => {
    const r = await cli('--stack', 'nope', '--output', 'json', 'status');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: false,
      exitCode: 2,
      error: { code: 'validation' },
    });
  });
});

describe('values set', () => {
  it('edits scalars with typed values and escaped keys', async () => {
    const r = await cli(
      'values',
      'set',
      'apps/shop/values-blue.yaml',
      'web.image.tag=1.10',
      'global.replicas:=3',
    );
    expect(r.code).toBe(0);
    const text = readAtHead(bare, 'apps/shop/values-blue.yaml');
    expect(text).toContain('tag: "1.10"  # pinned per colour');
    expect(text).toContain('replicas: 3 # set by stackswap');
    expect(lastCommit()).toContain('Stackswap-Operation: values-set');
  });

  it('refuses a path outside the repo and a missing key', async () => {
    expect((await cli('values', 'set', '../x.yaml', 'a=b')).code).toBe(2);
    const missing = await cli(
      'values',
      'set',
      'apps/shop/values-blue.yaml',
      'global.nope.deeper=1',
    );
    expect(missing.code).toBe(0); // creates missing keys in the file's own style
    expect(readAtHead(bare, 'apps/shop/values-blue.yaml')).toMatch(/nope:\n {4}deeper: "1"/);
  });
});
