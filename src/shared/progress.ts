/**
 * Operations report progress as plain data events; the CLI renders them (TTY, CI sections,
 * JSON) and the HTTP service relays them. Nothing here knows how they are shown. Step lines
 * and the lifecycle events of src/shared/events.ts travel in this one stream, so the SSE
 * relay, the journal, notifications and hooks all see the same objects in the same order.
 */
import type { StackEvent } from './events.ts';

export type ProgressEvent =
  | { type: 'step-start'; step: string; title: string; at: number }
  | {
      type: 'step-end';
      step: string;
      title: string;
      at: number;
      durationMs: number;
      ok: boolean;
      detail?: string;
    }
  | { type: 'info'; step?: string; message: string; at: number }
  | { type: 'event'; event: StackEvent; at: number };

export type ProgressListener = (event: ProgressEvent) => void;

export interface StepTiming {
  step: string;
  title: string;
  durationMs: number;
  ok: boolean;
  detail?: string;
}

export class Progress {
  readonly steps: StepTiming[] = [];
  /** Lifecycle events emitted so far, in order (the operation result carries them). */
  readonly events: StackEvent[] = [];

  constructor(
    private readonly listener: ProgressListener = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  info(message: string, step?: string): void {
    this.listener({ type: 'info', message, at: this.now(), ...(step ? { step } : {}) });
  }

  /** Emits a lifecycle event; its id is `<operationId>.<n>`, n counting from 1 per operation. */
  event(event: Omit<StackEvent, 'id'>): StackEvent {
    const full: StackEvent = { id: `${event.operationId}.${this.events.length + 1}`, ...event };
    this.events.push(full);
    this.listener({ type: 'event', event: full, at: this.now() });
    for (const tap of this.taps) tap(full);
    return full;
  }

  private readonly taps: ((event: StackEvent) => void)[] = [];

  /** Also hands every lifecycle event to `tap` (the CLI's notifications), after the listener. */
  onEvent(tap: (event: StackEvent) => void): void {
    this.taps.push(tap);
  }

  /** Runs `fn` as a named step; its return value may carry a one-line detail for the end line. */
  async step<T>(
    step: string,
    title: string,
    fn: () => Promise<T>,
    detail?: (result: T) => string,
  ): Promise<T> {
    const start = this.now();
    this.listener({ type: 'step-start', step, title, at: start });
    try {
      const result = await fn();
      this.finish(step, title, start, true, detail?.(result));
      return result;
    } catch (e) {
      this.finish(
        step,
        title,
        start,
        false,
        e instanceof Error ? e.message.split('\n')[0] : String(e),
      );
      throw e;
    }
  }

  private finish(
    step: string,
    title: string,
    start: number,
    ok: boolean,
    detail: string | undefined,
  ) {
    const at = this.now();
    const timing: StepTiming = {
      step,
      title,
      durationMs: at - start,
      ok,
      ...(detail ? { detail } : {}),
    };
    this.steps.push(timing);
    this.listener({ type: 'step-end', at, ...timing });
  }
}
