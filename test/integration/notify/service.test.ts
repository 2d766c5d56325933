/**
 * Notifications from the service (git-only config repo, real local receivers): a deploy's
 * events reach a signed webhook and a Slack webhook; a Slack 404 is recorded as failed and
 * shows in `GET /v1/operations/:id`, in /metrics and in the log; a receiver that is down
 * never holds up the operation; a restart of the service delivers what was left pending.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { StackEvent } from '../../../src/shared/events.ts';
import { configRepoFiles, seedBareRepo } from '../../helpers/config-repo.ts';
import { bearer, gitOnlyService, tempDir, waitForOperation } from '../server/helpers.ts';
import { InstantClock, ManualClock, startReceiver, until, type Receiver } from './helpers.ts';

const SECRET = 'svc-webhook-secret-0123456789';
const receivers: Receiver[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

function repoWithNotifications(): string {
  const files = configRepoFiles([{ name: 'shop' }]);
  files['stackswap.yaml'] +=
    '    notifications:\n' +
    '      - name: audit\n' +
    '        webhook: { urlEnv: STACKSWAP_NOTIFY_AUDIT_URL, secretEnv: STACKSWAP_NOTIFY_AUDIT_SECRET }\n' +
    "        on: ['*']\n" +
    '      - name: team-slack\n' +
    '        slack: { urlEnv: STACKSWAP_NOTIFY_SLACK_URL }\n' +
    '        on: [deploy.finished]\n';
  return seedBareRepo(files).bare;
}

async function receiver(options: Parameters<typeof startReceiver>[0]) {
  const r = await startReceiver(options);
  receivers.push(r);
  return r;
}

async function deploy(app: Awaited<ReturnType<typeof gitOnlyService>>['app'], tag: string) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/stacks/shop/deploy',
    headers: { ...bearer('deploy'), 'content-type': 'application/json' },
    payload: { overrides: { web: tag } },
  });
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as { operation: { id: string } }).operation.id;
}

async function getOperation(
  app: Awaited<ReturnType<typeof gitOnlyService>>['app'],
  id: string,
): Promise<{ state: string; notifications?: Record<string, unknown>[] }> {
  const res = await app.inject({ url: `/v1/operations/${id}`, headers: bearer('read') });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

describe('service notifications', () => {
  it('delivers signed webhooks; a Slack 404 is recorded in the operation, /metrics and the log', async () => {
    const clock = new InstantClock(Date.now());
    const audit = await receiver({ secret: SECRET, enforceSignature: true });
    const slack = await receiver({ answers: [{ status: 404, body: 'channel_not_found' }] });
    const s = await gitOnlyService({
      bare: repoWithNotifications(),
      env: {
        STACKSWAP_NOTIFY_AUDIT_URL: `${audit.url}/events`,
        STACKSWAP_NOTIFY_AUDIT_SECRET: SECRET,
        STACKSWAP_NOTIFY_SLACK_URL: `${slack.url}/services/T01/B01/abcdefghijklmnopqrstuvwx`,
      },
      service: { notify: { clock } },
    });
    cleanups.push(() => s.close());
    const id = await deploy(s.app, '2.0.0');
    expect(await waitForOperation(s.app, id)).toMatchObject({ state: 'succeeded' });
    let op = await getOperation(s.app, id);
    await until(() => audit.received.length >= 1 && slack.received.length >= 1, 'deliveries');
    for (let i = 0; i < 100; i++) {
      op = await getOperation(s.app, id);
      if (op.notifications?.every((n) => n.state !== 'pending')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(op.notifications).toEqual([
      {
        eventId: `${id}.1`,
        eventType: 'deploy.finished',
        target: 'audit',
        kind: 'webhook',
        state: 'delivered',
        attempts: 1,
      },
      {
        eventId: `${id}.1`,
        eventType: 'deploy.finished',
        target: 'team-slack',
        kind: 'slack',
        state: 'failed',
        attempts: 1,
        lastError: 'HTTP 404: channel_not_found (the webhook or its channel no longer exists)',
      },
    ]);
    // The webhook got the journaled StackEvent, signed (the receiver refuses bad signatures).
    expect(audit.received.map((r) => r.status)).toEqual([200]);
    const event = StackEvent.parse(audit.received[0]!.json);
    expect(event).toMatchObject({
      type: 'deploy.finished',
      stack: 'shop',
      operationId: id,
      actor: 'deploy-bot',
      preview: 'green',
    });
    const blocks = JSON.stringify(slack.received[0]!.json);
    expect(blocks).toContain('shop: deployed into green');
    const metrics = await s.app.inject({ url: '/metrics', headers: bearer('read') });
    expect(metrics.body).toContain(
      'stackswap_notification_deliveries_total{stack="shop",target="team-slack",kind="slack",result="failed"} 1',
    );
    expect(metrics.body).toContain(
      'stackswap_notification_deliveries_total{stack="shop",target="audit",kind="webhook",result="delivered"} 1',
    );
    expect(metrics.body).toContain(
      'stackswap_notification_failures_total{channel="slack-webhook"} 1',
    );
    const given = s.logs.lines().find((l) => l.msg === 'notification not delivered; given up');
    expect(given).toMatchObject({ operationId: id, target: 'team-slack', attempts: 1 });
    // The Slack URL's token never reaches the log.
    expect(s.logs.text).not.toContain('abcdefghijklmnopqrstuvwx');
  });

  it('a receiver that is down does not hold up the operation; after a restart the delivery resumes', async () => {
    const dataDir = tempDir('notify-data');
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const bare = repoWithNotifications();
    // The receiver judges signature timestamps by the clock of the service's current life.
    const clock = new ManualClock(Date.now());
    const later = new InstantClock(Date.now() + 3_600_000);
    let receiverClock: { now(): number } = clock;
    const audit = await receiver({
      secret: SECRET,
      enforceSignature: true,
      nowSeconds: () => Math.floor(receiverClock.now() / 1000),
      answers: [{ status: 503, headers: { 'retry-after': '3600' } }],
    });
    const slack = await receiver({ answers: [{ status: 500 }] });
    const env = {
      STACKSWAP_NOTIFY_AUDIT_URL: `${audit.url}/events`,
      STACKSWAP_NOTIFY_AUDIT_SECRET: SECRET,
      STACKSWAP_NOTIFY_SLACK_URL: `${slack.url}/services/T/B/slack`,
    };
    // First life: the receiver answers 503 "retry in an hour"; the clock never gets there.
    const first = await gitOnlyService({ bare, dataDir, env, service: { notify: { clock } } });
    const id = await deploy(first.app, '3.0.0');
    expect(await waitForOperation(first.app, id)).toMatchObject({ state: 'succeeded' });
    await until(
      () => clock.waiting === 2,
      () =>
        `both deliveries waiting for their retry (${clock.waiting}, ${audit.received.length} received)`,
    );
    const pending = await getOperation(first.app, id);
    expect(pending.notifications?.map((n) => [n.target, n.state, n.attempts])).toEqual([
      ['audit', 'pending', 1],
      ['team-slack', 'pending', 1],
    ]);
    await first.close();

    // Second life, an hour later, same data dir: the receivers are back.
    receiverClock = later;
    audit.answer({ status: 200 });
    slack.answer({ status: 200 });
    const second = await gitOnlyService({
      bare,
      dataDir,
      env,
      service: { notify: { clock: later } },
    });
    cleanups.push(() => second.close());
    let op = await getOperation(second.app, id);
    for (let i = 0; i < 200 && op.notifications?.some((n) => n.state === 'pending'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      op = await getOperation(second.app, id);
    }
    expect(op.notifications?.map((n) => [n.target, n.state, n.attempts])).toEqual([
      ['audit', 'delivered', 2],
      ['team-slack', 'delivered', 2],
    ]);
    // One event, two attempts per target, the same delivery id each time (receivers dedupe).
    expect(new Set(audit.received.map((r) => r.deliveryId))).toEqual(new Set([`${id}.1`]));
    expect(audit.received.map((r) => r.status)).toEqual([503, 200]);
    expect(slack.received.map((r) => r.status)).toEqual([500, 200]);
  });
});
