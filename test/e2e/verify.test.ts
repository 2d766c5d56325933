/**
 * Verification gates on the sandbox with a real Prometheus (1 s scrape) and steady user
 * traffic through the gateway: a good release passes every gate; an Argo-Healthy release that
 * answers 500 is stopped before any user traffic; one that fails only under real traffic is
 * caught at the first step and the weight goes back to 0; a post-swap failure reverts on its
 * own; Prometheus down fails closed. Each stop exits 9 and carries its reason in the trailers.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { startLoad, type LoadRun } from '../../src/sandbox/traffic/load.ts';
import { runCli } from '../helpers/cli.ts';
import { git } from '../helpers/config-repo.ts';
import { liveWeights } from '../helpers/sandbox-state.ts';
import { PROMETHEUS, requireBinary } from '../helpers/system-packages.ts';

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
    concurrency: 4,
    ratePerSecond: 250,
    maxDurationMs: 15 * 60_000,
    maxRequests: Number.MAX_SAFE_INTEGER,
  });
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await sandbox?.close();
});

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(['--timeout', '60', ...args], { env: { ...sandbox.env, ...env } });
const ingressValues = () => git(sandbox.repoPath, 'show', 'main:apps/ingress/values.yaml');
const headTrailers = () => git(sandbox.repoPath, 'log', '-1', '--format=%B', 'main');
const head = () => git(sandbox.repoPath, 'rev-parse', 'main');

async function deploy(frontend: string, backend = frontend) {
  const run = await cli([
    'deploy',
    '--set',
    `my-frontend=${frontend}`,
    '--set',
    `my-backend=${backend}`,
  ]);
  expect(run.code, run.stderr).toBe(0);
}

describe('verification gates on the sandbox with a real Prometheus', () => {
  it('stops an Argo-Healthy release that answers 500 before any user traffic', async () => {
    sandbox.traffic!.pool.setFaults([{ version: /broken/, errorShare: 1 }]);
    await deploy('1.2.0-broken', '1.2.0');
    const before = head();
    const swap = await cli(['swap']);
    expect(swap.code, swap.stderr).toBe(9);
    expect(swap.stderr).toMatch(
      /verification failed at pre-swap on green: check deep-health: status 500/,
    );
    expect(swap.stderr).toMatch(
      /stopped before any user traffic; no traffic moved; the release is recorded as rejected/,
    );
    // Only the rejected-release record is committed (a swap-stop); traffic never moved.
    expect(git(sandbox.repoPath, 'rev-parse', 'main~1')).toBe(before);
    expect(headTrailers()).toMatch(/^Stackswap-Operation: swap-stop$/m);
    expect(git(sandbox.repoPath, 'diff', '--name-only', before, 'main')).toBe(
      '.stackswap/rejected/my-app.yaml',
    );
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
  });

  it('catches a release that fails only under real traffic at the first step, weight back to 0', async () => {
    sandbox.traffic!.pool.setFaults([
      { version: /flaky/, errorShare: 0.5, paths: /^\/(?!healthz)/ },
    ]);
    await deploy('1.3.0-flaky', '1.3.0');
    const swap = await cli(['swap', '--output', 'json']);
    expect(swap.code, swap.stderr).toBe(9);
    const error = JSON.parse(swap.stdout) as { exitCode: number; error: { message: string } };
    expect(error.error.message).toMatch(
      /verification failed at step 10% on green: analysis error-rate: /,
    );
    expect(error.error.message).toMatch(/weight is back to 0/);
    expect(ingressValues()).toMatch(/^ {2}previewWeight: 0$/m);
    expect(ingressValues()).toMatch(/^ {2}live: blue$/m);
    const trailers = headTrailers();
    expect(trailers).toMatch(/^Stackswap-Operation: swap-abort$/m);
    expect(trailers).toMatch(/^Stackswap-Verification: failed$/m);
    expect(trailers).toMatch(/^Stackswap-Verification-Metric: error-rate$/m);
    expect(trailers).toMatch(/^Stackswap-Verification-Condition: result < 0.02$/m);
    expect(trailers).toMatch(/^Stackswap-Verification-Value: 0?\.\d+/m);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
    const history = await cli(['history', '--output', 'json']);
    const entries = JSON.parse(history.stdout).result as {
      operation: string;
      weight?: number;
      verification?: { metric?: string };
    }[];
    expect(entries[0]).toMatchObject({
      operation: 'swap-abort',
      weight: 0,
      verification: { metric: 'error-rate' },
    });
    expect(entries[1]).toMatchObject({ operation: 'swap-step', weight: 10 });
    const status = await cli(['status']);
    expect(status.stdout).toMatch(
      /last verification stop: swap-abort [0-9a-f]{12} at step 10% on green: analysis error-rate: /,
    );
  });

  it('passes a good release through every gate: pre-swap, 10 %, 50 %, 100 % and the window', async () => {
    sandbox.traffic!.pool.setFaults([]);
    await deploy('1.1.0');
    const swap = await cli(['swap', '--output', 'json']);
    expect(swap.code, swap.stderr).toBe(0);
    const result = JSON.parse(swap.stdout).result as {
      live: string;
      details: { verification: { phase: string; result: string }[] };
    };
    expect(result.live).toBe('green');
    expect(result.details.verification.map((v) => [v.phase, v.result])).toEqual([
      ['pre-swap on green', 'passed'],
      ['step 10% on green', 'passed'],
      ['step 50% on green', 'passed'],
      ['post-swap window on green', 'passed'],
    ]);
    expect(swap.stderr).toMatch(/error-rate = 0 successful/);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 0, 'my-app-green': 100 });
    expect(ingressValues()).toMatch(/^ {2}previewWeight: 0$/m);
  });

  it('reverts on its own when the release fails in the post-swap window', async () => {
    await deploy('1.4.0');
    const swapping = cli(['swap']);
    // The release turns bad once it is live at 100 %.
    for (let i = 0; i < 600 && !/^ {2}live: blue$/m.test(ingressValues()); i++) await sleep(100);
    sandbox.traffic!.pool.setFaults([{ version: /^1\.4\.0$/, errorShare: 0.5 }]);
    const swap = await swapping;
    expect(swap.code, swap.stderr).toBe(9);
    expect(swap.stderr).toMatch(/verification failed at post-swap window on blue/);
    expect(swap.stderr).toMatch(/reverted automatically: green is live again/);
    expect(ingressValues()).toMatch(/^ {2}live: green$/m);
    expect(headTrailers()).toMatch(/^Stackswap-Operation: revert$/m);
    expect(headTrailers()).toMatch(/^Stackswap-Verification-Phase: post-swap window on blue$/m);
    expect(headTrailers()).toMatch(/^Stackswap-Rejected: my-frontend=1\.4\.0,my-backend=1\.4\.0$/m);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 0, 'my-app-green': 100 });
    sandbox.traffic!.pool.setFaults([]);
  });

  it('fails closed when Prometheus is down, and says so', async () => {
    // 1.4.0 was rejected by the automatic revert above: without --force it is refused (exit 6).
    const refused = await cli(['swap'], { STACKSWAP_PROMETHEUS_URL: 'http://127.0.0.1:9/' });
    expect(refused.code, refused.stderr).toBe(6);
    const swap = await cli(['swap', '--force'], {
      STACKSWAP_PROMETHEUS_URL: 'http://127.0.0.1:9/',
    });
    expect(swap.code, swap.stderr).toBe(9);
    expect(swap.stderr).toMatch(
      /Prometheus at http:\/\/127.0.0.1:9 is unreachable.*failing closed/,
    );
    expect(ingressValues()).toMatch(/^ {2}previewWeight: 0$/m);
    expect(ingressValues()).toMatch(/^ {2}live: green$/m);
  });
});
