/**
 * Hooks at every point of the core operations, against a real local receiver: a veto stops
 * the operation with nothing half-done, a pass is recorded in the commit it gated, and every
 * request the receiver got was signed with the hook's secret.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { commitCount, git, readAtHead } from '../../helpers/config-repo.ts';
import { deploy } from '../../../src/core/operations/deploy.ts';
import { swap } from '../../../src/core/operations/swap.ts';
import { scaleDown } from '../../../src/core/operations/scale-down.ts';
import { history } from '../../../src/core/operations/inspect.ts';
import { isStackswapError } from '../../../src/shared/errors.ts';
import { StackEvent } from '../../../src/shared/events.ts';
import type { ProgressEvent } from '../../../src/shared/progress.ts';
import { answer, startReceiver, type Receiver } from './receiver.ts';
import { context, hooksYaml, repoWithHooks, SECRET } from './fixture.ts';

let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

/** A receiver that fails the hook named `veto` and passes the others. */
async function vetoing(): Promise<Receiver> {
  receiver = await startReceiver(SECRET, (req, res) => {
    if (req.path === '/veto')
      answer(res, 200, { result: 'fail', message: 'change ticket CHG-42 is not approved' });
    else answer(res, 200, { result: 'pass' });
  });
  return receiver;
}

async function rejection(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isStackswapError(e), String(e)).toBe(true);
  return e as import('../../../src/shared/errors.ts').StackswapError;
}

const ingress = (bare: string) => readAtHead(bare, 'apps/ingress/values.yaml');
const green = (bare: string) => readAtHead(bare, 'apps/shop/values-green.yaml');
const lastMessage = (bare: string) => git(bare, 'log', '-1', '--format=%B', 'main');

describe('a veto at each point stops the operation with nothing half-done', () => {
  it('beforeDeploy: nothing is committed', async () => {
    const r = await vetoing();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeDeploy', name: 'ticket', url: `${r.url}/veto` }]),
    );
    const before = commitCount(bare);
    const events: ProgressEvent[] = [];
    const ctx = await context(bare, { events });
    const e = await rejection(deploy(ctx, { stack: 'shop', plan: { source: 'repo' } }));
    expect(e.code).toBe('hook-vetoed');
    expect(e.exitCode).toBe(12);
    expect(e.message).toContain('hook beforeDeploy/ticket stopped the operation');
    expect(e.message).toContain('change ticket CHG-42 is not approved');
    expect(commitCount(bare)).toBe(before);
    expect(green(bare)).toContain('replicas: 0');
    // The receiver got the deploy.started event, signed, naming the point.
    expect(r.received).toHaveLength(1);
    const body = StackEvent.parse(r.received[0]!.json);
    expect(r.received[0]!.signatureOk).toBe(true);
    expect(body.type).toBe('deploy.started');
    expect(body.hook).toMatchObject({ point: 'beforeDeploy', name: 'ticket' });
    expect(body).toMatchObject({ stack: 'shop', live: 'blue', preview: 'green', actor: 'alice' });
    expect(body.versions).toEqual({
      blue: { web: '1.0.0', api: '1.0.0' },
      green: { web: '1.1.0', api: '1.1.0' },
    });
    expect(body.hook?.callbackUrl).toBeUndefined(); // a CLI run takes no callbacks
    // Events: deploy.started, hook.result (fail), operation.failed.
    const types = events.flatMap((x) => (x.type === 'event' ? [x.event.type] : []));
    expect(types).toEqual(['deploy.started', 'hook.result', 'operation.failed']);
    const failed = events.flatMap((x) => (x.type === 'event' ? [x.event] : [])).at(-1)!;
    expect(failed.reason).toContain('CHG-42');
    expect(failed.data).toEqual({ code: 'hook-vetoed' });
  });

  it('afterDeploy: the deploy is undone in one commit carrying the verdict', async () => {
    const r = await vetoing();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'afterDeploy', name: 'smoke', url: `${r.url}/veto` }]),
    );
    const before = commitCount(bare);
    const originalGreen = green(bare);
    const ctx = await context(bare);
    const e = await rejection(deploy(ctx, { stack: 'shop', plan: { source: 'repo' } }));
    expect(e.code).toBe('hook-vetoed');
    expect(e.message).toMatch(/the deploy was undone: green \(preview\) is back/);
    expect(commitCount(bare)).toBe(before + 2);
    expect(green(bare)).toBe(originalGreen);
    const message = lastMessage(bare);
    expect(message).toMatch(/^undo deploy shop to green: vetoed by a hook/);
    expect(message).toContain('Stackswap-Operation: deploy-undo');
    expect(message).toContain('Stackswap-Hooks: afterDeploy/smoke=fail');
    expect(r.received[0]!.json).toMatchObject({
      type: 'deploy.finished',
      hook: { point: 'afterDeploy' },
    });
    const entries = await history(ctx.repo, 'shop', 10);
    expect(entries[0]).toMatchObject({
      operation: 'deploy-undo',
      hooks: [{ point: 'afterDeploy', name: 'smoke', result: 'fail' }],
    });
  });

  it('afterTestTraffic and beforeSwap: traffic is untouched, nothing committed', async () => {
    for (const point of ['afterTestTraffic', 'beforeSwap']) {
      const r = await vetoing();
      const { bare } = repoWithHooks(hooksYaml([{ point, name: 'gate', url: `${r.url}/veto` }]));
      await deploy(await context(bare), { stack: 'shop', plan: { source: 'repo' } });
      const before = commitCount(bare);
      const live = ingress(bare);
      const e = await rejection(swap(await context(bare), { stack: 'shop' }));
      expect(e.code, point).toBe('hook-vetoed');
      expect(e.message).toContain(`hook ${point}/gate stopped the operation`);
      expect(commitCount(bare)).toBe(before);
      expect(ingress(bare)).toBe(live);
      expect(ingress(bare)).toContain('shopLive: blue');
      await r.close();
      receiver = undefined;
    }
  });

  it('afterSwap: the swap is reverted automatically, with the reason', async () => {
    const r = await vetoing();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'afterSwap', name: 'prod-smoke', url: `${r.url}/veto` }]),
    );
    await deploy(await context(bare), { stack: 'shop', plan: { source: 'repo' } });
    const before = commitCount(bare);
    const events: ProgressEvent[] = [];
    const e = await rejection(swap(await context(bare, { events }), { stack: 'shop' }));
    expect(e.code).toBe('hook-vetoed');
    expect(e.message).toMatch(/green was reverted automatically: blue is live again/);
    expect(commitCount(bare)).toBe(before + 2);
    expect(ingress(bare)).toContain('shopLive: blue');
    const message = lastMessage(bare);
    expect(message).toMatch(/^revert shop: live green -> blue \(afterSwap hook vetoed/);
    expect(message).toContain('Stackswap-Hooks: afterSwap/prod-smoke=fail');
    expect(message).toMatch(/Stackswap-Reason: hook afterSwap\/prod-smoke stopped the operation/);
    expect(r.received[0]!.json).toMatchObject({
      type: 'swap.finished',
      live: 'green',
      hook: { point: 'afterSwap' },
    });
    const lifecycle = events.flatMap((x) => (x.type === 'event' ? [x.event] : []));
    expect(lifecycle.map((x) => x.type)).toEqual([
      'swap.finished',
      'hook.result',
      'revert.finished',
      'operation.failed',
    ]);
    const reverted = lifecycle[2]!;
    expect(reverted).toMatchObject({ automatic: true, live: 'blue', preview: 'green' });
    expect(reverted.reason).toContain('prod-smoke');
    expect(reverted.commit?.sha).toBe(git(bare, 'rev-parse', 'main'));
  });

  it('beforeScaleDown: the idle colour keeps its replicas', async () => {
    const r = await vetoing();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeScaleDown', name: 'drain', url: `${r.url}/veto` }]),
    );
    await deploy(await context(bare), { stack: 'shop', plan: { source: 'repo' } });
    const before = commitCount(bare);
    const e = await rejection(scaleDown(await context(bare), { stack: 'shop', force: true }));
    expect(e.code).toBe('hook-vetoed');
    expect(commitCount(bare)).toBe(before);
    expect(green(bare)).toContain('replicas: 2');
    expect(r.received[0]!.json).toMatchObject({
      type: 'scale-down.finished',
      hook: { point: 'beforeScaleDown' },
    });
  });
});

describe('passing hooks', () => {
  it('are recorded in the trailers of the commit they gate, in history and in the events', async () => {
    const r = await vetoing();
    const { bare } = repoWithHooks(
      hooksYaml([
        { point: 'beforeDeploy', name: 'ticket', url: `${r.url}/pass` },
        { point: 'afterDeploy', name: 'migrate', url: `${r.url}/pass` },
        { point: 'afterTestTraffic', name: 'load', url: `${r.url}/pass` },
        { point: 'beforeSwap', name: 'approve', url: `${r.url}/pass` },
        { point: 'afterSwap', name: 'smoke', url: `${r.url}/pass` },
      ]),
    );
    const deployed = await deploy(await context(bare), { stack: 'shop', plan: { source: 'repo' } });
    expect(lastMessage(bare)).toContain('Stackswap-Hooks: beforeDeploy/ticket=pass');
    expect(deployed.events?.map((e) => e.type)).toEqual([
      'deploy.started',
      'hook.result',
      'deploy.finished',
      'hook.result',
    ]);
    expect(deployed.events?.every((e) => StackEvent.safeParse(e).success)).toBe(true);

    const swapped = await swap(await context(bare), { stack: 'shop' });
    expect(swapped.live).toBe('green');
    expect(lastMessage(bare)).toContain(
      'Stackswap-Hooks: afterTestTraffic/load=pass, beforeSwap/approve=pass',
    );
    expect(swapped.events?.map((e) => e.type)).toEqual([
      'hook.result',
      'hook.result',
      'swap.finished',
      'hook.result',
    ]);
    const finished = swapped.events![2]!;
    expect(finished).toMatchObject({
      live: 'green',
      preview: 'blue',
      commit: { sha: swapped.sha },
    });
    expect(finished.versions).toEqual({
      blue: { web: '1.0.0', api: '1.0.0' },
      green: { web: '1.1.0', api: '1.1.0' },
    });
    expect(r.received.map((x) => (x.json?.hook as { point: string }).point)).toEqual([
      'beforeDeploy',
      'afterDeploy',
      'afterTestTraffic',
      'beforeSwap',
      'afterSwap',
    ]);
    expect(r.received.every((x) => x.signatureOk)).toBe(true);
    const entries = await history((await context(bare)).repo, 'shop', 10);
    expect(entries[0]!.hooks).toEqual([
      { point: 'afterTestTraffic', name: 'load', result: 'pass' },
      { point: 'beforeSwap', name: 'approve', result: 'pass' },
    ]);
  });

  it('a receiver with another secret refuses the request: the hook vetoes', async () => {
    receiver = await startReceiver('some-other-secret-value', (_req, res) =>
      answer(res, 200, { result: 'pass' }),
    );
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeDeploy', name: 'ticket', url: `${receiver.url}/x` }]),
    );
    const e = await rejection(
      deploy(await context(bare), { stack: 'shop', plan: { source: 'repo' } }),
    );
    expect(receiver.received[0]!.signatureOk).toBe(false);
    expect(e.message).toContain('hook ticket answered 401: bad signature');
  });
});

describe('--no-hooks', () => {
  it('is refused for a requester who is not in hooks.admins, and recorded for one who is', async () => {
    const r = await vetoing();
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeDeploy', name: 'ticket', url: `${r.url}/veto` }], {
        admins: ['release-manager'],
      }),
    );
    const before = commitCount(bare);
    const refused = await rejection(
      deploy(await context(bare, { hooks: { skip: { by: 'alice', admin: false } } }), {
        stack: 'shop',
        plan: { source: 'repo' },
      }),
    );
    expect(refused.code).toBe('usage');
    expect(refused.message).toContain('"alice" is not in stacks.shop.hooks.admins');
    expect(commitCount(bare)).toBe(before);

    const result = await deploy(
      await context(bare, {
        requestedBy: 'release-manager',
        hooks: { skip: { by: 'release-manager', admin: false } },
      }),
      { stack: 'shop', plan: { source: 'repo' } },
    );
    expect(result.committed).toBe(true);
    expect(r.received).toHaveLength(0);
    expect(lastMessage(bare)).toContain('Stackswap-Hooks-Skipped: --no-hooks by release-manager');
    expect(lastMessage(bare)).toContain('Stackswap-Hooks: beforeDeploy/ticket=skipped');
  });
});
