/**
 * `--dry-run` on deploy, swap, revert and scale-down, through the real CLI code path against
 * real bare repos (git only): a dry run pushes nothing and writes no object to the remote, prints
 * exactly the diff the real run then commits (compared with `git show` of that commit), with the
 * base commit and the message, and refuses what the real run refuses, with the same exit code.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { configRepoFiles, git, seedBareRepo } from '../../helpers/config-repo.ts';
import { runCli, spawnCli, type CliRun } from '../../helpers/cli.ts';
import { DryRunResult } from '../../../src/server/schemas.ts';

let bare: string;
let cache: string;
let clock: number;

beforeEach(() => {
  ({ bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }, { name: 'blog' }])));
  cache = mkdtempSync(path.join(os.tmpdir(), 'stackswap-cache-'));
  clock = Date.now();
});

const common = () => ['--repo', bare, '--cache-dir', cache, '--no-sync', '--requested-by', 'alice'];
const cli = (...args: string[]) =>
  runCli([...common(), '--stack', 'shop', ...args], { now: () => clock });

/** Everything the remote holds: its refs and every object in it. */
function remoteState(): { refs: string; objects: string } {
  return {
    refs: git(bare, 'for-each-ref', '--format=%(refname) %(objectname)'),
    objects: git(bare, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname)'),
  };
}

const head = () => git(bare, 'rev-parse', 'main');

/** The per-file diffs of a commit as `git show` prints them, from the `--- ` line on. */
function committedDiffs(sha: string): Record<string, string> {
  const out = execFileSync(
    'git',
    ['show', '--format=', '--no-color', '--no-renames', '--no-ext-diff', '-U3', sha],
    { cwd: bare, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' } },
  );
  const diffs: Record<string, string> = {};
  for (const chunk of out.split(/^diff --git .*\n/m).slice(1)) {
    const body = chunk.slice(chunk.search(/^--- /m));
    const file = /^\+\+\+ b\/(.+)$/m.exec(body)![1]!;
    diffs[file] = body;
  }
  return diffs;
}

function jsonResult(r: CliRun): DryRunResult {
  expect(r.code, r.stderr).toBe(0);
  const parsed = JSON.parse(r.stdout) as { ok: boolean; result: unknown };
  expect(parsed.ok).toBe(true);
  // Exactly the structure the service answers for dryRun: true (no key more, none less).
  return DryRunResult.strict().parse(parsed.result);
}

/**
 * Dry-runs `args` (text and JSON), checks that nothing reached the remote, then runs them for
 * real and checks that the commit carries exactly the diffs and the message the dry run showed.
 */
async function dryRunThenRun(...args: string[]): Promise<DryRunResult> {
  const before = remoteState();
  const base = head();
  const text = await cli(...args, '--dry-run');
  expect(text.code, text.stderr).toBe(0);
  const report = jsonResult(await cli('--output', 'json', ...args, '--dry-run'));
  expect(remoteState()).toEqual(before);

  expect(report).toMatchObject({ dryRun: true, stack: 'shop', baseSha: base, wouldCommit: true });
  expect(text.stdout).toContain(`base commit: ${base}\n`);
  expect(text.stdout).toMatch(/nothing committed \(dry run\)\n$/);
  for (const file of report.files) expect(text.stdout).toContain(file.diff);
  expect(text.stderr).toContain('nothing committed (dry run)');

  const real = await cli(...args);
  expect(real.code, real.stderr).toBe(0);
  const sha = head();
  expect(git(bare, 'rev-parse', `${sha}^`)).toBe(base);
  const planned = Object.fromEntries(report.files.map((f) => [f.file, f.diff]));
  expect(planned).toEqual(committedDiffs(sha));

  // The same subject and trailers; only the operation id (one per run) differs.
  expect(git(bare, 'log', '-1', '--format=%s', sha)).toBe(report.subject);
  const trailers = git(bare, 'log', '-1', '--format=%(trailers:only,unfold)', sha)
    .split('\n')
    .filter((line) => !line.startsWith('Stackswap-Operation-Id:'));
  const plannedTrailers = Object.entries(report.trailers!)
    .filter(([key]) => key !== 'Stackswap-Operation-Id')
    .map(([key, value]) => `${key}: ${value}`);
  expect(trailers).toEqual(plannedTrailers);
  for (const line of plannedTrailers) expect(text.stdout).toContain(`    ${line}\n`);
  return report;
}

describe('--dry-run shows exactly what the real run commits', () => {
  it('deploy, swap, revert, scale-down', async () => {
    const deploy = await dryRunThenRun('deploy', '--set', 'web=2.0.0');
    expect(deploy.kind).toBe('deploy');
    // --set also records the version in the stack's release plan.
    expect(deploy.files.map((f) => f.file).sort()).toEqual([
      'apps/shop/values-green.yaml',
      'releases/shop.yaml',
    ]);
    expect(deploy.files[0]!.diff).toContain('+    tag: "2.0.0"  # pinned per colour');

    const swap = await dryRunThenRun('swap');
    expect(swap.files.map((f) => f.file)).toEqual(['apps/ingress/values.yaml']);
    expect(swap.files[0]!.diff).toContain('+  shopLive: green   # edited by stackswap');

    const revert = await dryRunThenRun('revert');
    expect(revert.files[0]!.diff).toContain('+  shopLive: blue   # edited by stackswap');

    // The revert rejected green's release: swapping back to it takes --force.
    expect((await cli('swap')).code).toBe(6);
    expect((await cli('swap', '--force')).code).toBe(0);
    clock += 31 * 60_000;
    const scaleDown = await dryRunThenRun('scale-down');
    expect(scaleDown.files.map((f) => f.file)).toEqual(['apps/shop/values-blue.yaml']);
    expect(scaleDown.files[0]!.diff).toContain('+  replicas: 0 # set by stackswap');
  });

  it('a created file, and the reason as the message body', async () => {
    const files = configRepoFiles([{ name: 'shop' }]);
    delete files['releases/shop.yaml'];
    ({ bare } = seedBareRepo(files));
    const args = ['--reason', 'ticket 42', 'deploy', '--set', 'web=1.10', '--set', 'api=2.0.0'];
    const text = await cli(...args, '--dry-run');
    expect(text.stdout).toMatch(/commit message:\n {4}deploy shop .*\n\n {4}ticket 42\n\n/);
    const report = await dryRunThenRun(...args);
    const created = report.files.find((f) => f.file === 'releases/shop.yaml')!;
    expect(created.created).toBe(true);
    expect(created.diff).toMatch(/^--- \/dev\/null\n\+\+\+ b\/releases\/shop.yaml\n/);
  });

  it('says so when the real run would commit nothing', async () => {
    expect((await cli('deploy')).code).toBe(0);
    const before = remoteState();
    const text = await cli('deploy', '--dry-run');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      'already in the desired state: the real run would commit nothing',
    );
    expect(text.stdout).toMatch(/nothing committed \(dry run\)\n$/);
    const report = jsonResult(await cli('--output', 'json', 'deploy', '--dry-run'));
    expect(report).toMatchObject({ wouldCommit: false, files: [], baseSha: head() });
    expect(report.subject).toBeUndefined();
    expect(remoteState()).toEqual(before);
  });
});

describe('--dry-run refuses what the real run refuses', () => {
  const cases: { name: string; args: string[]; code: number; message: RegExp }[] = [
    {
      name: 'swap to an undeployed preview',
      args: ['swap'],
      code: 6,
      message: /green has 0 replicas/,
    },
    {
      name: 'revert with nothing swapped',
      args: ['revert'],
      code: 6,
      message: /nothing to revert/,
    },
    { name: 'an unknown component', args: ['deploy', '--set', 'db=1.0.0'], code: 2, message: /db/ },
    { name: 'a bad version', args: ['deploy', '--set', 'web=not a tag'], code: 2, message: /web/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const before = remoteState();
      const dry = await cli(...c.args, '--dry-run');
      const real = await cli(...c.args);
      expect(dry.code, dry.stderr).toBe(c.code);
      expect(real.code).toBe(c.code);
      expect(dry.stderr).toMatch(c.message);
      // The same error line, word for word.
      expect(dry.stderr.split('\n').find((l) => l.startsWith('stackswap: '))).toBe(
        real.stderr.split('\n').find((l) => l.startsWith('stackswap: ')),
      );
      expect(remoteState()).toEqual(before);
    });
  }

  it('scale-down inside the retention window, and an unknown stack', async () => {
    await cli('deploy');
    await cli('swap');
    const before = remoteState();
    const early = await cli('scale-down', '--dry-run');
    expect(early.code).toBe(6);
    expect(early.stderr).toMatch(/retention window/);
    const unknown = await runCli([...common(), '--stack', 'nope', 'deploy', '--dry-run']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown stack "nope"/);
    expect(remoteState()).toEqual(before);
  });

  it('as a JSON error document in --output json', async () => {
    const r = await cli('--output', 'json', 'swap', '--dry-run');
    expect(r.code).toBe(6);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, exitCode: 6 });
  });
});

describe('the installed binary', () => {
  it('dry-runs a deploy (compiled dist/, a process of its own)', async () => {
    const before = remoteState();
    const r = await spawnCli([...common(), '--stack', 'shop', 'deploy', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('dist/ is stale');
    expect(r.stdout).toContain(`base commit: ${head()}`);
    expect(r.stdout).toContain('+    tag: "1.1.0"  # pinned per colour');
    expect(remoteState()).toEqual(before);
    const swap = await spawnCli([...common(), '--stack', 'shop', 'swap', '--dry-run']);
    expect(swap.code).toBe(6);
  });
});
