/** `npm start`: parses the options, runs the demo, and with --keep waits for Ctrl-C. */
import { HELP, parseDemoArgs, type DemoArgs } from './args.ts';
import { keepInstructions, startDashboard } from './keep.ts';
import { runDemo } from './run-demo.ts';

async function main(argv: readonly string[]): Promise<number> {
  let args: DemoArgs;
  try {
    args = parseDemoArgs(argv);
  } catch (error) {
    process.stderr.write(`npm start: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }

  // During the run, the first Ctrl-C stops after the current step and cleans up; a second one
  // exits at once. With --keep, Ctrl-C afterwards stops the sandbox. A terminal's Ctrl-C
  // reaches this process more than once (directly, and relayed by npm and tsx), so repeats
  // within a second count as one.
  const interrupt = new AbortController();
  let running = true;
  let firstSignalAt = 0;
  const onSignal = () => {
    if (interrupt.signal.aborted) {
      if (Date.now() - firstSignalAt > 1_000) process.exit(130);
      return;
    }
    firstSignalAt = Date.now();
    process.stderr.write(
      running
        ? '\nstopping after the current step (Ctrl-C again to quit now)\n'
        : '\nstopping the sandbox\n',
    );
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const { exitCode, sandbox } = await runDemo({
    keep: args.keep,
    verbose: args.verbose,
    previewRatePerSecond: args.preview ? 40 : 0,
    signal: interrupt.signal,
  });
  running = false;
  if (sandbox) {
    if (!interrupt.signal.aborted) {
      // The dashboard on the kept sandbox: `stackswap serve` with a fresh admin token.
      const dashboard = await startDashboard(sandbox).catch(async (error: unknown) => {
        await sandbox.close();
        throw error;
      });
      process.stdout.write(keepInstructions(sandbox, dashboard));
      await new Promise<void>((resolve) =>
        interrupt.signal.addEventListener('abort', () => resolve()),
      );
      await dashboard.close();
    }
    await sandbox.close();
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `npm start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
