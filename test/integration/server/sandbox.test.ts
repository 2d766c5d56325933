/**
 * The service against the sandbox (real git, real helm, the Argo CD stand-in), over a real
 * listening socket: deploy -> swap -> revert through the API with their SSE progress, an
 * idempotent retry, the busy-stack refusal, and a restart on the same journal (with an
 * operation the previous process never finished).
 */
import { liveWeights } from '../../helpers/sandbox-state.ts';
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { createService, type Service } from '../../../src/server/service.ts';
import { JOURNAL_FILE } from '../../../src/server/operations/journal.ts';
import { runCli } from '../../helpers/cli.ts';
import { commitCount, git } from '../../helpers/config-repo.ts';
import { bearer, LogCapture, tempDir, sandboxServiceEnv } from './helpers.ts';
import { lifecycleTypes, readEvents, skeleton, type SseEvent } from './sse.ts';

let sandbox: Sandbox;
let service: Service;
let base: string;
let dataDir: string;
let env: NodeJS.ProcessEnv;
const ids: Record<string, string> = {};
const streams: Record<string, SseEvent[]> = {};

async function startService(): Promise<Service> {
  const svc = await createService({ env, dataDir, logDestination: new LogCapture() });
  base = await svc.app.listen({ port: 0, host: '127.0.0.1' });
  return svc;
}

beforeAll(async () => {
  sandbox = await startSandbox({ argocd: { progressingMs: 150, pollIntervalMs: 0 } });
  // The sandbox's starting point: blue and the ingress synced at HEAD (as the e2e cycle does).
  for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
    const r = await runCli(['app', 'sync', app], { env: sandbox.env });
    expect(r.code, r.stderr).toBe(0);
  }
  dataDir = tempDir('data');
  env = sandboxServiceEnv(sandbox.env);
  service = await startService();
});
afterAll(async () => {
  await service?.shutdown({ graceMs: 5_000, settleMs: 1_000 });
  await sandbox?.close();
});

const post = (url: string, body: unknown, headers: Record<string, string> = bearer('admin')) =>
  fetch(`${base}${url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const get = async (url: string) =>
  (await fetch(`${base}${url}`, { headers: bearer('read') })).json() as Promise<
    Record<string, unknown>
  >;

/** Follows an operation's stream live; returns its events once the result came. */
const follow = (id: string) => readEvents(`${base}/v1/operations/${id}/events`, bearer('read'));

const EXPECTED = [
  'step-start:commit',
  'step-end:commit',
  'step-start:sync',
  'step-end:sync',
  'result:succeeded',
];

describe('a release through the API', () => {
  it('deploy: 202, an idempotent retry returns it, the busy stack refuses swap with its id', async () => {
    const before = commitCount(sandbox.repoPath);
    const body = { versions: { 'my-frontend': '1.1.0', 'my-backend': '1.1.0' }, reason: 'r1' };
    const headers = { ...bearer('deploy'), 'idempotency-key': 'release-1.1.0' };
    const res = await post('/v1/stacks/my-app/deploy', body, headers);
    expect(res.status).toBe(202);
    const { operation } = (await res.json()) as { operation: { id: string; state: string } };
    ids.deploy = operation.id;
    expect(res.headers.get('location')).toBe(`/v1/operations/${operation.id}`);
    const live = follow(operation.id);

    const retry = await post('/v1/stacks/my-app/deploy', body, headers);
    expect(retry.status).toBe(202);
    expect(((await retry.json()) as { operation: { id: string } }).operation.id).toBe(operation.id);

    const busy = await post('/v1/stacks/my-app/swap', {}, bearer('swap'));
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { error: unknown }).error).toMatchObject({
      code: 'stack-busy',
      operationId: operation.id,
      location: `/v1/operations/${operation.id}`,
    });
    const status = await get('/v1/stacks/my-app');
    expect(status.runningOperation).toBe(operation.id);

    const stream = await live;
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    streams.deploy = stream.events;
    expect(skeleton(stream.events)).toEqual(EXPECTED);
    expect(lifecycleTypes(stream.events)).toContain('deploy.finished');
    // Every step end carries its timing; ids increase; Argo CD notes belong to the sync step.
    const ends = stream.events.filter((e) => e.event === 'step-end');
    for (const e of ends)
      expect(e.data).toMatchObject({ ok: true, durationMs: expect.any(Number) });
    const seqs = stream.events.map((e) => Number(e.id));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const notes = stream.events.filter((e) => e.event === 'info');
    expect(notes.length).toBeGreaterThan(0);
    expect(notes.every((e) => e.data.step === 'sync')).toBe(true);
    const result = stream.events.at(-1)!.data as { result: { sha: string; committed: boolean } };
    expect(result.result.committed).toBe(true);
    expect(result.result.sha).toBe(git(sandbox.repoPath, 'rev-parse', 'main'));

    expect(commitCount(sandbox.repoPath)).toBe(before + 1);
    expect(sandbox.argocd.app('my-app-green')?.status?.sync?.revision).toBe(result.result.sha);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
  });

  it('a client connecting late gets the past events replayed, then the end', async () => {
    const late = await follow(ids.deploy!);
    expect(late.events).toEqual(streams.deploy);
    // Resuming after an event id replays only what came after it.
    const resumed = await readEvents(`${base}/v1/operations/${ids.deploy}/events`, {
      ...bearer('read'),
      'last-event-id': streams.deploy![1]!.id!,
    });
    expect(resumed.events).toEqual(streams.deploy!.slice(2));
  });

  it('swap moves 100 % to green; revert moves it back', async () => {
    for (const [kind, weights] of [
      ['swap', { 'my-app-blue': 0, 'my-app-green': 100 }],
      ['revert', { 'my-app-blue': 100, 'my-app-green': 0 }],
    ] as const) {
      const res = await post(`/v1/stacks/my-app/${kind}`, {}, bearer('swap'));
      expect(res.status).toBe(202);
      const { operation } = (await res.json()) as { operation: { id: string } };
      ids[kind] = operation.id;
      const stream = await follow(operation.id);
      streams[kind] = stream.events;
      expect(skeleton(stream.events), JSON.stringify(stream.events.at(-1))).toEqual(EXPECTED);
      expect(liveWeights(sandbox)).toEqual(weights);
    }
  });

  it('status shows Argo CD per app and the promotions, newest first', async () => {
    const status = (await get('/v1/stacks/my-app')) as {
      live: string;
      apps: { app: string; syncStatus: string; health: string }[];
      lastPromotions: { operation: string; requestedBy: string; operationId: string }[];
      traffic: unknown;
      runningOperation?: string;
    };
    expect(status.live).toBe('blue');
    expect(status.traffic).toEqual({ blue: 100, green: 0 });
    expect(status.runningOperation).toBeUndefined();
    expect(status.apps.find((a) => a.app === 'ingress')).toMatchObject({
      syncStatus: 'Synced',
      health: 'Healthy',
    });
    expect(status.lastPromotions.slice(0, 3)).toMatchObject([
      { operation: 'revert', requestedBy: 'swap-bot', operationId: ids.revert },
      { operation: 'swap', requestedBy: 'swap-bot', operationId: ids.swap },
      { operation: 'deploy', requestedBy: 'deploy-bot', operationId: ids.deploy },
    ]);
    const metrics = await (await fetch(`${base}/metrics`, { headers: bearer('read') })).text();
    expect(metrics).toMatch(
      /stackswap_argocd_wait_seconds_count\{stack="my-app",kind="swap",ok="true"\} 1/,
    );
  });

  it('readyz checks the repo and Argo CD', async () => {
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'ready',
      checks: { configRepo: { ok: true }, argocd: { ok: true } },
    });
  });

  it('readyz is 503 when Argo CD does not accept the token (its userinfo answers {} then)', async () => {
    const wrongToken = 'not-the-argocd-token-0123456789';
    const other = await createService({
      env: { ...env, ARGOCD_AUTH_TOKEN: wrongToken },
      dataDir: tempDir('data-wrong-token'),
      logDestination: new LogCapture(),
    });
    try {
      const res = await other.app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        status: 'not-ready',
        checks: {
          configRepo: { ok: true },
          argocd: { ok: false, reason: 'auth: Argo CD does not accept the token' },
        },
      });
      expect(res.body).not.toContain(wrongToken);
    } finally {
      await other.shutdown({ graceMs: 1_000, settleMs: 100 });
    }
  });
});

describe('a restart on the same data dir', () => {
  it('answers the same operations, and reports one the dead process left running as interrupted', async () => {
    const before = (await get('/v1/operations?limit=50')).operations;
    await service.shutdown({ graceMs: 1_000, settleMs: 1_000 });

    // What a process killed mid-deploy leaves: a start, a pushed commit, a torn last line.
    const dead = randomUUID();
    const journal = path.join(dataDir, JOURNAL_FILE);
    const line = (entry: unknown) => `${JSON.stringify(entry)}\n`;
    appendFileSync(
      journal,
      line({
        t: 'start',
        id: dead,
        stack: 'my-app',
        kind: 'deploy',
        requestedBy: 'deploy-bot',
        createdAt: new Date().toISOString(),
        request: { method: 'POST', path: '/v1/stacks/my-app/deploy', body: {} },
      }) +
        line({
          t: 'event',
          id: dead,
          event: {
            seq: 1,
            type: 'step-end',
            data: {
              step: 'commit',
              title: 'deploy my-app to the preview colour',
              durationMs: 400,
              ok: true,
              detail: 'pushed 0123456789ab',
            },
          },
        }) +
        `{"t":"event","id":"${dead}","event":{"seq":2,"type":"st`,
    );

    service = await startService();
    expect(service.interruptedAtStart).toEqual([dead]);
    const op = (await get(`/v1/operations/${dead}`)) as {
      state: string;
      interrupted: { reason: string; resume: string; lastCompletedStep: { detail: string } };
    };
    expect(op.state).toBe('interrupted');
    expect(op.interrupted.reason).toContain('pushed 0123456789ab');
    expect(op.interrupted.resume).toMatch(/^POST the same request again/);
    expect(op.interrupted.resume).toContain('POST /v1/stacks/my-app/deploy');
    expect(op.interrupted.lastCompletedStep.detail).toBe('pushed 0123456789ab');

    // Everything else reads back as it was.
    const after = (await get('/v1/operations?limit=50')).operations as { id: string }[];
    expect(after.filter((o) => o.id !== dead)).toEqual(before);
    const replay = await follow(ids.swap!);
    expect(replay.events).toEqual(streams.swap);
    // The torn fragment is gone and the journal ends on a whole line.
    const text = readFileSync(journal, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toContain('"type":"st"');
  });

  it('re-running the interrupted request is safe: the stack is already in that state', async () => {
    const body = { versions: { 'my-frontend': '1.1.0', 'my-backend': '1.1.0' } };
    // The revert above rejected this release (src/core/rejected.ts): refused without force.
    const refused = await post('/v1/stacks/my-app/deploy', body, bearer('deploy'));
    const refusedOp = ((await refused.json()) as { operation: { id: string } }).operation;
    const refusal = await follow(refusedOp.id);
    expect(refusal.events.at(-1)!.data).toMatchObject({
      state: 'failed',
      error: { code: 'release-rejected' },
    });
    const res = await post('/v1/stacks/my-app/deploy', { ...body, force: true }, bearer('deploy'));
    expect(res.status).toBe(202);
    const { operation } = (await res.json()) as { operation: { id: string } };
    const stream = await follow(operation.id);
    expect(stream.events.at(-1)!.data).toMatchObject({
      state: 'succeeded',
      result: { committed: false },
    });
  });
});
