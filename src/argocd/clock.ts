/**
 * Time as the Argo CD code sees it: injected so tests decide how long a wait or a backoff is.
 */
import { setTimeout as delay } from 'node:timers/promises';

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when it is aborted first. */
  sleep: Sleep;
}

export const realSleep: Sleep = async (ms, signal) => {
  await delay(Math.max(0, ms), undefined, signal ? { signal } : {});
};

export const systemClock: Clock = { now: () => Date.now(), sleep: realSleep };
