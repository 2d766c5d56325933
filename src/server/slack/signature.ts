/**
 * Slack request signing (api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + raw body)>`,
 * with `X-Slack-Request-Timestamp` within five minutes of now (either way) against replays.
 * Computed over the raw bytes as received; both sides are hashed to fixed-length digests before
 * `timingSafeEqual`, so a malformed or short signature can neither throw nor leak its length.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SLACK_MAX_SKEW_MS = 5 * 60_000;

export type SlackVerdict =
  { ok: true } | { ok: false; reason: 'no-secret' | 'missing-headers' | 'stale' | 'bad-signature' };

export function slackSignature(secret: string, timestamp: string, rawBody: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
}

export function verifySlackRequest(options: {
  secret: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: string;
  now: number;
}): SlackVerdict {
  const { secret, timestamp, signature, rawBody, now } = options;
  // An unset secret rejects: never "no secret configured, so anything goes".
  if (!secret) return { ok: false, reason: 'no-secret' };
  if (!timestamp || !signature) return { ok: false, reason: 'missing-headers' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'stale' };
  if (Math.abs(now - Number(timestamp) * 1000) > SLACK_MAX_SKEW_MS) {
    return { ok: false, reason: 'stale' };
  }
  const expected = digest(slackSignature(secret, timestamp, rawBody));
  return timingSafeEqual(expected, digest(signature))
    ? { ok: true }
    : { ok: false, reason: 'bad-signature' };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
