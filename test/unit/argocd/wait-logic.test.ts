/**
 * The wait logic on virtual time against an in-memory Argo CD: every timing rule (grace
 * periods, timeouts, reconnect backoff) is checked exactly, with no real waiting.
 */
import { describe, expect, it } from 'vitest';
import { syncAndWait, waitForApp, type SyncAndWaitOptions } from '../../../src/argocd/wait.ts';
import type { ArgoProgressEvent } from '../../../src/argocd/progress.ts';
import type { ArgoCdApi } from '../../../src/argocd/client.ts';
import { ArgoCdApiError } from '../../../src/argocd/errors.ts';
import { ConflictError, StackswapError, TimeoutError } from '../../../src/shared/errors.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import { MemoryArgo, PREV, R, appJson, finished, refusal, streamError } from './memory-argo.ts';
import { VirtualClock } from './virtual-clock.ts';
import { caught, expectNoSecret } from './helpers.ts';
import type { Json } from './fake-argocd.ts';

const NEWER = '2'.repeat(40);

function setup(...apps: Json[]) {
  const clock = new VirtualClock();
  const api = new MemoryArgo();
  for (const a of apps) api.add(a);
  const events: ArgoProgressEvent[] = [];
  const base = {
    clock,
    onProgress: (e: ArgoProgressEvent) => events.push(e),
    pollIntervalMs: 10_000,
    degradedGraceMs: 30_000,
    timeoutMs: 600_000,
    random: () => 0.5,
    operationId: 'op-1',
  };
  return { clock, api, events, base };
}

/** The controller: Running 2 s after the sync request, finished 5 s after, then health steps. */
function controller(
  api: MemoryArgo,
  clock: VirtualClock,
  o: {
    phase?: string;
    message?: string;
    health?: Array<[number, string]>;
    resources?: Json[];
    hold?: boolean;
  } = {},
) {
  const prior = api.onSync;
  api.onSync = (name, options) => {
    prior(name, options);
    const t = clock.now();
    const op = api.apps.get(name)!.operation;
    clock.at(t + 2_000, () =>
      api.update(
        name,
        (a) =>
          (a.status.operationState = {
            operation: op,
            phase: 'Running',
            message: 'waiting for completion of hook batch/Job/migrate',
            startedAt: 'x',
          }),
      ),
    );
    if (o.hold) return;
    clock.at(t + 5_000, () =>
      api.update(name, (a) => {
        finished(a, op.sync.revision, o.phase ?? 'Succeeded', {
          health: 'Progressing',
          ...(o.message ? { message: o.message } : {}),
        });
        a.status.operationState.operation = op;
        if (o.resources) a.status.operationState.syncResult.resources = o.resources;
      }),
    );
    for (const [after, health] of o.health ?? [[8_000, 'Healthy']]) {
      clock.at(t + after, () =>
        api.update(name, (a) => {
          a.status.health = {
            status: health,
            ...(health === 'Degraded'
              ? { message: 'Deployment "web" exceeded its progress deadline' }
              : {}),
          };
          a.status.resources[0].health = a.status.health;
        }),
      );
    }
  };
}

const types = (events: ArgoProgressEvent[]) => events.map((e) => e.type);

describe('waitForApp', () => {
  it('returns at once when the app is already live at the revision (no watch opened)', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: R }));
    const result = await clock.run(waitForApp(api, { ...base, app: 'shop', revision: R }));
    expect(result).toEqual({
      app: 'shop',
      revision: R,
      health: 'Healthy',
      syncStatus: 'Synced',
      durationMs: 0,
    });
    expect(api.calls).toEqual(['get shop']);
  });

  it('a stale Synced+Healthy at the previous revision never counts', async () => {
    const { clock, api, base, events } = setup(appJson('shop', { revision: PREV }));
    clock.at(45_000, () =>
      api.update('shop', (a) => (a.status.sync = { status: 'OutOfSync', revision: R })),
    );
    clock.at(50_000, () => api.update('shop', (a) => finished(a, R, 'Succeeded')));
    const result = await clock.run(waitForApp(api, { ...base, app: 'shop', revision: R }));
    expect(result.durationMs).toBe(50_000); // seen on the stream the moment it happened
    expect(types(events).filter((t) => t === 'done')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'observed').map((e) => e.revision)).toEqual([
      PREV,
      R,
      R,
    ]);
  });

  it('waits for a compare after the sync (reconciledAt >= finishedAt)', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    clock.at(1_000, () =>
      api.update('shop', (a) => {
        finished(a, R, 'Succeeded', { at: '2024-01-01T00:02:00Z' });
        a.status.reconciledAt = '2024-01-01T00:01:59Z';
      }),
    );
    clock.at(4_000, () =>
      api.update('shop', (a) => (a.status.reconciledAt = '2024-01-01T00:02:00Z')),
    );
    const result = await clock.run(
      waitForApp(api, { ...base, app: 'shop', revision: R, requireOperation: true }),
    );
    expect(result.durationMs).toBe(4_000);
  });

  it('times out naming what it saw, with the terminate-op hint while an operation runs', async () => {
    const { clock, api, base } = setup(
      appJson('shop', { revision: PREV, sync: 'OutOfSync', health: 'Progressing' }),
    );
    api.update('shop', (a) => {
      a.operation = { sync: { revision: R }, initiatedBy: { username: 'promoter' } };
      a.status.operationState = {
        operation: a.operation,
        phase: 'Running',
        message: 'waiting for completion of hook batch/Job/migrate',
        startedAt: 'x',
      };
      a.status.resources[0].health = {
        status: 'Progressing',
        message: 'Waiting for rollout to finish: 1 of 3 updated replicas are available...',
      };
    });
    const e = await caught(
      clock.run(waitForApp(api, { ...base, app: 'shop', revision: R, timeoutMs: 120_000 })),
    );
    expect(e).toBeInstanceOf(TimeoutError);
    expect(clock.now()).toBe(120_000);
    expect(e.message).toContain(
      'app shop: timed out after 2m waiting for Synced and Healthy at 111111111111',
    );
    expect(e.message).toContain('OutOfSync at 000000000000, health Progressing');
    expect(e.message).toContain(
      'operation Running at 111111111111: waiting for completion of hook batch/Job/migrate (started by promoter)',
    );
    expect(e.message).toContain('Deployment shop/web Progressing (Waiting for rollout to finish');
    expect(e.hint).toContain('argocd app terminate-op shop');
    expect(e.details.lastSeen).toMatchObject({
      syncStatus: 'OutOfSync',
      operationRunning: true,
      phase: 'Running',
    });
  });

  it('Degraded shorter than the grace period is waited out', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    clock.at(5_000, () =>
      api.update('shop', (a) => finished(a, R, 'Succeeded', { health: 'Degraded' })),
    );
    clock.at(33_000, () => api.update('shop', (a) => (a.status.health = { status: 'Healthy' })));
    const result = await clock.run(waitForApp(api, { ...base, app: 'shop', revision: R }));
    expect(result.durationMs).toBe(33_000);
  });

  it('Degraded longer than the grace period fails well before the timeout, listing the resources', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    clock.at(5_000, () =>
      api.update('shop', (a) => {
        finished(a, R, 'Succeeded', { health: 'Degraded' });
        a.status.health.message = 'Deployment "web" exceeded its progress deadline';
        a.status.resources[0].health = { status: 'Degraded', message: 'CrashLoopBackOff' };
      }),
    );
    const e = await caught(clock.run(waitForApp(api, { ...base, app: 'shop', revision: R })));
    expect(e).toBeInstanceOf(StackswapError);
    expect(e.code).toBe('degraded');
    // Degraded from 5 s: the wait fails when the 30 s grace ends, without waiting for a new event.
    expect(clock.now()).toBe(35_000);
    expect(e.message).toBe(
      'app shop: health Degraded: Deployment "web" exceeded its progress deadline for 30s at 111111111111; unhealthy: Deployment shop/web Degraded (CrashLoopBackOff)',
    );
  });

  it('Degraded, then Progressing, then Degraded again restarts the grace period', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    clock.at(1_000, () =>
      api.update('shop', (a) => finished(a, R, 'Succeeded', { health: 'Degraded' })),
    );
    clock.at(25_000, () =>
      api.update('shop', (a) => (a.status.health = { status: 'Progressing' })),
    );
    clock.at(26_000, () => api.update('shop', (a) => (a.status.health = { status: 'Degraded' })));
    clock.at(50_000, () => api.update('shop', (a) => (a.status.health = { status: 'Healthy' })));
    await expect(
      clock.run(waitForApp(api, { ...base, app: 'shop', revision: R })),
    ).resolves.toMatchObject({ health: 'Healthy' });
  });

  it("a Failed operation at the revision fails at once with Argo CD's message and the failed resources", async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    clock.at(3_000, () =>
      api.update('shop', (a) => {
        finished(a, R, 'Failed', {
          message: 'one or more synchronization tasks completed unsuccessfully',
        });
        a.status.operationState.syncResult.resources = [
          {
            kind: 'Deployment',
            namespace: 'shop',
            name: 'web',
            status: 'Synced',
            hookPhase: 'Running',
          },
          {
            kind: 'ConfigMap',
            namespace: 'shop',
            name: 'cfg',
            status: 'SyncFailed',
            message: 'admission webhook denied the request',
          },
          {
            kind: 'Job',
            namespace: 'shop',
            name: 'migrate',
            hookType: 'PreSync',
            hookPhase: 'Failed',
            message: 'Job has reached the specified backoff limit',
          },
        ];
      }),
    );
    const e = await caught(clock.run(waitForApp(api, { ...base, app: 'shop', revision: R })));
    expect(e.code).toBe('operation-failed');
    expect(clock.now()).toBe(3_000);
    expect(e.message).toBe(
      'app shop: sync operation at 111111111111 ended Failed: one or more synchronization tasks completed unsuccessfully; failed: ConfigMap shop/cfg (SyncFailed: admission webhook denied the request); Job shop/migrate (PreSync hook Failed: Job has reached the specified backoff limit)',
    );
  });

  it('"Operation terminated" fails too', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    clock.at(3_000, () =>
      api.update('shop', (a) => finished(a, R, 'Failed', { message: 'Operation terminated' })),
    );
    const e = await caught(clock.run(waitForApp(api, { ...base, app: 'shop', revision: R })));
    expect(e.message).toContain('ended Failed: Operation terminated');
  });

  it('while a sync is retrying (Running with finishedAt), it keeps waiting', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    clock.at(1_000, () =>
      api.update('shop', (a) => {
        a.operation = { sync: { revision: R } };
        a.status.operationState = {
          operation: a.operation,
          phase: 'Running',
          finishedAt: '2024-01-01T00:00:30Z',
          startedAt: 'x',
          message: 'failed. Retrying attempt #1 at 3:04PM.',
        };
      }),
    );
    clock.at(9_000, () => api.update('shop', (a) => finished(a, R, 'Succeeded')));
    await expect(
      clock.run(waitForApp(api, { ...base, app: 'shop', revision: R })),
    ).resolves.toMatchObject({ durationMs: 9_000 });
  });

  it('a persisting ComparisonError fails after the grace period', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    api.update('shop', (a) => {
      a.status.sync = { status: 'Unknown', revision: R };
      a.status.health = { status: 'Unknown' };
      a.status.conditions = [
        {
          type: 'ComparisonError',
          message: 'helm template: values.yaml: mapping values are not allowed here',
        },
      ];
    });
    const e = await caught(clock.run(waitForApp(api, { ...base, app: 'shop', revision: R })));
    expect(e.code).toBe('operation-failed');
    expect(e.message).toContain('ComparisonError: helm template');
    expect(clock.now()).toBe(30_000);
  });

  it('after our sync succeeded, Argo CD comparing against a newer commit is a conflict (after the grace)', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    clock.at(1_000, () =>
      api.update('shop', (a) => finished(a, R, 'Succeeded', { sync: 'OutOfSync' })),
    );
    clock.at(2_000, () =>
      api.update('shop', (a) => (a.status.sync = { status: 'OutOfSync', revision: NEWER })),
    );
    const e = await caught(
      clock.run(waitForApp(api, { ...base, app: 'shop', revision: R, requireOperation: true })),
    );
    expect(e).toBeInstanceOf(ConflictError);
    expect(e.message).toContain('now compares against 222222222222, not the synced 111111111111');
  });

  it('reconnects a dropped stream with growing backoff, resuming from the last resourceVersion', async () => {
    const { clock, api, base, events } = setup(appJson('shop', { revision: PREV }));
    api.watchFailures.push(
      undefined,
      streamError('in-band: transport is closing'),
      streamError('504 Gateway Timeout'),
    );
    clock.at(500, () => api.dropWatches());
    clock.at(9_000, () => api.update('shop', (a) => finished(a, R, 'Succeeded')));
    const result = await clock.run(
      waitForApp(api, { ...base, app: 'shop', revision: R, pollIntervalMs: 60_000 }),
    );
    expect(result.durationMs).toBe(9_000); // the stream, not the 60 s poll
    const reconnects = events.filter((e) => e.type === 'stream-reconnect');
    expect(reconnects.map((e) => (e as { delayMs: number }).delayMs)).toEqual([375, 750, 1500]);
    expect(api.calls.filter((c) => c.startsWith('watch'))).toEqual([
      'watch shop',
      'watch shop rv=1',
      'watch shop rv=1',
      'watch shop rv=1',
    ]);
  });

  it('falls back to polling when the stream endpoint does not exist', async () => {
    const { clock, api, base, events } = setup(appJson('shop', { revision: PREV }));
    api.watchFailures.push(new ArgoCdApiError('watch: no route', 404, 'Not Found', undefined));
    clock.at(12_000, () => api.update('shop', (a) => finished(a, R, 'Succeeded')));
    const result = await clock.run(waitForApp(api, { ...base, app: 'shop', revision: R }));
    expect(result.durationMs).toBe(20_000);
    expect(types(events)).toContain('poll-fallback');
    expect(api.calls.filter((c) => c.startsWith('watch'))).toHaveLength(1);
  });

  it('skips versions older than one already seen (a replayed stale event cannot fail the wait)', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    const stale = structuredClone(api.apps.get('shop')!);
    finished(stale, R, 'Failed', { message: 'old failure' });
    stale.metadata.resourceVersion = '1';
    api.update('shop', (a) => (a.operation = { sync: { revision: R } })); // rv 2: our new operation
    const replaying: ArgoCdApi = Object.create(api);
    replaying.watchApplications = async function* () {
      yield {
        type: 'ADDED',
        application: (await import('../../../src/argocd/schema.ts')).Application.parse(stale),
      };
    };
    clock.at(3_000, () => api.update('shop', (a) => finished(a, R, 'Succeeded')));
    const result = await clock.run(
      waitForApp(replaying, {
        ...base,
        app: 'shop',
        revision: R,
        requireOperation: true,
        minResourceVersion: '2',
        pollIntervalMs: 5_000,
      }),
    );
    expect(result.health).toBe('Healthy');
  });

  it('an AuthError while polling ends the wait with it', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    const failing: ArgoCdApi = Object.create(api);
    let gets = 0;
    failing.getApplication = async (name, o) => {
      if (++gets > 1)
        throw new StackswapError('auth', 'ARGOCD_AUTH_TOKEN rejected (expired or revoked)');
      return api.getApplication(name, o);
    };
    const e = await caught(clock.run(waitForApp(failing, { ...base, app: 'shop', revision: R })));
    expect(e.code).toBe('auth');
    expect(clock.now()).toBe(10_000);
  });

  it('an app that vanishes (403 "not found or not permitted") ends the wait at the next poll', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV }));
    clock.at(5_000, () => api.apps.delete('shop')); // deleted, or the token lost access
    const e = await caught(clock.run(waitForApp(api, { ...base, app: 'shop', revision: R })));
    expect(e.code).toBe('argocd-forbidden');
    expect(e.exitCode).toBe(8);
    expect(clock.now()).toBe(10_000); // not retried until the timeout
  });
});

describe('syncAndWait', () => {
  it('refreshes, syncs at the revision with our tag, and waits until live', async () => {
    const { clock, api, base, events } = setup(appJson('shop', { revision: PREV }));
    api.onRefresh = (name) =>
      api.update(name, (a) => (a.status.sync = { status: 'OutOfSync', revision: R }));
    let infos: unknown;
    const prior = api.onSync;
    api.onSync = (n, o) => {
      infos = o.infos;
      prior(n, o);
    };
    controller(api, clock);
    const result = await clock.run(
      syncAndWait(api, { ...base, app: 'shop', revision: R, children: false }),
    );
    expect(result).toEqual({
      app: 'shop',
      revision: R,
      health: 'Healthy',
      syncStatus: 'Synced',
      children: [],
      durationMs: 8_000,
    });
    // R is the head of targetRevision after the refresh: no pinned revision (no `override`).
    expect(api.calls.slice(0, 2)).toEqual(['get shop refresh', 'sync shop']);
    expect(infos).toEqual([{ name: 'stackswap', value: 'op-1' }]);
    expect(types(events)).toEqual([
      'refresh',
      'sync-requested',
      'observed',
      'observed',
      'observed',
      'observed',
      'done',
    ]);
    expect(events.at(-1)).toMatchObject({
      type: 'done',
      app: 'shop',
      sync: 'Synced',
      revision: R,
      health: 'Healthy',
      at: 8_000,
    });
    expect(JSON.parse(JSON.stringify(events))).toEqual(events); // plain data
  });

  it('does not sync an app already live at the revision', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: R }));
    const result = await clock.run(
      syncAndWait(api, { ...base, app: 'shop', revision: R, children: false }),
    );
    expect(result.durationMs).toBe(0);
    expect(api.calls).toEqual(['get shop refresh', 'get shop']);
  });

  it('re-syncs when the last operation at the revision failed', async () => {
    const app = appJson('shop', { revision: R, sync: 'OutOfSync' });
    finished(app, R, 'Failed', { sync: 'OutOfSync' });
    const { clock, api, base } = setup(app);
    controller(api, clock);
    await expect(
      clock.run(syncAndWait(api, { ...base, app: 'shop', revision: R, children: false })),
    ).resolves.toMatchObject({
      health: 'Healthy',
    });
    expect(api.calls).toContain('sync shop');
  });

  it('adopts an operation already running at the revision (e.g. auto-sync kicked by the refresh)', async () => {
    const { clock, api, base, events } = setup(
      appJson('shop', { revision: PREV, automated: true }),
    );
    api.onRefresh = (name) => {
      api.update(name, (a) => {
        a.status.sync = { status: 'OutOfSync', revision: R };
        a.operation = { sync: { revision: R }, initiatedBy: { automated: true } };
      });
      clock.at(clock.now() + 4_000, () => api.update(name, (a) => finished(a, R, 'Succeeded')));
    };
    const result = await clock.run(
      syncAndWait(api, { ...base, app: 'shop', revision: R, children: false }),
    );
    expect(result.durationMs).toBe(4_000);
    expect(api.calls.filter((c) => c.startsWith('sync'))).toEqual([]);
    expect(events[1]).toMatchObject({
      type: 'operation-adopted',
      operationRevision: R,
      initiatedBy: 'automated sync',
    });
  });

  it('400 "another operation is already in progress": looks again and adopts an operation at the revision', async () => {
    const { clock, api, base, events } = setup(appJson('shop', { revision: PREV }));
    api.onSync = (name) => {
      api.update(
        name,
        (a) => (a.operation = { sync: { revision: R }, initiatedBy: { automated: true } }),
      );
      clock.at(clock.now() + 3_000, () => api.update(name, (a) => finished(a, R, 'Succeeded')));
      throw refusal('another operation is already in progress');
    };
    const result = await clock.run(
      syncAndWait(api, { ...base, app: 'shop', revision: R, children: false }),
    );
    expect(result.health).toBe('Healthy');
    expect(api.calls.filter((c) => c.startsWith('sync'))).toHaveLength(1);
    expect(types(events)).toContain('operation-adopted');
  });

  it('400 "another operation is already in progress", and that operation already finished at the revision: no second sync', async () => {
    const { clock, api, base, events } = setup(appJson('shop', { revision: PREV }));
    api.onSync = (name) => {
      api.update(name, (a) => finished(a, R, 'Succeeded', { health: 'Progressing' }));
      clock.at(clock.now() + 3_000, () =>
        api.update(name, (a) => (a.status.health = { status: 'Healthy' })),
      );
      throw refusal('another operation is already in progress');
    };
    const result = await clock.run(
      syncAndWait(api, { ...base, app: 'shop', revision: R, children: false }),
    );
    expect(result.durationMs).toBe(3_000);
    expect(api.calls.filter((c) => c.startsWith('sync'))).toHaveLength(1);
    expect(types(events)).toContain('operation-adopted');
  });

  it("someone else's operation at another revision: waits for it to finish, then syncs", async () => {
    const app = appJson('shop', { revision: PREV });
    app.operation = { sync: { revision: PREV }, initiatedBy: { username: 'alice' } };
    app.status.operationState = { operation: app.operation, phase: 'Running', startedAt: 'x' };
    const { clock, api, base, events } = setup(app);
    clock.at(20_000, () => api.update('shop', (a) => finished(a, PREV, 'Succeeded')));
    controller(api, clock);
    const result = await clock.run(
      syncAndWait(api, { ...base, app: 'shop', revision: R, children: false }),
    );
    expect(result.durationMs).toBe(28_000);
    expect(events.find((e) => e.type === 'operation-wait')).toMatchObject({
      initiatedBy: 'alice',
      operationRevision: PREV,
    });
    expect(api.calls.filter((c) => c.startsWith('sync'))).toEqual(['sync shop 1111']);
  });

  it("someone else's operation that never ends: timeout naming its initiator", async () => {
    const app = appJson('shop', { revision: PREV });
    app.operation = { sync: { revision: PREV }, initiatedBy: { username: 'alice' } };
    app.status.operationState = {
      operation: app.operation,
      phase: 'Running',
      startedAt: 'x',
      message: 'waiting for PreSync hook',
    };
    const { clock, api, base } = setup(app);
    const e = await caught(
      clock.run(
        syncAndWait(api, {
          ...base,
          app: 'shop',
          revision: R,
          children: false,
          timeoutMs: 300_000,
        }),
      ),
    );
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.message).toContain(
      'waiting for another operation to finish before syncing 111111111111',
    );
    expect(e.message).toContain('(started by alice)');
    expect(e.hint).toContain('argocd app terminate-op shop');
    expect(api.calls.filter((c) => c.startsWith('sync'))).toEqual([]);
  });

  it('"Cannot sync to R: auto-sync currently set to main": syncs without a revision and still verifies it', async () => {
    const { clock, api, base, events } = setup(appJson('shop', { revision: PREV }));
    api.onSync = (name, options) => {
      if (options.revision)
        throw refusal(`Cannot sync to ${options.revision}: auto-sync currently set to main`);
      api.defaultSync(name, options);
      clock.at(clock.now() + 5_000, () => api.update(name, (a) => finished(a, R, 'Succeeded')));
    };
    const result = await clock.run(
      syncAndWait(api, { ...base, app: 'shop', revision: R, children: false }),
    );
    expect(result.revision).toBe(R);
    expect(api.calls.filter((c) => c.startsWith('sync'))).toEqual(['sync shop 1111', 'sync shop']);
    expect(events.find((e) => e.type === 'auto-sync')).toMatchObject({
      reason: expect.stringContaining('auto-sync currently set to main'),
    });
  });

  it('an auto-sync app is synced without a revision from the start; a branch that moved on is a conflict', async () => {
    const { clock, api, base } = setup(appJson('shop', { revision: PREV, automated: true }));
    api.head = NEWER;
    const e = await caught(
      clock.run(syncAndWait(api, { ...base, app: 'shop', revision: R, children: false })),
    );
    expect(api.calls.filter((c) => c.startsWith('sync'))).toEqual(['sync shop']);
    expect(e).toBeInstanceOf(ConflictError);
    expect(e.message).toContain(
      'resolved its targetRevision to 222222222222, not the pushed 111111111111',
    );
  });

  it('the token never appears in events or errors, even when Argo CD quotes it', async () => {
    const token = 'eyJhbGciOiJIUzI1NiJ9.leaky-token-value.sig';
    const redactor = new Redactor();
    redactor.add(token);
    const { clock, api, base, events } = setup(appJson('shop', { revision: PREV }));
    controller(api, clock, {
      phase: 'Failed',
      message: `Authorization: Bearer ${token} was rejected by the repo`,
    });
    const e = await caught(
      clock.run(
        syncAndWait(api, {
          ...base,
          app: 'shop',
          revision: R,
          children: false,
          redact: (t) => redactor.redact(t),
        }),
      ),
    );
    expect(e.code).toBe('operation-failed');
    expect(e.message).toContain('[REDACTED]');
    expectNoSecret(e, token);
    expect(events.some((ev) => ev.message?.includes('[REDACTED]'))).toBe(true);
    expect(JSON.stringify(events)).not.toContain(token);
  });
});

describe('syncAndWait with children (app-of-apps)', () => {
  function appOfApps() {
    const root = appJson('root', { revision: PREV });
    root.status.resources = [
      {
        group: 'argoproj.io',
        version: 'v1alpha1',
        kind: 'Application',
        namespace: 'argocd',
        name: 'shop-blue',
        status: 'Synced',
      },
      {
        group: 'argoproj.io',
        version: 'v1alpha1',
        kind: 'Application',
        namespace: 'argocd',
        name: 'shop-green',
        status: 'Synced',
      },
    ];
    const blue = appJson('shop-blue', { revision: PREV }); // manual sync
    const green = appJson('shop-green', { revision: PREV, automated: true });
    return { root, blue, green };
  }

  const opts = (base: ReturnType<typeof setup>['base']): SyncAndWaitOptions => ({
    ...base,
    app: 'root',
    revision: R,
    children: true,
  });

  it('syncs manual children at the revision, kicks auto-sync ones with a refresh, and waits for all', async () => {
    const { root, blue, green } = appOfApps();
    const { clock, api, base, events } = setup(root, blue, green);
    controller(api, clock);
    api.onRefresh = (name) => {
      if (name !== 'shop-green') return;
      api.update(name, (a) => {
        a.status.sync = { status: 'OutOfSync', revision: R };
        a.operation = { sync: { revision: R }, initiatedBy: { automated: true } };
      });
      clock.at(clock.now() + 6_000, () => api.update(name, (a) => finished(a, R, 'Succeeded')));
    };
    const result = await clock.run(syncAndWait(api, opts(base)));
    expect(result.children.map((c) => [c.app, c.revision, c.health])).toEqual([
      ['shop-blue', R, 'Healthy'],
      ['shop-green', R, 'Healthy'],
    ]);
    const syncs = api.calls.filter((c) => c.startsWith('sync'));
    expect(syncs).toEqual(['sync root 1111', 'sync shop-blue 1111']);
    expect(events.find((e) => e.type === 'children')).toMatchObject({
      app: 'root',
      children: ['shop-blue', 'shop-green'],
    });
    expect(result.durationMs).toBe(8_000 + 8_000);
  });

  it('a parent Healthy while a child stays at the old revision is not success: the timeout names the child', async () => {
    const { root, blue, green } = appOfApps();
    green.status.sync = { status: 'OutOfSync', revision: PREV };
    const { clock, api, base } = setup(root, blue, green);
    controller(api, clock);
    const e = await caught(clock.run(syncAndWait(api, { ...opts(base), timeoutMs: 60_000 })));
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.message).toContain(
      'app root: timed out after 60s waiting for its child applications at 111111111111; blocking: shop-green',
    );
    expect(e.message).not.toContain('shop-blue:');
    expect(e.hint).toBe('blocking children: shop-green');
    expect(e.details.blockingChildren[0]).toMatchObject({
      app: 'shop-green',
      lastSeen: { syncStatus: 'OutOfSync' },
    });
  });

  it('a failing child fails the whole wait at once, naming it', async () => {
    const { root, blue, green } = appOfApps();
    const { clock, api, base } = setup(root, blue, green);
    controller(api, clock, { phase: 'Succeeded' });
    const prior = api.onSync;
    api.onSync = (name, o) => {
      if (name === 'shop-blue') {
        api.defaultSync(name, o);
        clock.at(clock.now() + 1_000, () =>
          api.update(name, (a) =>
            finished(a, R, 'Failed', { message: 'Deployment.apps "api" is invalid' }),
          ),
        );
        return;
      }
      prior(name, o);
    };
    const e = await caught(clock.run(syncAndWait(api, opts(base))));
    expect(e.code).toBe('operation-failed');
    expect(e.message).toMatch(
      /^child application shop-blue of root: app shop-blue: sync operation at 111111111111 ended Failed: Deployment.apps "api" is invalid/,
    );
    expect(clock.now()).toBe(8_000 + 1_000);
    expect(api.openWatches).toBe(0);
  });
});
