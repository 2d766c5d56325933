/**
 * One delivery attempt of one outbox entry, and what its answer means:
 *
 * - 2xx: delivered.
 * - 429 and 503 with `Retry-After` (seconds or an HTTP date): retried no sooner than that.
 * - 408, 425, 429, 5xx, a timeout or a connection error: retried with backoff.
 * - 404 and 410 (Slack: the channel or the app was removed), any other 4xx (a payload or token
 *   Slack refuses stays refused), a 3xx (redirects are never followed), a variable that is not
 *   set or not a URL: permanent, given up at once.
 *
 * URLs and secrets are read from the environment at each attempt (nothing secret is stored)
 * and registered with the redactor, so no error text can carry them.
 */
import type { Dispatcher } from 'undici';
import { parseHostPattern, type HostPattern } from '../shared/hosts.ts';
import type { StackEvent } from '../shared/events.ts';
import type { Redactor } from '../shared/redact.ts';
import { signedPost } from '../shared/signed-post.ts';
import type { OutboxEntry } from './outbox.ts';
import { slackMessage } from './slack-message.ts';

export type AttemptOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'permanent'; reason: string };

export interface AttemptOptions {
  env: NodeJS.ProcessEnv;
  redactor: Redactor;
  timeoutMs: number;
  maxResponseBytes: number;
  now: () => number;
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
}

/** What a target sends: Slack gets Block Kit, a webhook the StackEvent itself. */
export function payloadFor(kind: 'slack' | 'webhook', event: StackEvent): unknown {
  return kind === 'slack' ? slackMessage(event) : event;
}

export async function attemptDelivery(
  entry: OutboxEntry,
  options: AttemptOptions,
): Promise<AttemptOutcome> {
  const { target } = entry;
  const url = options.env[target.urlEnv];
  if (!url) return { kind: 'permanent', reason: `${target.urlEnv} is not set` };
  registerUrl(options.redactor, url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { kind: 'permanent', reason: `${target.urlEnv} is not a URL` };
  }
  let secret: string | undefined;
  if (target.kind === 'webhook') {
    secret = target.secretEnv ? options.env[target.secretEnv] : undefined;
    if (!secret) {
      return { kind: 'permanent', reason: `${target.secretEnv ?? 'the secret'} is not set` };
    }
    options.redactor.add(secret);
  }
  // The operator chose this URL (stackswap.yaml only names the variable): its host is the one
  // host allowed; checkUrl still refuses other schemes and credentials in the URL.
  const host = parseHostPattern(`${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}`);
  const allowedHosts: HostPattern[] = typeof host === 'string' ? [] : [host];
  const outcome = await signedPost(url, payloadFor(target.kind, entry.event), {
    ...(secret !== undefined ? { secret } : {}),
    deliveryId: entry.event.id,
    allowedHosts,
    allowedHostsSetting: target.urlEnv,
    timeoutMs: options.timeoutMs,
    maxResponseBytes: options.maxResponseBytes,
    nowSeconds: () => Math.floor(options.now() / 1000),
    headers: { 'x-stackswap-event': entry.event.type },
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const clean = (text: string) => options.redactor.redact(text);
  if (!outcome.ok) {
    // A refused URL (scheme, credentials) will be refused again.
    if (/only http and https|credentials in the URL|not a URL/.test(outcome.reason)) {
      return { kind: 'permanent', reason: clean(`${target.urlEnv}: ${outcome.reason}`) };
    }
    return { kind: 'retry', reason: clean(outcome.reason) };
  }
  const { status } = outcome;
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  const said = clean(firstLine(outcome.body));
  const why = `HTTP ${status}${said ? `: ${said}` : ''}`;
  if (status === 404 || status === 410) {
    return {
      kind: 'permanent',
      reason: `${why} (the webhook or its channel no longer exists)`,
    };
  }
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(outcome.headers['retry-after'], options.now());
    return { kind: 'retry', reason: why, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  if (status >= 300 && status < 400) {
    return { kind: 'permanent', reason: `${why} (redirects are not followed)` };
  }
  return { kind: 'permanent', reason: why };
}

/** `Retry-After: <seconds>` or `<HTTP date>`, as milliseconds from now. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number,
): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Registers the URLs and secrets of `targets` with the redactor, as soon as they are known. */
export function registerTargetSecrets(
  targets: readonly { urlEnv: string; secretEnv?: string | undefined }[],
  env: NodeJS.ProcessEnv,
  redactor: Redactor,
): void {
  for (const t of targets) {
    const url = env[t.urlEnv];
    if (url) registerUrl(redactor, url);
    if (t.secretEnv) redactor.add(env[t.secretEnv]);
  }
}

function registerUrl(redactor: Redactor, url: string): void {
  redactor.add(url);
  try {
    // Slack's last path segment is the credential; a receiver may also put a token there.
    const last = new URL(url).pathname.split('/').filter(Boolean).at(-1);
    if (last && last.length >= 16) redactor.add(last);
  } catch {
    // Not a URL: the attempt says so (without the value).
  }
}

function firstLine(body: string): string {
  return body.split('\n')[0]!.trim().slice(0, 200);
}
