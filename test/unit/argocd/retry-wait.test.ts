/**
 * A retrying operation (syncPolicy.retry, always for auto-sync): Running with finishedAt set,
 * "Retrying attempt #N at ...", `operation` kept. Each attempt is reported, the wait fails with
 * Argo CD's final message, at once with retryWait false, and never succeeds while retrying.
 */
import { describe, expect, it } from 'vitest';
import { waitForApp } from '../../../src/argocd/wait.ts';
import type { ArgoProgressEvent } from '../../../src/argocd/progress.ts';
import { StackswapError } from '../../../src/shared/errors.ts';
import { MemoryArgo, R, appJson, finished } from './memory-argo.ts';
import { VirtualClock } from './virtual-clock.ts';
import { caught } from './helpers.ts';
import type { Json } from './fake-argocd.ts';

const ERR = 'one or more objects failed to apply, reason: admission webhook denied the request';

function retrying(a: Json, attempt: number, o: { healthy?: boolean } = {}) {
  a.operation = { sync: { revision: R }, initiatedBy: { username: 'stackswap' } };
  a.status.operationState = {
    operation: a.operation,
    phase: 'Running',
    message: `${ERR}. Retrying attempt #${attempt} at 12:0${attempt}PM.`,
    startedAt: '2024-01-01T00:00:00Z',
    finishedAt: `2024-01-01T00:0${attempt}:00Z`,
    retryCount: attempt,
    syncResult: { revision: R, resources: [] },
  };
  if (o.healthy) {
    a.status.sync = { status: 'Synced', revision: R };
    a.status.health = { status: 'Healthy' };
  }
}

function setup(retryWait = true) {
  const clock = new VirtualClock();
  const api = new MemoryArgo();
  const app = appJson('shop', { revision: R });
  retrying(app, 1, { healthy: true });
  api.add(app);
  const events: ArgoProgressEvent[] = [];
  const wait = waitForApp(api, {
    app: 'shop',
    revision: R,
    requireOperation: true,
    timeoutMs: 600_000,
    clock,
    retryWait,
    pollIntervalMs: 10_000,
    random: () => 0.5,
    onProgress: (e) => events.push(e),
  });
  return { clock, api, events, wait };
}

describe('a retrying operation', () => {
  it('reports every attempt and fails with Argo CD message once the retries are exhausted', async () => {
    const { clock, api, events, wait } = setup();
    clock.at(10_000, () => api.update('shop', (a) => retrying(a, 2, { healthy: true })));
    clock.at(30_000, () =>
      api.update('shop', (a) => {
        finished(a, R, 'Failed', { message: `${ERR} (retried 2 times).` });
        a.status.operationState.retryCount = 2;
      }),
    );
    const error = await caught(clock.run(wait));
    expect((error as StackswapError).code).toBe('operation-failed');
    expect((error as Error).message).toBe(
      `app shop: sync operation at 111111111111 ended Failed: ${ERR} (retried 2 times).`,
    );
    expect(clock.now()).toBe(30_000);
    expect(
      events.filter((e) => e.type === 'operation-retry').map((e) => [e.attempt, e.reason]),
    ).toEqual([
      [1, `${ERR}. Retrying attempt #1 at 12:01PM.`],
      [2, `${ERR}. Retrying attempt #2 at 12:02PM.`],
    ]);
    expect(events.some((e) => e.type === 'done')).toBe(false);
  });

  it('never reports success while retrying (Synced and Healthy from before), only after the attempt succeeds', async () => {
    const { clock, api, events, wait } = setup();
    clock.at(20_000, () => api.update('shop', (a) => finished(a, R, 'Succeeded')));
    const result = await clock.run(wait);
    expect(result.durationMs).toBe(20_000);
    expect(events.filter((e) => e.type === 'operation-retry')).toHaveLength(1);
  });

  it('retryWait false (--no-retry-wait) fails at the first retry with its message', async () => {
    const { clock, wait } = setup(false);
    const error = await caught(clock.run(wait));
    expect(clock.now()).toBe(0);
    expect((error as StackswapError).code).toBe('operation-failed');
    expect((error as Error).message).toBe(
      `app shop: sync operation at 111111111111 failed (Argo CD will retry it; not waiting, --no-retry-wait): ${ERR}. Retrying attempt #1 at 12:01PM.`,
    );
    expect((error as StackswapError).hint).toMatch(/argocd app terminate-op shop/);
  });
});
