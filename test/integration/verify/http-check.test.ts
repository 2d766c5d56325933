/**
 * HTTP checks against a real local server: a pass after consecutive successes, a JSON
 * assertion, a hang past the timeout, an oversized answer, a redirect that is not followed,
 * and a templated URL refused by the host guard before any request.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckConfig } from '../../../src/config/verification-config.ts';
import { systemClock } from '../../../src/verify/clock.ts';
import { checkDispatcher, runCheck, type CheckTarget } from '../../../src/verify/http-check.ts';
import { parseHostPattern, type HostPattern } from '../../../src/shared/hosts.ts';

let server: http.Server;
let base: string;
const hits: string[] = [];
const dispatcher = checkDispatcher();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits.push(`${req.url} ${req.headers.host} ${req.headers['x-stackswap-preview'] ?? '-'}`);
    if (req.url === '/ready') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: req.headers['x-stackswap-preview'] ? 'ready' : 'live' }));
    } else if (req.url === '/hang') {
      // never answers
    } else if (req.url === '/big') {
      res.writeHead(200);
      res.end('x'.repeat(5000));
    } else if (req.url === '/redirect') {
      res.writeHead(302, { location: '/ready' });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await dispatcher.close();
});

const check = (over: Partial<CheckConfig>): CheckConfig => ({
  name: 'c',
  via: 'ingress',
  path: '/ready',
  method: 'GET',
  headers: {},
  expectStatus: [200],
  assert: [],
  timeout: 1000,
  interval: 10,
  successes: 1,
  attempts: 1,
  maxBodyBytes: 1000,
  ...over,
});

const target = (allowed: HostPattern[] = []): CheckTarget => ({
  values: {
    namespace: 'my-app-green',
    colour: 'green',
    stack: 'my-app',
    component: 'fe',
    version: '1.0.0',
  },
  ingress: { url: base, host: 'my-app.example.com', previewHeader: 'x-stackswap-preview' },
  preview: true,
  allowed,
});

const run = (c: CheckConfig, t = target()) => runCheck(c, t, { clock: systemClock, dispatcher });

describe('HTTP checks', () => {
  it('reaches the preview through the ingress with the preview header and asserts on the body', async () => {
    const result = await run(
      check({ assert: ['body.status == "ready"'], successes: 3, attempts: 3 }),
    );
    expect(result.phase).toBe('passed');
    expect(result.attempts).toHaveLength(3);
    expect(hits.at(-1)).toBe('/ready my-app.example.com true');
    const live = await runCheck(
      check({ assert: ['body.status == "ready"'] }),
      { ...target(), preview: false },
      { clock: systemClock, dispatcher },
    );
    expect(live.phase).toBe('failed');
    expect(live.reason).toMatch(/assertion failed: body.status == "ready"/);
  });

  it('fails a check that hangs past its timeout', async () => {
    const result = await run(check({ path: '/hang', timeout: 200 }));
    expect(result.phase).toBe('failed');
    expect(result.reason).toMatch(/no answer within 200 ms/);
  });

  it('fails an answer larger than maxBodyBytes', async () => {
    const result = await run(check({ path: '/big' }));
    expect(result.reason).toMatch(/larger than 1000 bytes/);
  });

  it('does not follow a redirect', async () => {
    const before = hits.length;
    const result = await run(check({ path: '/redirect' }));
    expect(result.reason).toMatch(/status 302, expected 200/);
    expect(hits.slice(before)).toHaveLength(1);
  });

  it('refuses a direct URL outside the allowed hosts without sending anything', async () => {
    const before = hits.length;
    const result = await run(
      check({ via: 'direct', url: `${base}/ready` }),
      target([parseHostPattern('*.svc.cluster.local') as HostPattern]),
    );
    expect(result.phase).toBe('failed');
    expect(result.reason).toMatch(/not in verification.allowedHosts/);
    expect(hits.length).toBe(before);
    const allowed = await run(
      check({ via: 'direct', url: `${base}/ready` }),
      target([parseHostPattern('127.0.0.1') as HostPattern]),
    );
    expect(allowed.phase).toBe('passed');
  });
});
