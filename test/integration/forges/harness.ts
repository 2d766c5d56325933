/**
 * Strict nock for the forge tests: no real network, a request no interceptor matches fails
 * the test, and so does an interceptor left unused. A virtual clock for the retry waits.
 */
import nock from 'nock';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { ForgeClock } from '../../../src/forges/http.ts';

export function useStrictNock(): void {
  const unmatched: string[] = [];
  const onNoMatch = (req: { method?: string; href?: string; url?: string; path?: string }) => {
    unmatched.push(`${req.method ?? '?'} ${req.href ?? req.url ?? req.path ?? '?'}`);
  };
  beforeAll(() => {
    nock.disableNetConnect();
    nock.emitter.on('no match', onNoMatch);
  });
  afterEach(() => {
    const unused = nock.pendingMocks();
    nock.cleanAll();
    const missed = unmatched.splice(0);
    expect(missed, 'requests no interceptor matched').toEqual([]);
    expect(unused, 'interceptors never used').toEqual([]);
  });
  afterAll(() => {
    nock.emitter.off('no match', onNoMatch);
    nock.enableNetConnect();
  });
}

export interface VirtualClock extends ForgeClock {
  sleeps: number[];
  t: number;
}

/** Starts at 2023-11-14T22:13:20Z; sleep() advances it at once and records the wait. */
export function virtualClock(start = 1_700_000_000_000): VirtualClock {
  const clock: VirtualClock = {
    t: start,
    sleeps: [],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.t += ms;
    },
  };
  return clock;
}

export async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}
