/**
 * The client and the wait logic together against the scripted HTTP Argo CD: the real wire
 * format, the real stream, faults injected on the wire. Intervals are tens of milliseconds; each
 * scenario is decided by the server's scripted sequence, with wide margins on time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { syncAndWait, waitForApp, type SyncAndWaitOptions } from '../../../src/argocd/wait.ts';
import type { ArgoProgressEvent } from '../../../src/argocd/progress.ts';
import { AuthError, TimeoutError } from '../../../src/shared/errors.ts';
import { FakeArgoCd, NEW, OLD } from './fake-argocd.ts';
import { caught, clientFor, expectNoSecret, type TestClient } from './helpers.ts';

let server: FakeArgoCd;
let tc: TestClient;
let events: ArgoProgressEvent[];

beforeEach(async () => {
  server = await new FakeArgoCd().start();
  tc = clientFor(server, {}, { sleep: undefined, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  events = [];
});
afterEach(async () => {
  await server.stop();
});

function options(overrides: Partial<SyncAndWaitOptions> = {}): SyncAndWaitOptions {
  return {
    app: 'shop-green',
    revision: NEW,
    children: false,
    timeoutMs: 10_000,
    pollIntervalMs: 50,
    degradedGraceMs: 5_000,
    reconnect: { baseDelayMs: 10, maxDelayMs: 50 },
    operationId: 'op-7',
    onProgress: (e) => events.push(e),
    redact: (t) => tc.redactor.redact(t),
    ...overrides,
  };
}

const types = () => events.map((e) => e.type);

/** Holds the operation until the n-th stream connection, so only a reconnected stream can see the end. */
function releaseOnStream(n: number, onFirst?: () => void, app = 'shop-green'): void {
  server.sim.get(app)!.holdOperation = true;
  let seen = 0;
  server.hooks.push((r) => {
    if (r.path !== '/api/v1/stream/applications') return false;
    seen += 1;
    if (seen === 1) onFirst?.();
    if (seen === n) setTimeout(() => server.release(app), 20);
    return false;
  });
}

/** Runs `fn` when the first watch stream is opened (the wait has made its first GET by then). */
function onFirstStream(fn: () => void): void {
  let done = false;
  server.hooks.push((r) => {
    if (r.path === '/api/v1/stream/applications' && !done) {
      done = true;
      setTimeout(fn, 10);
    }
    return false;
  });
}

describe('syncAndWait over HTTP', () => {
  it('refresh, sync at the pushed revision, stream until Synced+Healthy at it', async () => {
    server.addApp('shop-green');
    releaseOnStream(1);
    const result = await syncAndWait(tc.client, options({ pollIntervalMs: 5_000 }));
    expect(result).toMatchObject({
      app: 'shop-green',
      revision: NEW,
      syncStatus: 'Synced',
      health: 'Healthy',
      children: [],
    });
    const refresh = server.requests.find((r) => r.query.get('refresh'));
    expect(refresh?.query.get('refresh')).toBe('normal');
    const post = server.requests.find((r) => r.method === 'POST')!;
    // The refresh showed NEW as the head of targetRevision: synced without pinning (no
    // `override` permission needed), the resolved revision checked instead.
    expect(JSON.parse(post.body)).toMatchObject({
      infos: [{ name: 'stackswap', value: 'op-7' }],
    });
    expect(JSON.parse(post.body).revision).toBeUndefined();
    expect(server.requests.some((r) => r.path === '/api/v1/stream/applications')).toBe(true);
    expect(types()[0]).toBe('refresh');
    expect(types().filter((t) => t === 'done')).toHaveLength(1);
    await vi.waitFor(() => expect(server.openStreams).toBe(0)); // the wait closed its stream
  });

  it('503 on the first calls is retried', async () => {
    server.addApp('shop-green');
    server.faults.push({
      method: 'GET',
      path: /^\/api\/v1\/applications\/shop-green$/,
      status: 503,
      text: 'no healthy upstream',
      times: 3,
    });
    await expect(syncAndWait(tc.client, options())).resolves.toMatchObject({ health: 'Healthy' });
  });

  it('a stream dropped mid-wait is reopened from the last resourceVersion (one stream at a time)', async () => {
    server.addApp('shop-green');
    releaseOnStream(2, () => setTimeout(() => server.dropStreams(), 30));
    let maxOpen = 0;
    server.hooks.push(() => {
      maxOpen = Math.max(maxOpen, server.openStreams);
      return false;
    });
    await expect(syncAndWait(tc.client, options({ pollIntervalMs: 5_000 }))).resolves.toMatchObject(
      { health: 'Healthy' },
    );
    const streams = server.requests.filter((r) => r.path === '/api/v1/stream/applications');
    expect(streams).toHaveLength(2);
    expect(streams[0]!.query.get('resourceVersion')).toBeNull();
    expect(streams[1]!.query.get('resourceVersion')).toMatch(/^\d+$/);
    expect(types()).toContain('stream-reconnect');
    expect(maxOpen).toBeLessThanOrEqual(1);
  });

  it('an in-band stream error, then a malformed chunk, are reconnected and the outcome still found', async () => {
    server.addApp('shop-green');
    server.streams.push({ errorAfter: 0 }, { malformedAfter: 0 });
    releaseOnStream(3);
    await expect(syncAndWait(tc.client, options({ pollIntervalMs: 5_000 }))).resolves.toMatchObject(
      { health: 'Healthy' },
    );
    const reasons = events
      .filter((e) => e.type === 'stream-reconnect')
      .map((e) => (e as { reason: string }).reason);
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toContain('stream terminated by server');
    expect(reasons[1]).toContain('could not be parsed');
  });

  it('polls only when the stream endpoint is missing', async () => {
    server.addApp('shop-green');
    server.streams.push({ status: 404, text: 'Not Found' });
    releaseOnStream(1);
    await expect(syncAndWait(tc.client, options())).resolves.toMatchObject({ health: 'Healthy' });
    expect(types()).toContain('poll-fallback');
    expect(server.requests.filter((r) => r.path === '/api/v1/stream/applications')).toHaveLength(1);
  });

  it('another operation running at an older revision: waits, then syncs once', async () => {
    server.addApp('shop-green', { revision: OLD });
    server.sim.get('shop-green')!.holdOperation = true;
    server.startOperation('shop-green', OLD, { username: 'alice' }, []);
    onFirstStream(() => server.release('shop-green')); // alice's operation ends while we wait
    await expect(syncAndWait(tc.client, options())).resolves.toMatchObject({
      revision: NEW,
      health: 'Healthy',
    });
    expect(events.find((e) => e.type === 'operation-wait')).toMatchObject({ initiatedBy: 'alice' });
    expect(server.syncPosts).toBe(1);
  });

  it('400 "another operation is already in progress" on POST: re-reads, adopts the operation at our revision', async () => {
    server.addApp('shop-green');
    releaseOnStream(1);
    let raced = false;
    server.hooks.push((r, res) => {
      if (r.method !== 'POST' || raced) return false;
      raced = true;
      server.startOperation('shop-green', NEW, { automated: true }, []);
      server.grpcError(res, 400, 9, 'another operation is already in progress');
      return true;
    });
    await expect(syncAndWait(tc.client, options())).resolves.toMatchObject({
      revision: NEW,
      health: 'Healthy',
    });
    expect(types()).toContain('operation-adopted');
    expect(server.count('POST', /\/sync$/)).toBe(1);
  });

  it('auto-sync refusal of the explicit revision: syncs the targetRevision and verifies the SHA', async () => {
    // The refresh does not show the new head yet, so the first sync pins NEW.
    server.addApp('shop-green', { sim: { staleRefreshes: 1 } });
    server.hooks.push((r, res) => {
      if (r.method !== 'POST' || !JSON.parse(r.body).revision) return false;
      server.grpcError(res, 400, 9, `Cannot sync to ${NEW}: auto-sync currently set to main`);
      return true;
    });
    await expect(syncAndWait(tc.client, options())).resolves.toMatchObject({
      revision: NEW,
      health: 'Healthy',
    });
    const posts = server.requests
      .filter((r) => r.method === 'POST')
      .map((r) => JSON.parse(r.body).revision);
    expect(posts).toEqual([NEW, undefined]);
    expect(types()).toContain('auto-sync');
  });

  it('an auto-sync app: the refresh starts its auto-sync, which is adopted (no POST)', async () => {
    server.addApp('shop-green', { automated: true });
    await expect(syncAndWait(tc.client, options())).resolves.toMatchObject({
      revision: NEW,
      health: 'Healthy',
    });
    expect(server.count('POST', /\/sync$/)).toBe(0);
    expect(events.find((e) => e.type === 'operation-adopted')).toMatchObject({
      initiatedBy: 'automated sync',
    });
  });

  it('Degraded for less than the grace period: success', async () => {
    server.addApp('shop-green', {
      sim: { healthAfterSync: ['Degraded', 'Degraded', 'Degraded', 'Healthy'] },
    });
    releaseOnStream(1);
    await expect(
      syncAndWait(tc.client, options({ degradedGraceMs: 5_000 })),
    ).resolves.toMatchObject({ health: 'Healthy' });
    expect(events.some((e) => e.type === 'observed' && e.health === 'Degraded')).toBe(true);
  });

  it('Degraded for more than the grace period: fails fast with degraded', async () => {
    server.addApp('shop-green', { sim: { healthAfterSync: ['Progressing', 'Degraded'] } });
    const started = Date.now();
    const e = await caught(
      syncAndWait(tc.client, options({ degradedGraceMs: 100, timeoutMs: 20_000 })),
    );
    expect(e.code).toBe('degraded');
    expect(e.message).toContain('exceeded its progress deadline');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("operation Failed: fails at once with Argo CD's message and the failed resources", async () => {
    server.addApp('shop-green', {
      sim: {
        failSync: {
          message: 'one or more synchronization tasks completed unsuccessfully',
          resources: [
            {
              kind: 'Job',
              namespace: 'shop',
              name: 'migrate',
              hookType: 'PreSync',
              hookPhase: 'Failed',
              message: 'BackoffLimitExceeded',
            },
          ],
        },
      },
    });
    const e = await caught(syncAndWait(tc.client, options()));
    expect(e.code).toBe('operation-failed');
    expect(e.message).toContain(
      'ended Failed: one or more synchronization tasks completed unsuccessfully',
    );
    expect(e.message).toContain('Job shop/migrate (PreSync hook Failed: BackoffLimitExceeded)');
  });

  it('an operation that never finishes: TimeoutError with the last state and the terminate-op hint', async () => {
    server.addApp('shop-green', { sim: { holdOperation: true } });
    const e = await caught(syncAndWait(tc.client, options({ timeoutMs: 1_000 })));
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.message).toContain('operation Running');
    expect(e.message).toContain('waiting for completion of hook batch/Job/pre-sync');
    expect(e.hint).toContain('argocd app terminate-op shop-green');
  });

  it('401: AuthError at once; 403: not found or not permitted; no token anywhere', async () => {
    server.addApp('shop-green');
    const token = server.token;
    const typo = await caught(syncAndWait(tc.client, options({ app: 'shop-grene' })));
    expect(typo.code).toBe('argocd-forbidden');
    expect(typo.exitCode).toBe(8);
    expect(typo.message).toBe('application shop-grene not found or not permitted for this token');
    server.token = 'rotated';
    server.hooks.push((r, res) => {
      server.grpcError(res, 401, 16, `invalid session: token ${token} is expired`);
      return true;
    });
    const auth = await caught(syncAndWait(tc.client, options()));
    expect(auth).toBeInstanceOf(AuthError);
    expect(auth.message).toBe('ARGOCD_AUTH_TOKEN rejected (expired or revoked)');
    expect(server.requests.filter((r) => r.headers.authorization).length).toBe(2); // 403 once, 401 once
    for (const e of [typo, auth]) expectNoSecret(e, token);
    expect(JSON.stringify(events)).not.toContain(token);
  });
});

describe('waitForApp over HTTP', () => {
  it('a stale Synced+Healthy at the previous revision does not count until the new one appears', async () => {
    server.addApp('shop-green', { revision: OLD, automated: true });
    let switched = false;
    onFirstStream(() => {
      switched = true;
      server.reconcile('shop-green'); // Argo CD notices the push; its auto-sync applies it
    });
    const result = await waitForApp(tc.client, options());
    expect(switched).toBe(true);
    expect(result).toMatchObject({ revision: NEW, syncStatus: 'Synced', health: 'Healthy' });
    expect(events.find((e) => e.type === 'observed')).toMatchObject({
      revision: OLD,
      sync: 'Synced',
      health: 'Healthy',
    });
  });

  it('an app already live at the revision returns at once, without opening a stream', async () => {
    server.addApp('shop-green', { revision: NEW });
    await expect(waitForApp(tc.client, options())).resolves.toMatchObject({ revision: NEW });
    expect(server.requests.map((r) => r.path)).toEqual(['/api/v1/applications/shop-green']);
  });
});

describe('children over HTTP', () => {
  it('syncs the app-of-apps, then each child at the same revision', async () => {
    server.addApp('root', {
      resources: ['shop-blue', 'shop-green'].map((name) => ({
        group: 'argoproj.io',
        version: 'v1alpha1',
        kind: 'Application',
        namespace: 'argocd',
        name,
        status: 'Synced',
      })),
    });
    server.addApp('shop-blue');
    server.addApp('shop-green', { automated: true });
    const result = await syncAndWait(tc.client, options({ app: 'root', children: true }));
    expect(result.children.map((c) => [c.app, c.revision, c.health])).toEqual([
      ['shop-blue', NEW, 'Healthy'],
      ['shop-green', NEW, 'Healthy'],
    ]);
    const posts = server.requests.filter((r) => r.method === 'POST').map((r) => r.path);
    expect(posts.sort()).toEqual([
      '/api/v1/applications/root/sync',
      '/api/v1/applications/shop-blue/sync',
    ]);
  });
});
