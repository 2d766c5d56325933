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
/** dist/ bundled into a few files (bin/bundle.js); `complete` is written last. */
export const BUNDLE_DIR = path.join(ROOT, 'dist', 'bundle');
export const BUNDLE_MAIN = path.join(BUNDLE_DIR, 'main.js');
const BUNDLE_COMPLETE = path.join(BUNDLE_DIR, 'complete');
const SRC = path.join(ROOT, 'src');

/**
 * `main`: what to run, the bundle when it was made from the current dist/ (its `complete`
 * marker at least as new as every compiled file), else dist/cli/main.js.
 * @returns {{ fresh: true, checkout: boolean, main: string } | { fresh: false, checkout: boolean, reason: string }}
 */
export function distState() {
  const checkout = existsSync(path.join(SRC, 'cli', 'main.ts'));
  if (!checkout) {
    if (!existsSync(DIST_MAIN)) {
      return { fresh: false, checkout, reason: 'dist/cli/main.js is missing' };
    }
    return {
      fresh: true,
      checkout,
      main: bundleMtime() >= mtime(DIST_MAIN) ? BUNDLE_MAIN : DIST_MAIN,
    };
  }
  const newest = { ms: 0 };
  const stale = staleSource(SRC, path.join(ROOT, 'dist'), newest);
  if (stale) return { fresh: false, checkout, reason: stale };
  return { fresh: true, checkout, main: bundleMtime() >= newest.ms ? BUNDLE_MAIN : DIST_MAIN };
}

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/** When the bundle was completed; -1 without one. */
function bundleMtime() {
  return existsSync(BUNDLE_MAIN) ? mtime(BUNDLE_COMPLETE) : -1;
}

/**
 * The first source file whose compiled twin is missing or older, as a sentence; or undefined.
 * `newest.ms`: the newest compiled twin seen.
 */
function staleSource(srcDir, distDir, newest) {
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    const src = path.join(srcDir, entry.name);
    if (entry.isDirectory()) {
      const found = staleSource(src, path.join(distDir, entry.name), newest);
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
    if (built > newest.ms) newest.ms = built;
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
  if (before.fresh) {
    if (before.main !== BUNDLE_MAIN) bundleIfPossible(log);
    return;
  }
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
  bundleIfPossible(log);
}

/** Runs bin/bundle.js when it and esbuild are there; a failed bundle leaves dist/ to run. */
function bundleIfPossible(log) {
  const script = path.join(ROOT, 'bin', 'bundle.js');
  if (!existsSync(script) || !existsSync(path.join(ROOT, 'node_modules', 'esbuild'))) return;
  try {
    execFileSync(process.execPath, [script], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 120_000,
    });
    log('bundled dist/ into dist/bundle/');
  } catch (e) {
    log(
      `no bundle (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); dist/cli/main.js runs`,
    );
  }
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
