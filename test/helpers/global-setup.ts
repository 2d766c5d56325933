/**
 * Runs once before the test files: provide the system packages the suite needs (installing
 * them with apt when root, else failing with one line naming the package), extract the bundled
 * helm so parallel workers share one copy, and build dist/ when the sources changed since the
 * last build, so every test that runs bin/stackswap.js (or dist/ itself) runs the current code,
 * compiled, as an installed stackswap does. No test builds dist/ itself: a build while other
 * test files run the binary would let them read half-written files.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { distState, ROOT } from '../../bin/dist-state.js';
import { helmBinary } from '../../src/helm/binary.ts';
import { provideSystemPackages } from './system-packages.ts';

export default async function setup(): Promise<void> {
  provideSystemPackages();
  process.env.STACKSWAP_HELM = await helmBinary();
  buildDist();
}

function buildDist(): void {
  const before = distState();
  if (before.fresh) return;
  process.stderr.write(`global set-up: building dist/ (${before.reason})\n`);
  try {
    // What `npm run build` runs (without npm's own start-up).
    execFileSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 },
    );
  } catch {
    // tsc emits despite type errors (npm run typecheck reports them); dist/ is checked below.
  }
  const after = distState();
  if (!after.fresh)
    throw new Error(`global set-up: npm run build left dist/ stale: ${after.reason}`);
}
