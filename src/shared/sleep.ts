/**
 * Waits `ms`, or less when `signal` aborts; it always resolves (callers check the signal), and
 * leaves no timer or listener behind either way. The timer is not unref'd: a CLI waiting out a
 * backoff or a merge must stay alive for it.
 */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
