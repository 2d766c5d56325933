/**
 * Fault injection, adjustable while the stand-in runs (`standIn.setFaults`): slow answers,
 * 503s, watch streams that drop, operations that never finish. Randomness is injectable.
 */

export interface FaultSettings {
  /** Fraction (0..1) of non-stream requests answered 503 Unavailable. */
  errorRate?: number;
  /** The next N requests (streams included) are answered 503 Unavailable. */
  failNextRequests?: number;
  /** Every watch stream is cut this long after it opened (0 or undefined: never). */
  dropStreamsAfterMs?: number;
  /**
   * How a stream is cut: `destroy` the connection (what a proxy timeout looks like, default),
   * `end` it cleanly, or send Argo CD's in-band error chunk first (`error`).
   */
  dropStreamsMode?: 'destroy' | 'end' | 'error';
  /** The gRPC code and message of the `error` chunk (default 14 Unavailable "transport is closing"). */
  streamError?: { code: number; message: string };
  /** Delay before every non-stream response. */
  latencyMs?: number;
  /** Sync operations stay Running (like a hook that never completes) until cleared or terminated. */
  stallOperations?: boolean;
}

export class Faults {
  private settings: FaultSettings;
  private readonly listeners = new Set<() => void>();

  constructor(
    initial: FaultSettings,
    private readonly random: () => number,
  ) {
    this.settings = validate({ ...initial });
  }

  get current(): Readonly<FaultSettings> {
    return this.settings;
  }

  /** Merges `changes` into the current settings (`undefined` values clear a setting). */
  set(changes: FaultSettings): void {
    this.settings = validate({ ...this.settings, ...changes });
    for (const listener of [...this.listeners]) listener();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Decides (and consumes) whether this request gets an injected 503. */
  shouldFail(isStream: boolean): boolean {
    const pending = this.settings.failNextRequests ?? 0;
    if (pending > 0) {
      this.settings = { ...this.settings, failNextRequests: pending - 1 };
      return true;
    }
    const rate = this.settings.errorRate ?? 0;
    return !isStream && rate > 0 && this.random() < rate;
  }
}

function validate(settings: FaultSettings): FaultSettings {
  const rate = settings.errorRate;
  if (rate !== undefined && !(rate >= 0 && rate <= 1)) {
    throw new RangeError(`errorRate must be between 0 and 1 (got ${rate})`);
  }
  for (const key of ['failNextRequests', 'dropStreamsAfterMs', 'latencyMs'] as const) {
    const value = settings[key];
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`${key} must be a number >= 0 (got ${value})`);
    }
  }
  return settings;
}
