/**
 * A clock for deterministic wait tests: `sleep` registers a timer on virtual time, and `run`
 * advances virtual time to the next timer only once everything else has settled (no I/O here,
 * so a few turns of the event loop are enough). A 10-minute timeout takes milliseconds.
 */
import type { Clock } from '../../../src/argocd/clock.ts';

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

export class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: Timer[] = [];

  now = (): number => this.t;

  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer: Timer = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
    });

  /** Runs `fn` at virtual time `at` (absolute, ms). */
  at(at: number, fn: () => void): void {
    this.timers.push({ at, seq: this.seq++, fire: fn });
  }

  /** Drives virtual time until `promise` settles. */
  async run<T>(promise: Promise<T>, maxSteps = 100_000): Promise<T> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let step = 0; !settled; step++) {
      await settle();
      if (settled) break;
      if (step > maxSteps) throw new Error('virtual clock: too many steps');
      const next = this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq).shift();
      if (!next)
        throw new Error('virtual clock: nothing scheduled and the promise is still pending');
      this.t = Math.max(this.t, next.at);
      next.fire();
    }
    return promise;
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
