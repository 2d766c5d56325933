/**
 * The PostgreSQL outbox (several replicas) against a real PostgreSQL: dedup by key across
 * replicas, a replica owning its rows while its lease holds, another replica taking over the
 * pending rows of one whose lease ran out, and a notifier restarted on the database resuming
 * the undelivered notifications in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/shared/redact.ts';
import type { NotificationTarget } from '../../../src/config/notifications-config.ts';
import { newEntry } from '../../../src/notify/outbox.ts';
import { Notifier } from '../../../src/notify/notifier.ts';
import { PostgresOutbox } from '../../../src/server/store/notification-outbox.ts';
import { startPostgres, type PostgresServer } from '../server/postgres.ts';
import { InstantClock, ManualClock, startReceiver, stackEvent, until } from './helpers.ts';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const target: NotificationTarget = {
  name: 'team-slack',
  kind: 'slack',
  urlEnv: 'STACKSWAP_NOTIFY_SLACK_URL',
  on: ['*'],
};

describe('postgres outbox', () => {
  it('dedups across replicas; a replica keeps its rows while its lease holds; a dead one is taken over', async () => {
    // Replica A holds leases of 0 s: as if its lease ran out (it died).
    const a = new PostgresOutbox({ url: server.url, replica: 'a', leaseMs: 0 });
    const b = new PostgresOutbox({ url: server.url, replica: 'b' });
    const c = new PostgresOutbox({ url: server.url, replica: 'c' });
    try {
      const e1 = stackEvent({ type: 'swap.finished', operationId: 'op-pg-1' });
      const e2 = stackEvent({ type: 'revert.finished', operationId: 'op-pg-1' });
      const entries = [newEntry(e1, target, 1000), newEntry(e2, target, 1001)];
      expect((await a.add(entries)).map((e) => e.key)).toEqual(entries.map((e) => e.key));
      // The same event offered by another replica is not added again.
      expect(await b.add([entries[0]!])).toEqual([]);
      // A's lease is gone: B takes both over, in order; C then finds nothing (B's lease holds).
      expect((await b.pending()).map((e) => e.event.id)).toEqual([e1.id, e2.id]);
      expect(await c.pending()).toEqual([]);
      await b.update(entries[0]!.key, {
        state: 'failed',
        attempts: 1,
        nextAttemptAt: 1000,
        lastError: 'HTTP 404: no_service',
        settledAt: 2000,
      });
      expect((await b.pending()).map((e) => e.event.id)).toEqual([e2.id]);
      const all = await c.byOperation('op-pg-1');
      expect(all.map((e) => [e.event.id, e.state, e.attempts, e.lastError])).toEqual([
        [e1.id, 'failed', 1, 'HTTP 404: no_service'],
        [e2.id, 'pending', 0, undefined],
      ]);
      expect(all[1]!.event).toEqual(e2);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it('a notifier restarted on the database delivers what was pending, in order', async () => {
    const clock = new ManualClock();
    const r = await startReceiver({
      answers: [{ status: 503, headers: { 'retry-after': '600' } }],
    });
    const env = { STACKSWAP_NOTIFY_SLACK_URL: `${r.url}/services/T/B/pg` };
    try {
      const first = new PostgresOutbox({ url: server.url, replica: 'r1' });
      const n1 = new Notifier({ store: first, env, redactor: new Redactor(), clock });
      const e1 = stackEvent({ type: 'deploy.finished', operationId: 'op-pg-2' });
      const e2 = stackEvent({ type: 'swap.finished', operationId: 'op-pg-2' });
      await n1.publish(e1, [target]);
      await n1.publish(e2, [target]);
      await until(() => r.received.length === 1 && clock.waiting === 1, 'the 503');
      await n1.close();
      await first.close();

      r.answer({ status: 200 });
      const second = new PostgresOutbox({ url: server.url, replica: 'r1' });
      const n2 = new Notifier({
        store: second,
        env,
        redactor: new Redactor(),
        clock: new InstantClock(clock.now() + 600_000),
      });
      expect(await n2.start()).toBe(2);
      await n2.drain(10_000);
      await n2.close();
      expect(r.received.map((x) => [x.deliveryId, x.status])).toEqual([
        [e1.id, 503],
        [e1.id, 200],
        [e2.id, 200],
      ]);
      const rows = await second.byOperation('op-pg-2');
      expect(rows.map((e) => [e.state, e.attempts])).toEqual([
        ['delivered', 2],
        ['delivered', 1],
      ]);
      await second.close();
    } finally {
      await r.close();
    }
  });
});
