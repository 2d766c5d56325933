import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ArgoCdApiError, ArgoCdStreamError } from '../../../src/argocd/errors.ts';
import { AuthError, StackswapError } from '../../../src/shared/errors.ts';
import { FakeArgoCd, NEW, OLD } from './fake-argocd.ts';
import { caught, clientFor, expectNoSecret } from './helpers.ts';

let server: FakeArgoCd;
beforeEach(async () => {
  server = await new FakeArgoCd().start();
  server.addApp('shop-green');
});
afterEach(async () => {
  await server.stop();
});

const APP = /^\/api\/v1\/applications\/shop-green$/;
const SYNC = /\/sync$/;

describe('ArgoCdClient: requests on the wire', () => {
  it('GET carries the bearer token, no Content-Type, and the configured scope', async () => {
    const { client } = clientFor(server, { appNamespace: 'argocd', project: 'default' });
    const app = await client.getApplication('shop-green', { refresh: 'normal' });
    expect(app.metadata.name).toBe('shop-green');
    const r = server.requests.at(-1)!;
    expect(r.headers.authorization).toBe(`Bearer ${server.token}`);
    expect(r.headers['content-type']).toBeUndefined();
    expect(Object.fromEntries(r.query)).toEqual({
      appNamespace: 'argocd',
      project: 'default',
      refresh: 'normal',
    });
  });

  it('POST sync sends Content-Type application/json exactly, and the ApplicationSyncRequest body', async () => {
    const { client } = clientFor(server);
    const app = await client.sync('shop-green', {
      revision: NEW,
      prune: true,
      infos: [{ name: 'stackswap', value: 'op-1' }],
    });
    expect(app.operation?.sync?.revision).toBe(NEW);
    const r = server.requests.find((x) => x.method === 'POST')!;
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({
      name: 'shop-green',
      revision: NEW,
      prune: true,
      dryRun: false,
      strategy: { hook: {} },
      infos: [{ name: 'stackswap', value: 'op-1' }],
    });
  });

  it('DELETE operation sends Content-Type too; "no operation" comes back as argocd-error with Argo CD\'s message', async () => {
    const { client } = clientFor(server);
    const e = await caught(client.terminateOperation('shop-green'));
    expect(server.requests.at(-1)!.headers['content-type']).toBe('application/json');
    expect(e).toBeInstanceOf(ArgoCdApiError);
    expect(e.code).toBe('argocd-error');
    expect(e.message).toContain('Unable to terminate operation. No operation is in progress');
  });

  it('terminates a running operation', async () => {
    server.sim.get('shop-green')!.holdOperation = true;
    const { client } = clientFor(server);
    await client.sync('shop-green', { revision: NEW });
    await new Promise((r) => setTimeout(r, 50));
    await client.terminateOperation('shop-green');
    expect(server.app('shop-green').status.operationState.phase).toBe('Terminating');
  });

  it('lists applications, reads the tree, managed resources and user info', async () => {
    server.addApp('shop-blue');
    const { client } = clientFor(server);
    expect(
      (await client.listApplications({ selector: 'stack=shop', projects: ['a', 'b'] })).map(
        (a) => a.metadata.name,
      ),
    ).toEqual(['shop-green', 'shop-blue']);
    const list = server.requests.at(-1)!;
    expect(list.query.getAll('projects')).toEqual(['a', 'b']);
    expect(list.query.get('selector')).toBe('stack=shop');
    expect((await client.resourceTree('shop-green')).nodes[0]?.kind).toBe('Deployment');
    expect((await client.managedResources('shop-green')).items[0]?.name).toBe('web');
    expect(await client.userInfo()).toMatchObject({ loggedIn: true, username: 'promoter' });
  });
});

describe('ArgoCdClient: transient failures', () => {
  it('retries 503 with growing jittered backoff, then succeeds', async () => {
    server.faults.push({ path: APP, status: 503, text: 'upstream connect error', times: 3 });
    const { client, sleeps } = clientFor(server);
    await expect(client.getApplication('shop-green')).resolves.toMatchObject({
      metadata: { name: 'shop-green' },
    });
    expect(server.count('GET', APP)).toBe(4);
    expect(sleeps).toEqual([188, 375, 750]); // 250·2^n with random 0.5 and jitter 0.5
  });

  it('gives up after the bounded number of attempts with argocd-unavailable', async () => {
    server.faults.push({ path: APP, status: 502, text: '<html>Bad Gateway</html>', times: 100 });
    const { client, sleeps } = clientFor(server);
    const e = await caught(client.getApplication('shop-green'));
    expect(e).toBeInstanceOf(StackswapError);
    expect(e.code).toBe('argocd-unavailable');
    expect(e.message).toMatch(/502.*gave up after 5 attempts/);
    expect(server.count('GET', APP)).toBe(5);
    expect(sleeps).toHaveLength(4);
  });

  it('connection refused is argocd-unavailable, after retries', async () => {
    await server.stop();
    const { client } = clientFor(server);
    const e = await caught(client.getApplication('shop-green'));
    expect(e.code).toBe('argocd-unavailable');
    expect(e.message).toMatch(/connection refused/);
    server = await new FakeArgoCd().start(); // for afterEach
  });

  it('a request that never answers times out and is retried; a refresh that never answers is not', async () => {
    server.faults.push({ path: APP, hang: true, times: 100 });
    const { client, sent } = clientFor(
      server,
      {},
      { requestTimeoutMs: 200, retry: { retries: 1 } },
    );
    const e = await caught(client.getApplication('shop-green'));
    expect(e.code).toBe('argocd-unavailable');
    expect(e.message).toMatch(/no answer within/);
    expect(sent).toEqual([
      'GET /api/v1/applications/shop-green',
      'GET /api/v1/applications/shop-green',
    ]);
    const refresh = await caught(
      client.getApplication('shop-green', { refresh: 'normal', timeoutMs: 200 }),
    );
    expect(refresh.code).toBe('argocd-unavailable');
    expect(sent).toHaveLength(3);
  });

  it('a connection reset is retried', async () => {
    server.faults.push({ path: APP, reset: true, times: 2 });
    const { client } = clientFor(server);
    await expect(client.getApplication('shop-green')).resolves.toBeTruthy();
    expect(server.count('GET', APP)).toBe(3);
  });

  it("the caller aborting stops at once, with the caller's reason", async () => {
    server.faults.push({ path: APP, hang: true });
    const { client } = clientFor(server);
    const controller = new AbortController();
    const pending = client.getApplication('shop-green', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user cancelled')), 20);
    expect((await caught(pending)).message).toBe('user cancelled');
  });
});

describe('ArgoCdClient: POST sync is never sent twice for one intent', () => {
  const infos = [{ name: 'stackswap', value: 'op-42' }];

  it('after a 504 whose POST took effect: reads the app and adopts the operation (one sync)', async () => {
    server.faults.push({
      method: 'POST',
      path: SYNC,
      status: 504,
      text: 'Gateway Timeout',
      passThrough: true,
    });
    server.sim.get('shop-green')!.holdOperation = true; // still running when we look
    const { client } = clientFor(server);
    const app = await client.sync('shop-green', { revision: NEW, infos });
    expect(app.operation?.info).toEqual(infos);
    expect(server.syncPosts).toBe(1);
    expect(server.count('POST', SYNC)).toBe(1);
    expect(server.count('GET', APP)).toBe(1);
  });

  it('after a timeout whose POST took effect: same, adopted by revision while it runs', async () => {
    server.sim.get('shop-green')!.holdOperation = true;
    server.faults.push({ method: 'POST', path: SYNC, hang: true, passThrough: true });
    const { client, sent } = clientFor(server, {}, { requestTimeoutMs: 1_000 });
    const app = await client.sync('shop-green', { revision: NEW });
    expect(app.operation?.sync?.revision).toBe(NEW);
    expect(server.syncPosts).toBe(1);
    expect(sent).toEqual([
      'POST /api/v1/applications/shop-green/sync',
      'GET /api/v1/applications/shop-green',
    ]);
  });

  it('after a dropped connection whose operation already finished: recognised by its infos tag', async () => {
    server.hooks.push((r, res) => {
      if (r.method !== 'POST') return false;
      server.update('shop-green', (a) => {
        a.status.operationState = {
          operation: { sync: { revision: NEW }, info: infos },
          phase: 'Succeeded',
          startedAt: server.now(),
          finishedAt: server.now(),
          syncResult: { revision: NEW },
        };
      });
      res.socket?.destroy();
      return true;
    });
    const { client, sent } = clientFor(server);
    const app = await client.sync('shop-green', { revision: NEW, infos });
    expect(app.operation).toBeUndefined();
    expect(app.status?.operationState).toMatchObject({
      phase: 'Succeeded',
      operation: { info: infos },
    });
    expect(sent.filter((x) => x.startsWith('POST'))).toHaveLength(1);
  });

  it('after a dropped connection with no trace of the operation: POSTs once more', async () => {
    server.faults.push({ method: 'POST', path: SYNC, reset: true });
    const { client, sent } = clientFor(server);
    const app = await client.sync('shop-green', { revision: NEW, infos });
    expect(app.operation?.sync?.revision).toBe(NEW);
    expect(sent.filter((x) => x.startsWith('POST'))).toHaveLength(2);
    expect(server.syncPosts).toBe(1);
  });

  it('after a 502 that did not take effect: POSTs once more', async () => {
    server.faults.push({ method: 'POST', path: SYNC, status: 502, text: 'Bad Gateway' });
    const { client } = clientFor(server);
    const app = await client.sync('shop-green', { revision: NEW, infos });
    expect(app.operation?.sync?.revision).toBe(NEW);
    expect(server.count('POST', SYNC)).toBe(2);
    expect(server.syncPosts).toBe(1);
  });

  it('two failures: argocd-unavailable after exactly two POSTs', async () => {
    server.faults.push({ method: 'POST', path: SYNC, status: 503, times: 10 });
    const { client } = clientFor(server);
    const e = await caught(client.sync('shop-green', { revision: NEW, infos }));
    expect(e.code).toBe('argocd-unavailable');
    expect(server.count('POST', SYNC)).toBe(2);
  });

  it('Argo CD refusals are not retried at all', async () => {
    server.update(
      'shop-green',
      (a) => (a.operation = { sync: { revision: OLD }, initiatedBy: { username: 'alice' } }),
    );
    const { client } = clientFor(server);
    const e = await caught(client.sync('shop-green', { revision: NEW }));
    expect(e).toBeInstanceOf(ArgoCdApiError);
    expect(e.status).toBe(400);
    expect(e.grpcCode).toBe(9);
    expect(e.argocdMessage).toBe('another operation is already in progress');
    expect(server.count('POST', SYNC)).toBe(1);
  });
});

describe('ArgoCdClient: errors that are not retried', () => {
  it('401: AuthError naming ARGOCD_AUTH_TOKEN, one request, and the token nowhere (even when Argo CD echoes it)', async () => {
    const { client } = clientFor(server);
    const token = server.token;
    server.token = 'rotated';
    server.hooks.push((r, res) => {
      if (r.path !== '/api/v1/applications/shop-green') return false;
      server.grpcError(
        res,
        401,
        16,
        `invalid session: token ${token} has invalid claims: token is expired`,
      );
      return true;
    });
    const e = await caught(client.getApplication('shop-green'));
    expect(e).toBeInstanceOf(AuthError);
    expect(e.message).toBe('ARGOCD_AUTH_TOKEN rejected (expired or revoked)');
    expect(e.hint).toContain('token is expired');
    expect(server.count('GET', APP)).toBe(1);
    expectNoSecret(e, token);
  });

  it('403 for an unknown app: "not found or not permitted", not retried, an Argo CD error', async () => {
    const { client } = clientFor(server);
    const e = await caught(client.getApplication('shop-grene'));
    expect(e.code).toBe('argocd-forbidden');
    expect(e.message).toBe('application shop-grene not found or not permitted for this token');
    expect(e.status).toBe(403);
    // Not "bad input, nothing changed" (exit 2): the operation may already have pushed.
    expect(e.exitCode).toBe(8);
    expect(e.httpStatus).toBe(502);
    expect(server.requests).toHaveLength(1);
  });

  it('404 with a project: same message', async () => {
    const { client } = clientFor(server, { project: 'shop' });
    const e = await caught(client.sync('nope', { revision: NEW }));
    expect(e.code).toBe('argocd-forbidden');
    expect(e.exitCode).toBe(8);
    expect(e.status).toBe(404);
    expect(e.message).toBe('application nope not found or not permitted for this token');
  });

  it('403 "blocked by sync window" is an Argo CD error (exit 8), with Argo CD\'s words', async () => {
    server.faults.push({
      method: 'POST',
      path: SYNC,
      status: 403,
      body: { error: 'x', code: 7, message: 'cannot sync: blocked by sync window' },
    });
    const { client } = clientFor(server);
    const e = await caught(client.sync('shop-green', { revision: NEW }));
    expect(e.code).toBe('argocd-error');
    expect(e.exitCode).toBe(8);
    expect(e.message).toContain('blocked by sync window');
  });

  it("500: argocd-error carrying Argo CD's own message, once", async () => {
    server.faults.push({
      path: APP,
      status: 500,
      body: {
        error: 'error refreshing the app: boom',
        code: 2,
        message: 'error refreshing the app: boom',
      },
    });
    const { client } = clientFor(server);
    const e = await caught(client.getApplication('shop-green'));
    expect(e.code).toBe('argocd-error');
    expect(e.message).toBe('get application shop-green: error refreshing the app: boom (HTTP 500)');
    expect(server.count('GET', APP)).toBe(1);
  });

  it('an unknown route (plain-text 404) says ARGOCD_SERVER may be wrong', async () => {
    const { client } = clientFor(server, { baseUrl: `${server.url}/wrong-root` });
    const e = await caught(client.getApplication('shop-green'));
    expect(e.code).toBe('argocd-error');
    expect(e.isRouteMissing).toBe(true);
    expect(e.message).toMatch(/no route .* ARGOCD_SERVER/);
  });

  it('an answer that is not an Application is refused with a schema message, not the body', async () => {
    server.faults.push({
      path: APP,
      status: 200,
      body: { metadata: { namespace: 'x' }, secretish: 'leak-me' },
    });
    const { client } = clientFor(server);
    const e = await caught(client.getApplication('shop-green'));
    expect(e.code).toBe('argocd-error');
    expect(e.message).toMatch(/unexpected answer .*metadata\.name/);
    expect(e.message).not.toContain('leak-me');
  });
});

describe('ArgoCdClient: session login', () => {
  it('logs in once, and again once when the session token is rejected', async () => {
    server.users.set('ci', 'pa55word!');
    const { client } = clientFor(server, {
      auth: { kind: 'session', username: 'ci', password: 'pa55word!' },
    });
    await client.getApplication('shop-green');
    await client.getApplication('shop-green');
    expect(server.count('POST', /\/session$/)).toBe(1);
    const login = server.requests.find((r) => r.path === '/api/v1/session')!;
    expect(login.headers['content-type']).toBe('application/json');
    expect(login.headers.authorization).toBeUndefined();
    server.sessions.clear(); // expired
    await client.getApplication('shop-green');
    expect(server.count('POST', /\/session$/)).toBe(2);
  });

  it('a wrong password is an AuthError without the password, and no retry loop', async () => {
    server.users.set('ci', 'right-password');
    const { client } = clientFor(server, {
      auth: { kind: 'session', username: 'ci', password: 'wrong-password' },
    });
    const e = await caught(client.getApplication('shop-green'));
    expect(e).toBeInstanceOf(AuthError);
    expect(e.message).toMatch(
      /ARGOCD_USERNAME\/ARGOCD_PASSWORD rejected.*Invalid username or password/,
    );
    expect(server.count('POST', /\/session$/)).toBe(1);
    expectNoSecret(e, 'wrong-password');
  });

  it('a session rejected right after login is an AuthError naming the session (one renewal only)', async () => {
    server.users.set('ci', 'pa55word!');
    server.hooks.push((r, res) => {
      if (r.path !== '/api/v1/applications/shop-green') return false;
      server.grpcError(res, 401, 16, 'invalid session: account disabled');
      return true;
    });
    const { client } = clientFor(server, {
      auth: { kind: 'session', username: 'ci', password: 'pa55word!' },
    });
    const e = await caught(client.getApplication('shop-green'));
    expect(e.message).toBe('Argo CD session for ARGOCD_USERNAME ci rejected (expired or revoked)');
    expect(server.count('POST', /\/session$/)).toBe(2);
    expect(server.count('GET', APP)).toBe(2);
  });
});

describe('ArgoCdClient: watch stream', () => {
  const collect = async (iterable: AsyncIterable<any>, n: number, onFirst?: () => void) => {
    const out: any[] = [];
    for await (const e of iterable) {
      out.push(e);
      if (out.length === 1) onFirst?.();
      if (out.length >= n) break;
    }
    return out;
  };

  it.each([
    ['SSE', false],
    ['newline-JSON', true],
  ])(
    '%s: ADDED first, then MODIFIED; leaving the loop closes the connection',
    async (_mode, ignoreAccept) => {
      server.ignoreAccept = ignoreAccept;
      const { client } = clientFor(server);
      const signal = new AbortController().signal;
      const events = await collect(
        client.watchApplications({ name: 'shop-green', signal }),
        2,
        () => server.update('shop-green', (a) => (a.status.health.status = 'Progressing')),
      );
      expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED']);
      expect(events[1].application.status.health.status).toBe('Progressing');
      const r = server.requests.find((x) => x.path === '/api/v1/stream/applications')!;
      expect(r.headers.accept).toBe('text/event-stream');
      expect(r.query.get('name')).toBe('shop-green');
      await vi.waitFor(() => expect(server.openStreams).toBe(0));
    },
  );

  it('passes resourceVersion for resuming', async () => {
    const { client } = clientFor(server);
    await collect(
      client.watchApplications({
        name: 'shop-green',
        resourceVersion: '1234',
        signal: new AbortController().signal,
      }),
      1,
    );
    expect(server.requests.at(-1)!.query.get('resourceVersion')).toBe('1234');
  });

  it('an in-band error ends the iteration with ArgoCdStreamError', async () => {
    server.streams.push({ errorAfter: 1 });
    const { client } = clientFor(server);
    const it = client.watchApplications({
      name: 'shop-green',
      signal: new AbortController().signal,
    });
    const e = await caught(collect(it, 5, () => server.update('shop-green', () => {})));
    expect(e).toBeInstanceOf(ArgoCdStreamError);
    expect(e.message).toContain('stream terminated by server');
    expect(e.code).toBe('argocd-unavailable');
  });

  it('an in-band error chunk is mapped like a unary error: 16 is an auth error, 7 forbidden', async () => {
    server.streams.push({
      errorAfter: 1,
      errorChunk: {
        grpc_code: 16,
        http_code: 401,
        message: 'invalid session: token has invalid claims: token is expired',
        http_status: 'Unauthorized',
      },
    });
    const { client } = clientFor(server);
    const auth = await caught(
      collect(
        client.watchApplications({ name: 'shop-green', signal: new AbortController().signal }),
        5,
        () => server.update('shop-green', () => {}),
      ),
    );
    expect(auth).toBeInstanceOf(AuthError);
    expect(auth.exitCode).toBe(5);
    expect(auth.hint).toContain('token has invalid claims: token is expired');

    server.streams.push({
      errorAfter: 0,
      errorChunk: {
        grpc_code: 7,
        http_code: 403,
        message: 'permission denied',
        http_status: 'Forbidden',
      },
    });
    const forbidden = await caught(
      collect(
        client.watchApplications({ name: 'shop-green', signal: new AbortController().signal }),
        5,
        () => server.update('shop-green', () => {}),
      ),
    );
    expect(forbidden.code).toBe('forbidden');
    expect(forbidden.message).toContain('permission denied');
  });

  it('a stream refused before its first message (HTTP 401 + SSE error chunk) is an auth error with the message', async () => {
    server.streams.push({
      status: 401,
      text: 'data: {"error":{"grpc_code":16,"http_code":401,"message":"no session information","http_status":"Unauthorized"}} \n\n',
    });
    const { client } = clientFor(server);
    const e = await caught(
      collect(
        client.watchApplications({ name: 'shop-green', signal: new AbortController().signal }),
        1,
      ),
    );
    expect(e).toBeInstanceOf(AuthError);
    expect(e.hint).toContain('Argo CD said: no session information');
  });

  it('a malformed message ends the iteration with ArgoCdStreamError', async () => {
    server.streams.push({ malformedAfter: 1 });
    const { client } = clientFor(server);
    const it = client.watchApplications({
      name: 'shop-green',
      signal: new AbortController().signal,
    });
    const e = await caught(collect(it, 5, () => server.update('shop-green', () => {})));
    expect(e).toBeInstanceOf(ArgoCdStreamError);
    expect(e.message).toMatch(/could not be parsed/);
  });

  it('a dropped connection ends with ArgoCdStreamError; a clean end just returns', async () => {
    server.streams.push({ dropAfter: 1 });
    const { client } = clientFor(server);
    const dropped = client.watchApplications({
      name: 'shop-green',
      signal: new AbortController().signal,
    });
    const e = await caught(collect(dropped, 5, () => server.update('shop-green', () => {})));
    expect(e).toBeInstanceOf(ArgoCdStreamError);
  });

  it('a silent SSE stream is declared dead after the idle timeout', async () => {
    server.streams.push({ silent: true });
    const { client } = clientFor(server, {}, { streamIdleTimeoutMs: 100 });
    const e = await caught(
      collect(
        client.watchApplications({ name: 'shop-green', signal: new AbortController().signal }),
        1,
      ),
    );
    expect(e).toBeInstanceOf(ArgoCdStreamError);
    expect(e.message).toMatch(/no data for/);
  });

  it('401 at open is an AuthError; a missing stream route is recognisable', async () => {
    const { client } = clientFor(server);
    server.streams.push({ status: 404, text: 'Not Found' });
    const missing = await caught(
      collect(
        client.watchApplications({ name: 'shop-green', signal: new AbortController().signal }),
        1,
      ),
    );
    expect(missing).toBeInstanceOf(ArgoCdApiError);
    expect(missing.isRouteMissing).toBe(true);
    const token = server.token;
    server.token = 'rotated';
    const auth = await caught(
      collect(
        client.watchApplications({ name: 'shop-green', signal: new AbortController().signal }),
        1,
      ),
    );
    expect(auth).toBeInstanceOf(AuthError);
    expectNoSecret(auth, token);
  });
});

describe('ArgoCdClient: TLS', () => {
  let dir: string;
  let tls: { key: string; cert: string };
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'argocd-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    tls = {
      key: readFileSync(path.join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a self-signed certificate unless ARGOCD_INSECURE', async () => {
    const secure = await new FakeArgoCd(tls).start();
    try {
      secure.addApp('shop-green');
      const strict = await caught(
        clientFor(secure, {}, { retry: { retries: 0 } }).client.getApplication('shop-green'),
      );
      expect(strict.code).toBe('argocd-unavailable');
      expect(strict.message).toMatch(/self-signed.*ARGOCD_INSECURE/);
      const { client } = clientFor(secure, { insecure: true });
      await expect(client.getApplication('shop-green')).resolves.toMatchObject({
        metadata: { name: 'shop-green' },
      });
    } finally {
      await secure.stop();
    }
  });
});
