/**
 * A stackswap run killed (SIGKILL) at each step of the git path never blocks or corrupts the
 * next run on the same cache, and never loses or doubles an update. A `git` wrapper first on
 * PATH kills its parent (the stackswap process) when it is started for the chosen subcommand:
 * either before git runs ("before"), or letting the orphaned git finish its work ("during":
 * e.g. a push that lands while nobody hears its answer). The next run must then succeed
 * promptly (a blocked run would wait 120 s for the lock), the deploy must be on the remote
 * exactly once, and a further operation on the same cache must work.
 */
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  commitCount,
  configRepoFiles,
  git,
  readAtHead,
  seedBareRepo,
} from '../../helpers/config-repo.ts';
import { spawnCli } from '../../helpers/cli.ts';
import { resolveRealGit } from '../../helpers/git-spy.ts';

const tmp = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

interface KillSwitch {
  path: string;
  /** Set once the wrapper has fired (and, for "during", once the orphaned git has finished). */
  fired: string;
  done: string;
}

/** A `git` that SIGKILLs its parent the first time it is started as `git <step> …`. */
function killSwitch(step: string, mode: 'before' | 'during'): KillSwitch {
  const dir = tmp('stackswap-kill-');
  const fired = path.join(dir, 'fired');
  const done = path.join(dir, 'done');
  const realGit = resolveRealGit();
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(
    path.join(dir, 'git'),
    `#!/bin/sh
if [ "$1" = ${q(step)} ] && mkdir ${q(fired)} 2>/dev/null; then
  kill -9 "$PPID"
  ${mode === 'before' ? `touch ${q(done)}; exit 1` : `${q(realGit)} "$@"; touch ${q(done)}; exit 0`}
fi
exec ${q(realGit)} "$@"
`,
  );
  chmodSync(path.join(dir, 'git'), 0o755);
  return { path: `${dir}${path.delimiter}${process.env.PATH ?? ''}`, fired, done };
}

async function waitFor(file: string): Promise<void> {
  for (let i = 0; i < 600 && !existsSync(file); i++) await delay(50);
  expect(existsSync(file), `${file} never appeared`).toBe(true);
}

/**
 * Steps of a warm deploy, in order (config: the first git once the cache lock is held). Blobs
 * and trees are written in-process (loose objects linked into place), so commit-tree is the
 * first git after them; after the push the local ref is written in-process too.
 */
const WARM_STEPS: [string, 'before' | 'during'][] = [
  ['config', 'before'],
  ['fetch', 'before'],
  ['fetch', 'during'],
  ['cat-file', 'before'],
  ['commit-tree', 'during'],
  ['push', 'before'],
  // The local ref is then moved in-process (no update-ref child): a kill there is the kill
  // right after the push's git exits, which 'push during' is.
  ['push', 'during'],
];

describe('a run killed at any git step', () => {
  const cases: { step: string; mode: 'before' | 'during'; cold: boolean }[] = [
    ...WARM_STEPS.map(([step, mode]) => ({ step, mode, cold: false })),
    { step: 'clone', mode: 'before', cold: true },
    { step: 'clone', mode: 'during', cold: true },
  ];

  it.each(cases)(
    'killed at $step ($mode, cold: $cold): the next run succeeds promptly, the deploy lands once',
    async ({ step, mode, cold }) => {
      const { bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }]));
      const env = { STACKSWAP_REPO: bare, STACKSWAP_CACHE_DIR: tmp('stackswap-cache-') };
      if (!cold) {
        const warm = await spawnCli(['--no-sync', '--stack', 'shop', 'status'], env);
        expect(warm.code, warm.stderr).toBe(0);
      }
      const before = commitCount(bare);

      const kill = killSwitch(step, mode);
      const killed = await spawnCli(['--no-sync', '--stack', 'shop', 'deploy'], {
        ...env,
        PATH: kill.path,
      });
      expect(existsSync(kill.fired), `the wrapper never saw git ${step}`).toBe(true);
      expect(killed.code).not.toBe(0);
      await waitFor(kill.done);

      const started = Date.now();
      const again = await spawnCli(['--no-sync', '--stack', 'shop', 'deploy'], env);
      expect(again.code, again.stderr).toBe(0);
      // Far below the 120 s a run waits for a lock it believes held.
      expect(Date.now() - started).toBeLessThan(60_000);

      expect(commitCount(bare)).toBe(before + 1);
      expect(readAtHead(bare, 'apps/shop/values-green.yaml')).toContain('tag: "1.1.0"');
      const operations = git(
        bare,
        'log',
        '--format=%(trailers:key=Stackswap-Operation,valueonly)',
        'main',
      );
      expect(operations.split('\n').filter((o) => o === 'deploy')).toHaveLength(1);

      // The cache still works for the next operation.
      const swapped = await spawnCli(['--no-sync', '--stack', 'shop', 'swap'], env);
      expect(swapped.code, swapped.stderr).toBe(0);
      expect(commitCount(bare)).toBe(before + 2);
      expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: green');
    },
    180_000,
  );
});
