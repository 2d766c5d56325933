/**
 * Reading a broken release from Argo CD's resource tree: which pods count (the newest
 * ReplicaSet of each Deployment), which states are failures, and how the wait acts on them
 * while Argo CD itself still says Progressing.
 */
import { describe, expect, it } from 'vitest';
import { describePodProblem, failingPods } from '../../../src/argocd/pods.ts';
import { ApplicationTree } from '../../../src/argocd/schema.ts';
import { waitForApp } from '../../../src/argocd/wait.ts';
import type { ArgoProgressEvent } from '../../../src/argocd/progress.ts';
import { StackswapError } from '../../../src/shared/errors.ts';
import { MemoryArgo, R, appJson, finished } from './memory-argo.ts';
import { VirtualClock } from './virtual-clock.ts';
import { caught } from './helpers.ts';
import type { Json } from './fake-argocd.ts';

const deployment = {
  group: 'apps',
  version: 'v1',
  kind: 'Deployment',
  namespace: 'shop',
  name: 'web',
  uid: 'd1',
};
const rs = (name: string, revision: number, uid: string) => ({
  group: 'apps',
  kind: 'ReplicaSet',
  namespace: 'shop',
  name,
  uid,
  parentRefs: [{ group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web', uid: 'd1' }],
  info: [{ name: 'Revision', value: `Rev:${revision}` }],
});
const pod = (
  name: string,
  rsUid: string,
  reason: string,
  o: { restarts?: number; health?: string; message?: string } = {},
) => ({
  version: 'v1',
  kind: 'Pod',
  namespace: 'shop',
  name,
  uid: `uid-${name}`,
  parentRefs: [{ group: 'apps', kind: 'ReplicaSet', namespace: 'shop', name: 'rs', uid: rsUid }],
  info: [
    ...(o.restarts ? [{ name: 'Restart Count', value: String(o.restarts) }] : []),
    { name: 'Status Reason', value: reason },
    { name: 'Containers', value: '0/1' },
  ],
  health: { status: o.health ?? 'Degraded', ...(o.message ? { message: o.message } : {}) },
});
const tree = (...nodes: Json[]) => ApplicationTree.parse({ nodes: [deployment, ...nodes] });

describe('failingPods', () => {
  it('reports CrashLoopBackOff, ImagePullBackOff and ErrImagePull pods of the newest ReplicaSet only', () => {
    const problems = failingPods(
      tree(
        rs('web-old', 1, 'rs1'),
        rs('web-new', 2, 'rs2'),
        pod('old-1', 'rs1', 'CrashLoopBackOff', { restarts: 9 }), // the release being replaced
        pod('new-1', 'rs2', 'CrashLoopBackOff', {
          restarts: 2,
          message: 'back-off 20s restarting failed container=web pod=new-1_shop(x)',
        }),
        pod('new-2', 'rs2', 'ImagePullBackOff', { message: 'Back-off pulling image "web:9"' }),
        pod('new-3', 'rs2', 'ErrImagePull'),
        pod('new-4', 'rs2', 'Running', { health: 'Healthy' }),
        pod('new-5', 'rs2', 'ContainerCreating', { health: 'Progressing' }),
      ),
    );
    expect(problems.map((p) => [p.pod, p.kind, p.reason])).toEqual([
      ['new-1', 'crash-loop', 'CrashLoopBackOff'],
      ['new-2', 'image-pull', 'ImagePullBackOff'],
      ['new-3', 'image-pull', 'ErrImagePull'],
    ]);
    expect(describePodProblem(problems[0]!)).toBe(
      'pod shop/new-1 of Deployment web CrashLoopBackOff (2 restarts): back-off 20s restarting failed container=web pod=new-1_shop(x)',
    );
  });

  it('counts a pod restarting repeatedly between back-offs, but not one that restarted once and is Healthy', () => {
    const problems = failingPods(
      tree(
        rs('web-new', 3, 'rs3'),
        pod('a', 'rs3', 'Running', { restarts: 3, health: 'Progressing' }),
        pod('b', 'rs3', 'Running', { restarts: 1, health: 'Healthy' }),
        pod('c', 'rs3', 'Running', { restarts: 5, health: 'Healthy' }),
      ),
    );
    expect(problems.map((p) => [p.pod, p.kind])).toEqual([['a', 'restarting']]);
  });
});

describe('the wait reads the pods', () => {
  const crashing = () =>
    tree(
      rs('web-new', 2, 'rs2'),
      pod('web-new-x', 'rs2', 'CrashLoopBackOff', {
        restarts: 1,
        message: 'back-off 10s restarting failed container=web pod=web-new-x_shop(u)',
      }),
    );

  function setup(treeAfterMs: number, crashGraceMs = 30_000) {
    const clock = new VirtualClock();
    const api = new MemoryArgo();
    const app = appJson('shop', { revision: R, health: 'Progressing' });
    finished(app, R, 'Succeeded', { health: 'Progressing' });
    api.add(app);
    api.trees.set('shop', () =>
      clock.now() >= treeAfterMs ? crashing() : tree(rs('web-new', 2, 'rs2')),
    );
    const events: ArgoProgressEvent[] = [];
    const wait = waitForApp(api, {
      app: 'shop',
      revision: R,
      timeoutMs: 600_000,
      clock,
      crashGraceMs,
      podCheckIntervalMs: 5_000,
      pollIntervalMs: 10_000,
      random: () => 0.5,
      onProgress: (e) => events.push(e),
    });
    return { clock, api, events, wait };
  }

  it('fails with the pod, its reason and message once the crash outlasts the grace, while Argo CD says Progressing', async () => {
    const { clock, events, wait } = setup(12_000);
    const error = await caught(clock.run(wait));
    expect(error).toBeInstanceOf(StackswapError);
    expect((error as StackswapError).code).toBe('degraded');
    // First seen failing at the 15 s check; 30 s of grace: failed at the 45 s check.
    expect(clock.now()).toBe(45_000);
    expect((error as Error).message).toBe(
      'app shop: pod shop/web-new-x of Deployment web CrashLoopBackOff (1 restart): back-off 10s restarting failed container=web pod=web-new-x_shop(u), for 30s at 111111111111; Argo CD still says Progressing (it says Degraded only after the progress deadline)',
    );
    expect((error as StackswapError).hint).toMatch(/kubectl -n shop logs web-new-x --previous/);
    expect(events.filter((e) => e.type === 'pods')).toHaveLength(1);
  });

  it('a crash that clears within the grace is waited out, and the wait ends when the app is Healthy', async () => {
    const { clock, api, wait } = setup(12_000);
    clock.at(30_000, () => api.trees.set('shop', tree(rs('web-new', 2, 'rs2'))));
    clock.at(50_000, () => api.update('shop', (a) => (a.status.health = { status: 'Healthy' })));
    const result = await clock.run(wait);
    expect(result.health).toBe('Healthy');
    expect(result.durationMs).toBe(50_000);
  });

  it('--crash-grace 0 turns the pod check off (the tree is never read)', async () => {
    const { clock, api, wait } = setup(0, 0);
    clock.at(100_000, () => api.update('shop', (a) => (a.status.health = { status: 'Healthy' })));
    await clock.run(wait);
    expect(api.treeReads).toBe(0);
  });
});
