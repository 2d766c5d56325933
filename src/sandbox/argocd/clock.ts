/**
 * Time for the stand-in: every timestamp and every timer (rollout progress, polling, latency,
 * stream drops, SSE keepalives) goes through one injectable clock, so tests can step time.
 */

export interface Timer {
  cancel(): void;
}

export interface StandInClock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(callback: () => void, ms: number): Timer;
}

export const systemClock: StandInClock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** RFC 3339 with seconds precision, as `metav1.Time` marshals ("2024-03-05T07:33:04Z"). */
export function k8sTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function sleep(clock: StandInClock, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
