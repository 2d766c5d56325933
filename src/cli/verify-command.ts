/** `stackswap verify [--colour C]`: the checks and analysis alone, on one colour. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ExitCode } from '../shared/errors.ts';
import { Progress } from '../shared/progress.ts';
import { printResult, progressRenderer } from './output.ts';
import type { Session } from './session.ts';
import type { CliIo } from './io.ts';
import { withInterrupt } from './interrupt.ts';

export function registerVerifyCommand(
  program: Command,
  io: CliIo,
  session: () => Promise<Session>,
  setExit: (code: number) => void,
): void {
  program
    .command('verify')
    .description(
      "run the stack's checks and analysis on one colour (default the preview); changes nothing",
    )
    .addOption(new Option('--colour <colour>', 'the colour to verify').choices(['blue', 'green']))
    .action(async (opts: { colour?: string }) => {
      // Loaded when the command runs, like every command's implementation (start-up stays light).
      const [{ verifyColour }, { Colour }] = await Promise.all([
        import('../core/operations/verify.ts'),
        import('../config/names.ts'),
      ]);
      const s = await session();
      const format = s.options.output;
      const ctx = await s.operationContext(new Progress(progressRenderer(io, format), io.now));
      const stack = await s.stackName(ctx.repo);
      const result = await withInterrupt(io.stderr, (signal) =>
        verifyColour(
          { ...ctx, signal },
          { stack, ...(opts.colour ? { colour: Colour.parse(opts.colour) } : {}) },
        ),
      );
      printResult(io, format, result, result.summary);
      setExit(ExitCode.ok);
    });
}

/** `--steps 10,50,100`: increasing whole percentages ending at 100. */
export function parseSteps(text: string): number[] {
  const weights = text.split(',').map((part) => Number(part.trim()));
  const ok =
    weights.length > 0 &&
    weights.every(
      (w, i) => Number.isInteger(w) && w >= 1 && w <= 100 && (i === 0 || w > weights[i - 1]!),
    ) &&
    weights.at(-1) === 100;
  if (!ok) {
    throw new InvalidArgumentError(
      '--steps: increasing whole percentages ending at 100, e.g. 10,50,100',
    );
  }
  return weights;
}
