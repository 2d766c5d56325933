// Is dist/ (the compiled CLI, `npm run build`) current? In a development checkout (src/ is
// present) every source file must have a compiled twin at least as new as itself; otherwise
// dist/ is stale and must not run. In an installed copy without src/ (the container image),
// dist/ is all there is. Plain JavaScript with no dependencies: bin/stackswap.js runs it on every
// start (one stat per file: a few milliseconds); `npm ci` (the `prepare` script) and the test
// set-up build through `buildIfStale`.
//
//   node bin/dist-state.js            prints the state; exit 1 when stale
//   node bin/dist-state.js --build    builds when stale (tsc -p tsconfig.build.json), then checks
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST_MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');
const SRC = path.join(ROOT, 'src');

/**
 * @returns {{ fresh: true, checkout: boolean } | { fresh: false, checkout: boolean, reason: string }}
 */
export function distState() {
  const checkout = existsSync(path.join(SRC, 'cli', 'main.ts'));
  if (!checkout) {
    return existsSync(DIST_MAIN)
      ? { fresh: true, checkout }
      : { fresh: false, checkout, reason: 'dist/cli/main.js is missing' };
  }
  const stale = staleSource(SRC, path.join(ROOT, 'dist'));
  return stale ? { fresh: false, checkout, reason: stale } : { fresh: true, checkout };
}

/** The first source file whose compiled twin is missing or older, as a sentence; or undefined. */
function staleSource(srcDir, distDir) {
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    const src = path.join(srcDir, entry.name);
    if (entry.isDirectory()) {
      const found = staleSource(src, path.join(distDir, entry.name));
      if (found) return found;
      continue;
    }
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const twin = path.join(distDir, `${entry.name.slice(0, -3)}.js`);
    const relative = path.relative(ROOT, src);
    let built;
    try {
      built = statSync(twin).mtimeMs;
    } catch {
      return `${path.relative(ROOT, twin)} is missing (${relative} has not been built)`;
    }
    if (statSync(src).mtimeMs > built) return `${relative} changed after the last build`;
  }
  return undefined;
}

/**
 * Builds dist/ when it is stale: what `npm run build` runs, without npm's own start-up. Throws
 * when TypeScript is not installed (`npm ci --omit=dev` on a checkout without a current dist/)
 * or when dist/ is still stale after the build.
 * @param {(line: string) => void} [log]
 */
export function buildIfStale(log = () => {}) {
  const before = distState();
  if (before.fresh) return;
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!before.checkout || !existsSync(tsc)) {
    throw new Error(
      `${before.reason}, and TypeScript is not installed to build it: build dist/ where the dev dependencies are installed (npm ci && npm run build), then install with npm ci --omit=dev --ignore-scripts`,
    );
  }
  log(`building dist/ (${before.reason})`);
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 600_000,
    });
  } catch {
    // tsc emits despite type errors (npm run typecheck reports them); dist/ is checked below.
  }
  const after = distState();
  if (!after.fresh) throw new Error(`the build left dist/ stale: ${after.reason}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--build')) {
    try {
      buildIfStale((line) => process.stderr.write(`stackswap: ${line}\n`));
    } catch (e) {
      process.stderr.write(`stackswap: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  } else {
    const state = distState();
    process.stdout.write(
      state.fresh ? 'dist/ is up to date\n' : `dist/ is stale: ${state.reason}\n`,
    );
    process.exitCode = state.fresh ? 0 : 1;
  }
}
