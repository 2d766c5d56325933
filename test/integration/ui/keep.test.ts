/**
 * `npm start -- --keep`: the kept sandbox gets `stackswap serve` with the dashboard, and the
 * printed sign-in link carries a token that signs in (as admin) on that service.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { keepInstructions, startDashboard, type KeptDashboard } from '../../../src/demo/keep.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { SESSION_COOKIE } from '../../../src/server/ui/routes.ts';

let sandbox: Sandbox;
let dashboard: KeptDashboard;

beforeAll(async () => {
  sandbox = await startSandbox();
  dashboard = await startDashboard(sandbox);
}, 120_000);
afterAll(async () => {
  await dashboard?.close();
  await sandbox?.close();
});

it('prints the dashboard link with a ready token, and that token signs in', async () => {
  const text = keepInstructions(sandbox, dashboard);
  const match = /dashboard +(http:\/\/localhost:\d+\/ui\/sign-in#token=(\S+))/.exec(text);
  expect(match, text).not.toBeNull();
  const url = new URL(match![1]!);
  const token = match![2]!;
  expect(text).toContain(`the token: ${token}`);

  const signIn = await fetch(new URL('/ui/sign-in', url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
    redirect: 'manual',
  });
  expect(signIn.status).toBe(303);
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
  expect(cookie.startsWith(`${SESSION_COOKIE}=`)).toBe(true);
  const overview = await fetch(new URL('/ui/stacks', url), { headers: { cookie } });
  expect(overview.status).toBe(200);
  const page = await overview.text();
  expect(page).toContain('my-app');
  expect(page).toContain('sandbox-admin');
  // The fragment is the only place the token travels: never in the page.
  expect(page).not.toContain(token);
});
