/**
 * Notification delivery against real local HTTP receivers: signatures checked on the receiving
 * side, retries with backoff and Retry-After, permanent 404, dedup by event id, ordering per
 * stack, and nothing secret in what is recorded. Time is a manual or instant clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/shared/redact.ts';
import { StackEvent } from '../../../src/shared/events.ts';
import type { NotificationTarget } from '../../../src/config/notifications-config.ts';
import { MemoryOutbox } from '../../../src/notify/outbox.ts';
import { Notifier } from '../../../src/notify/notifier.ts';
import {
  InstantClock,
  ManualClock,
  startReceiver,
  stackEvent,
  until,
  type Receiver,
} from './helpers.ts';

const SECRET = 'whsec-test-0123456789abcdef';
const receivers: Receiver[] = [];
const notifiers: Notifier[] = [];
afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

const webhook: NotificationTarget = {
  name: 'audit',
  kind: 'webhook',
  urlEnv: 'STACKSWAP_NOTIFY_AUDIT_URL',
  secretEnv: 'STACKSWAP_NOTIFY_AUDIT_SECRET',
  on: ['*'],
};
const slack: NotificationTarget = {
  name: 'team-slack',
  kind: 'slack',
  urlEnv: 'STACKSWAP_NOTIFY_SLACK_URL',
  on: ['swap.finished', 'revert.finished', 'operation.failed'],
};

async function receiver(options: Parameters<typeof startReceiver>[0] = {}) {
  const r = await startReceiver(options);
  receivers.push(r);
  return r;
}

function notifier(
  env: Record<string, string>,
  clock: { now(): number; sleep(ms: number, s: AbortSignal): Promise<void> },
  extra: Partial<ConstructorParameters<typeof Notifier>[0]> = {},
) {
  const n = new Notifier({
    store: new MemoryOutbox(),
    env,
    redactor: new Redactor(),
    clock,
    random: () => 0.5,
    ...extra,
  });
  notifiers.push(n);
  return n;
}

describe('generic webhooks', () => {
  it('posts the StackEvent itself, signed; the receiver verifies it with the shared secret', async () => {
    const clock = new InstantClock();
    const r = await receiver({ secret: SECRET, nowSeconds: () => Math.floor(clock.now() / 1000) });
    const n = notifier(
      { STACKSWAP_NOTIFY_AUDIT_URL: `${r.url}/hook`, STACKSWAP_NOTIFY_AUDIT_SECRET: SECRET },
      clock,
    );
    const event = stackEvent({ type: 'swap.finished' });
    await n.publish(event, [webhook]);
    await n.drain(10_000);
    expect(r.received).toHaveLength(1);
    const got = r.received[0]!;
    expect(got.signatureOk).toBe(true);
    expect(got.deliveryId).toBe(event.id);
    expect(got.headers['x-stackswap-event']).toBe('swap.finished');
    expect(StackEvent.parse(got.json)).toEqual(event);
  });

  it('a receiver holding another secret refuses it (401), and stackswap records that as failed', async () => {
    const clock = new InstantClock();
    const r = await receiver({
      secret: 'someone-elses-secret',
      enforceSignature: true,
      nowSeconds: () => Math.floor(clock.now() / 1000),
    });
    const settled: string[] = [];
    const n = notifier(
      { STACKSWAP_NOTIFY_AUDIT_URL: `${r.url}/hook`, STACKSWAP_NOTIFY_AUDIT_SECRET: SECRET },
      clock,
      { onSettled: (e) => settled.push(`${e.state}: ${e.lastError}`) },
    );
    await n.publish(stackEvent({ type: 'deploy.finished' }), [webhook]);
    await n.drain(10_000);
    expect(r.received.map((x) => x.signatureOk)).toEqual([false]);
    expect(settled).toEqual(['failed: HTTP 401: bad signature']);
  });

  it('a tampered body does not verify on the receiving side', async () => {
    const clock = new InstantClock();
    const r = await receiver({ secret: SECRET, nowSeconds: () => Math.floor(clock.now() / 1000) });
    const n = notifier(
      { STACKSWAP_NOTIFY_AUDIT_URL: `${r.url}/hook`, STACKSWAP_NOTIFY_AUDIT_SECRET: SECRET },
      clock,
    );
    await n.publish(stackEvent({ type: 'deploy.finished' }), [webhook]);
    await n.drain(10_000);
    const { verifyBodySignature } = await import('../../../src/shared/signed-post.ts');
    const got = r.received[0]!;
    const headers = {
      signature: got.headers['x-stackswap-signature-256'] as string,
      timestamp: got.headers['x-stackswap-timestamp'] as string,
    };
    const nowSeconds = Math.floor(clock.now() / 1000);
    expect(verifyBodySignature(SECRET, headers, got.body, { nowSeconds })).toBe(true);
    expect(
      verifyBodySignature(SECRET, headers, got.body.replace('alice', 'mallory'), { nowSeconds }),
    ).toBe(false);
    // A replay an hour later is refused by the timestamp.
    expect(verifyBodySignature(SECRET, headers, got.body, { nowSeconds: nowSeconds + 3600 })).toBe(
      false,
    );
  });
});

describe('retries', () => {
  it('5xx is retried with doubling backoff until delivered; every attempt carries the same delivery id', async () => {
    const clock = new InstantClock();
    const r = await receiver({
      answers: [{ status: 500 }, { status: 502 }, { status: 503 }, { status: 200 }],
    });
    const retries: number[] = [];
    const n = notifier({ STACKSWAP_NOTIFY_SLACK_URL: `${r.url}/services/T/B/x` }, clock, {
      onRetry: (_e, _why, delay) => retries.push(delay),
    });
    const event = stackEvent({ type: 'swap.finished' });
    await n.publish(event, [slack]);
    await n.drain(10_000);
    expect(r.received.map((x) => x.status)).toEqual([500, 502, 503, 200]);
    // random 0.5: 3/4 of 1 s, 2 s, 4 s.
    expect(retries).toEqual([750, 1500, 3000]);
    expect(clock.sleeps).toEqual([750, 1500, 3000]);
    expect(new Set(r.received.map((x) => x.deliveryId))).toEqual(new Set([event.id]));
    expect(n.settled.map((e) => [e.state, e.attempts])).toEqual([['delivered', 4]]);
  });

  it('Slack 429 waits exactly its Retry-After (seconds or an HTTP date)', async () => {
    const clock = new InstantClock();
    const later = new Date(clock.now() + 42_000).toUTCString();
    const r = await receiver({
      answers: [
        { status: 429, headers: { 'retry-after': '7' }, body: 'rate_limited' },
        { status: 429, headers: { 'retry-after': later }, body: 'rate_limited' },
        { status: 200, body: 'ok' },
      ],
    });
    const n = notifier({ STACKSWAP_NOTIFY_SLACK_URL: `${r.url}/services/T/B/x` }, clock);
    await n.publish(stackEvent({ type: 'swap.finished' }), [slack]);
    await n.drain(10_000);
    expect(r.received.map((x) => x.status)).toEqual([429, 429, 200]);
    // The second wait is measured from the clock after the first (7 s later).
    expect(clock.sleeps).toEqual([7000, 35_000]);
  });

  it('Slack 404 (a removed channel) is permanent: one attempt, recorded failed, the next event still goes', async () => {
    const clock = new InstantClock();
    const r = await receiver({
      answers: [
        { status: 404, body: 'no_service' },
        { status: 200, body: 'ok' },
      ],
    });
    const n = notifier({ STACKSWAP_NOTIFY_SLACK_URL: `${r.url}/services/T/B/x` }, clock);
    const first = stackEvent({ type: 'swap.finished' });
    const second = stackEvent({ type: 'revert.finished', reason: 'error rate 31%' });
    await n.publish(first, [slack]);
    await n.publish(second, [slack]);
    await n.drain(10_000);
    expect(r.received).toHaveLength(2);
    expect(clock.sleeps).toEqual([]);
    expect(n.settled.map((e) => [e.event.id, e.state, e.attempts, e.lastError])).toEqual([
      [first.id, 'failed', 1, 'HTTP 404: no_service (the webhook or its channel no longer exists)'],
      [second.id, 'delivered', 1, undefined],
    ]);
  });

  it('a receiver that keeps failing is given up after maxAttempts, with the last reason', async () => {
    const clock = new InstantClock();
    const r = await receiver({ answers: [{ status: 503, body: 'down for maintenance' }] });
    const n = notifier({ STACKSWAP_NOTIFY_SLACK_URL: `${r.url}/services/T/B/x` }, clock, {
      policy: { maxAttempts: 4 },
    });
    await n.publish(stackEvent({ type: 'operation.failed' }), [slack]);
    await n.drain(10_000);
    expect(r.received).toHaveLength(4);
    expect(n.settled[0]).toMatchObject({
      state: 'failed',
      attempts: 4,
      lastError: 'HTTP 503: down for maintenance (gave up after 4 attempts)',
    });
  });

  it('a connection refused is retried; a variable that is not set is permanent', async () => {
    const clock = new InstantClock();
    const r = await receiver();
    const url = `${r.url}/services/T/B/x`;
    await r.close();
    receivers.pop();
    const n = notifier({ STACKSWAP_NOTIFY_SLACK_URL: url }, clock, { policy: { maxAttempts: 2 } });
    await n.publish(stackEvent({ type: 'swap.finished' }), [slack, webhook]);
    await n.drain(10_000);
    const byTarget = Object.fromEntries(n.settled.map((e) => [e.target.name, e]));
    expect(byTarget['team-slack']).toMatchObject({ state: 'failed', attempts: 2 });
    expect(byTarget['team-slack']!.lastError).toMatch(/ECONNREFUSED/);
    expect(byTarget.audit).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: 'STACKSWAP_NOTIFY_AUDIT_URL is not set',
    });
  });

  it('what is recorded never holds the webhook URL (the Slack token in its path)', async () => {
    const clock = new InstantClock();
    const token = 'xoxb-SECRET-path-token-123456';
    // A receiver that echoes the path it was called on, as some proxies do.
    const r = await receiver({
      answers: [{ status: 400, body: `bad request to /services/T/B/${token}` }],
    });
    const n = notifier({ STACKSWAP_NOTIFY_SLACK_URL: `${r.url}/services/T/B/${token}` }, clock);
    await n.publish(stackEvent({ type: 'swap.finished' }), [slack]);
    await n.drain(10_000);
    expect(n.settled[0]!.state).toBe('failed');
    expect(n.settled[0]!.lastError).not.toContain(token);
    expect(n.settled[0]!.lastError).toContain('[REDACTED]');
  });
});

describe('dedup and ordering', () => {
  it('the same event offered twice is delivered once', async () => {
    const clock = new InstantClock();
    const r = await receiver();
    const n = notifier({ STACKSWAP_NOTIFY_SLACK_URL: `${r.url}/services/T/B/x` }, clock);
    const event = stackEvent({ type: 'swap.finished' });
    await Promise.all([n.publish(event, [slack]), n.publish(event, [slack])]);
    await n.publish(StackEvent.parse(JSON.parse(JSON.stringify(event))), [slack]);
    await n.drain(10_000);
    expect(r.received).toHaveLength(1);
  });

  it('only the event types a target asked for are sent', async () => {
    const clock = new InstantClock();
    const r = await receiver();
    const n = notifier({ STACKSWAP_NOTIFY_SLACK_URL: `${r.url}/services/T/B/x` }, clock);
    for (const type of ['deploy.started', 'traffic.step', 'swap.finished'] as const) {
      await n.publish(stackEvent({ type }), [slack]);
    }
    await n.drain(10_000);
    expect(r.received.map((x) => (x.json as { text: string }).text)).toEqual([
      'my-app: swapped; green is live',
    ]);
  });

  it('per stack in order: a later event waits for the retried one; another stack is not held up', async () => {
    const clock = new ManualClock();
    const a = await receiver({
      answers: [{ status: 503, headers: { 'retry-after': '60' } }, { status: 200 }],
    });
    const b = await receiver();
    const targetsA: NotificationTarget[] = [{ ...slack, on: ['*'] }];
    const targetsB: NotificationTarget[] = [{ ...slack, on: ['*'], urlEnv: 'STACKSWAP_NOTIFY_B' }];
    const n = notifier(
      { STACKSWAP_NOTIFY_SLACK_URL: `${a.url}/services/T/B/a`, STACKSWAP_NOTIFY_B: `${b.url}/b` },
      clock,
    );
    const a1 = stackEvent({ type: 'traffic.step', data: { weight: 10 } });
    const a2 = stackEvent({ type: 'traffic.step', data: { weight: 50 } });
    const a3 = stackEvent({ type: 'swap.finished' });
    await n.publish(a1, targetsA);
    await until(() => a.received.length === 1 && clock.waiting === 1, 'the first 503');
    await n.publish(a2, targetsA);
    await n.publish(a3, targetsA);
    const b1 = stackEvent({ type: 'swap.finished', stack: 'other', operationId: 'op-b' });
    await n.publish(b1, targetsB);
    await until(() => b.received.length === 1, 'the other stack');
    // my-app is still waiting out its Retry-After: nothing after a1 has been sent.
    expect(a.received).toHaveLength(1);
    expect(clock.sleeps).toEqual([60_000]);
    clock.advance(60_000);
    await n.drain(10_000);
    expect(a.received.map((x) => x.deliveryId)).toEqual([a1.id, a1.id, a2.id, a3.id]);
    expect(b.received.map((x) => x.deliveryId)).toEqual([b1.id]);
  });
});
