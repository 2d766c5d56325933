/**
 * Operations report progress as plain data events; the CLI renders them (TTY, CI sections,
 * JSON) and the HTTP service relays them. Nothing here knows how they are shown.
 */
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
  | { type: 'info'; step?: string; message: string; at: number };

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

  constructor(
    private readonly listener: ProgressListener = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  info(message: string, step?: string): void {
    this.listener({ type: 'info', message, at: this.now(), ...(step ? { step } : {}) });
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
