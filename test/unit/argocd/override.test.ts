/**
 * The `override` permission (argocd-cm application.sync.requireOverridePrivilegeForRevisionSync):
 * R as the head of targetRevision is synced without pinning and the resolved revision checked;
 * a pinned sync refused for want of `override` falls back to that; otherwise the error names
 * the permission and the setting. A head that moved meanwhile is waited out and checked again.
 */
import { describe, expect, it } from 'vitest';
import { ArgoCdApiError } from '../../../src/argocd/errors.ts';
import type { ArgoProgressEvent } from '../../../src/argocd/progress.ts';
import { syncAndWait } from '../../../src/argocd/wait.ts';
import { StackswapError, exitCodeOf } from '../../../src/shared/errors.ts';
import { MemoryArgo, PREV, R, appJson, finished } from './memory-argo.ts';
import { VirtualClock } from './virtual-clock.ts';
import { caught } from './helpers.ts';

const NEWER = '2'.repeat(40);
const overrideRefusal = () =>
  new ArgoCdApiError(
    'sync application shop: permission denied by Argo CD: applications, override, default/shop',
    403,
    'permission denied: applications, override, default/shop, sub: promoter, iat: 2024-01-01T00:00:00Z',
    7,
    { code: 'forbidden' },
  );

function setup() {
  const clock = new VirtualClock();
  const api = new MemoryArgo();
  api.add(appJson('shop', { revision: PREV }));
  const events: ArgoProgressEvent[] = [];
  const prior = api.onSync;
  api.onSync = (name, options) => {
    if (options.revision) throw overrideRefusal();
    prior(name, options);
    const revision = api.apps.get(name)!.operation.sync.revision;
    clock.at(clock.now() + 3_000, () =>
      api.update(name, (a) => finished(a, revision, 'Succeeded')),
    );
  };
  const run = () =>
    clock.run(
      syncAndWait(api, {
        app: 'shop',
        revision: R,
        children: false,
        timeoutMs: 600_000,
        clock,
        random: () => 0.5,
        operationId: 'op-1',
        onProgress: (e) => events.push(e),
      }),
    );
  return { clock, api, events, run };
}

describe('the override permission', () => {
  it('a pinned sync refused for want of override: R is the head after all, so it syncs that and says so', async () => {
    const { api, events, run } = setup();
    let refreshes = 0;
    // The first refresh does not see the push yet (e.g. the repo-server's ref cache); the second does.
    api.onRefresh = (name) => {
      refreshes += 1;
      if (refreshes >= 2)
        api.update(name, (a) => (a.status.sync = { status: 'OutOfSync', revision: R }));
    };
    const result = await run();
    expect(result.revision).toBe(R);
    expect(api.calls.filter((c) => c.startsWith('sync'))).toEqual(['sync shop 1111', 'sync shop']);
    expect(events.find((e) => e.type === 'override-fallback')).toMatchObject({
      reason: expect.stringMatching(
        /refused to sync a pinned revision \(permission denied: applications, override, default\/shop.*\); 111111111111 is the head of the app's targetRevision, so syncing that instead/,
      ),
    });
  });

  it('refused for want of override and R is not the head: the error names the permission and the setting', async () => {
    const { api, run } = setup();
    api.head = NEWER;
    api.onRefresh = (name) =>
      api.update(name, (a) => (a.status.sync = { status: 'OutOfSync', revision: NEWER }));
    const error = await caught(run());
    expect(error).toBeInstanceOf(StackswapError);
    expect((error as StackswapError).code).toBe('forbidden');
    expect(exitCodeOf(error)).toBe(5);
    expect((error as Error).message).toBe(
      'app shop: Argo CD refused to sync revision 111111111111: the token lacks the permission `applications, override, default/shop`, needed to sync a revision other than the app\'s targetRevision because argocd-cm sets application.sync.requireOverridePrivilegeForRevisionSync: "true"; and 111111111111 is not the head of the targetRevision (Argo CD sees 222222222222), so a plain sync would apply something else',
    );
  });

  it('the head moved between refresh and sync: waits for that operation, then syncs R pinned', async () => {
    const { clock, api, events, run } = setup();
    api.onRefresh = (name) =>
      api.update(name, (a) => (a.status.sync = { status: 'OutOfSync', revision: api.head }));
    const prior = api.onSync;
    api.onSync = (name, options) => {
      if (!options.revision) {
        api.head = NEWER; // someone pushed just before our POST
        return prior(name, options);
      }
      // Pinning is allowed on this install: R applied.
      api.update(name, (a) => {
        a.operation = {
          sync: { revision: R },
          initiatedBy: { username: 'promoter' },
          info: options.infos,
        };
        delete a.status.operationState;
      });
      clock.at(clock.now() + 3_000, () =>
        api.update(name, (a) => {
          finished(a, R, 'Succeeded');
          a.status.sync = { status: 'Synced', revision: R };
        }),
      );
    };
    const result = await run();
    expect(result.revision).toBe(R);
    expect(api.calls.filter((c) => c.startsWith('sync'))).toEqual(['sync shop', 'sync shop 1111']);
    expect(events.find((e) => e.type === 'head-moved')).toMatchObject({ operationRevision: NEWER });
  });
});
