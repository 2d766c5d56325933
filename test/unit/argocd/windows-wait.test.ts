/**
 * A sync refused by a sync window: fails at once naming the window (exit 8), or with
 * waitForWindow reads the windows until they let the sync through, within the timeout.
 */
import { describe, expect, it } from 'vitest';
import { ArgoCdApiError } from '../../../src/argocd/errors.ts';
import { syncAndWait } from '../../../src/argocd/wait.ts';
import { StackswapError, TimeoutError, exitCodeOf } from '../../../src/shared/errors.ts';
import { MemoryArgo, PREV, R, appJson, finished } from './memory-argo.ts';
import { VirtualClock } from './virtual-clock.ts';
import { caught } from './helpers.ts';

const DENY = { kind: 'deny', schedule: '0 22 * * *', duration: '10h' };

function setup(waitForWindow: boolean, timeoutMs = 600_000) {
  const clock = new VirtualClock();
  const api = new MemoryArgo();
  api.add(appJson('shop', { revision: PREV }));
  api.onRefresh = (name) =>
    api.update(name, (a) => (a.status.sync = { status: 'OutOfSync', revision: R }));
  api.windows = { assignedWindows: [DENY], activeWindows: [DENY], canSync: false };
  const prior = api.onSync;
  api.onSync = (name, options) => {
    if (!api.windows.canSync) {
      throw new ArgoCdApiError(
        `sync application ${name}: cannot sync: blocked by sync window`,
        403,
        'cannot sync: blocked by sync window',
        7,
        { code: 'argocd-error' },
      );
    }
    prior(name, options);
    clock.at(clock.now() + 2_000, () => api.update(name, (a) => finished(a, R, 'Succeeded')));
  };
  const run = () =>
    clock.run(
      syncAndWait(api, {
        app: 'shop',
        revision: R,
        children: false,
        timeoutMs,
        clock,
        random: () => 0.5,
        pollIntervalMs: 10_000,
        waitForWindow,
      }),
    );
  return { clock, api, run };
}

describe('sync windows', () => {
  it('fails at once with exit 8, naming the active deny window', async () => {
    const { run } = setup(false);
    const error = await caught(run());
    expect((error as StackswapError).code).toBe('argocd-error');
    expect(exitCodeOf(error)).toBe(8);
    expect((error as Error).message).toBe(
      'app shop: Argo CD refuses to sync now (cannot sync: blocked by sync window): deny window "0 22 * * *" (10h) is active',
    );
    expect((error as StackswapError).hint).toMatch(/--wait-for-window/);
  });

  it('outside an allow window, the message says so', async () => {
    const { api, run } = setup(false);
    const allow = { kind: 'allow', schedule: '0 6 * * 1-5', duration: '12h' };
    api.windows = { assignedWindows: [allow], canSync: false };
    expect((await caught(run())).message).toMatch(
      /: outside the allow window "0 6 \* \* 1-5" \(12h\)$/,
    );
  });

  it('waitForWindow: reads the windows every poll interval and syncs once they open', async () => {
    const { clock, api, run } = setup(true);
    clock.at(35_000, () => (api.windows = { assignedWindows: [DENY], canSync: true }));
    const result = await run();
    expect(result.health).toBe('Healthy');
    expect(api.calls.filter((c) => c.startsWith('sync'))).toEqual(['sync shop', 'sync shop']);
    // Read at 0, 10, 20, 30 and 40 s: the sync went through at 40 s, live 2 s later.
    expect(api.windowReads).toBe(5);
    expect(result.durationMs).toBe(42_000);
  });

  it('waitForWindow: a window still closed at the timeout is a TimeoutError naming it', async () => {
    const { run } = setup(true, 60_000);
    const error = await caught(run());
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(
      /deny window "0 22 \* \* \*" \(10h\) is active; still closed after 60s$/,
    );
  });
});
