/**
 * The one HTTP path to a forge: a `fetch` with a timeout on every attempt, bounded retries
 * (attempts and total time), and waits taken from what the forge says (Retry-After, GitLab's
 * RateLimit-Reset, GitHub's x-ratelimit-remaining/x-ratelimit-reset and secondary limits)
 * before falling back to exponential backoff with jitter. Both clients are given it (Octokit as
 * `request.fetch`, gitbeaker through its requester), so both forges behave the same way.
 *
 * Retried: 429 and rate-limit 403s (the forge did not act), and, for calls that are safe to
 * repeat, 5xx, timeouts and connection errors. A POST that creates something (a comment, an
 * MR) and a merge are not repeated after an ambiguous failure: the forge may have acted, and
 * the adapter re-reads instead (the sticky comment looks for its marker again, a merge reads
 * the MR back).
 *
 * Out of budget, it throws a ForgeError (`unavailable`, `rate-limited`, `timeout`); any other
 * answer, 2xx or 4xx, is returned for the client to read.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { FORGE_TITLE, ForgeError, type ForgeName } from './errors.ts';

export interface ForgeClock {
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when it is aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemForgeClock: ForgeClock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    await delay(Math.max(0, ms), undefined, signal ? { signal } : {});
  },
};

export interface ForgeRetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** No new attempt starts, and no wait is begun, past this much time since the first one. */
  maxTotalMs: number;
  /** Each attempt is aborted after this long. */
  timeoutMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A wait the forge asks for (Retry-After, a rate-limit reset) longer than this fails at once. */
  maxServerWaitMs: number;
}

/** 5 attempts within 60 s, 15 s each; backoff 0.5, 1, 2, 4 s (each between half and all of it). */
export const DEFAULT_FORGE_RETRY_POLICY: ForgeRetryPolicy = {
  maxAttempts: 5,
  maxTotalMs: 60_000,
  timeoutMs: 15_000,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  maxServerWaitMs: 60_000,
};

export interface ForgeFetchOptions {
  forge: ForgeName;
  policy?: Partial<ForgeRetryPolicy>;
  clock?: ForgeClock;
  random?: () => number;
  /** Defaults to globalThis.fetch (looked up per call, so test interceptors apply). */
  fetch?: typeof fetch;
  /**
   * Whether an ambiguous failure (5xx, timeout, connection error) may be retried for this
   * call. Default: every method but POST, and POSTs that set a commit status (idempotent).
   */
  safeToRepeat?: (method: string, url: URL) => boolean;
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  forge: ForgeName;
  method: string;
  /** Path only: never the query, which could carry a token. */
  path: string;
  attempt: number;
  reason: string;
  delayMs: number;
}

const RETRY_STATUSES = new Set([500, 502, 503, 504]);

export function defaultSafeToRepeat(method: string, url: URL): boolean {
  // A merge that timed out may have merged: the adapter re-reads the MR instead.
  if (method === 'PUT' && /\/merge$/.test(url.pathname)) return false;
  if (method !== 'POST') return true;
  // Setting a commit status twice leaves one status: safe. GraphQL mutations are not.
  return /\/statuses\/[0-9a-f]{7,64}$/i.test(url.pathname);
}

/** `Retry-After`: delay-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

interface Verdict {
  retry: boolean;
  /** Whether the forge surely did not act (rate limits): retried even for unsafe calls. */
  notProcessed: boolean;
  kind: 'unavailable' | 'rate-limited';
  reason: string;
  /** What the forge asked for, if anything. */
  serverWaitMs?: number;
  resetAt?: number;
}

/** Looks at an answer and says whether (and how long) to wait and try again. */
export async function judgeResponse(
  forge: ForgeName,
  response: Response,
  now: number,
): Promise<Verdict | undefined> {
  const h = response.headers;
  const retryAfter = parseRetryAfter(h.get('retry-after'), now);
  const remaining = h.get('x-ratelimit-remaining') ?? h.get('ratelimit-remaining');
  const resetHeader = h.get('x-ratelimit-reset') ?? h.get('ratelimit-reset');
  const resetAt = resetHeader && /^\d+$/.test(resetHeader) ? Number(resetHeader) * 1000 : undefined;
  const untilReset = resetAt !== undefined ? Math.max(0, resetAt - now) + 1000 : undefined;
  if (response.status === 429) {
    return {
      retry: true,
      notProcessed: true,
      kind: 'rate-limited',
      reason: '429 Too Many Requests',
      ...(retryAfter !== undefined
        ? { serverWaitMs: retryAfter }
        : untilReset !== undefined
          ? { serverWaitMs: untilReset }
          : {}),
      ...(resetAt !== undefined ? { resetAt } : {}),
    };
  }
  if (response.status === 403 && forge === 'github') {
    if (remaining === '0') {
      return {
        retry: true,
        notProcessed: true,
        kind: 'rate-limited',
        reason: 'primary rate limit (x-ratelimit-remaining: 0)',
        ...(retryAfter !== undefined
          ? { serverWaitMs: retryAfter }
          : untilReset !== undefined
            ? { serverWaitMs: untilReset }
            : {}),
        ...(resetAt !== undefined ? { resetAt } : {}),
      };
    }
    const text = await response
      .clone()
      .text()
      .catch(() => '');
    if (/secondary rate limit|abuse detection/i.test(text)) {
      // GitHub: without retry-after, "wait at least one minute before retrying".
      return {
        retry: true,
        notProcessed: true,
        kind: 'rate-limited',
        reason: 'secondary rate limit',
        serverWaitMs: retryAfter ?? 60_000,
      };
    }
    return undefined;
  }
  if (RETRY_STATUSES.has(response.status)) {
    return {
      retry: true,
      notProcessed: false,
      kind: 'unavailable',
      reason: `${response.status} ${response.statusText}`.trim(),
      ...(retryAfter !== undefined ? { serverWaitMs: retryAfter } : {}),
    };
  }
  return undefined;
}

function backoff(attempt: number, policy: ForgeRetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

function describeTransportError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const code =
    cause && typeof cause === 'object' && 'code' in cause
      ? String((cause as { code: unknown }).code)
      : '';
  return code ? `${error.message} (${code})` : error.message;
}

/** A `fetch` for one forge with the behaviour described at the top of this file. */
export function createForgeFetch(options: ForgeFetchOptions): typeof fetch {
  const policy = { ...DEFAULT_FORGE_RETRY_POLICY, ...options.policy };
  const clock = options.clock ?? systemForgeClock;
  const random = options.random ?? Math.random;
  const safeToRepeat = options.safeToRepeat ?? defaultSafeToRepeat;
  const title = FORGE_TITLE[options.forge];

  const forgeFetch = async (
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> => {
    const request = input instanceof Request ? input : undefined;
    const url = new URL(request ? request.url : String(input));
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    // Read a Request's body once, so every attempt can send it again.
    const body =
      init?.body ?? (request && request.body ? await request.clone().arrayBuffer() : undefined);
    const headers = new Headers(request?.headers);
    new Headers(init?.headers).forEach((v, k) => headers.set(k, v));
    const callerSignal = init?.signal ?? request?.signal ?? undefined;
    const call = `${method} ${url.pathname}`;
    const started = clock.now();
    const doFetch = options.fetch ?? globalThis.fetch;
    let lastFailure: ForgeError | undefined;

    for (let attempt = 1; ; attempt += 1) {
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new Error(`no answer within ${policy.timeoutMs} ms`)),
        policy.timeoutMs,
      );
      const signal = callerSignal
        ? AbortSignal.any([callerSignal, timeout.signal])
        : timeout.signal;
      let verdict: Verdict | undefined;
      let response: Response | undefined;
      try {
        response = await doFetch(url, {
          method,
          headers,
          ...(body !== undefined && body !== null
            ? { body: body as NonNullable<RequestInit['body']> }
            : {}),
          redirect: init?.redirect ?? 'follow',
          signal,
        });
        verdict = await judgeResponse(options.forge, response, clock.now());
        if (!verdict) return response;
        lastFailure = new ForgeError(
          {
            forge: options.forge,
            kind: verdict.kind,
            call,
            status: response.status,
            attempts: attempt,
            ...(verdict.resetAt !== undefined ? { resetAt: verdict.resetAt } : {}),
          },
          `${title}: ${verdict.reason} for ${call} (attempt ${attempt})`,
        );
      } catch (error) {
        if (callerSignal?.aborted) throw callerSignal.reason ?? error;
        const timedOut = timeout.signal.aborted;
        verdict = {
          retry: true,
          notProcessed: false,
          kind: 'unavailable',
          reason: timedOut
            ? `no answer within ${policy.timeoutMs} ms`
            : describeTransportError(error),
        };
        lastFailure = new ForgeError(
          {
            forge: options.forge,
            kind: timedOut ? 'timeout' : 'unavailable',
            call,
            attempts: attempt,
          },
          timedOut
            ? `${title} did not answer ${call} within ${policy.timeoutMs} ms (attempt ${attempt})`
            : `${title} unreachable for ${call}: ${verdict.reason} (attempt ${attempt})`,
          { cause: error },
        );
      } finally {
        clearTimeout(timer);
      }

      const elapsed = clock.now() - started;
      const repeatable = verdict.notProcessed || safeToRepeat(method, url);
      if (!repeatable) {
        throw withHint(lastFailure, 'not repeated: the forge may have acted on it');
      }
      if (attempt >= policy.maxAttempts) {
        throw withHint(lastFailure, `gave up after ${attempt} attempts in ${elapsed} ms`);
      }
      if (verdict.serverWaitMs !== undefined && verdict.serverWaitMs > policy.maxServerWaitMs) {
        throw withHint(
          lastFailure,
          `${title} asks to wait ${Math.ceil(verdict.serverWaitMs / 1000)} s, longer than the ${Math.round(policy.maxServerWaitMs / 1000)} s allowed`,
        );
      }
      const delayMs = verdict.serverWaitMs ?? backoff(attempt, policy, random);
      if (elapsed + delayMs > policy.maxTotalMs) {
        throw withHint(
          lastFailure,
          `gave up: waiting ${delayMs} ms more would pass the ${policy.maxTotalMs} ms budget`,
        );
      }
      // Drain the body we are not going to read, so the connection is released.
      await response?.body?.cancel().catch(() => undefined);
      options.onRetry?.({
        forge: options.forge,
        method,
        path: url.pathname,
        attempt,
        reason: verdict.reason,
        delayMs,
      });
      await clock.sleep(delayMs, callerSignal);
    }
  };
  return forgeFetch as typeof fetch;
}

function withHint(error: ForgeError | undefined, hint: string): ForgeError {
  if (!error) throw new Error('forge fetch: no failure recorded');
  return error.addContext({ hint });
}
