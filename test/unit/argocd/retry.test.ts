import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_POLICY,
  RetriesExhausted,
  backoffDelay,
  withRetry,
  type RetryPolicy,
} from '../../../src/argocd/retry.ts';

const policy: RetryPolicy = {
  retries: 6,
  baseDelayMs: 100,
  maxDelayMs: 1_000,
  factor: 2,
  jitter: 0.5,
};

describe('backoffDelay', () => {
  it('grows exponentially up to the cap (no jitter share drawn)', () => {
    const top = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 1));
    expect(top).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('jitter takes up to `jitter` share off each delay, never more, never above the cap', () => {
    const low = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 0));
    expect(low).toEqual([50, 100, 200, 400, 500, 500]);
    for (let n = 1; n <= 10; n++) {
      for (const r of [0, 0.13, 0.5, 0.77, 0.999]) {
        const d = backoffDelay(n, policy, () => r);
        expect(d).toBeGreaterThanOrEqual(backoffDelay(n, policy, () => 0));
        expect(d).toBeLessThanOrEqual(policy.maxDelayMs);
      }
    }
  });

  it('is actually random between attempts of equal number', () => {
    const draws = new Set(Array.from({ length: 20 }, () => backoffDelay(3, policy)));
    expect(draws.size).toBeGreaterThan(1);
  });

  it('the default policy is bounded: 5 attempts, total sleep under 5 s', () => {
    const total = [1, 2, 3, 4].reduce(
      (sum, n) => sum + backoffDelay(n, DEFAULT_RETRY_POLICY, () => 1),
      0,
    );
    expect(DEFAULT_RETRY_POLICY.retries).toBe(4);
    expect(total).toBeLessThan(5_000);
  });
});

describe('withRetry', () => {
  const transient = new Error('503');
  const run = async (failures: number, p: RetryPolicy = policy) => {
    const sleeps: number[] = [];
    let calls = 0;
    const result = withRetry(
      async () => {
        calls += 1;
        if (calls <= failures) throw transient;
        return 'ok';
      },
      {
        policy: p,
        isRetryable: (e) => e === transient,
        sleep: async (ms) => void sleeps.push(ms),
        random: () => 0.5,
      },
    );
    return { result, sleeps, calls: () => calls };
  };

  it('retries transient failures with the growing, jittered schedule through the injected sleep', async () => {
    const { result, sleeps, calls } = await run(3);
    await expect(result).resolves.toBe('ok');
    expect(calls()).toBe(4);
    expect(sleeps).toEqual([75, 150, 300]);
  });

  it('gives up after retries + 1 attempts with the last error', async () => {
    const { result, sleeps, calls } = await run(100, { ...policy, retries: 3 });
    const error = await result.catch((e) => e);
    expect(error).toBeInstanceOf(RetriesExhausted);
    expect(error.lastError).toBe(transient);
    expect(error.attempts).toBe(4);
    expect(calls()).toBe(4);
    expect(sleeps).toHaveLength(3);
  });

  it('does not retry other errors (not even a TypeError), and does not sleep', async () => {
    const sleeps: number[] = [];
    const fatal = new TypeError('bad input');
    let calls = 0;
    const error = await withRetry(
      async () => {
        calls += 1;
        throw fatal;
      },
      { policy, isRetryable: () => false, sleep: async (ms) => void sleeps.push(ms) },
    ).catch((e) => e);
    expect(error).toBe(fatal);
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('stops when the signal is aborted', async () => {
    const controller = new AbortController();
    let calls = 0;
    const error = await withRetry(
      async () => {
        calls += 1;
        throw transient;
      },
      {
        policy,
        isRetryable: () => true,
        signal: controller.signal,
        sleep: async () => controller.abort(new Error('cancelled')),
      },
    ).catch((e) => e);
    expect(error.message).toBe('cancelled');
    expect(calls).toBe(1);
  });
});
