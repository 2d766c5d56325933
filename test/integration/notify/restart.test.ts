/**
 * The file outbox across a restart: deliveries that were pending when the process stopped are
 * resumed, in order, with their attempt counts; delivered ones are not sent again (even when
 * the same event is offered again); a torn last line is dropped.
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/shared/redact.ts';
import type { NotificationTarget } from '../../../src/config/notifications-config.ts';
import { FileOutbox, OUTBOX_FILE } from '../../../src/notify/file-outbox.ts';
import { Notifier } from '../../../src/notify/notifier.ts';
import { InstantClock, ManualClock, startReceiver, stackEvent, until } from './helpers.ts';

const SECRET = 'restart-secret-0123456789';
const target: NotificationTarget = {
  name: 'audit',
  kind: 'webhook',
  urlEnv: 'STACKSWAP_NOTIFY_AUDIT_URL',
  secretEnv: 'STACKSWAP_NOTIFY_AUDIT_SECRET',
  on: ['*'],
};
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('file outbox', () => {
  it('a restart resumes undelivered notifications in order and does not resend delivered ones', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stackswap-outbox-'));
    dirs.push(dir);
    const clock = new ManualClock();
    const r = await startReceiver({
      secret: SECRET,
      nowSeconds: () => Math.floor(clock.now() / 1000),
      answers: [{ status: 200 }, { status: 503, headers: { 'retry-after': '120' } }],
    });
    const env = {
      STACKSWAP_NOTIFY_AUDIT_URL: `${r.url}/hook`,
      STACKSWAP_NOTIFY_AUDIT_SECRET: SECRET,
    };
    try {
      // First life: e0 is delivered, e1 is answered 503 (retry in 120 s), e2 queues behind it.
      const first = await FileOutbox.open(dir);
      const n1 = new Notifier({ store: first.outbox, env, redactor: new Redactor(), clock });
      const [e0, e1, e2] = [
        stackEvent({ type: 'deploy.finished' }),
        stackEvent({ type: 'traffic.step', data: { weight: 10 } }),
        stackEvent({ type: 'swap.finished' }),
      ];
      await n1.publish(e0, [target]);
      await n1.publish(e1, [target]);
      await n1.publish(e2, [target]);
      await until(() => r.received.length === 2 && clock.waiting === 1, 'the 503 on e1');
      // The process stops (SIGTERM): the retry wait is cut, nothing more is sent.
      await n1.close();
      await first.outbox.close();
      expect(r.received.map((x) => x.deliveryId)).toEqual([e0.id, e1.id]);

      // Second life: the receiver is healthy now.
      r.answer({ status: 200 });
      clock.advance(120_000);
      const second = await FileOutbox.open(dir);
      expect(second.load).toMatchObject({ entries: 3, pending: 2 });
      const pending = await second.outbox.pending();
      expect(pending.map((e) => [e.event.id, e.attempts])).toEqual([
        [e1.id, 1],
        [e2.id, 0],
      ]);
      const n2 = new Notifier({
        store: second.outbox,
        env,
        redactor: new Redactor(),
        clock: new InstantClock(clock.now()),
      });
      expect(await n2.start()).toBe(2);
      await n2.publish(e0, [target]); // delivered in the first life: not again
      await n2.drain(10_000);
      await n2.close();
      expect(r.received.map((x) => x.deliveryId)).toEqual([e0.id, e1.id, e1.id, e2.id]);
      expect(r.received.every((x) => x.signatureOk)).toBe(true);
      const settled = await second.outbox.byOperation(e1.operationId);
      expect(settled.map((e) => [e.event.id, e.state, e.attempts])).toEqual([
        [e0.id, 'delivered', 1],
        [e1.id, 'delivered', 2],
        [e2.id, 'delivered', 1],
      ]);
      await second.outbox.close();
      // Nothing secret on disk: the file names the variables, not their values.
      const text = await readFile(path.join(dir, OUTBOX_FILE), 'utf8');
      expect(text).toContain('STACKSWAP_NOTIFY_AUDIT_URL');
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(r.url);
    } finally {
      await r.close();
    }
  });

  it('a torn last line (a crash mid-write) is dropped and the file stays appendable', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stackswap-outbox-'));
    dirs.push(dir);
    const first = await FileOutbox.open(dir);
    const event = stackEvent({ type: 'swap.finished' });
    await first.outbox.add([
      {
        key: `${event.id}>audit`,
        stack: event.stack,
        operationId: event.operationId,
        target: { ...target, on: ['*'] },
        event,
        state: 'pending',
        attempts: 0,
        nextAttemptAt: 0,
        createdAt: 0,
      },
    ]);
    await first.outbox.close();
    await appendFile(path.join(dir, OUTBOX_FILE), '{"t":"update","key":"x","sta');
    const second = await FileOutbox.open(dir);
    expect(second.load).toMatchObject({ tornTail: true, pending: 1, compacted: true });
    await second.outbox.update(`${event.id}>audit`, {
      state: 'delivered',
      attempts: 1,
      nextAttemptAt: 0,
    });
    await second.outbox.close();
    const third = await FileOutbox.open(dir);
    expect(third.load).toMatchObject({ tornTail: false, skippedLines: 0, pending: 0, entries: 1 });
    await third.outbox.close();
  });
});
