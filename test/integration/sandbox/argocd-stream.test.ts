/**
 * The watch stream in both wire modes (NDJSON and SSE), its query semantics (initial ADDED,
 * resourceVersion, name), de-duplication and field selection, and the fault injection that
 * e2e tests lean on: dropped streams, 503s, latency. One stand-in per test on a manual clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startArgoCdStandIn, type StandIn } from '../../../src/sandbox/argocd/server.ts';
import { ArgoClient, eventually, type Envelope, type Watch } from './helpers/client.ts';
import { createFixtureRepo, type FixtureRepo } from './helpers/fixture-repo.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { STREAM_ENVELOPE, SwaggerValidator } from './helpers/swagger.ts';

const swagger = new SwaggerValidator();
let repo: FixtureRepo;
let clock: ManualClock;
let standIn: StandIn;
let api: ArgoClient;
const watches: Watch[] = [];

beforeEach(async () => {
  repo = await createFixtureRepo();
  clock = new ManualClock();
  standIn = await startArgoCdStandIn({
    repoPath: repo.bare,
    clock,
    progressingMs: 100,
    pollIntervalMs: 0,
    random: () => 0.5,
  });
  api = new ArgoClient(standIn.url, standIn.token);
});

afterEach(async () => {
  for (const w of watches.splice(0)) w.close();
  await standIn?.close();
  await repo?.remove();
});

async function watch(query: string, sse = false): Promise<Watch> {
  const w = await api.watch(query, { sse });
  watches.push(w);
  return w;
}

const nameOf = (m: Envelope) => m.result?.application.metadata.name;

describe('wire modes', () => {
  it('streams newline-delimited JSON: ADDED per app, then MODIFIED on every change', async () => {
    const stream = await watch('');
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toBe('application/json');
    await stream.next((m) => nameOf(m) === 'root');
    expect(stream.messages.slice(0, 4).map((m) => `${m.result?.type} ${nameOf(m)}`)).toEqual([
      'ADDED ingress',
      'ADDED my-app-blue',
      'ADDED my-app-green',
      'ADDED root',
    ]);

    await api.sync('my-app-blue');
    await stream.next(
      (m) => nameOf(m) === 'my-app-blue' && m.result?.application.status.sync.status === 'Synced',
    );
    const later = stream.messages.slice(4);
    expect(later.length).toBeGreaterThan(2);
    expect(later.every((m) => m.result?.type === 'MODIFIED')).toBe(true);
    for (const message of stream.messages) swagger.assert(STREAM_ENVELOPE, message);
    // One complete JSON document per line.
    const lines = stream.raw.split('\n').filter(Boolean);
    expect(lines).toHaveLength(stream.messages.length);
    expect(lines.every((l) => l.startsWith('{"result":{"type":'))).toBe(true);
  });

  it('streams Server-Sent Events with Argo CD framing and keepalives', async () => {
    const stream = await watch('?name=my-app-blue', true);
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream');
    expect(stream.response.headers.get('x-content-type-options')).toBe('nosniff');
    await stream.next((m) => m.result?.type === 'ADDED');
    await api.sync('my-app-blue');
    await stream.next((m) => m.result?.application.status.operationState?.phase === 'Succeeded');
    expect(stream.messages.every((m) => nameOf(m) === 'my-app-blue')).toBe(true);
    for (const message of stream.messages) swagger.assert(STREAM_ENVELOPE, message);
    // "data: <json> \n\n" followed by the "\n" delimiter.
    const frames = stream.raw.split(' \n\n\n').filter(Boolean);
    expect(frames.every((f) => f.startsWith('data: {"result":'))).toBe(true);

    clock.advance(15_000);
    await eventually(() => (stream.keepalives > 0 ? true : undefined), {
      what: 'an SSE keepalive',
    });
    expect(stream.raw).toContain(' \n\n\n:\n'); // a comment line between frames
  });
});

describe('query semantics', () => {
  it('sends no initial events for a resourceVersion without a name, but does with a name', async () => {
    const current = standIn.app('my-app-green')?.metadata.resourceVersion ?? '';
    const all = await watch(`?resourceVersion=${current}`);
    const one = await watch(`?name=my-app-green&resourceVersion=${current}`);
    await one.next((m) => m.result?.type === 'ADDED' && nameOf(m) === 'my-app-green');
    await api.sync('my-app-green');
    const first = await all.next(() => true);
    expect(first.result?.type).toBe('MODIFIED');
    expect(all.messages.some((m) => m.result?.type === 'ADDED')).toBe(false);
  });

  it('drops events older than resourceVersion, even for a named watch', async () => {
    const far = Number(standIn.app('root')?.metadata.resourceVersion) + 100_000;
    const stream = await watch(`?name=root&resourceVersion=${far}`);
    const control = await watch('?name=root');
    await control.next((m) => m.result?.type === 'ADDED');
    expect(stream.messages).toEqual([]);
  });

  it('filters by fields and suppresses identical consecutive payloads per app', async () => {
    const fields =
      'result.type,result.application.metadata.name,result.application.status.sync.status';
    const stream = await watch(`?name=my-app-blue&fields=${fields}`);
    await api.sync('my-app-blue');
    await stream.next((m) => m.result?.application.status?.sync?.status === 'Synced');
    await standIn.idle();
    expect(
      stream.messages.map((m) => `${m.result?.type}:${m.result?.application.status.sync.status}`),
    ).toEqual(['ADDED:OutOfSync', 'MODIFIED:OutOfSync', 'MODIFIED:Synced']);
    expect(stream.messages[0]).toEqual({
      result: {
        type: 'ADDED',
        application: {
          metadata: { name: 'my-app-blue' },
          status: { sync: { status: 'OutOfSync' } },
        },
      },
    });
  });

  it('answers 401 with one stream error chunk, not the unary body (grpc-gateway v1.16 + grpc-go 1.83)', async () => {
    const reply = await fetch(`${standIn.url}/api/v1/stream/applications`);
    expect(reply.status).toBe(401);
    expect(reply.headers.get('content-type')).toBe('application/json');
    const body: unknown = await reply.json();
    swagger.assert('runtimeStreamError', (body as { error: unknown }).error);
    expect(body).toEqual({
      error: {
        grpc_code: 16,
        http_code: 401,
        message: 'no session information',
        http_status: 'Unauthorized',
      },
    });
    const sse = await fetch(`${standIn.url}/api/v1/stream/applications`, {
      headers: { Accept: 'text/event-stream' },
    });
    expect(sse.status).toBe(401);
    expect(sse.headers.get('content-type')).toBe('text/event-stream');
    expect(await sse.text()).toBe(
      'data: {"error":{"grpc_code":16,"http_code":401,"message":"no session information","http_status":"Unauthorized"}} \n\n',
    );
  });

  it('a failed stream request (failNextRequests) is a 503 stream error chunk with grpc_code 14', async () => {
    standIn.setFaults({ failNextRequests: 1 });
    const reply = await fetch(`${standIn.url}/api/v1/stream/applications`, {
      headers: { Authorization: `Bearer ${standIn.token}` },
    });
    expect(reply.status).toBe(503);
    expect(await reply.json()).toMatchObject({ error: { grpc_code: 14, http_code: 503 } });
  });
});

describe('fault injection', () => {
  it('cuts streams after dropStreamsAfterMs: abruptly, cleanly, or with an in-band error', async () => {
    standIn.setFaults({ dropStreamsAfterMs: 5_000 });
    const destroyed = await watch('?name=root');
    await destroyed.next((m) => m.result?.type === 'ADDED');
    standIn.setFaults({ dropStreamsMode: 'end' });
    const ended = await watch('?name=root');
    await ended.next((m) => m.result?.type === 'ADDED');
    standIn.setFaults({ dropStreamsMode: 'error' });
    const errored = await watch('?name=root', true);
    await errored.next((m) => m.result?.type === 'ADDED');

    clock.advance(4_999);
    expect(standIn.app('root')).toBeDefined();
    clock.advance(1);
    expect(await destroyed.ended).toBe('error');
    expect(await ended.ended).toBe('end');
    expect(await errored.ended).toBe('end');
    const last = errored.messages.at(-1);
    swagger.assert(STREAM_ENVELOPE, last);
    expect(last?.error).toEqual({
      grpc_code: 14,
      http_code: 503,
      message: 'transport is closing',
      http_status: 'Service Unavailable',
    });
  });

  it('answers non-stream requests 503 at errorRate 1, and the next N requests with failNextRequests', async () => {
    standIn.setFaults({ errorRate: 1 });
    const failed = await api.get('/api/v1/applications/root');
    expect(failed.status).toBe(503);
    swagger.assert('runtimeError', failed.json);
    expect(failed.json).toMatchObject({ code: 14 });
    const stream = await watch('?name=root');
    expect(stream.response.status).toBe(200);
    await stream.next((m) => m.result?.type === 'ADDED');

    standIn.setFaults({ errorRate: 0, failNextRequests: 2 });
    expect((await api.get('/api/v1/applications/root')).status).toBe(503);
    expect((await api.watch('?name=root')).response.status).toBe(503);
    expect((await api.get('/api/v1/applications/root')).status).toBe(200);

    standIn.setFaults({ errorRate: 0.4 }); // random() is 0.5: never below the rate
    expect((await api.get('/api/v1/applications/root')).status).toBe(200);
    expect(() => standIn.setFaults({ errorRate: 2 })).toThrow(RangeError);
  });

  it('delays answers by latencyMs', async () => {
    standIn.setFaults({ latencyMs: 1_000 });
    const before = clock.pendingTimers;
    let settled = false;
    const reply = api.get('/api/v1/applications/root').then((r) => {
      settled = true;
      return r;
    });
    await eventually(() => (clock.pendingTimers > before ? true : undefined), {
      what: 'the latency timer',
    });
    clock.advance(999);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    clock.advance(1);
    expect((await reply).status).toBe(200);
  });
});
