// Bundles the compiled CLI (dist/cli/main.js and what it imports, lazily imported modules as
// chunks) into dist/bundle/, so a command loads a handful of files instead of ~250 (module
// resolution and file reads were a third of a warm deploy's 300 ms). Pure-JavaScript
// dependencies that every command loads (commander, yaml, zod) go into the bundle; every other
// package stays an import from node_modules, as in dist/. Each module keeps its own
// `import.meta.url` (rewritten relative to the chunk), so paths computed from it (the askpass
// helper, package.json, the chart and helm locations) resolve as in dist/.
// Needs esbuild (a dev dependency): without it there is no bundle and bin/stackswap.js runs
// dist/cli/main.js. bin/dist-state.js decides which one is current.
//
//   node bin/bundle.js        (re)builds dist/bundle/ from dist/; `npm run build` runs it
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUNDLE_DIR, BUNDLE_MAIN, DIST_MAIN, ROOT } from './dist-state.js';

/** Packages compiled into the bundle; every other bare import stays external. */
const BUNDLED_PACKAGES = new Set(['commander', 'yaml', 'zod']);

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** @returns {Promise<boolean>} whether a bundle was written */
export async function bundle(log = () => {}) {
  rmSync(BUNDLE_DIR, { recursive: true, force: true });
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    log('esbuild is not installed: no bundle; bin/stackswap.js runs dist/cli/main.js');
    return false;
  }
  const distDir = path.join(ROOT, 'dist');
  await esbuild.build({
    entryPoints: { main: DIST_MAIN },
    outdir: BUNDLE_DIR,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    // CommonJS dependencies (yaml) call require() for node built-ins.
    banner: {
      js: "import { createRequire as __stackswapCreateRequire } from 'node:module'; const require = __stackswapCreateRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'stackswap',
        setup(build) {
          build.onResolve({ filter: /^[^./]/ }, (args) => {
            if (args.path.startsWith('node:')) return { external: true };
            return BUNDLED_PACKAGES.has(packageName(args.path))
              ? undefined
              : { path: args.path, external: true };
          });
          build.onLoad({ filter: /\.js$/ }, async (args) => {
            if (!args.path.startsWith(distDir + path.sep)) return undefined;
            const { readFile } = await import('node:fs/promises');
            const source = await readFile(args.path, 'utf8');
            if (!source.includes('import.meta.url')) return { contents: source, loader: 'js' };
            const relative = path.relative(BUNDLE_DIR, args.path).split(path.sep).join('/');
            const own = `new URL(${JSON.stringify(relative)}, import.meta.url).href`;
            return { contents: source.replaceAll('import.meta.url', own), loader: 'js' };
          });
        },
      },
    ],
  });
  mkdirSync(BUNDLE_DIR, { recursive: true });
  // Written last: a bundle without it (an interrupted build) is never used.
  writeFileSync(path.join(BUNDLE_DIR, 'complete'), `${new Date().toISOString()}\n`);
  log(`bundled ${path.relative(ROOT, DIST_MAIN)} into ${path.relative(ROOT, BUNDLE_MAIN)}`);
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await bundle((line) => process.stderr.write(`${line}\n`));
}
