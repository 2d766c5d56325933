/**
 * The wait between compare-and-swap attempts: exponential, capped, with "equal jitter" (half of
 * the step fixed, half random). The fixed half makes the waits grow attempt after attempt; the
 * random half keeps writers that lost the same race from retrying in lock-step.
 */
export interface BackoffPolicy {
  minDelayMs: number;
  maxDelayMs: number;
}

/** Milliseconds to wait after `failedAttempts` (>= 1) lost races. `random` returns [0, 1). */
export function backoffDelay(
  failedAttempts: number,
  policy: BackoffPolicy,
  random: () => number,
): number {
  const exponent = Math.max(0, Math.min(failedAttempts - 1, 30));
  const step = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** exponent);
  const jitter = Math.min(Math.max(random(), 0), 1);
  return Math.round(step / 2 + (step / 2) * jitter);
}
