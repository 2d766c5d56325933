/**
 * The CLI against the stand-in configured like a real install (600 s progress deadline, 120 s
 * reconciliation plus jitter: the stand-in's defaults), for the Argo CD behaviours a promotion
 * meets in production: the `override` permission, sync windows and stream errors. Each test
 * shortens a timing only where it needs to, and says why.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import type { StandInOptions } from '../../src/sandbox/argocd/server.ts';
import { runCli } from '../helpers/cli.ts';
import { git } from '../helpers/config-repo.ts';

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function deployed(argocd: Omit<StandInOptions, 'repoPath'> = {}): Promise<Sandbox> {
  // progressingMs: pods start in 150 ms instead of 1.5 s; nothing here is about rollout time.
  sandbox = await startSandbox({ argocd: { progressingMs: 150, initialSync: 'all', ...argocd } });
  await sandbox.argocd.idle();
  return sandbox;
}

const cli = (s: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(['--timeout', '60', ...args], { env: { ...s.env, ...env } });
const head = (s: Sandbox) => git(s.repoPath, 'rev-parse', 'main');
const deployArgs = ['deploy', '--set', 'my-frontend=1.1.0', '--set', 'my-backend=1.1.0'];

describe('the override permission (application.sync.requireOverridePrivilegeForRevisionSync)', () => {
  const policy = [
    'p, promoter, applications, get, */*, allow',
    'p, promoter, applications, sync, default/*, allow',
  ].join('\n');

  it('a token without override deploys: the pushed commit is the branch head, synced without pinning', async () => {
    const s = await deployed({ requireOverridePrivilegeForRevisionSync: true, rbac: { policy } });
    const token = s.argocd.issueToken('promoter');
    const r = await cli(s, deployArgs, { ARGOCD_AUTH_TOKEN: token });
    expect(r.code, r.stderr).toBe(0);
    expect(s.argocd.app('my-app-green')!.status).toMatchObject({
      sync: { status: 'Synced', revision: head(s) },
      health: { status: 'Healthy' },
    });
    expect(s.argocd.app('my-app-green')!.status?.operationState?.operation?.sync?.revision).toBe(
      head(s),
    );
  });

  it('syncing an older commit without override fails naming the permission and the setting', async () => {
    const s = await deployed({ requireOverridePrivilegeForRevisionSync: true, rbac: { policy } });
    const token = s.argocd.issueToken('promoter');
    const seed = head(s);
    const edit = await cli(s, [
      '--no-sync',
      'values',
      'set',
      'apps/my-app/values-green.yaml',
      'my-frontend.image.tag=1.0.1',
    ]);
    expect(edit.code, edit.stderr).toBe(0);
    const r = await cli(s, ['app', 'sync', 'my-app-green', '--revision', seed], {
      ARGOCD_AUTH_TOKEN: token,
    });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain('`applications, override, default/my-app-green`');
    expect(r.stderr).toContain('application.sync.requireOverridePrivilegeForRevisionSync');
    expect(r.stderr).not.toContain(token);
  });
});

describe('sync windows', () => {
  const deny = {
    kind: 'deny' as const,
    schedule: '0 0 * * *',
    duration: '24h', // every minute of the day: the window is active whenever the test runs
    applications: ['my-app-*'],
  };

  it('a deny window: exit 8 naming the window; the live colour is untouched', async () => {
    const s = await deployed({ projects: { default: { syncWindows: [deny] } } });
    const r = await cli(s, deployArgs);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toContain('cannot sync: blocked by sync window');
    expect(r.stderr).toContain('deny window "0 0 * * *" (24h) is active');
    expect(r.stderr).toMatch(/--wait-for-window/);
    // Argo CD compares against the pushed head but applied nothing: OutOfSync, no new operation.
    const green = s.argocd.app('my-app-green')!;
    expect(green.status?.sync).toMatchObject({ status: 'OutOfSync', revision: head(s) });
    expect(green.status?.operationState?.syncResult?.revision).not.toBe(head(s));
  });

  it('--wait-for-window waits until the window lets the sync through, then deploys', async () => {
    const s = await deployed({ projects: { default: { syncWindows: [deny] } } });
    const deploy = cli(s, ['--wait-for-window', ...deployArgs]);
    // The window "closes" (is removed from the project) while stackswap waits; it reads the
    // windows again within its 10 s poll interval.
    await new Promise((r) => setTimeout(r, 3000));
    s.argocd.setSyncWindows('default', []);
    const r = await deploy;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /deny window "0 0 \* \* \*" \(24h\) is active; waiting for it to open/,
    );
    expect(s.argocd.app('my-app-green')!.status).toMatchObject({
      sync: { status: 'Synced', revision: head(s) },
      health: { status: 'Healthy' },
    });
  });
});

describe('stream errors (grpc-gateway error chunks)', () => {
  it('an Unavailable (14) chunk mid-wait: the watch reconnects and the deploy completes', async () => {
    // progressingMs 1.5 s (the real-ish pod start): the stream is cut every 300 ms meanwhile.
    const s = await deployed({ progressingMs: 1500 });
    s.argocd.setFaults({ dropStreamsAfterMs: 300, dropStreamsMode: 'error' });
    const r = await cli(s, deployArgs);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /watch stream dropped \(.*the stream reported an error: transport is closing\)/,
    );
  });

  it('an Unauthenticated (16) chunk is an auth error (exit 5), not a reconnect loop', async () => {
    const s = await deployed({ progressingMs: 1500 });
    s.argocd.setFaults({
      dropStreamsAfterMs: 300,
      dropStreamsMode: 'error',
      streamError: {
        code: 16,
        message: 'invalid session: token has invalid claims: token is expired',
      },
    });
    const r = await cli(s, deployArgs);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/ARGOCD_AUTH_TOKEN rejected/);
    expect(r.stderr).toContain('token has invalid claims: token is expired');
    expect(r.stderr).not.toMatch(/reconnecting/);
  });
});
