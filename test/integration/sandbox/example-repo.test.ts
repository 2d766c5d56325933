/**
 * The project's own example config repo (stackswap.yaml, charts/, apps/, argo/, releases/ at the
 * project root), seeded into a bare repo and served by the stand-in: every Application renders
 * with real helm, syncs, and ends Healthy, and the VirtualService sends traffic to the live
 * colour. Skipped while the example is not there.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startArgoCdStandIn, type StandIn } from '../../../src/sandbox/argocd/server.ts';
import { seedSandboxRepo } from '../../../src/sandbox/seed.ts';
import { ManualClock } from './helpers/manual-clock.ts';

const projectRoot = fileURLToPath(new URL('../../..', import.meta.url));
const hasExample = existsSync(path.join(projectRoot, 'argo', 'root.yaml'));

let standIn: StandIn | undefined;
let dir: string | undefined;

afterAll(async () => {
  await standIn?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasExample)('the example config repo', () => {
  it('syncs every app and ends Healthy, routing to the live colour', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stackswap-example-'));
    const seeded = await seedSandboxRepo({
      sourceDir: projectRoot,
      bareRepoPath: path.join(dir, 'config.git'),
    });
    expect(seeded.files).toContain('argo/root.yaml');
    expect(seeded.files.some((f) => f.startsWith('src/') || f.endsWith('.tgz'))).toBe(false);

    const clock = new ManualClock();
    standIn = await startArgoCdStandIn({
      repoPath: seeded.bareRepoPath,
      clock,
      progressingMs: 100,
      pollIntervalMs: 0,
      initialSync: 'all',
    });
    await standIn.idle();
    clock.advance(100);
    for (const app of standIn.apps()) {
      expect({
        name: app.metadata.name,
        conditions: app.status.conditions,
        message: app.status.operationState?.message,
      }).toMatchObject({ conditions: undefined, message: 'successfully synced (all tasks run)' });
      expect(`${app.metadata.name}:${app.status.sync.status}:${app.status.health.status}`).toBe(
        `${app.metadata.name}:Synced:Healthy`,
      );
      expect(app.status.sync.revision).toBe(seeded.commit);
    }
    const names = standIn.apps().map((a) => a.metadata.name);
    expect(names).toEqual(
      expect.arrayContaining(['root', 'ingress', 'my-app-blue', 'my-app-green']),
    );

    const blueDeployments = standIn
      .appliedObjects('my-app-blue')
      .filter((o) => o.kind === 'Deployment')
      .map((o) => o.metadata.name);
    expect(blueDeployments.length).toBeGreaterThan(0);
    // CreateNamespace=true with managedNamespaceMetadata: the Namespace is a managed resource.
    const green = standIn.app('my-app-green')!;
    expect(green.status.resources?.find((r) => r.kind === 'Namespace')).toEqual({
      version: 'v1',
      kind: 'Namespace',
      name: 'my-app-green',
      status: 'Synced',
    });
    const namespace = standIn
      .appliedObjects()
      .find((o) => o.kind === 'Namespace' && o.metadata.name === 'my-app-green');
    expect(namespace?.metadata.labels).toMatchObject({ 'istio-injection': 'enabled' });
    const virtualServices = standIn.appliedObjects().filter((o) => o.kind === 'VirtualService');
    expect(virtualServices.length).toBeGreaterThan(0);
    expect(JSON.stringify(virtualServices)).toContain('my-app-blue.svc.cluster.local');
  });
});
