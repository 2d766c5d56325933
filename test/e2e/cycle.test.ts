/**
 * The whole cycle against the sandbox (real git, real helm, the Argo CD stand-in):
 * init -> deploy -> swap -> revert -> scale-down, each ending with the apps synced at the
 * pushed commit and healthy, and the rendered VirtualService sending 100 % to the right colour.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { runCli } from '../helpers/cli.ts';
import { git } from '../helpers/config-repo.ts';
import { expectLiveAt, images, liveWeights } from '../helpers/sandbox-state.ts';

let sandbox: Sandbox;
let clock = Date.now();

beforeAll(async () => {
  sandbox = await startSandbox({
    argocd: { progressingMs: 150, faultPattern: /bad/, pollIntervalMs: 0 },
  });
});
afterAll(async () => sandbox?.close());

const cli = (...args: string[]) =>
  runCli(['--timeout', '60', '--requested-by', 'e2e', ...args], {
    env: sandbox.env,
    now: () => clock,
  });
const head = () => git(sandbox.repoPath, 'rev-parse', 'main');

describe('blue/green cycle on the sandbox', () => {
  it('init reports blue live', async () => {
    // Bring the sandbox to its deployed starting point: blue and the ingress synced at HEAD.
    for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
      expect((await cli('app', 'sync', app)).code).toBe(0);
    }
    const r = await cli('--output', 'json', 'init');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout).result;
    expect(report.live).toBe('blue');
    expect(report.apps['my-app-blue']).toMatchObject({ syncStatus: 'Synced', health: 'Healthy' });
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
  });

  it('deploy syncs the preview at the pushed commit; live untouched', async () => {
    const r = await cli('deploy', '--set', 'my-frontend=1.1.0', '--set', 'my-backend=1.1.0');
    expect(r.code, r.stderr).toBe(0);
    expectLiveAt(sandbox, 'my-app-green', head());
    expect(images(sandbox, 'my-app-green')).toEqual([
      'registry.example.com/my-app/my-backend:1.1.0',
      'registry.example.com/my-app/my-frontend:1.1.0',
    ]);
    expect(images(sandbox, 'my-app-blue')).toContain(
      'registry.example.com/my-app/my-frontend:1.0.0',
    );
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
  });

  it('swap moves 100 % to green', async () => {
    const r = await cli('swap');
    expect(r.code, r.stderr).toBe(0);
    expectLiveAt(sandbox, 'ingress', head());
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 0, 'my-app-green': 100 });
  });

  it('revert moves 100 % back to blue', async () => {
    const r = await cli('revert');
    expect(r.code, r.stderr).toBe(0);
    expectLiveAt(sandbox, 'ingress', head());
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
  });

  it('scale-down takes the idle colour to zero after the retention window', async () => {
    // The revert rejected green's release (src/core/rejected.ts): swapping back takes --force.
    expect((await cli('swap')).code).toBe(6);
    expect((await cli('swap', '--force')).code).toBe(0);
    clock += 31 * 60_000;
    const r = await cli('scale-down');
    expect(r.code, r.stderr).toBe(0);
    expectLiveAt(sandbox, 'my-app-blue', head());
    const replicas = sandbox.argocd
      .appliedObjects('my-app-blue')
      .filter((o) => o.kind === 'Deployment')
      .map((o) => (o.spec as { replicas: number }).replicas);
    expect(replicas).toEqual([0, 0]);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 0, 'my-app-green': 100 });
  });
});
