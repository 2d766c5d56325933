/**
 * Many writers on one config repo, as separate processes (GitLab jobs on several runners):
 * every change lands, nothing is lost, and racing swaps flip exactly once.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  commitCount,
  configRepoFiles,
  git,
  readAtHead,
  seedBareRepo,
} from '../../helpers/config-repo.ts';
import { spawnCli } from '../../helpers/cli.ts';

const cacheDir = () => mkdtempSync(path.join(os.tmpdir(), 'stackswap-cache-'));

describe('concurrent promotions', () => {
  it('10 processes promote 10 stacks of one repo at once: every change lands', async () => {
    const stacks = Array.from({ length: 10 }, (_, i) => `s${i}`);
    const { bare } = seedBareRepo(configRepoFiles(stacks.map((name) => ({ name }))));
    const before = commitCount(bare);

    // Each process deploys its stack (its own values file), then swaps it (one line each in
    // the shared ingress file): the swaps all race on the same file and branch.
    const runs = await Promise.all(
      stacks.map(async (stack) => {
        const env = { STACKSWAP_REPO: bare, STACKSWAP_CACHE_DIR: cacheDir() };
        const deployed = await spawnCli(['--no-sync', '--stack', stack, 'deploy'], env);
        const swapped = await spawnCli(['--no-sync', '--stack', stack, 'swap'], env);
        return { stack, deployed, swapped };
      }),
    );
    for (const r of runs) {
      expect(r.deployed.code, `${r.stack} deploy: ${r.deployed.stderr}`).toBe(0);
      expect(r.swapped.code, `${r.stack} swap: ${r.swapped.stderr}`).toBe(0);
    }

    expect(commitCount(bare)).toBe(before + 20);
    const ingress = readAtHead(bare, 'apps/ingress/values.yaml');
    for (const stack of stacks) {
      expect(ingress).toContain(`${stack}Live: green   # edited by stackswap`);
      expect(readAtHead(bare, `apps/${stack}/values-green.yaml`)).toContain('tag: "1.1.0"');
    }
    // History is linear and complete: one deploy and one swap commit per stack.
    const trailers = git(
      bare,
      'log',
      '--format=%(trailers:key=Stackswap-Operation,valueonly)%(trailers:key=Stackswap-Stack,valueonly)',
      'main',
    );
    for (const stack of stacks) {
      expect(trailers).toContain(`deploy\n${stack}`);
      expect(trailers).toContain(`swap\n${stack}`);
    }
  }, 180_000);

  it('two racing swaps of one stack make exactly one commit', async () => {
    const { bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }]));
    const deploy = await spawnCli(['--no-sync', '--stack', 'shop', 'deploy'], {
      STACKSWAP_REPO: bare,
      STACKSWAP_CACHE_DIR: cacheDir(),
    });
    expect(deploy.code, deploy.stderr).toBe(0);
    const before = commitCount(bare);

    const [a, b] = await Promise.all(
      [0, 1].map(() =>
        spawnCli(['--no-sync', '--stack', 'shop', 'swap'], {
          STACKSWAP_REPO: bare,
          STACKSWAP_CACHE_DIR: cacheDir(),
        }),
      ),
    );
    expect(a!.code, a!.stderr).toBe(0);
    expect(b!.code, b!.stderr).toBe(0);
    expect(commitCount(bare)).toBe(before + 1);
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: green');
    // One of them made the change, the other saw it already done.
    expect([a!.stdout, b!.stdout].filter((o) => /live blue -> green/.test(o))).toHaveLength(1);
    expect([a!.stdout, b!.stdout].filter((o) => /green is already live/.test(o))).toHaveLength(1);
  }, 120_000);
});
