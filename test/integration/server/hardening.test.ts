/**
 * Findings of a black-box probe of `stackswap serve`, each held here:
 *
 * - the service starts when the config repo is unreachable or refuses the token, /readyz
 *   answers 503 naming the config repo, and it recovers once the repo is back;
 * - requests fastify's router or Node's HTTP parser refuse (bad percent-encoding, raw non-ASCII
 *   bytes in the path, a 20 KB header, `Content-Length: abc`) get the service's error shape and
 *   security headers on a real socket, and the answer never echoes the request;
 * - deploy bodies that cannot succeed are refused with 400 before any operation starts;
 * - a credential in a query string never reaches the request log;
 * - the event stream carries `cache-control: no-store` like every other API answer.
 */
import { createServer, type Server } from 'node:http';
import { renameSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_SECURITY_HEADERS } from '../../../src/server/security-headers.ts';
import { commitCount, configRepoFiles, seedBareRepo } from '../../helpers/config-repo.ts';
import {
  bearer,
  gitOnlyService,
  tempDir,
  TOKENS,
  waitForOperation,
  type GitOnlyService,
} from './helpers.ts';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `request` bytes on a fresh socket and reads until the server closes it. */
function rawRequest(port: number, request: Buffer | string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    socket.write(request);
  });
}

function expectServiceRefusal(answer: RawAnswer, status: number, code: string, echo: string[]) {
  expect(answer.status, answer.body).toBe(status);
  const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) {
    expect(answer.headers[name], name).toBe(value);
  }
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  for (const text of echo) expect(answer.body).not.toContain(text);
}

describe('requests the router or the HTTP parser refuse', () => {
  let s: GitOnlyService;
  let port: number;
  beforeAll(async () => {
    s = await gitOnlyService();
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    port = (s.app.server.address() as AddressInfo).port;
  });
  afterAll(() => s?.close());

  it('a malformed percent-encoding: 400 bad-url, no echo of the path', async () => {
    const answer = await rawRequest(
      port,
      `GET /v1/stacks/%E0%A4%A/deploy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expectServiceRefusal(answer, 400, 'bad-url', ['%E0%A4%A', '/v1/stacks']);
  });

  it('raw non-ASCII bytes in the path: the service shape, no echo', async () => {
    const request = Buffer.concat([
      Buffer.from('GET /v1/stacks/'),
      Buffer.from([0xe0, 0xa4, 0xff, 0x01]),
      Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    ]);
    const answer = await rawRequest(port, request);
    expect([400, 404]).toContain(answer.status);
    expectServiceRefusal(answer, answer.status, answer.status === 404 ? 'not-found' : 'bad-url', [
      '/v1/stacks',
      '\u00e0',
    ]);
  });

  it('a 20 KB header: 431 headers-too-large', async () => {
    const big = 'a'.repeat(20 * 1024);
    const answer = await rawRequest(
      port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`,
    );
    expectServiceRefusal(answer, 431, 'headers-too-large', ['aaaaaaaa']);
  });

  it('Content-Length: abc: 400 invalid-content-length', async () => {
    const answer = await rawRequest(
      port,
      `POST /v1/stacks/shop/deploy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`,
    );
    expectServiceRefusal(answer, 400, 'invalid-content-length', ['abc', '/v1/stacks']);
  });

  it('a bad percent-encoding through inject has the same answer', async () => {
    const res = await s.app.inject({ url: '/v1/stacks/%E0%A4%A/deploy', headers: bearer('read') });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: { code: 'bad-url', message: expect.any(String) } });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).not.toContain('%E0');
  });
});

describe('deploy bodies that cannot succeed are refused before 202', () => {
  let s: GitOnlyService;
  beforeAll(async () => {
    // "cart" has no release plan entry for "api": its repo plan is missing a component.
    const files = configRepoFiles([{ name: 'shop' }, { name: 'cart' }]);
    files['releases/cart.yaml'] = 'stack: cart\ncomponents:\n  web: "1.1.0"\n';
    s = await gitOnlyService({ bare: seedBareRepo(files).bare });
  });
  afterAll(() => s?.close());

  const deploy = (stack: string, payload: object) =>
    s.app.inject({
      method: 'POST',
      url: `/v1/stacks/${stack}/deploy`,
      headers: bearer('deploy'),
      payload,
    });

  it.each([
    ['an unknown component in overrides', 'shop', { overrides: { nope: '1.0.0' } }, 'nope'],
    [
      'an unknown component in versions',
      'shop',
      { versions: { web: '1.0.0', api: '1.0.0', nope: '1.0.0' } },
      'nope',
    ],
    ['versions missing a component', 'shop', { versions: { web: '2.0.0' } }, 'api'],
    ['a repo plan missing a component', 'cart', {}, 'api'],
  ])('%s: 400 validation naming it, no operation, no commit', async (_what, stack, body, name) => {
    const before = commitCount(s.bare);
    const res = await deploy(stack, body);
    expect(res.statusCode, res.body).toBe(400);
    const error = res.json().error as { code: string; message: string };
    expect(error.code).toBe('validation');
    expect(error.message).toContain(name);
    // The dry run refuses the same body the same way.
    const dry = await deploy(stack, { ...body, dryRun: true });
    expect(dry.statusCode).toBe(400);
    const ops = await s.app.inject({ url: '/v1/operations', headers: bearer('read') });
    expect(ops.json().operations).toEqual([]);
    expect(commitCount(s.bare)).toBe(before);
  });

  it('known overrides on a complete plan are accepted and the operation succeeds', async () => {
    const res = await deploy('shop', { overrides: { api: '1.2.0' } });
    expect(res.statusCode, res.body).toBe(202);
    const op = await waitForOperation(s.app, res.json().operation.id as string);
    expect(op.state).toBe('succeeded');
  });

  it('the event stream is no-store', async () => {
    const res = await deploy('shop', {});
    expect(res.statusCode, res.body).toBe(202);
    const id = res.json().operation.id as string;
    await waitForOperation(s.app, id);
    const events = await s.app.inject({
      url: `/v1/operations/${id}/events`,
      headers: bearer('read'),
    });
    expect(events.statusCode).toBe(200);
    expect(events.headers['cache-control']).toBe('no-store');
    expect(events.body).toContain('event: result');
  });
});

describe('request logs', () => {
  it('log the path without the query string (a token in ?api_key= is not logged)', async () => {
    const s = await gitOnlyService();
    try {
      const leaked = 'qs-secret-token-0123456789';
      const res = await s.app.inject({ url: `/v1/stacks/shop?api_key=${leaked}` });
      expect(res.statusCode).toBe(401);
      await s.app.inject({
        url: `/v1/stacks/shop?api_key=${TOKENS.read}`,
        headers: bearer('read'),
      });
      const lines = s.logs.lines().filter((l) => l.msg === 'request');
      expect(lines.length).toBeGreaterThan(0);
      expect(lines[0]).toMatchObject({ path: '/v1/stacks/shop', statusCode: 401 });
      expect(s.logs.text).not.toContain(leaked);
      expect(s.logs.text).not.toContain('api_key');
    } finally {
      await s.close();
    }
  });
});

describe('start without a reachable config repo', () => {
  async function waitReady(s: GitOnlyService, want: 'ready' | 'not-ready') {
    for (let i = 0; ; i++) {
      const res = await s.app.inject({ url: '/readyz' });
      const body = res.json() as { status: string; checks: Record<string, { ok: boolean }> };
      if (body.status === want) return { res, body };
      if (i > 100) throw new Error(`readyz stayed ${body.status}: ${res.body}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('an unreachable repo: starts, /readyz 503 names it, recovers when it appears', async () => {
    const root = tempDir('absent');
    const target = path.join(root, 'config.git');
    const s = await gitOnlyService({ bare: target });
    try {
      const { res, body } = await waitReady(s, 'not-ready');
      expect(res.statusCode).toBe(503);
      expect(body.checks.configRepo!.ok).toBe(false);
      expect(JSON.stringify(body.checks.configRepo)).toMatch(/reason/);
      expect(res.headers['cache-control']).toBe('no-store');
      // Reads answer in the error shape meanwhile (the upstream is down), the process stays up.
      const status = await s.app.inject({ url: '/v1/stacks/shop', headers: bearer('read') });
      expect(status.statusCode).toBeGreaterThanOrEqual(500);
      expect(Object.keys(status.json())).toEqual(['error']);
      expect(s.logs.text).toContain('starting not-ready');

      const { bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }]));
      renameSync(bare, target);
      const ready = await waitReady(s, 'ready');
      expect(ready.res.statusCode).toBe(200);
      const after = await s.app.inject({ url: '/v1/stacks/shop', headers: bearer('read') });
      expect(after.statusCode, after.body).toBe(200);
      const op = await s.app.inject({
        method: 'POST',
        url: '/v1/stacks/shop/deploy',
        headers: bearer('deploy'),
        payload: {},
      });
      expect(op.statusCode, op.body).toBe(202);
      expect((await waitForOperation(s.app, op.json().operation.id as string)).state).toBe(
        'succeeded',
      );
    } finally {
      await s.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a remote refusing the token: starts, /readyz 503 with an auth reason', async () => {
    const token = 'glpat-refused-token-987654321';
    let server: Server | undefined;
    server = createServer((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' });
      res.end('no');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const s = await gitOnlyService({
      bare: `http://127.0.0.1:${port}/config.git`,
      env: {
        STACKSWAP_SANDBOX: '',
        STACKSWAP_GIT_ALLOW_HTTP: 'true',
        STACKSWAP_GIT_TOKEN: token,
      },
    });
    try {
      const { res, body } = await waitReady(s, 'not-ready');
      expect(res.statusCode).toBe(503);
      expect(body.checks.configRepo!.ok).toBe(false);
      expect(res.body).toMatch(/auth/);
      expect(res.body).not.toContain(token);
      expect(s.logs.text).not.toContain(token);
    } finally {
      await s.close();
      await new Promise((resolve) => server?.close(resolve));
    }
  });
});
