/**
 * Runs the real stackswap CLI in-process (`run(argv, io)` from src/cli/program.ts) against the
 * sandbox, with `--output json`, captured stdout/stderr and an injectable clock, and reads the
 * one JSON document it prints. This is the same code path as `stackswap <argv>` in a shell.
 */
import { Writable } from 'node:stream';
import { z } from 'zod';
import { run } from '../cli/program.ts';

/** The CLI's clock: real time plus an offset the demo can move forward (retention windows). */
export class DemoClock {
  private offsetMs = 0;

  readonly now = (): number => Date.now() + this.offsetMs;

  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface CliCall {
  argv: readonly string[];
  exitCode: number;
  /** `result` of `{"ok": true, "result": ...}`, or undefined when the call failed. */
  result: unknown;
  /** Progress lines and, on failure, the error message. */
  stderr: string;
  durationMs: number;
}

export interface CliRunnerOptions {
  /** The sandbox's environment (`sandbox.env`). */
  env: Readonly<Record<string, string>>;
  clock: DemoClock;
  /** `--timeout` of every call, in seconds. */
  timeoutSeconds: number;
  /** Recorded in the commit trailers. */
  requestedBy?: string;
}

const Envelope = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }).loose(),
  z.object({ ok: z.literal(false) }).loose(),
]);

export class CliRunner {
  constructor(private readonly options: CliRunnerOptions) {}

  async call(argv: readonly string[]): Promise<CliCall> {
    const stdout = new Capture();
    const stderr = new Capture();
    const full = [
      '--output',
      'json',
      '--timeout',
      String(this.options.timeoutSeconds),
      '--requested-by',
      this.options.requestedBy ?? 'npm-start-demo',
      ...argv,
    ];
    const started = Date.now();
    const exitCode = await run(full, {
      stdout,
      stderr,
      isTTY: false,
      gitlab: false,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...this.options.env },
      now: this.options.clock.now,
    });
    const durationMs = Date.now() - started;
    return { argv, exitCode, result: resultOf(stdout.text), stderr: stderr.text, durationMs };
  }
}

function resultOf(stdout: string): unknown {
  try {
    const parsed = Envelope.safeParse(JSON.parse(stdout));
    return parsed.success && parsed.data.ok
      ? (parsed.data as { result: unknown }).result
      : undefined;
  } catch {
    return undefined;
  }
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}
