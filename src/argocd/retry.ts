/**
 * Bounded exponential backoff with jitter for transient Argo CD failures (connection errors,
 * timeouts, 502/503/504 from an ingress). p-retry runs the attempts; the delay between them is
 * ours, computed by `backoffDelay` and slept through the injected `sleep`, so tests can record
 * the schedule instead of waiting it out (p-retry itself has no injectable timer; it is given
 * `minTimeout: 0` and never sleeps on its own).
 */
import pRetry, { AbortError } from 'p-retry';
import { realSleep, type Sleep } from './clock.ts';

export interface RetryPolicy {
  /** Retries after the first attempt (so at most retries + 1 attempts). */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** 0..1: the share of each delay that is random (0.5: between half and all of it). */
  jitter: number;
}

/** 5 attempts over roughly 0.25 + 0.5 + 1 + 2 s, each between half and all of that. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 4,
  baseDelayMs: 250,
  maxDelayMs: 5_000,
  factor: 2,
  jitter: 0.5,
};

/** Delay before retry number `retry` (1-based): capped exponential, minus a random share. */
export function backoffDelay(
  retry: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(
    policy.maxDelayMs,
    policy.baseDelayMs * policy.factor ** Math.max(0, retry - 1),
  );
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.round(ceiling * (1 - jitter) + ceiling * jitter * random());
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Only errors this accepts are retried; anything else is thrown at once. */
  isRetryable: (error: unknown) => boolean;
  sleep?: Sleep;
  random?: () => number;
  signal?: AbortSignal;
  onRetry?: (info: { error: unknown; retry: number; delayMs: number }) => void;
}

export class RetriesExhausted extends Error {
  constructor(
    readonly lastError: unknown,
    readonly attempts: number,
  ) {
    super(`gave up after ${attempts} attempts`, { cause: lastError });
    this.name = 'RetriesExhausted';
  }
}

/**
 * Runs `attempt` until it succeeds, a non-retryable error is thrown (rethrown as is), or the
 * budget is spent (RetriesExhausted wrapping the last error).
 */
export async function withRetry<T>(
  attempt: (n: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const sleep = options.sleep ?? realSleep;
  let attempts = 0;
  try {
    return await pRetry(
      async (n) => {
        attempts = n;
        try {
          return await attempt(n);
        } catch (error) {
          // Wrap everything so p-retry's own TypeError rule never decides for us.
          throw options.isRetryable(error)
            ? new Retryable(error)
            : new AbortError(new Fatal(error));
        }
      },
      {
        retries: options.policy.retries,
        minTimeout: 0,
        maxTimeout: 0,
        randomize: false,
        ...(options.signal ? { signal: options.signal } : {}),
        shouldRetry: async ({ error, retriesConsumed }) => {
          const retry = retriesConsumed + 1;
          const delayMs = backoffDelay(retry, options.policy, options.random);
          options.onRetry?.({ error: (error as Retryable).inner, retry, delayMs });
          await sleep(delayMs, options.signal);
          return true;
        },
      },
    );
  } catch (error) {
    if (error instanceof Fatal) throw error.inner;
    if (error instanceof Retryable) throw new RetriesExhausted(error.inner, attempts);
    throw error; // the caller's abort reason
  }
}

class Retryable extends Error {
  constructor(readonly inner: unknown) {
    super('retryable');
  }
}

class Fatal extends Error {
  constructor(readonly inner: unknown) {
    super('fatal');
  }
}
