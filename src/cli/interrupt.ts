/**
 * Ctrl-C (SIGINT) and SIGTERM for the commands that run verification (`swap`, `verify`), in one
 * place: the first signal aborts the operation's signal, so a running gate ends `interrupted`
 * (exit 11, never a pass) and the operation leaves traffic safe on its way out (a weighted step
 * goes back to 0 in one commit; a pre-swap gate has moved nothing). The rollback itself runs
 * without the signal, to the end. A second signal ends the process at once (Node's default).
 */
import type { Writable } from 'node:stream';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export async function withInterrupt<T>(
  stderr: Writable,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    for (const s of SIGNALS) process.off(s, stop);
    stderr.write(
      `stackswap: ${signal}: stopping; verification ends as interrupted and traffic is left safe (send it again to quit at once)\n`,
    );
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  for (const s of SIGNALS) process.on(s, stop);
  try {
    return await run(controller.signal);
  } finally {
    for (const s of SIGNALS) process.off(s, stop);
  }
}
