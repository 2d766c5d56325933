/**
 * Failure paths against the sandbox: what the CLI reports, which exit code, and that a failed
 * deploy never touches the live colour or the ingress.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ArgoCdClient } from '../../src/argocd/client.ts';
import { Redactor } from '../../src/shared/redact.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import type { StandInOptions } from '../../src/sandbox/argocd/server.ts';
import { runCli } from '../helpers/cli.ts';
import { commitCount, git } from '../helpers/config-repo.ts';
import { images } from '../helpers/sandbox-state.ts';

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

/**
 * A sandbox whose apps are all synced at the seed commit: blue live on 1.0.0. Argo CD's timings
 * are the real install's (600 s progress deadline, 10 s kubelet back-off, reconciliation every
 * 120 s + jitter); only pod start-up is shortened (150 ms instead of 1.5 s), which no test here
 * is about. Images tagged *bad* crash-loop.
 */
async function deployed(argocd: Omit<StandInOptions, 'repoPath'> = {}): Promise<Sandbox> {
  sandbox = await startSandbox({
    argocd: {
      progressingMs: 150,
      faultPattern: /bad/,
      initialSync: 'all',
      ...argocd,
    },
  });
  await sandbox.argocd.idle();
  return sandbox;
}

const cli = (s: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(['--timeout', '30', ...args], { env: { ...s.env, ...env } });
const head = (s: Sandbox) => git(s.repoPath, 'rev-parse', 'main');
const liveKey = (s: Sandbox) => git(s.repoPath, 'show', 'main:apps/ingress/values.yaml');
function untouched(s: Sandbox, ingressRevision: string | undefined) {
  expect(liveKey(s)).toMatch(/^ {2}live: blue$/m);
  expect(s.argocd.app('ingress')!.status?.sync?.revision).toBe(ingressRevision);
  expect(images(s, 'my-app-blue')).toEqual([
    'registry.example.com/my-app/my-backend:1.0.0',
    'registry.example.com/my-app/my-frontend:1.0.0',
  ]);
}

describe('deploy failures leave live traffic alone', () => {
  it('a chart that fails to render: deploy fails with helm message', async () => {
    const s = await deployed();
    const ingressRevision = s.argocd.app('ingress')!.status?.sync?.revision;
    const broken = await cli(s, [
      '--no-sync',
      'values',
      'set',
      'apps/my-app/values-green.yaml',
      'global.colour=purple',
    ]);
    expect(broken.code, broken.stderr).toBe(0);

    const r = await cli(s, ['deploy', '--set', 'my-frontend=1.1.0', '--set', 'my-backend=1.1.0']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('global.colour must be "blue" or "green" (got "purple")');
    untouched(s, ingressRevision);
  });

  it('a crash-looping preview: caught from its pods in seconds, with the progress deadline minutes away; swap refuses', async () => {
    // Real-install timings: a 600 s progress deadline and kubelet's 10 s back-off. Only the
    // crash grace is shortened (2 s instead of 30 s) to keep the test short; the 30 s default
    // is covered on virtual time in test/unit/argocd/pods.test.ts.
    const s = await deployed();
    const ingressRevision = s.argocd.app('ingress')!.status?.sync?.revision;
    const started = Date.now();
    const r = await cli(s, [
      '--crash-grace',
      '2',
      'deploy',
      '--set',
      'my-frontend=1.1.0-bad',
      '--set',
      'my-backend=1.1.0',
    ]);
    const tookMs = Date.now() - started;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /pod my-app-green\/my-frontend-[0-9a-f]+-[0-9a-f]+ of Deployment my-frontend CrashLoopBackOff/,
    );
    expect(r.stderr).toMatch(/back-off 10s restarting failed container=/);
    expect(r.stderr).toMatch(/Argo CD still says Progressing/);
    expect(tookMs).toBeLessThan(60_000);
    // Argo CD itself has not given up: the Deployment is within its 600 s deadline.
    const green = s.argocd.app('my-app-green')!;
    expect(green.status?.health?.status).toBe('Progressing');

    const swap = await cli(s, ['swap']);
    expect(swap.code, swap.stderr).toBe(6);
    expect(swap.stderr).toMatch(/my-app-green is not synced and healthy/);
    untouched(s, ingressRevision);
  });

  it('an image that does not exist: ImagePullBackOff named with the image', async () => {
    const s = await deployed({ missingImagePattern: /my-backend:1\.1\.0$/ });
    const r = await cli(s, [
      '--crash-grace',
      '2',
      'deploy',
      '--set',
      'my-frontend=1.1.0',
      '--set',
      'my-backend=1.1.0',
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/Deployment my-backend (ErrImagePull|ImagePullBackOff)/);
    expect(r.stderr).toContain('registry.example.com/my-app/my-backend:1.1.0');
    expect(s.argocd.app('my-app-green')!.status?.health?.status).toBe('Progressing');
  });
});

describe('Argo CD trouble', () => {
  it('503s for a while are retried; 503s for good are a clear error', async () => {
    const s = await deployed();
    s.argocd.setFaults({ failNextRequests: 2 });
    const ok = await cli(s, ['app', 'get', 'my-app-blue']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/my-app-blue: Synced at [0-9a-f]{40}, health Healthy/);

    s.argocd.setFaults({ errorRate: 1 });
    const down = await cli(s, ['app', 'get', 'my-app-blue']);
    expect(down.code, down.stderr).toBe(8);
    expect(down.stderr).toMatch(/503/);
  });

  it('a wrong token is an auth error and is not printed', async () => {
    const s = await deployed();
    const token = 'wrong-token-0123456789abcdef';
    const r = await cli(s, ['--output', 'json', 'app', 'get', 'my-app-blue'], {
      ARGOCD_AUTH_TOKEN: token,
    });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/ARGOCD_AUTH_TOKEN rejected/);
    expect(r.stdout + r.stderr).not.toContain(token);
  });

  it('a mistyped app name is an Argo CD error (exit 8), not bad input (exit 2)', async () => {
    const s = await deployed();
    // The stand-in answers 403 "permission denied" for an unknown app, as Argo CD does.
    const r = await cli(s, ['--output', 'json', 'app', 'get', 'my-app-grene']);
    expect(r.code, r.stderr).toBe(8);
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: false,
      exitCode: 8,
      error: {
        code: 'argocd-forbidden',
        message: 'application my-app-grene not found or not permitted for this token',
      },
    });
  });

  it('an operation already running is waited for, then the deploy completes', async () => {
    const s = await deployed();
    s.argocd.setFaults({ stallOperations: true });
    const client = new ArgoCdClient({
      config: {
        baseUrl: s.argocd.url,
        auth: { kind: 'token', token: s.argocd.token },
        insecure: false,
      },
      redactor: new Redactor(),
    });
    await client.sync('my-app-green', { appNamespace: 'argocd' });
    const before = head(s);
    const deploy = cli(s, ['deploy', '--set', 'my-frontend=1.1.0', '--set', 'my-backend=1.1.0']);
    // Lift the stall only once the deploy is past its push (then it meets the running
    // operation), not after a fixed time that a slow machine may not reach.
    for (let i = 0; i < 600 && head(s) === before; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1500));
    s.argocd.setFaults({ stallOperations: false });
    const r = await deploy;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/waiting for .* operation|already running/);
    const green = s.argocd.app('my-app-green')!;
    expect(green.status?.sync?.revision).toBe(head(s));
    expect(green.status?.health?.status).toBe('Healthy');
  });

  it('a sync Argo CD retries: every attempt is reported, Argo CD message once exhausted; --no-retry-wait fails at the first', async () => {
    const s = await deployed();
    // my-app-green gets syncPolicy.retry, through git and a root sync as in a real setup. The
    // back-off is 1 s flat: Argo CD's default (5 s, doubling, checked one step late) would add
    // 30 s to the test without changing what it shows.
    const work = path.join(mkdtempSync(path.join(os.tmpdir(), 'retry-')), 'work');
    git(os.tmpdir(), 'clone', '-q', s.repoPath, work);
    const file = path.join(work, 'argo/apps/my-app-green.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        '  syncPolicy:\n',
        '  syncPolicy:\n    retry:\n      limit: 2\n      backoff:\n        duration: 1s\n        factor: 1\n',
      ),
    );
    git(work, 'commit', '-qam', 'retry policy for my-app-green');
    git(work, 'push', '-q', 'origin', 'main');
    const client = new ArgoCdClient({
      config: {
        baseUrl: s.argocd.url,
        auth: { kind: 'token', token: s.argocd.token },
        insecure: false,
      },
      redactor: new Redactor(),
    });
    await client.sync('root', { appNamespace: 'argocd' });
    await s.argocd.idle();
    expect(s.argocd.app('my-app-green')!.spec.syncPolicy?.retry).toMatchObject({ limit: 2 });

    const broken = await cli(s, [
      '--no-sync',
      'values',
      'set',
      'apps/my-app/values-green.yaml',
      'global.colour=purple',
    ]);
    expect(broken.code, broken.stderr).toBe(0);
    const r = await cli(s, ['deploy', '--set', 'my-frontend=1.1.0', '--set', 'my-backend=1.1.0']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/sync attempt failed, Argo CD retries it: .*Retrying attempt #1 at /);
    expect(r.stderr).toMatch(/Retrying attempt #2 at /);
    expect(r.stderr).toMatch(
      /ended Error: .*global\.colour must be "blue" or "green".*\(retried 2 times\)\./,
    );

    const again = await cli(s, [
      '--no-retry-wait',
      'deploy',
      '--set',
      'my-frontend=1.1.1',
      '--set',
      'my-backend=1.1.1',
    ]);
    expect(again.code, again.stderr).toBe(1);
    expect(again.stderr).toMatch(
      /failed \(Argo CD will retry it; not waiting, --no-retry-wait\): .*Retrying attempt #1 at /,
    );
    expect(again.stderr).not.toMatch(/Retrying attempt #2/);
  });

  it('a watch stream that drops mid-wait is reconnected', async () => {
    const s = await deployed({ progressingMs: 1500 });
    s.argocd.setFaults({ dropStreamsAfterMs: 300 });
    const r = await cli(s, ['deploy', '--set', 'my-frontend=1.1.0', '--set', 'my-backend=1.1.0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/watch stream dropped/);
    expect(s.argocd.app('my-app-green')!.status?.sync?.revision).toBe(head(s));
  });
});

describe('Argo CD fails after the push (case 58)', () => {
  const deployArgs = ['deploy', '--set', 'my-frontend=1.1.0', '--set', 'my-backend=1.1.0'];

  it('says the commit is pushed; the same command, re-run, resumes without a new commit', async () => {
    const s = await deployed();
    const before = commitCount(s.repoPath);
    s.argocd.setFaults({ errorRate: 1 });
    const failed = await cli(s, deployArgs);
    expect(failed.code, failed.stderr).toBe(8);
    expect(commitCount(s.repoPath)).toBe(before + 1);
    const pushed = head(s);
    expect(failed.stderr).toContain(`commit ${pushed.slice(0, 12)} is pushed (git has the change)`);
    expect(failed.stderr).toMatch(/re-run the same command .*to resume: it makes no new commit/);

    s.argocd.setFaults({ errorRate: 0 });
    const resumed = await cli(s, deployArgs);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(commitCount(s.repoPath)).toBe(before + 1);
    expect(head(s)).toBe(pushed);
    expect(s.argocd.app('my-app-green')!.status).toMatchObject({
      sync: { status: 'Synced', revision: pushed },
      health: { status: 'Healthy' },
    });
  });

  it('a Degraded preview keeps exit 1 and its hint, and names the pushed commit (json too)', async () => {
    const s = await deployed();
    const r = await cli(s, [
      '--output',
      'json',
      // The crash loop is caught from the pods (the 600 s progress deadline is far away); a
      // 2 s grace instead of 30 s keeps the test short.
      '--crash-grace',
      '2',
      'deploy',
      '--set',
      'my-frontend=1.1.0-bad',
      '--set',
      'my-backend=1.1.0',
    ]);
    expect(r.code, r.stderr).toBe(1);
    const pushed = head(s);
    const body = JSON.parse(r.stdout) as { error: { code: string; hint: string; details: object } };
    expect(body.error.code).toBe('degraded');
    expect(body.error.hint).toMatch(/kubectl -n my-app-green logs my-frontend-\S+ --previous/);
    expect(body.error.hint).toContain(`commit ${pushed.slice(0, 12)} is pushed`);
    // A re-run would wait on the same Degraded version: the fix is a new deploy, not a re-run.
    expect(body.error.hint).not.toContain('re-run');
    expect(body.error.details).toMatchObject({ pushed });
  });
});

describe('app wait --revision', () => {
  it('does not succeed on a Synced and Healthy app at the previous revision', async () => {
    const s = await deployed();
    const before = s.argocd.app('my-app-green')!.status?.sync?.revision;
    const edit = await cli(s, [
      '--no-sync',
      'values',
      'set',
      'apps/my-app/values-green.yaml',
      'my-frontend.image.tag=1.0.1',
    ]);
    expect(edit.code, edit.stderr).toBe(0);
    const pushed = head(s);
    expect(pushed).not.toBe(before);
    // Argo CD still reports the app Synced and Healthy, at the old commit.
    expect(s.argocd.app('my-app-green')!.status).toMatchObject({
      sync: { status: 'Synced', revision: before },
      health: { status: 'Healthy' },
    });

    const early = await cli(s, [
      'app',
      'wait',
      'my-app-green',
      '--revision',
      pushed,
      '--timeout',
      '3',
    ]);
    expect(early.code, early.stderr).toBe(4);
    expect(early.stderr).toContain(before!.slice(0, 12));

    expect((await cli(s, ['app', 'sync', 'my-app-green', '--revision', pushed])).code).toBe(0);
    const done = await cli(s, [
      'app',
      'wait',
      'my-app-green',
      '--revision',
      pushed,
      '--timeout',
      '10',
    ]);
    expect(done.code, done.stderr).toBe(0);
  });
});
