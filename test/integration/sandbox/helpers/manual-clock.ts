/** A clock that only moves when a test says so; due timers run in time order on `advance`. */
import type { StandInClock, Timer } from '../../../../src/sandbox/argocd/clock.ts';

interface Pending {
  at: number;
  seq: number;
  callback: () => void;
}

export class ManualClock implements StandInClock {
  private current: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start = Date.UTC(2026, 0, 1, 12, 0, 0)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): Timer {
    const entry = { at: this.current + Math.max(0, ms), seq: this.seq++, callback };
    this.pending.push(entry);
    return { cancel: () => (this.pending = this.pending.filter((p) => p !== entry)) };
  }

  /** How many timers are waiting. */
  get pendingTimers(): number {
    return this.pending.length;
  }

  /** Moves time forward, running every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.pending
        .filter((p) => p.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.pending = this.pending.filter((p) => p !== due);
      this.current = due.at;
      due.callback();
    }
    this.current = target;
  }
}
