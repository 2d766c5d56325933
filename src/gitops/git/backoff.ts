/**
 * The wait between compare-and-swap attempts: exponential, capped, with "full jitter" (a
 * uniformly random wait between 0 and the step). Many writers on one branch (20 CI jobs that
 * deploy 20 stacks of one repo) land one commit per round; full jitter spreads their retries
 * over the whole window instead of bunching them at its middle, so a round wastes fewer
 * pushes, and the small first step keeps the branch busy instead of idle. The step still
 * doubles per lost race, so a writer that keeps losing backs off.
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
  return Math.round(step * jitter);
}
