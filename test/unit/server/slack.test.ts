import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseSlackCommand } from '../../../src/server/slack/command.ts';
import { slackSignature, verifySlackRequest } from '../../../src/server/slack/signature.ts';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW = 1_700_000_000_000;
const ts = (offsetSeconds = 0) => String(NOW / 1000 + offsetSeconds);
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fstackswap&text=deploy+shop+web%3D2.0.0';

const verify = (overrides: Partial<Parameters<typeof verifySlackRequest>[0]>) =>
  verifySlackRequest({
    secret: SECRET,
    timestamp: ts(),
    signature: slackSignature(SECRET, ts(), BODY),
    rawBody: BODY,
    now: NOW,
    ...overrides,
  });

describe('Slack request signing', () => {
  it('signs v0:{timestamp}:{raw body} with HMAC-SHA256, hex, prefixed v0=', () => {
    const expected = createHmac('sha256', SECRET).update(`v0:${ts()}:${BODY}`).digest('hex');
    expect(slackSignature(SECRET, ts(), BODY)).toBe(`v0=${expected}`);
    expect(verify({})).toEqual({ ok: true });
  });

  it('refuses a wrong, truncated, re-cased or differently-prefixed signature', () => {
    const good = slackSignature(SECRET, ts(), BODY);
    for (const signature of [
      `v0=${'0'.repeat(64)}`,
      good.slice(0, -1),
      good.toUpperCase(),
      good.replace('v0=', 'v1='),
      '',
      'x'.repeat(5000),
    ]) {
      expect(verify({ signature }), signature.slice(0, 20)).toMatchObject({ ok: false });
    }
  });

  it('is computed over the raw bytes: a re-encoded body does not verify', () => {
    expect(verify({ rawBody: BODY.replace('%2F', '/') })).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verify({ rawBody: `${BODY}&extra=1` })).toMatchObject({ ok: false });
  });

  it('enforces the 5-minute window both ways', () => {
    const at = (offset: number) =>
      verify({ timestamp: ts(offset), signature: slackSignature(SECRET, ts(offset), BODY) });
    expect(at(-299)).toEqual({ ok: true });
    expect(at(299)).toEqual({ ok: true });
    expect(at(-6 * 60)).toEqual({ ok: false, reason: 'stale' });
    expect(at(6 * 60)).toEqual({ ok: false, reason: 'stale' });
    expect(verify({ timestamp: 'yesterday' })).toEqual({ ok: false, reason: 'stale' });
  });

  it('refuses everything without a configured secret, or without the headers', () => {
    expect(verify({ secret: undefined })).toEqual({ ok: false, reason: 'no-secret' });
    expect(verify({ secret: '' })).toEqual({ ok: false, reason: 'no-secret' });
    expect(verify({ signature: undefined })).toEqual({ ok: false, reason: 'missing-headers' });
    expect(verify({ timestamp: undefined })).toEqual({ ok: false, reason: 'missing-headers' });
  });
});

describe('parseSlackCommand', () => {
  it('reads deploy with versions, swap with a colour, revert, status, help', () => {
    expect(parseSlackCommand('deploy my-app my-frontend=2.1.0')).toEqual({
      ok: true,
      command: { kind: 'deploy', stack: 'my-app', overrides: { 'my-frontend': '2.1.0' } },
    });
    expect(parseSlackCommand('  swap   my-app green ')).toEqual({
      ok: true,
      command: { kind: 'swap', stack: 'my-app', to: 'green' },
    });
    expect(parseSlackCommand('revert my-app')).toEqual({
      ok: true,
      command: { kind: 'revert', stack: 'my-app' },
    });
    expect(parseSlackCommand('status')).toEqual({ ok: true, command: { kind: 'status' } });
    expect(parseSlackCommand('deploy web=1.0')).toEqual({
      ok: true,
      command: { kind: 'deploy', overrides: { web: '1.0' } },
    });
    expect(parseSlackCommand('')).toEqual({ ok: true, command: { kind: 'help' } });
  });

  it('refuses what it cannot read, naming it', () => {
    for (const [text, message] of [
      ['rollout my-app', /unknown command "rollout"/],
      ['deploy my-app web', /"web" is not component=version/],
      ['deploy my-app web=', /not component=version/],
      ['deploy my-app constructor=1.0', /not component=version/],
      ['deploy my-app web=1.0;rm', /not component=version/],
      ['swap my-app purple', /blue or green/],
      ['revert my-app now', /only a stack/],
      ['status My_App', /not a stack name/],
    ] as const) {
      const parsed = parseSlackCommand(text);
      expect(parsed.ok, text).toBe(false);
      if (!parsed.ok) expect(parsed.message, text).toMatch(message);
    }
  });
});
