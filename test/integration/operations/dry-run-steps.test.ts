/**
 * The dry run of a weighted swap (CLI `swap --dry-run --steps`, the service's `dryRun: true`)
 * plans every commit the real run makes, in order: one per step setting the preview's weight,
 * then the flip; each with its subject, trailers and diff against the commit before. Compared
 * with the commits the real run then pushes (git only). Also: a dry run refuses a rejected
 * release as the real run does.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { configRepoFiles, git, openLocalRepo, seedBareRepo } from '../../helpers/config-repo.ts';
import { runCli } from '../../helpers/cli.ts';
import { DryRunResult } from '../../../src/server/schemas.ts';
import { dryRun } from '../../../src/server/stacks/dry-run.ts';

let bare: string;
let cache: string;

beforeEach(() => {
  ({ bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }])));
  cache = mkdtempSync(path.join(os.tmpdir(), 'stackswap-cache-'));
});

const cli = (...args: string[]) =>
  runCli(['--repo', bare, '--cache-dir', cache, '--no-sync', '--requested-by', 'alice', ...args]);
const head = () => git(bare, 'rev-parse', 'main');
const remoteState = () => ({
  refs: git(bare, 'for-each-ref', '--format=%(refname) %(objectname)'),
  objects: git(bare, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname)'),
});

/** `git show` of one commit, per file, from the `--- ` line on (as the dry run prints it). */
function committedDiffs(sha: string): Record<string, string> {
  const out = execFileSync('git', ['show', '--format=', '--no-color', '-U3', sha], {
    cwd: bare,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' },
  });
  const diffs: Record<string, string> = {};
  for (const chunk of out.split(/^diff --git .*\n/m).slice(1)) {
    const body = chunk.slice(chunk.search(/^--- /m));
    diffs[/^\+\+\+ b\/(.+)$/m.exec(body)![1]!] = body;
  }
  return diffs;
}

const withoutId = (trailers: Record<string, string>) =>
  Object.entries(trailers)
    .filter(([k]) => k !== 'Stackswap-Operation-Id')
    .map(([k, v]) => `${k}: ${v}`);

describe('the dry run of a weighted swap', () => {
  it('plans each step and the flip, exactly as the real run commits them', async () => {
    expect((await cli('deploy')).code).toBe(0);
    const base = head();
    const before = remoteState();
    const json = await cli('--output', 'json', 'swap', '--steps', '10,50,100', '--dry-run');
    expect(json.code, json.stderr).toBe(0);
    const report = DryRunResult.strict().parse(JSON.parse(json.stdout).result);
    const text = await cli('swap', '--steps', '10,50,100', '--dry-run');
    expect(text.code, text.stderr).toBe(0);
    expect(remoteState()).toEqual(before);

    expect(report).toMatchObject({ kind: 'swap', baseSha: base, wouldCommit: true });
    expect(report.steps!.map((s) => s.subject)).toEqual([
      'swap shop: 10% of traffic to green',
      'swap shop: 50% of traffic to green',
      'swap shop: live blue -> green',
    ]);
    expect(report.subject).toBe('swap shop: live blue -> green');
    expect(report.steps![1]!.files[0]!.diff).toMatch(/^-  previewWeight: 10$/m);
    expect(report.steps![1]!.files[0]!.diff).toMatch(/^\+  previewWeight: 50$/m);
    // The net change: live flipped, the weight key at 0.
    expect(report.files[0]!.diff).toMatch(/^\+  shopLive: green {3}# edited by stackswap$/m);
    expect(text.stdout).toMatch(/^commit 1 of 3:\n {4}swap shop: 10% of traffic to green$/m);
    expect(text.stdout).toMatch(/^commit 3 of 3:\n {4}swap shop: live blue -> green$/m);
    for (const step of report.steps!)
      for (const f of step.files) expect(text.stdout).toContain(f.diff);

    // The service's dry run plans the same commits.
    const repo = await openLocalRepo(bare);
    try {
      const served = await dryRun({
        repo,
        refresh: () => repo.sync(),
        kind: 'swap',
        stack: 'shop',
        body: { steps: [10, 50, 100], dryRun: true },
        deployer: undefined,
        requestedBy: 'alice',
        timeoutMs: 20_000,
        now: Date.now,
      });
      expect(served.steps!.map((s) => [s.subject, s.files])).toEqual(
        report.steps!.map((s) => [s.subject, s.files]),
      );
    } finally {
      repo.close();
    }

    const real = await cli('swap', '--steps', '10,50,100');
    expect(real.code, real.stderr).toBe(0);
    const commits = git(bare, 'rev-list', '--reverse', `${base}..main`).split('\n');
    expect(commits).toHaveLength(3);
    commits.forEach((sha, i) => {
      const planned = report.steps![i]!;
      expect(git(bare, 'log', '-1', '--format=%s', sha)).toBe(planned.subject);
      const trailers = git(bare, 'log', '-1', '--format=%(trailers:only,unfold)', sha)
        .split('\n')
        .filter((l) => !l.startsWith('Stackswap-Operation-Id:'));
      expect(trailers).toEqual(withoutId(planned.trailers));
      expect(Object.fromEntries(planned.files.map((f) => [f.file, f.diff]))).toEqual(
        committedDiffs(sha),
      );
    });
  });

  it('refuses a rejected release as the real run does', async () => {
    expect((await cli('deploy')).code).toBe(0);
    expect((await cli('swap')).code).toBe(0);
    expect((await cli('revert')).code).toBe(0);
    const before = remoteState();
    const dry = await cli('swap', '--steps', '10,100', '--dry-run');
    const real = await cli('swap', '--steps', '10,100');
    expect(dry.code, dry.stderr).toBe(6);
    expect(real.code, real.stderr).toBe(6);
    expect(dry.stderr).toMatch(
      /release api=1\.1\.0,web=1\.1\.0 of shop was rejected at|release web=1\.1\.0,api=1\.1\.0 of shop was rejected at/,
    );
    expect(remoteState()).toEqual(before);
    const forced = await cli('swap', '--steps', '10,100', '--dry-run', '--force');
    expect(forced.code, forced.stderr).toBe(0);
  });
});
