import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../src/gitops/git/backoff.ts';

describe('backoffDelay (unit)', () => {
  const policy = { minDelayMs: 100, maxDelayMs: 1000 };

  it('waits a random share of a ceiling that doubles per lost race up to the cap (full jitter)', () => {
    const schedule = (random: () => number) =>
      [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, random));
    expect(schedule(() => 0.5)).toEqual([50, 100, 200, 400, 500, 500]);
    expect(schedule(() => 0)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(schedule(() => 0.999999)).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('stays within bounds for absurd inputs', () => {
    expect(backoffDelay(1000, policy, () => 5)).toBe(1000);
    expect(backoffDelay(0, policy, () => -1)).toBe(0);
  });
});
