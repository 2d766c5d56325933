#!/usr/bin/env node
// The `stackswap` command: runs the compiled CLI in dist/ (`npm run build`; `npm ci` builds it
// through the `prepare` script), so start-up costs node and commander, not a TypeScript compile;
// a bare `--version` is answered from package.json here, before any of it loads.
// In a development checkout a dist/ older than src/ never runs: the sources run through tsx
// (a development tool) instead, with a note on stderr; `npm run build` restores the fast start.
import { readFileSync } from 'node:fs';
import { distState } from './dist-state.js';

const args = process.argv.slice(2);
const state =
  args.length === 1 && (args[0] === '--version' || args[0] === '-V') ? undefined : distState();
if (!state) {
  // What the CLI answers (src/cli/program.ts reads the same file), without loading it.
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${version}\n`);
} else if (state.fresh) {
  await import(state.main);
} else {
  let register;
  if (state.checkout) {
    try {
      ({ register } = await import('tsx/esm/api'));
    } catch {
      // tsx is not installed (npm ci --omit=dev): say what to do below.
    }
  }
  if (register) {
    process.stderr.write(
      `stackswap: dist/ is stale (${state.reason}); running the sources through tsx (npm run build for a fast start)\n`,
    );
    register();
    await import('../src/cli/main.ts');
  } else {
    process.stderr.write(`stackswap: ${state.reason}: run npm run build\n`);
    process.exitCode = 1;
  }
}
