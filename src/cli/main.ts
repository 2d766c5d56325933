/** Entry point of the `stackswap` binary. Sets the exit code (rather than exiting) so logs flush. */
import { run } from './program.ts';

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  isTTY: process.stderr.isTTY === true && process.env.CI !== 'true',
  gitlab: process.env.GITLAB_CI === 'true',
  env: process.env,
});
