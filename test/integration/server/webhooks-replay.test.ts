/**
 * Delivery ids and the per-stack queue:
 *
 * - a redelivery is a duplicate across a restart (file journal) and across replicas
 *   (PostgreSQL), and a released id (work never started) is accepted again;
 * - the processor's queue: a task for a busy stack (409 from the manager) waits for the running
 *   operation to end and starts then, and tasks of one stack run in arrival order.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Forge } from '../../../src/forges/forge.ts';
import type { MergeRequestEvent } from '../../../src/forges/webhooks.ts';
import { ApiError } from '../../../src/server/errors.ts';
import type { OperationEvent, StartInput } from '../../../src/server/operations/manager.ts';
import { FileDeliveryStore } from '../../../src/server/webhooks/deliveries.ts';
import { WebhookProcessor } from '../../../src/server/webhooks/processor.ts';
import { parseStructuralConfig } from '../../../src/core/config-file.ts';
import { configRepoFiles, git, seedBareRepo } from '../../helpers/config-repo.ts';
import { FakeGitlab } from '../../helpers/fake-forge/index.ts';
import { bearer, gitOnlyService, tempDir } from './helpers.ts';
import { startPostgres, type PostgresServer } from './postgres.ts';
import {
  FORGE_TOKEN,
  GITLAB_SECRET,
  PROJECT,
  planFile,
  pushBranch,
  squashMerge,
} from './webhooks-helpers.ts';

const body = readFileSync(
  path.join(import.meta.dirname, '../../fixtures/webhooks/gitlab-merge-request.merge.json'),
);
const headers = (id: string) => ({
  'content-type': 'application/json',
  'x-gitlab-event': 'Merge Request Hook',
  'x-gitlab-token': GITLAB_SECRET,
  'x-gitlab-event-uuid': id,
});
const env = { STACKSWAP_GITLAB_WEBHOOK_SECRET: GITLAB_SECRET, STACKSWAP_FORGE_PROJECT: PROJECT };

describe('delivery ids', () => {
  it('file journal: a redelivery after a restart is a duplicate; a released id is accepted again', async () => {
    const dataDir = tempDir('data');
    const first = await gitOnlyService({ dataDir, env });
    const id = crypto.randomUUID();
    const a = await first.app.inject({
      method: 'POST',
      url: '/v1/webhooks/gitlab',
      headers: headers(id),
      payload: body,
    });
    expect(a.statusCode).toBe(202);
    await first.close();
    const second = await gitOnlyService({ dataDir, bare: first.bare, env });
    const b = await second.app.inject({
      method: 'POST',
      url: '/v1/webhooks/gitlab',
      headers: headers(id),
      payload: body,
    });
    expect(b.statusCode).toBe(200);
    expect(b.json()).toEqual({ status: 'duplicate', deliveryId: id });
    await second.close();

    const store = await FileDeliveryStore.open(dataDir);
    expect(await store.claim('gitlab', id)).toBe(false);
    await store.release('gitlab', id);
    expect(await store.claim('gitlab', id)).toBe(true);
    await store.close();
    const reopened = await FileDeliveryStore.open(dataDir);
    expect(await reopened.claim('gitlab', id)).toBe(false);
    await reopened.close();
  });

  describe('PostgreSQL, two replicas', () => {
    let server: PostgresServer;
    beforeAll(async () => {
      server = await startPostgres();
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('a delivery accepted by one replica is a duplicate on the other', async () => {
      const one = await gitOnlyService({ env: { ...env, STACKSWAP_DATABASE_URL: server.url } });
      const two = await gitOnlyService({
        bare: one.bare,
        env: { ...env, STACKSWAP_DATABASE_URL: server.url },
      });
      try {
        const id = crypto.randomUUID();
        const answers = await Promise.all(
          [one, two].map((s) =>
            s.app.inject({
              method: 'POST',
              url: '/v1/webhooks/gitlab',
              headers: headers(id),
              payload: body,
            }),
          ),
        );
        expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 202]);
        const again = await one.app.inject({
          method: 'POST',
          url: '/v1/webhooks/gitlab',
          headers: headers(id),
          payload: body,
        });
        expect(again.json().status).toBe('duplicate');
      } finally {
        await one.close();
        await two.close();
      }
    });
  });
});

describe('a restart between the 202 and the work', () => {
  it('takes the accepted delivery up again: the merge is deployed, then it is no longer pending', async () => {
    const { bare } = seedBareRepo(configRepoFiles([{ name: 'cart' }]));
    const gitlab = await new FakeGitlab({
      tokens: [FORGE_TOKEN],
      gitDir: bare,
      project: PROJECT,
    }).start();
    const dataDir = tempDir('data');
    try {
      pushBranch(bare, 'bump', { 'releases/cart.yaml': planFile('cart', '2.5.0') });
      const mr = await gitlab.addMergeRequest({ sourceBranch: 'bump' });
      await squashMerge({ gitlab: gitlab.apiUrl }, mr.iid);
      // What the receiver recorded before the process stopped: the delivery and its event.
      const event = {
        ...event0(mr.iid),
        deliveryId: 'before-restart',
        mergedSha: git(bare, 'rev-parse', 'main'),
      };
      const store = await FileDeliveryStore.open(dataDir);
      expect(await store.claim('gitlab', 'before-restart', event)).toBe(true);
      await store.close();

      const svc = await gitOnlyService({
        bare,
        dataDir,
        env: {
          ...env,
          STACKSWAP_GITLAB_URL: gitlab.url,
          STACKSWAP_GITLAB_TOKEN: FORGE_TOKEN,
        },
      });
      try {
        await svc.service.webhooks.idle();
        const res = await svc.app.inject({ url: '/v1/operations', headers: bearer('read') });
        const ops = (res.json() as { operations: Array<Record<string, unknown>> }).operations;
        expect(ops).toHaveLength(1);
        expect(ops[0]).toMatchObject({ kind: 'deploy', stack: 'cart', state: 'succeeded' });
        expect(git(bare, 'show', 'main:apps/cart/values-green.yaml')).toContain('2.5.0');
        expect(gitlab.notesOf(mr.iid).some((n) => n.body.includes('stackswap:merge:cart'))).toBe(
          true,
        );
        expect(svc.logs.text).toContain('taken up again');
      } finally {
        await svc.close();
      }
      const reopened = await FileDeliveryStore.open(dataDir);
      expect(await reopened.pending()).toEqual([]);
      expect(await reopened.claim('gitlab', 'before-restart')).toBe(false);
      await reopened.close();
    } finally {
      await gitlab.stop();
    }
  });
});

function event0(n: number): MergeRequestEvent {
  return {
    forge: 'gitlab',
    deliveryId: `d-${n}`,
    event: 'Merge Request Hook',
    action: 'merge',
    kind: 'merged',
    project: PROJECT,
    projectId: 1,
    number: n,
    sourceBranch: `b-${n}`,
    targetBranch: 'main',
    headSha: 'a'.repeat(40),
    mergedSha: 'b'.repeat(40),
    mergedShaSource: 'merge_commit_sha',
    fork: false,
    draft: false,
    defaultBranch: 'main',
    url: undefined,
    changedFiles: undefined,
  };
}

describe('the per-stack queue', () => {
  const config = parseStructuralConfig(configRepoFiles([{ name: 'cart' }])['stackswap.yaml']!);
  const event = event0;

  it('a busy stack (409) is waited for, not dropped; tasks run in arrival order', async () => {
    const started: string[] = [];
    const listeners = new Map<string, (e: OperationEvent) => void>();
    let busy = true;
    const finish = (id: string) =>
      listeners.get(id)?.({
        seq: 9,
        type: 'result',
        data: { state: 'succeeded', result: { summary: id } },
      });
    const operations = {
      start: async (input: StartInput) => {
        if (busy) {
          throw new ApiError(409, 'stack-busy', 'busy', { operationId: 'chatops-deploy' });
        }
        const id = `op-${input.idempotency!.key}`;
        started.push(id);
        setTimeout(() => finish(id), 20);
        return { operation: { id } as never, replayed: false };
      },
      follow: async (id: string, _after: number, listener: (e: OperationEvent) => void) => {
        listeners.set(id, listener);
        return () => listeners.delete(id);
      },
      get: async () => undefined,
    };
    const comments: string[] = [];
    const forge = {
      name: 'gitlab',
      listChangedFiles: async () => ['releases/cart.yaml'],
      syncComments: async (_p: string, n: number, _k: string, bodies: readonly string[]) => {
        comments.push(`${n}: ${bodies[0]!.split('\n')[2]}`);
        return { ids: ['1'], created: 0, updated: 1, unchanged: 0, deleted: 0 };
      },
    } as unknown as Forge;
    const logs: string[] = [];
    const logger = {
      info: (_o: object, m: string) => logs.push(m),
      warn: (_o: object, m: string) => logs.push(m),
      error: (_o: object, m: string) => logs.push(m),
    };
    const processor = new WebhookProcessor({
      forges: { gitlab: forge },
      operations: operations as never,
      config: async () => config,
      publicUrl: undefined,
      logger,
    });
    processor.submit(event(1), async () => {});
    processor.submit(event(2), async () => {});
    // Both wait behind the chat-ops deploy; it ends: the first MR's deploy starts, then the second.
    await new Promise((r) => setTimeout(r, 100));
    expect(started).toEqual([]);
    expect(logs).toContain('stack busy: the webhook task waits for the running operation');
    busy = false;
    finish('chatops-deploy');
    await processor.idle();
    expect(started).toEqual(['op-gitlab:d-1:cart:deploy', 'op-gitlab:d-2:cart:deploy']);
    const last = (n: number) => comments.filter((c) => c.startsWith(`${n}:`)).at(-1);
    expect(last(1)).toContain('✅ done');
    expect(last(2)).toContain('✅ done');
  });
});
