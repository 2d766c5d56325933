/** Time for the gates: injected so tests never depend on wall-clock luck. */
import { setTimeout as sleepTimer } from 'node:timers/promises';

export interface VerifyClock {
  now(): number;
  /** Rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: VerifyClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepTimer(ms, undefined, signal ? { signal } : {}),
};
