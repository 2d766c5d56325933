/**
 * Runs once before the test files: provide the system packages the suite needs (installing
 * them with apt when root, else failing with one line naming the package), extract the bundled
 * helm so parallel workers share one copy, and build dist/ when the sources changed since the
 * last build, so every test that runs bin/stackswap.js (or dist/ itself) runs the current code,
 * compiled, as an installed stackswap does. No test builds dist/ itself: a build while other
 * test files run the binary would let them read half-written files.
 */
import { buildIfStale } from '../../bin/dist-state.js';
import { helmBinary } from '../../src/helm/binary.ts';
import { provideSystemPackages } from './system-packages.ts';

export default async function setup(): Promise<void> {
  provideSystemPackages();
  process.env.STACKSWAP_HELM = await helmBinary();
  buildIfStale((line) => process.stderr.write(`global set-up: ${line}\n`));
}
