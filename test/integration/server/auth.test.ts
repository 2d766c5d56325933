/**
 * The auth matrix: every route × {no token, wrong tokens, each scope} -> 401 / 403 / 2xx, and
 * per-token rate limiting (health routes exempt).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearer,
  gitOnlyService,
  TOKENS,
  waitForOperation,
  type GitOnlyService,
} from './helpers.ts';

let s: GitOnlyService;
let operationId: string;

beforeAll(async () => {
  s = await gitOnlyService({ stacks: [{ name: 'shop' }] });
  const res = await s.app.inject({
    method: 'POST',
    url: '/v1/stacks/shop/deploy',
    headers: bearer('admin'),
    payload: {},
  });
  operationId = res.json().operation.id;
  await waitForOperation(s.app, operationId);
});
afterAll(async () => s?.close());

type Need = 'open' | 'read' | 'deploy' | 'swap' | 'admin' | 'slack' | 'ui-page' | 'ui-action';
interface Route {
  method: 'GET' | 'POST';
  url: () => string;
  need: Need;
}

const ROUTES: Route[] = [
  { method: 'GET', url: () => '/healthz', need: 'open' },
  { method: 'GET', url: () => '/readyz', need: 'open' },
  { method: 'GET', url: () => '/docs/json', need: 'open' },
  { method: 'GET', url: () => '/metrics', need: 'read' },
  { method: 'GET', url: () => '/v1/stacks', need: 'read' },
  { method: 'GET', url: () => '/v1/stacks/shop', need: 'read' },
  { method: 'GET', url: () => '/v1/operations', need: 'read' },
  { method: 'GET', url: () => `/v1/operations/${operationId}`, need: 'read' },
  { method: 'GET', url: () => `/v1/operations/${operationId}/events`, need: 'read' },
  { method: 'POST', url: () => '/v1/stacks/shop/deploy', need: 'deploy' },
  { method: 'POST', url: () => '/v1/stacks/shop/swap', need: 'swap' },
  { method: 'POST', url: () => '/v1/stacks/shop/revert', need: 'swap' },
  { method: 'POST', url: () => '/v1/stacks/shop/scale-down', need: 'admin' },
  // Slack's route is authenticated by Slack's signature: a bearer token grants nothing there.
  { method: 'POST', url: () => '/v1/chatops/slack', need: 'slack' },
  // The dashboard takes a session cookie, never a bearer token: with one, pages send the caller
  // to sign-in and actions answer 401 (its own matrix of sessions and scopes:
  // test/integration/ui/auth.test.ts).
  { method: 'GET', url: () => '/ui/sign-in', need: 'open' },
  { method: 'GET', url: () => '/ui/assets/app.js', need: 'open' },
  { method: 'GET', url: () => '/ui/stacks', need: 'ui-page' },
  { method: 'GET', url: () => '/ui/stacks/shop', need: 'ui-page' },
  { method: 'GET', url: () => `/ui/operations/${operationId}`, need: 'ui-page' },
  { method: 'GET', url: () => `/ui/operations/${operationId}/events`, need: 'ui-action' },
  { method: 'POST', url: () => '/ui/stacks/shop/actions/deploy', need: 'ui-action' },
  { method: 'POST', url: () => '/ui/stacks/shop/actions/swap/review', need: 'ui-action' },
  { method: 'POST', url: () => '/ui/sign-out', need: 'ui-action' },
];

const CREDENTIALS: Record<string, Record<string, string>> = {
  none: {},
  empty: { authorization: '' },
  basic: { authorization: `Basic ${Buffer.from(`x:${TOKENS.admin}`).toString('base64')}` },
  'wrong, other length': { authorization: 'Bearer nope' },
  'wrong, same length': {
    authorization: `Bearer ${TOKENS.admin.slice(0, -1)}${TOKENS.admin.endsWith('f') ? 'e' : 'f'}`,
  },
  read: bearer('read'),
  deploy: bearer('deploy'),
  swap: bearer('swap'),
  admin: bearer('admin'),
  'admin, lowercase scheme': { authorization: `bearer ${TOKENS.admin}` },
};

/** What a credential may do: mutating scopes imply read; admin implies everything. */
function expected(credential: string, need: Need): number | 'ok' {
  if (need === 'open') return 'ok';
  if (need === 'ui-page') return 303;
  if (need === 'ui-action') return 401;
  if (need === 'slack') return 401;
  const scope = credential.startsWith('admin') ? 'admin' : credential;
  if (!['read', 'deploy', 'swap', 'admin'].includes(scope)) return 401;
  if (scope === 'admin' || need === scope || need === 'read') return 'ok';
  return 403;
}

describe('auth matrix', () => {
  for (const route of ROUTES) {
    it(`${route.method} ${route.url().replace(/[0-9a-f-]{36}/, ':id')}`, async () => {
      for (const [credential, headers] of Object.entries(CREDENTIALS)) {
        const res = await s.app.inject({
          method: route.method,
          url: route.url(),
          headers: {
            ...headers,
            ...(route.method === 'POST'
              ? {
                  'content-type':
                    route.need === 'slack' || route.need === 'ui-action'
                      ? 'application/x-www-form-urlencoded'
                      : 'application/json',
                }
              : {}),
          },
          ...(route.method === 'POST'
            ? {
                payload:
                  route.need === 'slack'
                    ? 'command=%2Fstackswap&text=status'
                    : route.need === 'ui-action'
                      ? 'reason=matrix'
                      : '{}',
              }
            : {}),
        });
        const want = expected(credential, route.need);
        const label = `${credential}: ${res.body.slice(0, 200)}`;
        if (want === 'ok') {
          expect(res.statusCode, label).toBeGreaterThanOrEqual(200);
          expect(res.statusCode, label).toBeLessThan(300);
        } else {
          expect(res.statusCode, label).toBe(want);
        }
        if (want === 303) expect(res.headers.location, label).toBe('/ui/sign-in');
        if (want === 401 && route.need !== 'slack' && !route.need.startsWith('ui-')) {
          expect(res.headers['www-authenticate'], label).toMatch(/^Bearer realm="stackswap"/);
          expect(res.json().error.code).toBe('unauthorized');
          // The message explains itself: the scrubber must not eat the words "bearer token".
          expect(res.json().error.message).toMatch(/bearer token/);
          expect(res.json().error.message).not.toContain('[REDACTED]');
        }
        if (want === 403) {
          expect(res.json().error).toMatchObject({ code: 'forbidden', missingScope: route.need });
          expect(res.json().error.message).toContain(`"${route.need}" scope`);
        }
        // Let an accepted operation finish, so the next one is not refused as busy.
        if (res.statusCode === 202) await waitForOperation(s.app, res.json().operation.id);
      }
    });
  }

  it('no credential ever appears in a log line', () => {
    for (const token of Object.values(TOKENS)) expect(s.logs.text).not.toContain(token);
  });
});

describe('rate limiting', () => {
  let limited: GitOnlyService;
  beforeAll(async () => {
    limited = await gitOnlyService({ service: { limits: { rateLimitMax: 3 } } });
  });
  afterAll(async () => limited?.close());

  it('429 with retry-after for the token over its limit only; health checks exempt', async () => {
    const get = (headers: Record<string, string>, url = '/v1/operations') =>
      limited.app.inject({ url, headers });
    for (let i = 0; i < 3; i++) expect((await get(bearer('read'))).statusCode).toBe(200);
    const over = await get(bearer('read'));
    expect(over.statusCode).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(over.json().error.code).toBe('rate-limited');
    // Another token has its own budget; health checks are never limited.
    expect((await get(bearer('swap'))).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) {
      expect((await get({}, '/healthz')).statusCode).toBe(200);
      expect((await get({}, '/readyz')).statusCode).toBe(200);
    }
  });

  it('requests without a valid token are limited per address', async () => {
    for (let i = 0; i < 3; i++)
      expect((await limited.app.inject({ url: '/v1/stacks' })).statusCode).toBe(401);
    expect((await limited.app.inject({ url: '/v1/stacks' })).statusCode).toBe(429);
  });
});
