/**
 * The auth matrix of the dashboard (/ui), next to the API's (test/integration/server/auth.test.ts):
 * every /ui route × {no session, a forged or ended session, a bearer token instead of a session,
 * each scope's session} × {with, without the CSRF token} -> sign-in / 401 / 403 / 2xx or 303.
 * Actions go through the API, so a session lacking the scope gets the API's own 403.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import {
  bearer,
  gitOnlyService,
  TOKENS,
  waitForOperation,
  type GitOnlyService,
} from '../server/helpers.ts';
import { SESSION_COOKIE } from '../../../src/server/ui/routes.ts';

let s: GitOnlyService;
let operationId: string;
let sha: string;

interface UiSession {
  cookie: string;
  csrf: string;
}

/** Signs in through the form; returns the cookie and the page's CSRF token. */
export async function signIn(app: FastifyInstance, token: string): Promise<UiSession> {
  const res = await app.inject({
    method: 'POST',
    url: '/ui/sign-in',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ token }).toString(),
  });
  expect(res.statusCode, res.body).toBe(303);
  const setCookie = String(res.headers['set-cookie']);
  expect(setCookie).toMatch(
    new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; Secure; SameSite=Strict$`),
  );
  const cookie = setCookie.split(';')[0]!;
  const page = await app.inject({ url: '/ui/stacks', headers: { cookie } });
  expect(page.statusCode).toBe(200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  return { cookie, csrf };
}

const SCOPES = ['read', 'deploy', 'swap', 'admin'] as const;
const sessions: Record<string, UiSession> = {};

beforeAll(async () => {
  s = await gitOnlyService({ stacks: [{ name: 'shop', planTag: '2.0.0' }] });
  const res = await s.app.inject({
    method: 'POST',
    url: '/v1/stacks/shop/deploy',
    headers: bearer('admin'),
    payload: {},
  });
  operationId = res.json().operation.id;
  await waitForOperation(s.app, operationId);
  sha = (await s.app.inject({ url: '/v1/stacks/shop', headers: bearer('read') })).json().headSha;
  for (const scope of SCOPES) sessions[scope] = await signIn(s.app, TOKENS[scope]);
  // An ended session: signed in, then signed out.
  const ended = await signIn(s.app, TOKENS.admin);
  const out = await s.app.inject({
    method: 'POST',
    url: '/ui/sign-out',
    headers: { cookie: ended.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `csrf=${ended.csrf}`,
  });
  expect(out.statusCode).toBe(303);
  sessions.ended = ended;
  sessions.forged = { cookie: `${SESSION_COOKIE}=${'A'.repeat(43)}`, csrf: 'x'.repeat(43) };
});
afterAll(async () => s?.close());

type Need = 'open' | 'session' | 'read' | 'deploy' | 'swap' | 'admin';
interface Route {
  method: 'GET' | 'POST';
  url: () => string;
  need: Need;
  /** A page (a missing session redirects to sign-in) or a stream/action (401). */
  page?: boolean;
}

const ROUTES: Route[] = [
  { method: 'GET', url: () => '/ui/sign-in', need: 'open' },
  { method: 'GET', url: () => '/ui/assets/app.js', need: 'open' },
  { method: 'GET', url: () => '/ui/assets/app.css', need: 'open' },
  { method: 'GET', url: () => '/ui/stacks', need: 'read', page: true },
  { method: 'GET', url: () => '/ui/stacks/shop', need: 'read', page: true },
  { method: 'GET', url: () => `/ui/stacks/shop/commits/${sha}`, need: 'read', page: true },
  { method: 'GET', url: () => `/ui/operations/${operationId}`, need: 'read', page: true },
  { method: 'GET', url: () => `/ui/operations/${operationId}/events`, need: 'read' },
  { method: 'POST', url: () => '/ui/stacks/shop/actions/deploy/review', need: 'deploy' },
  { method: 'POST', url: () => '/ui/stacks/shop/actions/deploy', need: 'deploy' },
  { method: 'POST', url: () => '/ui/stacks/shop/actions/swap/review', need: 'swap' },
  { method: 'POST', url: () => '/ui/stacks/shop/actions/swap', need: 'swap' },
  { method: 'POST', url: () => '/ui/stacks/shop/actions/revert/review', need: 'swap' },
  { method: 'POST', url: () => '/ui/stacks/shop/actions/scale-down/review', need: 'admin' },
  { method: 'POST', url: () => '/ui/sign-out', need: 'session' },
];

const CREDENTIALS = ['none', 'bearer instead of a session', 'forged', 'ended', ...SCOPES] as const;

function cookieOf(credential: string): Record<string, string> {
  if (credential === 'none') return {};
  if (credential === 'bearer instead of a session') return bearer('admin');
  return { cookie: sessions[credential]!.cookie };
}

function allowed(credential: string, need: Need): boolean {
  if (need === 'session' || need === 'read') return true;
  return credential === 'admin' || credential === need;
}

describe('dashboard auth matrix', () => {
  for (const route of ROUTES) {
    it(`${route.method} ${route
      .url()
      .replace(/[0-9a-f-]{36}/, ':id')
      .replace(/[0-9a-f]{40}/, ':sha')}`, async () => {
      for (const credential of CREDENTIALS) {
        for (const withCsrf of route.method === 'POST' ? [true, false] : [true]) {
          const signedIn = (SCOPES as readonly string[]).includes(credential);
          const csrf =
            signedIn || credential === 'forged' || credential === 'ended'
              ? sessions[credential]!.csrf
              : '';
          const res = await s.app.inject({
            method: route.method,
            url: route.url(),
            headers: {
              ...cookieOf(credential),
              ...(route.method === 'POST'
                ? { 'content-type': 'application/x-www-form-urlencoded' }
                : {}),
            },
            ...(route.method === 'POST'
              ? {
                  payload: withCsrf
                    ? `csrf=${encodeURIComponent(csrf)}&reason=matrix&force=true`
                    : 'reason=matrix&force=true',
                }
              : {}),
          });
          const label = `${credential}${withCsrf ? '' : ', no CSRF token'}: ${res.statusCode} ${res.body.slice(0, 300)}`;
          // Every /ui answer carries the dashboard's CSP: no inline script or style anywhere.
          expect(res.headers['content-security-policy'], label).toMatch(
            /script-src 'self'; style-src 'self'/,
          );
          expect(String(res.headers['content-security-policy'])).not.toContain('unsafe-inline');
          if (route.need === 'open') {
            // The sign-in page sends a signed-in caller on to the stacks.
            const signInRedirect = route.url() === '/ui/sign-in' && signedIn;
            expect(res.statusCode, label).toBe(signInRedirect ? 303 : 200);
          } else if (!signedIn) {
            if (route.page) {
              expect(res.statusCode, label).toBe(303);
              expect(res.headers.location, label).toBe('/ui/sign-in');
            } else {
              expect(res.statusCode, label).toBe(401);
            }
          } else if (route.method === 'POST' && !withCsrf) {
            expect(res.statusCode, label).toBe(403);
            expect(res.body, label).toContain('&quot;code&quot;: &quot;csrf&quot;');
          } else if (!allowed(credential, route.need)) {
            // The API's own refusal, shown as it is.
            expect(res.statusCode, label).toBe(403);
            expect(res.body, label).toContain('&quot;code&quot;: &quot;forbidden&quot;');
            expect(res.body, label).toContain(`lacks the &quot;${route.need}&quot; scope`);
          } else if (route.method === 'POST' && !route.url().endsWith('/review')) {
            // sign-out, or an accepted operation: 303 to the operation page.
            expect(res.statusCode, label).toBe(303);
            if (route.url() === '/ui/sign-out') {
              // Signed out: sign in again for the next rows.
              sessions[credential] = await signIn(s.app, TOKENS[credential as keyof typeof TOKENS]);
            } else {
              expect(res.headers.location).toMatch(/^\/ui\/operations\/[0-9a-f-]{36}$/);
              await waitForOperation(s.app, res.headers.location!.split('/').pop()!);
            }
          } else {
            expect(res.statusCode, label).toBe(200);
          }
        }
      }
    });
  }

  it('the pages stay out of the OpenAPI document', async () => {
    const doc = (await s.app.inject({ url: '/docs/json' })).json() as { paths: object };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/ui'))).toEqual([]);
    expect(Object.keys(doc.paths)).toContain('/v1/stacks');
  });

  it('over plain http on a non-loopback host, the sign-in page says why no session will stick', async () => {
    const remote = await s.app.inject({
      url: '/ui/sign-in',
      headers: { host: 'dash.example.com' },
    });
    expect(remote.body).toContain('only over https (or on localhost)');
    for (const host of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080']) {
      const local = await s.app.inject({ url: '/ui/sign-in', headers: { host } });
      expect(local.body, host).not.toContain('only over https');
    }
  });

  it('a session keeps no token in the page, and no credential reaches a log line', async () => {
    for (const scope of SCOPES) {
      const page = await s.app.inject({
        url: '/ui/stacks/shop',
        headers: { cookie: sessions[scope]!.cookie },
      });
      expect(page.body).not.toContain(TOKENS[scope]);
    }
    for (const token of Object.values(TOKENS)) expect(s.logs.text).not.toContain(token);
    for (const { cookie } of Object.values(sessions)) {
      expect(s.logs.text).not.toContain(cookie.split('=')[1]);
    }
  });
});
