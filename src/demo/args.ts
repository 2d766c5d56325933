/** The command line of `npm start [-- options]`. */
import { parseArgs } from 'node:util';

export interface DemoArgs {
  keep: boolean;
  preview: boolean;
  verbose: boolean;
  help: boolean;
}

export const HELP = `usage: npm start [-- --keep --preview --verbose]

Runs stackswap's whole blue/green cycle on the embedded sandbox (a local config repo, an Argo CD
stand-in rendering it with real helm, and a gateway routing by the rendered VirtualService), no
cluster needed: init, deploy, swap, revert, deploy, swap, scale-down through the real CLI code,
under steady load; then a rolling update of the live colour, one service at a time, under the
same load. Prints each step with its timing, what the load saw per phase, and a verdict.

options:
  --keep      leave the sandbox running afterwards and print how to use the CLI on it (Ctrl-C stops)
  --preview   also send 40 requests/s with x-stackswap-preview: true (they reach the idle
              colour) and print what they saw per phase (not part of the verdict)
  --verbose   also print the CLI's progress lines under each step
  --help      this text

exit code: 0 when every step succeeded, the whole-stack phases had no failed and no mixed
responses, and the rolling update showed mixed responses; 1 otherwise; 2 for a bad option.
`;

/** Throws TypeError (from node:util) on an unknown option or a stray argument. */
export function parseDemoArgs(argv: readonly string[]): DemoArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      keep: { type: 'boolean', default: false },
      preview: { type: 'boolean', default: false },
      verbose: { type: 'boolean', short: 'v', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  return { keep: values.keep, preview: values.preview, verbose: values.verbose, help: values.help };
}
