/**
 * Sync semantics of the stand-in against a seeded fixture repo with real helm: the operation
 * lifecycle at a pushed commit, the states a waiting client sees, health simulation (rollout,
 * fault pattern, zero replicas), render failures, concurrent operations and termination,
 * refresh/poll of new commits, auto-sync, and the app-of-apps. Time is a manual clock, so
 * "Progressing until progressingMs has passed" is exact, not a race.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startArgoCdStandIn,
  type StandIn,
  type StandInOptions,
} from '../../../src/sandbox/argocd/server.ts';
import type {
  Application,
  ApplicationTree,
  ResourceNode,
} from '../../../src/sandbox/argocd/types.ts';
import { ArgoClient, eventually, type Watch } from './helpers/client.ts';
import {
  appManifest,
  createFixtureRepo,
  fixtureFiles,
  type FixtureRepo,
} from './helpers/fixture-repo.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { SwaggerValidator } from './helpers/swagger.ts';

const swagger = new SwaggerValidator();
const PROGRESSING_MS = 200;

let repo: FixtureRepo;
let clock: ManualClock;
let standIn: StandIn;
let api: ArgoClient;
const watches: Watch[] = [];

async function start(options: Partial<StandInOptions> = {}, files?: Record<string, string>) {
  repo = await createFixtureRepo(files);
  clock = new ManualClock();
  standIn = await startArgoCdStandIn({
    repoPath: repo.bare,
    clock,
    progressingMs: PROGRESSING_MS,
    pollIntervalMs: 0,
    ...options,
  });
  api = new ArgoClient(standIn.url, standIn.token);
}

async function watch(query: string, sse = false): Promise<Watch> {
  const w = await api.watch(query, { sse });
  watches.push(w);
  return w;
}

const app = (name: string): Application => {
  const found = standIn.app(name);
  if (!found) throw new Error(`no app ${name}`);
  return found;
};

const blueValues = (tag: string, replicas = 2) =>
  `global:\n  colour: blue\n  replicas: ${replicas}\nweb:\n  image:\n    tag: "${tag}"\n`;

afterEach(async () => {
  for (const w of watches.splice(0)) w.close();
  await standIn?.close();
  await repo?.remove();
});

describe('a sync at a pushed commit', () => {
  beforeEach(() => start());

  it('resolves the revision, runs, succeeds at that SHA, then goes Progressing -> Healthy', async () => {
    const sha = await repo.push({ 'apps/my-app/values-blue.yaml': blueValues('1.1.0') });
    const stream = await watch('?name=my-app-blue');
    await stream.next((m) => m.result?.type === 'ADDED');
    const applied: string[] = [];
    standIn.on('applied', (event) => applied.push(`${event.app}@${event.revision}`));

    const reply = await api.sync('my-app-blue', {
      revision: 'main',
      prune: true,
      strategy: { hook: {} },
      infos: [{ name: 'promotion', value: 'test-1' }],
    });
    expect(reply.status).toBe(200);
    swagger.assert('v1alpha1Application', reply.json);
    expect(reply.json.operation?.sync).toMatchObject({
      revision: sha,
      prune: true,
      syncStrategy: { hook: {} },
    });
    expect(reply.json.operation?.initiatedBy).toEqual({ username: 'admin' });
    expect(reply.json.operation?.info).toEqual([{ name: 'promotion', value: 'test-1' }]);
    expect(reply.json.status.operationState).toBeUndefined(); // cleared when the operation is set

    await stream.next((m) => m.result?.application.status.operationState?.phase === 'Running');
    const done = await stream.next(
      (m) => m.result?.application.status.operationState?.phase === 'Succeeded',
    );
    const finished = done.result?.application as Application;
    expect(finished.operation).toBeUndefined();
    expect(finished.status.operationState?.syncResult?.revision).toBe(sha);
    expect(finished.status.operationState?.message).toBe('successfully synced (all tasks run)');
    expect(
      finished.status.operationState?.syncResult?.resources?.map(
        (r) => `${r.kind}:${r.status}:${r.message}`,
      ),
    ).toEqual([
      'Service:Synced:service/web created',
      'Deployment:Synced:deployment.apps/web created',
    ]);

    const reconciled = await stream.next(
      (m) =>
        m.result?.application.status.sync.status === 'Synced' &&
        m.result.application.status.sync.revision === sha,
    );
    const state = reconciled.result?.application as Application;
    swagger.assert('v1alpha1Application', state);
    expect(state.status.reconciledAt! >= state.status.operationState!.finishedAt!).toBe(true);
    expect(state.status.health.status).toBe('Progressing');
    expect(state.status.history).toEqual([
      expect.objectContaining({ id: 0, revision: sha, initiatedBy: { username: 'admin' } }),
    ]);
    expect(applied).toEqual([`my-app-blue@${sha}`]);
    const deployment = standIn.appliedObjects('my-app-blue').find((o) => o.kind === 'Deployment');
    expect(JSON.stringify(deployment)).toContain('registry.example.invalid/web:1.1.0');

    clock.advance(PROGRESSING_MS - 1);
    expect(app('my-app-blue').status.health.status).toBe('Progressing');
    clock.advance(1);
    expect(app('my-app-blue').status.health.status).toBe('Healthy');
    const healthy = await stream.next(
      (m) => m.result?.application.status.health.status === 'Healthy',
    );
    expect(healthy.result?.type).toBe('MODIFIED');
  });

  it('treats an empty body as a sync to the target revision', async () => {
    const reply = await api.call<Application>('POST', '/api/v1/applications/my-app-green/sync', {});
    expect(reply.status).toBe(200);
    expect(reply.json.operation?.sync?.revision).toBe(repo.seed);
    await standIn.idle();
  });

  it('keeps metadata.resourceVersion a string that grows with every change', async () => {
    const before = Number(app('my-app-blue').metadata.resourceVersion);
    await api.sync('my-app-blue');
    await standIn.idle();
    const after = app('my-app-blue').metadata.resourceVersion;
    expect(typeof after).toBe('string');
    expect(Number(after)).toBeGreaterThan(before);
  });
});

describe('operations in progress', () => {
  beforeEach(() => start());

  it('refuses a second sync while one runs, and terminates the running one', async () => {
    standIn.setFaults({ stallOperations: true });
    expect((await api.sync('my-app-blue')).status).toBe(200);
    await eventually(() =>
      app('my-app-blue').status.operationState?.phase === 'Running' ? true : undefined,
    );

    const second = await api.sync('my-app-blue');
    expect(second.status).toBe(400);
    expect(second.json).toEqual({
      error: 'another operation is already in progress',
      code: 9,
      message: 'another operation is already in progress',
    });

    const terminate = await api.delete('/api/v1/applications/my-app-blue/operation');
    expect(terminate.status).toBe(200);
    swagger.assert('applicationOperationTerminateResponse', terminate.json);
    expect(terminate.json).toEqual({});
    const ended = await eventually(() => {
      const state = app('my-app-blue');
      return state.operation === undefined && state.status.operationState?.phase === 'Failed'
        ? state
        : undefined;
    });
    expect(ended.status.operationState?.message).toBe('Operation terminated');
    expect(standIn.appliedObjects('my-app-blue')).toEqual([]);

    const again = await api.delete('/api/v1/applications/my-app-blue/operation');
    expect(again.status).toBe(400);
    expect(again.json).toMatchObject({
      code: 3,
      message: 'Unable to terminate operation. No operation is in progress',
    });
  });

  it('closes promptly with an operation stalled', async () => {
    standIn.setFaults({ stallOperations: true });
    await api.sync('my-app-blue');
    await eventually(() =>
      app('my-app-blue').status.operationState?.phase === 'Running' ? true : undefined,
    );
    await standIn.close();
    await expect(fetch(`${standIn.url}/api/v1/applications`)).rejects.toThrow();
  });
});

describe('RBAC per token and the override permission', () => {
  const policy = [
    'p, promoter, applications, get, */*, allow',
    'p, promoter, applications, sync, default/*, allow',
    'p, viewer, applications, get, */*, allow',
  ].join('\n');

  it('requireOverridePrivilegeForRevisionSync: a revision other than targetRevision needs override', async () => {
    await start({ requireOverridePrivilegeForRevisionSync: true, rbac: { policy } });
    const promoter = new ArgoClient(standIn.url, standIn.issueToken('promoter'));
    const sha = await repo.push({ 'apps/my-app/values-blue.yaml': blueValues('1.1.0') });

    const pinned = await promoter.post<{ message: string; code: number }>(
      '/api/v1/applications/my-app-blue/sync',
      { revision: sha },
    );
    expect(pinned.status).toBe(403);
    expect(pinned.json.code).toBe(7);
    expect(pinned.json.message).toMatch(
      /^permission denied: applications, override, default\/my-app-blue, sub: promoter, iat: \d{4}-\d\d-\d\dT[\d:]+Z$/,
    );
    // The targetRevision itself (the same string) is a plain sync; so is no revision at all.
    const plain = await promoter.post<Application>('/api/v1/applications/my-app-blue/sync', {
      revision: 'main',
    });
    expect(plain.status).toBe(200);
    expect(plain.json.operation?.sync?.revision).toBe(sha);
    await standIn.idle();
    expect((await promoter.post('/api/v1/applications/my-app-blue/sync', {})).status).toBe(200);
    await standIn.idle();
    // admin (built-in role:admin) may override.
    expect((await api.sync('my-app-blue', { revision: repo.seed })).status).toBe(200);
  });

  it('per-token RBAC: a viewer may read but not sync, and the error names the permission', async () => {
    await start({ rbac: { policy } });
    const viewer = new ArgoClient(standIn.url, standIn.issueToken('viewer'));
    expect((await viewer.get('/api/v1/applications/my-app-blue')).status).toBe(200);
    const refused = await viewer.post<{ message: string }>(
      '/api/v1/applications/my-app-blue/sync',
      {},
    );
    expect(refused.status).toBe(403);
    expect(refused.json.message).toMatch(
      /^permission denied: applications, sync, default\/my-app-blue, sub: viewer/,
    );
    const stranger = new ArgoClient(standIn.url, standIn.issueToken('stranger'));
    expect((await stranger.get('/api/v1/applications/my-app-blue')).status).toBe(403);
  });
});

describe('sync windows (AppProject spec.syncWindows)', () => {
  // The manual clock starts at 2026-01-01T12:00:00Z, a Thursday.
  const allowMornings = {
    kind: 'allow' as const,
    schedule: '0 9 * * *',
    duration: '2h',
    applications: ['my-app-*'],
  };

  it('outside the only allow window: 403 "cannot sync: blocked by sync window"; syncwindows says why', async () => {
    await start({ projects: { default: { syncWindows: [allowMornings] } } });
    const refused = await api.post<{ code: number; message: string }>(
      '/api/v1/applications/my-app-blue/sync',
      {},
    );
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ code: 7, message: 'cannot sync: blocked by sync window' });
    const windows = await api.get('/api/v1/applications/my-app-blue/syncwindows');
    expect(windows.status).toBe(200);
    swagger.assert('applicationApplicationSyncWindowsResponse', windows.json);
    expect(windows.json).toEqual({
      assignedWindows: [{ kind: 'allow', schedule: '0 9 * * *', duration: '2h' }],
      canSync: false,
    });
    // Windows that match no app leave it alone (root is not my-app-*).
    expect((await api.post('/api/v1/applications/root/sync', {})).status).toBe(200);
    await standIn.idle();

    // 09:01 the next day: the allow window is open for 2 h. (At 09:00:00.000 itself it is not
    // yet: Argo CD's test is `schedule.Next(now - duration).Before(now)`, strictly before.)
    clock.advance(21 * 3_600_000 + 60_000);
    expect((await api.get('/api/v1/applications/my-app-blue/syncwindows')).json).toMatchObject({
      activeWindows: [{ kind: 'allow' }],
      canSync: true,
    });
    expect((await api.post('/api/v1/applications/my-app-blue/sync', {})).status).toBe(200);
  });

  it('an active deny window blocks, unless manualSync lets manual syncs through', async () => {
    const deny = {
      kind: 'deny' as const,
      schedule: '30 11 * * 4',
      duration: '1h',
      namespaces: ['my-app-*'],
    };
    await start({ projects: { default: { syncWindows: [deny] } } });
    expect((await api.post('/api/v1/applications/my-app-blue/sync', {})).status).toBe(403);
    standIn.setSyncWindows('default', [{ ...deny, manualSync: true }]);
    expect((await api.post('/api/v1/applications/my-app-blue/sync', {})).status).toBe(200);
    await standIn.idle();
    expect(() => standIn.setSyncWindows('default', [{ ...deny, schedule: '61 * * * *' }])).toThrow(
      /cannot parse sync window schedule "61 \* \* \* \*"/,
    );
  });
});

describe("Argo CD's timing: timeout.reconciliation and the repo-error grace", () => {
  // Real-install defaults (120 s + up to 60 s jitter, 180 s grace) on the manual clock; the
  // jitter draw is fixed at 0.5, so every period is 150 s.
  const real = { pollIntervalMs: undefined, random: () => 0.5 };

  it('sees a pushed commit only at the next reconciliation (150 s here), unless refreshed', async () => {
    await start(real);
    const before = app('my-app-blue').status.sync.revision;
    const next = await repo.push({ 'apps/my-app/values-blue.yaml': blueValues('2.0.0') });
    clock.advance(149_999);
    await standIn.idle();
    expect(app('my-app-blue').status.sync.revision).toBe(before);
    clock.advance(1);
    await eventually(() => (app('my-app-blue').status.sync.revision === next ? true : undefined));
    expect(app('my-app-blue').status.sync.status).toBe('OutOfSync');
  });

  it('ignores a repo error for 180 s on periodic reconciles; a refresh shows it at once', async () => {
    await start(real);
    await api.sync('my-app-blue');
    await standIn.idle();
    const good = app('my-app-blue').status.sync.revision;
    await repo.push({
      'apps/my-app/values-blue.yaml': 'global:\n  colour: blue\nweb:\n  image:\n    tag: "1.0.0"\n',
    });
    const settle = async (ms: number) => {
      clock.advance(ms);
      // Let the reconciles (real helm) of this period finish.
      await new Promise((r) => setTimeout(r, 1500));
    };
    await settle(150_000); // first seen: ignored
    expect(app('my-app-blue').status.sync).toMatchObject({ status: 'Synced', revision: good });
    await settle(150_000); // 150 s since first seen, within 180 s: still ignored
    expect(app('my-app-blue').status.conditions).toBeUndefined();
    await settle(150_000); // 300 s: reported
    await eventually(() => (app('my-app-blue').status.conditions ? true : undefined));
    expect(app('my-app-blue').status.sync.status).toBe('Unknown');
    expect(app('my-app-blue').status.conditions?.[0]?.type).toBe('ComparisonError');
  });

  it('a forced refresh does not wait for the grace', async () => {
    await start(real);
    await repo.push({
      'apps/my-app/values-blue.yaml': 'global:\n  colour: blue\nweb:\n  image:\n    tag: "1.0.0"\n',
    });
    const refreshed = await api.app('my-app-blue?refresh=normal');
    expect(refreshed.status.conditions?.[0]?.type).toBe('ComparisonError');
  });

  it('resource-tree nodes of resources not yet created have health Missing', async () => {
    await start();
    const tree = await api.get<ApplicationTree>('/api/v1/applications/my-app-blue/resource-tree');
    swagger.assert('v1alpha1ApplicationTree', tree.json);
    expect(tree.json.nodes?.length).toBeGreaterThan(0);
    for (const node of tree.json.nodes ?? []) expect(node.health).toEqual({ status: 'Missing' });
  });

  it('the sync response carries no resource health (not persisted), GET does', async () => {
    await start();
    await api.sync('my-app-blue');
    await standIn.idle();
    const reply = await api.sync('my-app-blue');
    expect(reply.status).toBe(200);
    expect(reply.json.status.resources?.length).toBeGreaterThan(0);
    expect(reply.json.status.resources?.some((r) => r.health)).toBe(false);
    await standIn.idle();
    expect((await api.app('my-app-blue')).status.resources?.some((r) => r.health)).toBe(true);
  });
});

describe('rendering failures', () => {
  beforeEach(() => start());

  it('retries a failed operation per retryStrategy: Running with finishedAt, "Retrying attempt #N", operation kept', async () => {
    await repo.push({
      'apps/my-app/values-blue.yaml': 'global:\n  colour: blue\nweb:\n  image:\n    tag: "1.0.0"\n',
    });
    const retryStrategy = { limit: 2, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } };
    expect((await api.sync('my-app-blue', { retryStrategy })).status).toBe(200);
    const retrying = await eventually(() => {
      const os = app('my-app-blue').status.operationState;
      return os?.retryCount === 1 ? app('my-app-blue') : undefined;
    });
    swagger.assert('v1alpha1Application', retrying);
    const os = retrying.status.operationState!;
    expect(retrying.operation).toBeDefined();
    expect(os.phase).toBe('Running');
    expect(os.finishedAt).toBeDefined();
    // The message names the retry time as NextRetryAt(now, 0): 5 s after 12:00:00 UTC.
    expect(os.message).toMatch(
      /global\.replicas is required.*\. Retrying attempt #1 at 12:00PM\.$/s,
    );

    clock.advance(9_999); // the controller re-checks with the new count: 5 s * 2^1
    await standIn.idle();
    expect(app('my-app-blue').status.operationState?.retryCount).toBe(1);
    clock.advance(1);
    await eventually(() =>
      app('my-app-blue').status.operationState?.retryCount === 2 ? true : undefined,
    );
    expect(app('my-app-blue').status.operationState?.message).toMatch(/Retrying attempt #2 at /);
    clock.advance(20_000);
    const done = await eventually(() => {
      const a = app('my-app-blue');
      return a.operation ? undefined : a;
    });
    expect(done.status.operationState?.phase).toBe('Error');
    expect(done.status.operationState?.message).toMatch(
      /global\.replicas is required.* \(retried 2 times\)\.$/s,
    );
  });

  it('a termination during the retry back-off ends the operation at once', async () => {
    await repo.push({
      'apps/my-app/values-blue.yaml': 'global:\n  colour: blue\nweb:\n  image:\n    tag: "1.0.0"\n',
    });
    await api.sync('my-app-blue', { retryStrategy: { limit: 5 } });
    await eventually(() =>
      app('my-app-blue').status.operationState?.retryCount === 1 ? true : undefined,
    );
    expect((await api.delete('/api/v1/applications/my-app-blue/operation')).status).toBe(200);
    const done = await eventually(() =>
      app('my-app-blue').operation ? undefined : app('my-app-blue'),
    );
    // appcontroller.go appends the retry count whenever retries happened, terminated or not.
    expect(done.status.operationState).toMatchObject({
      phase: 'Failed',
      message: 'Operation terminated (retried 1 times).',
    });
  });

  it("ends the operation in Error with helm's message, and reports a ComparisonError", async () => {
    const sha = await repo.push({
      'apps/my-app/values-blue.yaml': 'global:\n  colour: blue\nweb:\n  image:\n    tag: "1.0.0"\n',
    });
    expect((await api.sync('my-app-blue')).status).toBe(200);
    await standIn.idle();
    const state = app('my-app-blue');
    expect(state.operation).toBeUndefined();
    expect(state.status.operationState?.phase).toBe('Error');
    const message = state.status.operationState?.message ?? '';
    expect(message).toMatch(
      /^ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to execute helm template command: failed running helm: `helm template \. --name-template my-app-blue --namespace my-app-blue/,
    );
    expect(message).toContain('global.replicas is required: set it in values-<colour>.yaml');
    expect(state.status.operationState?.syncResult?.revision).toBe(sha);
    expect(state.status.history ?? []).toEqual([]);

    const refreshed = await api.app('my-app-blue?refresh=normal');
    swagger.assert('v1alpha1Application', refreshed);
    expect(refreshed.status.sync.status).toBe('Unknown');
    expect(refreshed.status.conditions?.[0]).toMatchObject({ type: 'ComparisonError' });
    expect(refreshed.status.conditions?.[0]?.message).toContain('global.replicas is required');
  });
});

describe('health simulation', () => {
  const podsOf = async (name: string) => {
    const tree = await api.get<ApplicationTree>(`/api/v1/applications/${name}/resource-tree`);
    swagger.assert('v1alpha1ApplicationTree', tree.json);
    return (tree.json.nodes ?? []).filter((n) => n.kind === 'Pod');
  };
  const info = (node: ResourceNode, key: string) => node.info?.find((i) => i.name === key)?.value;

  it('crash-loops pods at once but turns the Deployment Degraded only after its progress deadline', async () => {
    // The real default (600 s) on the manual clock: nothing here waits in wall time.
    await start({ faultPattern: /-bad$/ });
    await repo.push({ 'apps/my-app/values-blue.yaml': blueValues('1.2.0-bad') });
    await api.sync('my-app-blue');
    await standIn.idle();
    expect(app('my-app-blue').status.health.status).toBe('Progressing');
    expect((await podsOf('my-app-blue')).map((p) => info(p, 'Status Reason'))).toEqual([
      'ContainerCreating',
      'ContainerCreating',
    ]);

    clock.advance(PROGRESSING_MS + 1500); // started, ran 1 s, crashed: back-off 10 s
    const pods = await podsOf('my-app-blue');
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(info(pod, 'Status Reason')).toBe('CrashLoopBackOff');
      expect(info(pod, 'Restart Count')).toBe('1');
      expect(info(pod, 'Containers')).toBe('0/1');
      expect(pod.health?.status).toBe('Degraded');
      expect(pod.health?.message).toMatch(/^back-off 10s restarting failed container=web pod=/);
    }
    // The app (built from managed resources only) is still Progressing, as in Argo CD.
    expect(app('my-app-blue').status.health.status).toBe('Progressing');

    clock.advance(120_000);
    const later = await podsOf('my-app-blue');
    expect(Number(info(later[0]!, 'Restart Count'))).toBeGreaterThanOrEqual(4);
    expect(app('my-app-blue').status.health.status).toBe('Progressing');

    clock.advance(600_000 - 120_000 - 1500);
    const degraded = app('my-app-blue');
    expect(degraded.status.health).toMatchObject({
      status: 'Degraded',
      message: 'Caused by apps/Deployment:my-app-blue/web',
    });
    expect(degraded.status.resources?.find((r) => r.kind === 'Deployment')?.health).toEqual({
      status: 'Degraded',
      message: 'Deployment "web" exceeded its progress deadline',
    });
    standIn.setFaults({ faultPattern: undefined });
    expect(app('my-app-blue').status.health.status).toBe('Healthy');
    const fixed = await podsOf('my-app-blue');
    expect(fixed.map((p) => [info(p, 'Status Reason'), p.health?.status])).toEqual([
      ['Running', 'Healthy'],
      ['Running', 'Healthy'],
    ]);
  });

  it('honours a shorter progress deadline, and shows an image that does not exist as ImagePullBackOff', async () => {
    await start({ missingImagePattern: /:9\.9\.9$/, progressDeadlineSeconds: 60 });
    await repo.push({ 'apps/my-app/values-blue.yaml': blueValues('9.9.9', 1) });
    await api.sync('my-app-blue');
    await standIn.idle();
    clock.advance(PROGRESSING_MS + 500);
    let [pod] = await podsOf('my-app-blue');
    expect(info(pod!, 'Status Reason')).toBe('ErrImagePull');
    expect(pod!.health).toMatchObject({ status: 'Degraded' });
    expect(pod!.health?.message).toContain('registry.example.invalid/web:9.9.9: not found');
    clock.advance(1000);
    [pod] = await podsOf('my-app-blue');
    expect(info(pod!, 'Status Reason')).toBe('ImagePullBackOff');
    expect(pod!.health?.message).toBe(
      'Back-off pulling image "registry.example.invalid/web:9.9.9"',
    );
    expect(app('my-app-blue').status.health.status).toBe('Progressing');
    clock.advance(60_000);
    expect(app('my-app-blue').status.health.status).toBe('Degraded');
  });

  it('treats zero replicas as Healthy at once', async () => {
    await start();
    await api.sync('my-app-green');
    await standIn.idle();
    const green = app('my-app-green');
    expect(green.status.sync.status).toBe('Synced');
    expect(green.status.health.status).toBe('Healthy');
  });
});

describe('new commits', () => {
  beforeEach(() => start());

  it('goes OutOfSync against the new head on refresh, and on a poll', async () => {
    await api.sync('my-app-blue');
    await standIn.idle();
    expect(app('my-app-blue').status.sync).toMatchObject({ status: 'Synced', revision: repo.seed });

    const next = await repo.push({ 'apps/my-app/values-blue.yaml': blueValues('2.0.0') });
    const refreshed = await api.app('my-app-blue?refresh=normal');
    expect(refreshed.status.sync).toMatchObject({ status: 'OutOfSync', revision: next });
    expect(refreshed.status.resources?.find((r) => r.kind === 'Deployment')?.status).toBe(
      'OutOfSync',
    );

    const later = await repo.push({ 'apps/my-app/values-blue.yaml': blueValues('3.0.0') });
    expect(await standIn.poll()).toBe(true);
    expect(app('my-app-blue').status.sync.revision).toBe(later);
    expect(await standIn.poll()).toBe(false);

    // Syncing an older SHA applies it, but the app stays OutOfSync against the head.
    await api.sync('my-app-blue', { revision: next });
    await standIn.idle();
    const pinned = app('my-app-blue');
    expect(pinned.status.operationState?.syncResult?.revision).toBe(next);
    expect(pinned.status.sync).toMatchObject({ status: 'OutOfSync', revision: later });
  });

  it('resolves tags and HEAD to commits', async () => {
    await repo.tag('v1', repo.seed);
    const tagged = await api.sync('my-app-green', { revision: 'v1' });
    expect(tagged.json.operation?.sync?.revision).toBe(repo.seed);
    await standIn.idle();
    const head = await api.sync('my-app-green', { revision: 'HEAD' });
    expect(head.json.operation?.sync?.revision).toBe(repo.seed);
    await standIn.idle();
  });
});

describe('auto-sync', () => {
  const automatedIngress = () => ({
    ...fixtureFiles(),
    'argo/apps/ingress.yaml': appManifest(
      'ingress',
      'apps/ingress',
      'istio-system',
      ['values.yaml'],
      '  syncPolicy:\n    automated:\n      prune: true\n',
    ),
  });

  it('syncs automated apps when the branch moves, and refuses other revisions', async () => {
    await start({}, automatedIngress());
    const first = await eventually(() => {
      const ingress = app('ingress');
      return ingress.status.sync.status === 'Synced' && !ingress.operation ? ingress : undefined;
    });
    expect(first.status.operationState?.operation.initiatedBy).toEqual({ automated: true });

    const refused = await api.sync('ingress', { revision: repo.seed });
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({
      code: 9,
      message: `Cannot sync to ${repo.seed}: auto-sync currently set to main`,
    });

    const next = await repo.push({ 'apps/ingress/values.yaml': 'global:\n  live: green\n' });
    await standIn.poll();
    const synced = await eventually(() => {
      const ingress = app('ingress');
      return ingress.status.sync.revision === next &&
        ingress.status.sync.status === 'Synced' &&
        !ingress.operation
        ? ingress
        : undefined;
    });
    expect(synced.status.operationState?.syncResult?.revision).toBe(next);
    const vs = standIn.appliedObjects('istio-system').find((o) => o.kind === 'VirtualService');
    expect(JSON.stringify(vs)).toContain('web.my-app-green.svc.cluster.local');
  });

  it('auto-syncs a commit pushed while its previous auto-sync was running', async () => {
    await start({}, automatedIngress());
    await eventually(() =>
      app('ingress').status.sync.status === 'Synced' && !app('ingress').operation
        ? true
        : undefined,
    );
    standIn.setFaults({ stallOperations: true });
    const first = await repo.push({ 'apps/ingress/values.yaml': 'global:\n  live: green\n' });
    await standIn.poll();
    await eventually(() =>
      app('ingress').status.operationState?.phase === 'Running' ? true : undefined,
    );
    expect(app('ingress').operation?.sync?.revision).toBe(first);
    const second = await repo.push({ 'apps/ingress/values.yaml': 'global:\n  live: blue\n' });
    standIn.setFaults({ stallOperations: false });
    const settled = await eventually(() => {
      const ingress = app('ingress');
      const done =
        ingress.status.operationState?.syncResult?.revision === second && !ingress.operation;
      return done &&
        ingress.status.sync.revision === second &&
        ingress.status.sync.status === 'Synced'
        ? ingress
        : undefined;
    });
    expect(settled.status.operationState?.operation.initiatedBy).toEqual({ automated: true });
    expect(settled.status.history?.map((h) => h.revision).slice(-2)).toEqual([first, second]);
  });

  it("does not auto-sync when autoSync is false, and auto-syncs everything with 'all'", async () => {
    await start({ autoSync: false }, automatedIngress());
    expect(app('ingress').status.sync.status).toBe('OutOfSync');
    await standIn.close();
    await repo.remove();
    await start({ autoSync: 'all' });
    await standIn.idle();
    await eventually(() =>
      standIn.apps().every((a) => a.status.sync.status === 'Synced' && !a.operation)
        ? true
        : undefined,
    );
  });
});

describe('app of apps', () => {
  it('creates, updates and prunes child Applications when root syncs', async () => {
    await start();
    const stream = await watch('');
    const extra = await repo.push({
      'argo/apps/extra.yaml': appManifest('extra', 'apps/my-app', 'extra', [
        'values.yaml',
        'values-green.yaml',
      ]),
      'argo/apps/my-app-green.yaml': null,
    });
    const root = await api.app('root?refresh=normal');
    expect(root.status.sync).toMatchObject({ status: 'OutOfSync', revision: extra });
    const statuses = Object.fromEntries((root.status.resources ?? []).map((r) => [r.name, r]));
    expect(statuses.extra).toMatchObject({ status: 'OutOfSync', health: { status: 'Missing' } });
    expect(statuses['my-app-green']).toMatchObject({ status: 'OutOfSync', requiresPruning: true });

    await api.sync('root', { prune: true });
    await standIn.idle();
    expect(standIn.app('extra')?.spec.destination.namespace).toBe('extra');
    expect(standIn.app('my-app-green')).toBeUndefined();
    expect(app('root').status.sync.status).toBe('Synced');
    await stream.next(
      (m) => m.result?.type === 'DELETED' && m.result.application.metadata.name === 'my-app-green',
    );
    await stream.next(
      (m) => m.result?.type === 'ADDED' && m.result.application.metadata.name === 'extra',
    );
  });

  it("starts with every app synced when initialSync is 'all', and with only root when 'none'", async () => {
    await start({ initialSync: 'all' });
    expect(standIn.apps().map((a) => `${a.metadata.name}:${a.status.sync.status}`)).toEqual([
      'ingress:Synced',
      'my-app-blue:Synced',
      'my-app-green:Synced',
      'root:Synced',
    ]);
    await standIn.close();
    await repo.remove();
    await start({ initialSync: 'none' });
    expect(standIn.apps().map((a) => a.metadata.name)).toEqual(['root']);
    expect(app('root').status.sync.status).toBe('OutOfSync');
  });

  it('fails to start with a clear error when the root app is missing', async () => {
    repo = await createFixtureRepo();
    await expect(
      startArgoCdStandIn({ repoPath: repo.bare, rootApp: 'argo/nope.yaml', pollIntervalMs: 0 }),
    ).rejects.toThrow('argo/nope.yaml not found on branch main');
  });
});

describe('dry run', () => {
  beforeEach(() => start());

  it('reports what would change without applying it or recording history', async () => {
    const reply = await api.sync('my-app-blue', { dryRun: true });
    expect(reply.json.operation?.sync?.dryRun).toBe(true);
    await standIn.idle();
    const state = app('my-app-blue');
    expect(state.status.operationState?.phase).toBe('Succeeded');
    expect(state.status.operationState?.syncResult?.resources?.[0]?.message).toBe(
      'service/web created (dry run)',
    );
    expect(standIn.appliedObjects('my-app-blue')).toEqual([]);
    expect(state.status.history).toBeUndefined();
    expect(state.status.sync.status).toBe('OutOfSync');
  });
});
