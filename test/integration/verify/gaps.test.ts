/**
 * Verification's loose ends, on the sandbox with a real Prometheus and steady user traffic:
 * - a swap stopped by pre-swap verification is recorded (a `swap-stop` commit with the
 *   rejected-release record) and shows in `history` and `status`;
 * - a rejected release is refused by deploy and swap (exit 6) unless `--force`; a manual
 *   revert rejects the release it reverted from;
 * - Ctrl-C (a real SIGINT to a real CLI process) during a gate ends `interrupted` (exit 11):
 *   before any traffic nothing moves; at a weighted step the weight goes back to 0;
 * - a rollback whose push the remote refuses exits 10 and says where traffic is and how to
 *   move it.
 */
import { spawn } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { startLoad, type LoadRun } from '../../../src/sandbox/traffic/load.ts';
import { cliBin, runCli, type CliRun } from '../../helpers/cli.ts';
import { git } from '../../helpers/config-repo.ts';
import { liveWeights } from '../../helpers/sandbox-state.ts';
import { PROMETHEUS, requireBinary } from '../../helpers/system-packages.ts';

let sandbox: Sandbox;
let load: LoadRun | undefined;

beforeAll(async () => {
  requireBinary(PROMETHEUS);
  sandbox = await startSandbox({
    verification: true,
    prometheus: true,
    traffic: true,
    argocd: { progressingMs: 150, faultPattern: /bad/, pollIntervalMs: 0, initialSync: 'all' },
  });
  await sandbox.argocd.idle();
  // Live traffic through the gateway for the whole file, so the analysis has requests to judge.
  load = startLoad({
    target: sandbox.traffic!.url,
    host: 'my-app.example.com',
    concurrency: 3,
    ratePerSecond: 150,
    maxDurationMs: 15 * 60_000,
    maxRequests: Number.MAX_SAFE_INTEGER,
  });
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await sandbox?.close();
});

const cli = (args: string[]) =>
  runCli(['--timeout', '60', '--requested-by', 'tester', ...args], { env: sandbox.env });
const show = (file: string) => git(sandbox.repoPath, 'show', `main:${file}`);
const ingressValues = () => show('apps/ingress/values.yaml');
const headMessage = () => git(sandbox.repoPath, 'log', '-1', '--format=%B', 'main');
const head = () => git(sandbox.repoPath, 'rev-parse', 'main');
const rejected = () =>
  (
    parse(show('.stackswap/rejected/my-app.yaml')) as {
      rejected: {
        versions: Record<string, string>;
        operation: string;
        reason: string;
        at: string;
      }[];
    }
  ).rejected;

async function deploy(frontend: string, backend = frontend, extra: string[] = []) {
  const run = await cli([
    'deploy',
    '--set',
    `my-frontend=${frontend}`,
    '--set',
    `my-backend=${backend}`,
    ...extra,
  ]);
  expect(run.code, run.stderr).toBe(0);
}

/**
 * The real binary in a child process; `interruptWhen` sends it a real SIGINT once its stderr
 * matches (so the handler is installed and the gate or step is running).
 */
function spawnCli(
  args: string[],
  interruptWhen: RegExp,
  signal: NodeJS.Signals = 'SIGINT',
): Promise<CliRun & { signalled: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [cliBin, '--timeout', '60', '--requested-by', 'tester', ...args],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...sandbox.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!signalled && interruptWhen.test(stderr)) {
        signalled = true;
        child.kill(signal);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, signalled });
    });
  });
}

describe('verification stops, rejected releases, interruptions and failed rollbacks', () => {
  it('records a pre-swap stop as a rejected release, shown by history and status', async () => {
    sandbox.traffic!.pool.setFaults([{ version: /broken/, errorShare: 1 }]);
    await deploy('1.2.0-broken', '1.2.0');
    const before = head();
    const ingressBefore = ingressValues();
    const swap = await cli(['swap']);
    expect(swap.code, swap.stderr).toBe(9);
    expect(swap.stderr).toMatch(
      /verification failed at pre-swap on green: check deep-health: status 500/,
    );
    expect(swap.stderr).toMatch(
      /stopped before any user traffic; no traffic moved; the release is recorded as rejected \(commit [0-9a-f]{12}\)/,
    );
    // One commit, the record only: traffic and every values file untouched.
    expect(git(sandbox.repoPath, 'rev-parse', 'main~1')).toBe(before);
    expect(git(sandbox.repoPath, 'diff', '--name-only', before, 'main')).toBe(
      '.stackswap/rejected/my-app.yaml',
    );
    expect(ingressValues()).toBe(ingressBefore);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
    const message = headMessage();
    expect(message).toMatch(/^Stackswap-Operation: swap-stop$/m);
    expect(message).toMatch(/^Stackswap-Rejected: my-frontend=1\.2\.0-broken,my-backend=1\.2\.0$/m);
    expect(message).toMatch(/^Stackswap-Verification: failed$/m);
    expect(message).toMatch(/^Stackswap-Verification-Phase: pre-swap on green$/m);
    expect(rejected()).toEqual([
      expect.objectContaining({
        versions: { 'my-frontend': '1.2.0-broken', 'my-backend': '1.2.0' },
        operation: 'swap-stop',
        at: before,
        reason: expect.stringMatching(/^pre-swap on green: check deep-health: status 500/),
      }),
    ]);

    const history = await cli(['history']);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toMatch(
      /swap-stop +my-app +tester +swap my-app: stopped before any traffic by verification; my-frontend=1\.2\.0-broken,my-backend=1\.2\.0 rejected: check deep-health: status 500/,
    );
    const historyJson = JSON.parse((await cli(['history', '--output', 'json'])).stdout) as {
      result: { operation: string; rejected?: Record<string, string> }[];
    };
    expect(historyJson.result[0]).toMatchObject({
      operation: 'swap-stop',
      rejected: { 'my-frontend': '1.2.0-broken', 'my-backend': '1.2.0' },
    });
    const status = await cli(['status']);
    expect(status.stdout).toMatch(
      /last verification stop: swap-stop [0-9a-f]{12} at pre-swap on green: check deep-health: status 500/,
    );
    expect(status.stdout).toMatch(
      /rejected releases \(deploy and swap refuse them without --force\):\n {2}my-frontend=1\.2\.0-broken my-backend=1\.2\.0: swap-stop at [0-9a-f]{12} by tester/,
    );
  });

  it('refuses to deploy or swap a rejected release unless forced (exit 6), and says why', async () => {
    const before = head();
    const again = await cli(['swap', '--output', 'json']);
    expect(again.code, again.stderr).toBe(6);
    const error = JSON.parse(again.stdout) as { error: { code: string; message: string } };
    expect(error.error.code).toBe('release-rejected');
    expect(error.error.message).toMatch(
      /^release my-frontend=1\.2\.0-broken,my-backend=1\.2\.0 of my-app was rejected at [0-9a-f]{12} by tester \(swap-stop, \d{4}-\d\d-\d\dT[\d:.]+Z\): pre-swap on green: check deep-health: status 500.*; pass --force \(API: "force": true\) to swap to it anyway$/,
    );
    const redeploy = await cli([
      'deploy',
      '--set',
      'my-frontend=1.2.0-broken',
      '--set',
      'my-backend=1.2.0',
    ]);
    expect(redeploy.code, redeploy.stderr).toBe(6);
    expect(redeploy.stderr).toMatch(/was rejected at .*; pass --force .* to deploy it anyway/);
    expect(redeploy.stderr).toMatch(/remove its entry from \.stackswap\/rejected\/my-app\.yaml/);
    expect(head()).toBe(before);
    // Forced, the same set goes ahead (here: deploy is a no-op, the preview already runs it).
    await deploy('1.2.0-broken', '1.2.0', ['--force']);
    // A different set is not affected.
    sandbox.traffic!.pool.setFaults([]);
    await deploy('1.1.0');
  });

  it('turns a real SIGINT during the pre-swap gate into exit 11 with nothing moved', async () => {
    // Green's health check answers slower than the check's 2 s timeout: the gate keeps trying.
    sandbox.traffic!.pool.setFaults([{ version: /slow/, latencyMs: 2500, paths: /^\/healthz/ }]);
    await deploy('1.6.0-slow', '1.6.0');
    const before = head();
    const swap = await spawnCli(['swap'], /check deep-health #1: failed/);
    expect(swap.signalled, swap.stderr).toBe(true);
    expect(swap.code, swap.stderr).toBe(11);
    expect(swap.stderr).toMatch(/SIGINT: stopping; verification ends as interrupted/);
    expect(swap.stderr).toMatch(
      /pre-swap on green was interrupted after \d+s, before its verdict: not verified; nothing was committed/,
    );
    expect(head()).toBe(before);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
    // An interruption is no verdict: the release is not rejected.
    expect(rejected().map((r) => r.versions['my-frontend'])).toEqual(['1.2.0-broken']);

    // `verify` goes through the same handler; SIGTERM (a CI job cancelled) as well.
    const verify = await spawnCli(['verify'], /check deep-health #1: failed/, 'SIGTERM');
    expect(verify.signalled, verify.stderr).toBe(true);
    expect(verify.code, verify.stderr).toBe(11);
    expect(verify.stderr).toMatch(/SIGTERM: stopping; verification ends as interrupted/);
    expect(verify.stderr).toMatch(/verify green was interrupted before it finished: not verified/);
    expect(head()).toBe(before);
    sandbox.traffic!.pool.setFaults([]);
  });

  it('turns a real SIGINT at a weighted step into exit 11 with the weight back to 0', async () => {
    await deploy('1.5.0');
    const swap = await spawnCli(['swap'], /error-rate = \S+ successful/);
    expect(swap.signalled, swap.stderr).toBe(true);
    expect(swap.code, swap.stderr).toBe(11);
    expect(swap.stderr).toMatch(
      /step 10% on green was interrupted after \d+s, before its verdict: not verified; the weight is back to 0 \(commit [0-9a-f]{12}\), all traffic on blue/,
    );
    expect(ingressValues()).toMatch(/^ {2}previewWeight: 0$/m);
    expect(ingressValues()).toMatch(/^ {2}live: blue$/m);
    const message = headMessage();
    expect(message).toMatch(/^Stackswap-Operation: swap-abort$/m);
    expect(message).toMatch(/^Stackswap-Verification: interrupted$/m);
    expect(message).not.toMatch(/Stackswap-Rejected/);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
  });

  it('exits 10 when the rollback itself is refused by the remote, saying where traffic is', async () => {
    sandbox.traffic!.pool.setFaults([
      { version: /flaky/, errorShare: 0.5, paths: /^\/(?!healthz)/ },
    ]);
    await deploy('1.3.0-flaky', '1.3.0');
    // From now on the remote refuses the rollback commit (a swap-abort), as a broken remote
    // or a policy would: the weighted step lands, its rollback cannot.
    const hook = path.join(sandbox.repoPath, 'hooks', 'pre-receive');
    await writeFile(
      hook,
      `#!/bin/sh
while read old new ref; do
  if git log -1 --format=%B "$new" | grep -q '^Stackswap-Operation: swap-abort$'; then
    echo "rollbacks are refused by this test hook" >&2
    exit 1
  fi
done
exit 0
`,
    );
    await chmod(hook, 0o755);
    try {
      const swap = await cli(['swap', '--output', 'json']);
      expect(swap.code, swap.stderr).toBe(10);
      const error = JSON.parse(swap.stdout) as {
        exitCode: number;
        error: { code: string; message: string; hint: string; details: { badColour: string } };
      };
      expect(error.exitCode).toBe(10);
      expect(error.error.code).toBe('rollback-failed');
      expect(error.error.message).toMatch(
        /^verification failed \(analysis error-rate: .*\) and the rollback failed: push to main refused by the remote .*rollbacks are refused by this test hook.*; traffic may still be on green$/,
      );
      expect(error.error.hint).toMatch(
        /move it by hand: stackswap values set apps\/ingress\/values\.yaml 'global\.previewWeight:=0'/,
      );
      expect(error.error.details.badColour).toBe('green');
      // Traffic really is still on the bad colour at the step's weight.
      expect(ingressValues()).toMatch(/^ {2}previewWeight: 10$/m);
      expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 90, 'my-app-green': 10 });
    } finally {
      await rm(hook, { force: true });
      sandbox.traffic!.pool.setFaults([]);
    }
    // The hint's command moves it back.
    const moved = await cli([
      'values',
      'set',
      'apps/ingress/values.yaml',
      'global.previewWeight:=0',
    ]);
    expect(moved.code, moved.stderr).toBe(0);
    const sync = await cli(['app', 'sync', 'ingress', '--revision', head()]);
    expect(sync.code, sync.stderr).toBe(0);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
  });

  it('rejects the release a manual revert reverts from; swap --force goes ahead anyway', async () => {
    await deploy('1.1.0');
    const swap = await cli(['swap', '--no-verify']);
    expect(swap.code, swap.stderr).toBe(0);
    const swapSha = head();
    const revert = await cli(['--reason', 'customers report errors', 'revert']);
    expect(revert.code, revert.stderr).toBe(0);
    expect(headMessage()).toMatch(/^Stackswap-Rejected: my-frontend=1\.1\.0,my-backend=1\.1\.0$/m);
    expect(rejected().at(-1)).toMatchObject({
      versions: { 'my-frontend': '1.1.0', 'my-backend': '1.1.0' },
      operation: 'revert',
      at: swapSha,
      reason: 'customers report errors',
    });
    const again = await cli(['swap', '--no-verify']);
    expect(again.code, again.stderr).toBe(6);
    expect(again.stderr).toMatch(
      /release my-frontend=1\.1\.0,my-backend=1\.1\.0 of my-app was rejected at [0-9a-f]{12} by tester \(revert, .*\): customers report errors; pass --force/,
    );
    const forced = await cli(['swap', '--no-verify', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(ingressValues()).toMatch(/^ {2}live: green$/m);
  });
});
