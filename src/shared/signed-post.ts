/**
 * Outbound requests for lifecycle hooks and webhook notifications (JSON POSTs, and the GET that
 * polls a pending hook's status URL), signed and bounded.
 *
 * Signature: `X-Stackswap-Signature-256: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`
 * with the receiver's secret, and `X-Stackswap-Timestamp: <unix seconds>`. Binding the
 * timestamp into the MAC lets a receiver refuse replays (older than a few minutes);
 * `X-Stackswap-Delivery` carries the event id for deduplication.
 *
 * Bounds: the URL must pass the host allowlist, one hard timeout covers headers and body,
 * the answer is read up to `maxResponseBytes`, and a redirect is never followed (a 3xx is
 * just a status, which callers treat as a failure).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Agent, request, type Dispatcher } from 'undici';
import { checkUrl, type HostPattern } from './hosts.ts';

export const SIGNATURE_HEADER = 'x-stackswap-signature-256';
export const TIMESTAMP_HEADER = 'x-stackswap-timestamp';
export const DELIVERY_HEADER = 'x-stackswap-delivery';

export function signBody(secret: string, timestampSeconds: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex')}`;
}

/** For receivers (and tests): constant-time check, refusing timestamps outside the tolerance. */
export function verifyBodySignature(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string,
  options: { nowSeconds?: number; toleranceSeconds?: number } = {},
): boolean {
  const ts = Number(headers.timestamp);
  if (!headers.signature || !Number.isInteger(ts)) return false;
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signBody(secret, ts, body));
  const given = Buffer.from(headers.signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface SignedPostOptions {
  /** Signs the body when given (generic webhooks and hooks); Slack URLs carry their own secret. */
  secret?: string;
  deliveryId?: string;
  allowedHosts: readonly HostPattern[];
  /** The setting that lists the allowed hosts, for the error message. */
  allowedHostsSetting: string;
  timeoutMs: number;
  maxResponseBytes: number;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
  nowSeconds?: () => number;
}

export type PostOutcome =
  | {
      ok: true;
      status: number;
      headers: Record<string, string | string[] | undefined>;
      body: string;
    }
  /**
   * No usable answer: the URL refused by the allowlist, no answer in time, an answer over the
   * size cap, or the connection failed.
   */
  | {
      ok: false;
      reason: string;
      cause: 'url' | 'timeout' | 'too-large' | 'network';
      timedOut: boolean;
    };

let sharedDispatcher: Dispatcher | undefined;
/** No keep-alive: receivers are called rarely, and a pooled socket must not keep a CLI alive. */
function defaultDispatcher(): Dispatcher {
  sharedDispatcher ??= new Agent({ pipelining: 0, keepAliveTimeout: 1, connections: 8 });
  return sharedDispatcher;
}

/** POSTs `payload` as JSON, signed when `options.secret` is given. */
export function signedPost(
  urlText: string,
  payload: unknown,
  options: SignedPostOptions,
): Promise<PostOutcome> {
  return signedRequest(urlText, { method: 'POST', body: JSON.stringify(payload) }, options);
}

/**
 * One bounded request; a GET is signed over the empty body (`"<timestamp>."`), so a status URL
 * can tell the poll is ours.
 */
export async function signedRequest(
  urlText: string,
  what: { method: 'POST'; body: string } | { method: 'GET' },
  options: SignedPostOptions,
): Promise<PostOutcome> {
  const verdict = checkUrl(urlText, options.allowedHosts, options.allowedHostsSetting);
  if (!verdict.ok) return { ok: false, reason: verdict.reason, cause: 'url', timedOut: false };
  const body = what.method === 'POST' ? what.body : '';
  const headers: Record<string, string> = {
    ...(what.method === 'POST' ? { 'content-type': 'application/json' } : {}),
    'user-agent': 'stackswap',
    ...options.headers,
  };
  if (options.secret !== undefined) {
    const ts = options.nowSeconds?.() ?? Math.floor(Date.now() / 1000);
    headers[TIMESTAMP_HEADER] = String(ts);
    headers[SIGNATURE_HEADER] = signBody(options.secret, ts, body);
  }
  if (options.deliveryId) headers[DELIVERY_HEADER] = options.deliveryId;
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    const response = await request(verdict.url, {
      method: what.method,
      headers,
      ...(what.method === 'POST' ? { body } : {}),
      dispatcher: options.dispatcher ?? defaultDispatcher(),
      signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      maxRedirections: 0,
    } as Parameters<typeof request>[1]);
    const text = await readCapped(response.body, options.maxResponseBytes);
    return { ok: true, status: response.statusCode, headers: response.headers, body: text };
  } catch (e) {
    if (timeout.aborted) {
      return {
        ok: false,
        reason: `no answer within ${options.timeoutMs} ms`,
        cause: 'timeout',
        timedOut: true,
      };
    }
    if (e instanceof BodyTooLarge) {
      return { ok: false, reason: e.message, cause: 'too-large', timedOut: false };
    }
    const err = e as { code?: string; message?: string; cause?: { code?: string } };
    return {
      ok: false,
      reason: `request failed: ${err.code ?? err.cause?.code ?? err.message ?? String(e)}`,
      cause: 'network',
      timedOut: false,
    };
  }
}

/** Thrown by readCapped; shared with the HTTP checks. */
export class BodyTooLarge extends Error {}

/** Reads a response body up to `max` bytes, destroying the stream past it. */
export async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      (body as unknown as { destroy?: () => void }).destroy?.();
      throw new BodyTooLarge(`the answer is larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
