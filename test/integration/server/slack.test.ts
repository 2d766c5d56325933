/**
 * The Slack slash command through HTTP: request signing (good, bad, stale, future, missing),
 * the immediate ephemeral ack, follow-ups on response_url (a local server standing in for
 * Slack), and retries that must not start a second operation.
 */
import { renameSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackSignature } from '../../../src/server/slack/signature.ts';
import { commitCount, configRepoFiles, git, seedBareRepo } from '../../helpers/config-repo.ts';
import { gitOnlyService, SLACK_SECRET, waitForOperation, type GitOnlyService } from './helpers.ts';

let s: GitOnlyService;
let hook: Server;
let hookUrl: string;
const received: { text: string }[] = [];

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as { text: string });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/commands/T1/B1/xyz`;
  s = await gitOnlyService({
    stacks: [{ name: 'shop' }, { name: 'blog' }],
    service: { slackAllowUrl: (url) => url.hostname === '127.0.0.1' },
  });
});
afterAll(async () => {
  await s?.close();
  await new Promise((resolve) => hook?.close(resolve));
});

function form(text: string, extra: Record<string, string> = {}): string {
  return new URLSearchParams({
    token: 'legacy-verification-token',
    team_id: 'T1',
    channel_id: 'C1',
    user_id: 'U42',
    user_name: 'alice',
    command: '/stackswap',
    text,
    response_url: hookUrl,
    trigger_id: `trigger-${Math.random()}`,
    ...extra,
  }).toString();
}

function slack(
  body: string,
  options: {
    ageSeconds?: number;
    signature?: string;
    headers?: Record<string, string>;
    service?: GitOnlyService;
  } = {},
) {
  const timestamp = String(Math.floor(Date.now() / 1000) - (options.ageSeconds ?? 0));
  return (options.service ?? s).app.inject({
    method: 'POST',
    url: '/v1/chatops/slack',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': options.signature ?? slackSignature(SLACK_SECRET, timestamp, body),
      ...options.headers,
    },
    payload: body,
  });
}

async function until<T>(fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = fn();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Slack request signing', () => {
  it('a valid signature over the raw form body is acknowledged at once, progress follows', async () => {
    const before = commitCount(s.bare);
    const res = await slack(form('deploy shop web=2.0.0 api=2.0.1'));
    expect(res.statusCode, res.body).toBe(200);
    const ack = res.json();
    expect(ack.response_type).toBe('ephemeral');
    const id = /operation `([0-9a-f-]{36})`/.exec(ack.text)?.[1];
    expect(id, ack.text).toBeDefined();
    expect(ack.text).toMatch(/^started: deploy shop/);

    const op = await waitForOperation(s.app, id!);
    expect(op).toMatchObject({ state: 'succeeded', requestedBy: 'slack:alice (U42)' });
    expect(commitCount(s.bare)).toBe(before + 1);
    expect(git(s.bare, 'log', '-1', '--format=%(trailers)', 'main')).toContain(
      'Stackswap-Requested-By: slack:alice (U42)',
    );
    const result = await until(() => received.find((m) => m.text.includes('succeeded')));
    expect(result.text).toContain('deploy shop succeeded');
    // Step ends come before the result, in order.
    const texts = received.map((m) => m.text);
    expect(texts.findIndex((t) => t.includes('deploy shop to the preview colour'))).toBeLessThan(
      texts.indexOf(result.text),
    );
    expect(s.logs.text).not.toContain('legacy-verification-token');
  });

  it('a bad signature, a missing one, a stale or a future timestamp: 401, nothing started', async () => {
    const before = commitCount(s.bare);
    const body = form('deploy shop web=9.9.9');
    const cases = [
      await slack(body, { signature: `v0=${'0'.repeat(64)}` }),
      await slack(body, { signature: 'v0=short' }),
      await slack(body, { signature: slackSignature('another-secret', '1', body) }),
      await slack(body, { ageSeconds: 6 * 60 }),
      await slack(body, { ageSeconds: -6 * 60 }),
      await s.app.inject({
        method: 'POST',
        url: '/v1/chatops/slack',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: body,
      }),
    ];
    // Signed over other bytes than those sent (a re-encoded body): refused too.
    const timestamp = String(Math.floor(Date.now() / 1000));
    cases.push(
      await s.app.inject({
        method: 'POST',
        url: '/v1/chatops/slack',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-request-timestamp': timestamp,
          'x-slack-signature': slackSignature(SLACK_SECRET, timestamp, body),
        },
        payload: body.replace(/%2F/g, '/'),
      }),
    );
    for (const res of cases) {
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json().error.code).toBe('unauthorized');
    }
    expect(commitCount(s.bare)).toBe(before);
    const refusals = s.logs.lines().filter((l) => l.msg === 'slack request refused');
    expect(refusals.map((l) => l.reason)).toEqual(
      expect.arrayContaining(['bad-signature', 'stale', 'missing-headers']),
    );
    // The payload is never logged with a refusal.
    expect(refusals.every((l) => !JSON.stringify(l).includes('9.9.9'))).toBe(true);
  });

  it('a signature 4 minutes old is still inside the window', async () => {
    const res = await slack(form('help'), { ageSeconds: 4 * 60 });
    expect(res.statusCode).toBe(200);
    expect(res.json().text).toContain('/stackswap deploy');
  });

  it('a body beyond 16 KiB is refused before it is read', async () => {
    const res = await slack(form(`status shop ${'x'.repeat(17 * 1024)}`));
    expect(res.statusCode).toBe(413);
  });

  it('only the form encoding is accepted (the signature is over its raw bytes)', async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/chatops/slack',
      headers: { 'content-type': 'application/json' },
      payload: '{"text":"deploy shop"}',
    });
    expect(res.statusCode).toBe(415);
  });
});

describe('Slack retries', () => {
  it('X-Slack-Retry-Num with the same command returns the same operation; no second commit', async () => {
    const body = form('deploy blog web=5.0.0 api=5.0.0', { trigger_id: 'trigger-retry-1' });
    const first = await slack(body);
    const id = /operation `([0-9a-f-]{36})`/.exec(first.json().text)?.[1];
    expect(id).toBeDefined();
    await waitForOperation(s.app, id!);
    await until(() => received.find((m) => m.text.includes('deploy blog succeeded')));
    const after = commitCount(s.bare);
    const posted = received.length;

    // Slack redelivers: same body, fresh timestamp and signature, a retry header.
    const retry = await slack(body, {
      headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' },
    });
    expect(retry.statusCode).toBe(200);
    expect(retry.json().text).toContain(`already started: deploy blog (operation \`${id}\`)`);
    expect(commitCount(s.bare)).toBe(after);
    const ops = await s.app.inject({
      url: '/v1/operations?stack=blog',
      headers: { authorization: 'Bearer tok-read-0123456789abcdef' },
    });
    expect(ops.json().operations.filter((o: { kind: string }) => o.kind === 'deploy')).toHaveLength(
      1,
    );
    // The retry does not start a second stream of follow-ups either.
    await new Promise((r) => setTimeout(r, 200));
    expect(received.length).toBe(posted);
  });

  it('the retry of a command still running maps to it too (no busy refusal, no second op)', async () => {
    const body = form('swap blog', { trigger_id: 'trigger-retry-2' });
    const [first, retry] = await Promise.all([
      slack(body),
      slack(body, { headers: { 'x-slack-retry-num': '1' } }),
    ]);
    const ids = [first, retry].map((r) => /operation `([0-9a-f-]{36})`/.exec(r.json().text)?.[1]);
    expect(ids[0]).toBeDefined();
    expect(ids[1]).toBe(ids[0]);
    await waitForOperation(s.app, ids[0]!);
  });
});

describe('Slack commands', () => {
  it('status answers in Slack format with colours, versions and weights', async () => {
    const res = await slack(form('status shop'));
    expect(res.statusCode).toBe(200);
    expect(res.json().text).toMatch(/\*shop\* at `[0-9a-f]{12}`: live \*blue\*, preview green/);
    expect(res.json().text).toContain('green (preview, 0 %): 2 replicas, web=2.0.0 api=2.0.1');
  });

  it('bad input answers with the usage, ephemerally', async () => {
    for (const text of ['launch shop', 'deploy shop web', 'swap shop purple', 'status nope']) {
      const res = await slack(form(text));
      expect(res.statusCode).toBe(200);
      expect(res.json().response_type).toBe('ephemeral');
      expect(res.json().text).toMatch(/^:no_entry: |not component=version|unknown command|colour/);
    }
    const which = await slack(form('revert'));
    expect(which.json().text).toContain('which stack? (shop, blog)');
  });

  it('a classified upstream failure (502: git remote gone) shows its message, not "internal error"', async () => {
    const { bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }]));
    const broken = await gitOnlyService({
      bare,
      service: { slackAllowUrl: (url) => url.hostname === '127.0.0.1' },
    });
    try {
      renameSync(bare, `${bare}.gone`);
      const res = await slack(form('status shop'), { service: broken });
      expect(res.statusCode, res.body).toBe(200);
      const reply = res.json() as { response_type: string; text: string };
      expect(reply.response_type).toBe('ephemeral');
      expect(reply.text).toMatch(/^:no_entry: git \S+: no repository at /);
      expect(reply.text).toContain('hint: check the config repo URL');
      expect(reply.text).not.toContain('internal error');
      // Logged with its cause, as the HTTP answer's server faults are.
      expect(broken.logs.lines().some((l) => l.msg === 'slack command failed')).toBe(true);
    } finally {
      await broken.close();
    }
  });
});
