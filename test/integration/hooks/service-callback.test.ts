/**
 * Pending hooks in the service: the verdict comes back through `POST /v1/hooks/:id/result`
 * (bearer token with the `hooks` scope plus the execution's one-time token), and a service
 * restarted while a hook waits resumes it, or times it out as configured; never a pass.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { readAtHead, git } from '../../helpers/config-repo.ts';
import {
  bearer,
  gitOnlyService,
  tempDir,
  TOKENS,
  waitForOperation,
  type GitOnlyService,
} from '../server/helpers.ts';
import { answer, startReceiver, type Receiver } from './receiver.ts';
import { hooksYaml, repoWithHooks, SECRET } from './fixture.ts';

const HOOKS_TOKEN = 'tok-hooks-0123456789abcdef';
const PUBLIC_URL = 'https://stackswap.example.test';

function tokens(): string {
  const all = { ...TOKENS, hooks: HOOKS_TOKEN };
  return JSON.stringify(
    Object.entries(all).map(([scope, token]) => ({
      name: `${scope}-bot`,
      sha256: createHash('sha256').update(token).digest('hex'),
      scopes: [scope],
    })),
  );
}

const open: GitOnlyService[] = [];
let receiver: Receiver | undefined;
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  await receiver?.close();
  receiver = undefined;
});

interface Asked {
  executionId: string;
  callbackUrl: string;
  callbackToken: string;
}

/** A receiver that answers every hook request pending and remembers what it was given. */
async function pendingReceiver(): Promise<{ r: Receiver; asked: () => Asked[] }> {
  receiver = await startReceiver(SECRET, (req, res) => {
    const hook = req.json!.hook as Asked;
    answer(res, 202, { result: 'pending', id: hook.executionId });
  });
  const r = receiver;
  return { r, asked: () => r.received.map((x) => x.json!.hook as Asked) };
}

async function service(
  bare: string,
  dataDir: string,
  extra: Parameters<typeof gitOnlyService>[0] = {},
) {
  const s = await gitOnlyService({
    bare,
    dataDir,
    env: { STACKSWAP_TOKENS: tokens(), STACKSWAP_PUBLIC_URL: PUBLIC_URL, HOOK_SECRET: SECRET },
    ...extra,
    service: { hooks: { pendingPollMs: 20 }, ...extra.service },
  });
  open.push(s);
  return s;
}

async function post(
  s: GitOnlyService,
  url: string,
  body: unknown,
  headers: Record<string, string>,
) {
  return s.app.inject({ method: 'POST', url, payload: body as object, headers });
}

async function until(check: () => boolean, what: string) {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > 20_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function deployed(s: GitOnlyService) {
  const res = await post(s, '/v1/stacks/shop/deploy', {}, bearer('deploy'));
  expect(res.statusCode, res.body).toBe(202);
  const op = await waitForOperation(
    s.app,
    (res.json() as { operation: { id: string } }).operation.id,
  );
  expect(op.state).toBe('succeeded');
}

async function startSwap(s: GitOnlyService): Promise<string> {
  const res = await post(s, '/v1/stacks/shop/swap', {}, bearer('swap'));
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as { operation: { id: string } }).operation.id;
}

const callback = (
  s: GitOnlyService,
  id: string,
  body: unknown,
  auth = { authorization: `Bearer ${HOOKS_TOKEN}` },
) => post(s, `/v1/hooks/${id}/result`, body, auth);

describe('a pending hook resolved through the callback route', () => {
  it('waits, refuses forged, unknown and repeated callbacks, then swaps on pass', async () => {
    const { r, asked } = await pendingReceiver();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeSwap', name: 'approve', url: `${r.url}/hook` }]),
    );
    const s = await service(bare, tempDir('data'));
    await deployed(s);
    const opId = await startSwap(s);
    await until(() => asked().length === 1, 'the hook request');
    const { executionId, callbackUrl, callbackToken } = asked()[0]!;
    expect(callbackUrl).toBe(`${PUBLIC_URL}/v1/hooks/${executionId}/result`);
    expect(r.received[0]!.signatureOk).toBe(true);

    // Waiting: nothing moved yet.
    expect(
      (await s.app.inject({ url: `/v1/operations/${opId}`, headers: bearer('read') })).json(),
    ).toMatchObject({ state: 'running' });
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: blue');

    const forged = await callback(s, executionId, { result: 'pass', token: 'x'.repeat(32) });
    expect(forged.statusCode).toBe(403);
    expect(forged.json()).toMatchObject({ error: { code: 'hook-token-invalid' } });
    expect(
      (await callback(s, executionId, { result: 'pass', token: callbackToken }, {} as never))
        .statusCode,
    ).toBe(401);
    const readOnly = await callback(
      s,
      executionId,
      { result: 'pass', token: callbackToken },
      bearer('read'),
    );
    expect(readOnly.statusCode).toBe(403);
    expect(readOnly.json()).toMatchObject({ error: { code: 'forbidden' } });
    const unknown = await callback(s, '0b7c4c8e-2f65-4c1e-9a3e-3d7c1f7e9b10', {
      result: 'pass',
      token: callbackToken,
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'hook-unknown' } });
    const bad = await callback(s, executionId, { result: 'maybe', token: callbackToken });
    expect(bad.statusCode).toBe(400);

    const ok = await callback(s, executionId, {
      result: 'pass',
      message: 'CAB approved',
      token: callbackToken,
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ id: executionId, result: 'pass' });
    const again = await callback(s, executionId, { result: 'fail', token: callbackToken });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'hook-already-decided' } });

    const op = await waitForOperation(s.app, opId);
    expect(op.state, JSON.stringify(op)).toBe('succeeded');
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: green');
    expect(git(bare, 'log', '-1', '--format=%B', 'main')).toContain(
      'Stackswap-Hooks: beforeSwap/approve=pass',
    );
  });

  it('a fail verdict stops the swap with the hook message; traffic untouched', async () => {
    const { r, asked } = await pendingReceiver();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeSwap', name: 'approve', url: `${r.url}/hook` }]),
    );
    const s = await service(bare, tempDir('data'));
    await deployed(s);
    const opId = await startSwap(s);
    await until(() => asked().length === 1, 'the hook request');
    const { executionId, callbackToken } = asked()[0]!;
    expect(
      (
        await callback(s, executionId, {
          result: 'fail',
          message: 'freeze until Monday',
          token: callbackToken,
        })
      ).statusCode,
    ).toBe(200);
    const op = await waitForOperation(s.app, opId);
    expect(op.state).toBe('failed');
    expect(op.error).toMatchObject({ code: 'hook-vetoed' });
    expect(JSON.stringify(op.error)).toContain('freeze until Monday');
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: blue');
  });

  it('"hooks": false needs an admin token', async () => {
    const { r } = await pendingReceiver();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeSwap', name: 'approve', url: `${r.url}/hook` }]),
    );
    const s = await service(bare, tempDir('data'));
    await deployed(s);
    const refused = await post(s, '/v1/stacks/shop/swap', { hooks: false }, bearer('swap'));
    expect(refused.statusCode).toBe(403);
    const res = await post(s, '/v1/stacks/shop/swap', { hooks: false }, bearer('admin'));
    expect(res.statusCode, res.body).toBe(202);
    const op = await waitForOperation(
      s.app,
      (res.json() as { operation: { id: string } }).operation.id,
    );
    expect(op.state).toBe('succeeded');
    expect(r.received).toHaveLength(0);
    expect(git(bare, 'log', '-1', '--format=%B', 'main')).toContain(
      'Stackswap-Hooks-Skipped: --no-hooks by admin-bot',
    );
  });
});

describe('the service restarting while a pending hook waits', () => {
  it('resumes: a verdict reported after the restart lets the re-run proceed without asking again', async () => {
    const { r, asked } = await pendingReceiver();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeSwap', name: 'approve', url: `${r.url}/hook` }]),
    );
    const dataDir = tempDir('data');
    const first = await service(bare, dataDir);
    await deployed(first);
    const opId = await startSwap(first);
    await until(() => asked().length === 1, 'the hook request');
    await first.service.shutdown({ graceMs: 100, settleMs: 2000 });
    const stopped = await first.service.operations.get(opId);
    expect(stopped?.state).not.toBe('succeeded');
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: blue');

    const second = await service(bare, dataDir);
    const { executionId, callbackToken } = asked()[0]!;
    const ok = await callback(second, executionId, { result: 'pass', token: callbackToken });
    expect(ok.statusCode, ok.body).toBe(200);
    const rerun = await waitForOperation(second.app, await startSwap(second));
    expect(rerun.state, JSON.stringify(rerun)).toBe('succeeded');
    expect(asked()).toHaveLength(1); // resumed, not asked twice
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: green');
    expect(git(bare, 'log', '-1', '--format=%B', 'main')).toContain(
      'Stackswap-Hooks: beforeSwap/approve=pass',
    );
  });

  it('times out as configured when the deadline passed meanwhile: never silently passed', async () => {
    const { r, asked } = await pendingReceiver();
    const { bare } = repoWithHooks(
      hooksYaml([
        {
          point: 'beforeSwap',
          name: 'approve',
          url: `${r.url}/hook`,
          extra: { pendingTimeout: '10m' },
        },
      ]),
    );
    const dataDir = tempDir('data');
    const first = await service(bare, dataDir);
    await deployed(first);
    await startSwap(first);
    await until(() => asked().length === 1, 'the hook request');
    await first.service.shutdown({ graceMs: 100, settleMs: 2000 });

    // The second service starts an hour later (an injected clock, no waiting).
    const later = () => Date.now() + 3_600_000;
    const second = await service(bare, dataDir, {
      service: {
        now: later,
        hooks: {
          pendingPollMs: 20,
          clock: {
            now: later,
            sleep: (ms) => new Promise((res) => setTimeout(res, Math.min(ms, 20))),
          },
        },
      },
    });
    const { executionId, callbackToken } = asked()[0]!;
    const late = await callback(second, executionId, { result: 'pass', token: callbackToken });
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ error: { code: 'hook-expired' } });
    const rerun = await waitForOperation(second.app, await startSwap(second));
    expect(rerun.state).toBe('failed');
    expect(rerun.error).toMatchObject({ code: 'hook-vetoed' });
    expect(JSON.stringify(rerun.error)).toMatch(/did not report within 600s \(onTimeout: fail\)/);
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: blue');
    expect(asked()).toHaveLength(1);
  });

  it('an afterSwap hook cut off by the restart is resumed by the re-run; its fail reverts', async () => {
    const { r, asked } = await pendingReceiver();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'afterSwap', name: 'prod-smoke', url: `${r.url}/hook` }]),
    );
    const dataDir = tempDir('data');
    const first = await service(bare, dataDir);
    await deployed(first);
    await startSwap(first);
    await until(() => asked().length === 1, 'the hook request');
    await first.service.shutdown({ graceMs: 100, settleMs: 2000 });
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: green');

    const second = await service(bare, dataDir);
    const { executionId, callbackToken } = asked()[0]!;
    const verdict = await callback(second, executionId, {
      result: 'fail',
      message: 'checkout errors up',
      token: callbackToken,
    });
    expect(verdict.statusCode, verdict.body).toBe(200);
    const rerun = await waitForOperation(second.app, await startSwap(second));
    expect(rerun.state).toBe('failed');
    expect(JSON.stringify(rerun.error)).toContain('checkout errors up');
    expect(readAtHead(bare, 'apps/ingress/values.yaml')).toContain('shopLive: blue');
    const message = git(bare, 'log', '-1', '--format=%B', 'main');
    expect(message).toMatch(/^revert shop: live green -> blue \(afterSwap hook vetoed/);
    expect(message).toContain('Stackswap-Hooks: afterSwap/prod-smoke=fail');
    expect(asked()).toHaveLength(1);
  });
});
