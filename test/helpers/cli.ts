/** Runs the CLI in-process (fast) or as a real child process, capturing its output. */
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/program.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

/**
 * What every CLI run in the tests starts from. Sandbox mode is on (the tests use local bare
 * repos); a caller's env that sets STACKSWAP_SANDBOX, even to '' or undefined, wins.
 */
function testDefaults(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, STACKSWAP_SANDBOX: '1' };
}

export async function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; now?: () => number } = {},
): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(args, {
    stdout,
    stderr,
    isTTY: false,
    gitlab: false,
    env: { ...testDefaults(), ...options.env },
    ...(options.now ? { now: options.now } : {}),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

export const projectRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const cliBin = path.join(projectRoot, 'bin', 'stackswap.js');

/** The real binary in a child process: what a GitLab job runs. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliBin, ...args],
      { env: { ...testDefaults(), ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
