/**
 * The installed `stackswap` starts from compiled JavaScript: bin/stackswap.js runs dist/ (built
 * by the global set-up when the sources changed), answers --version and --help without loading
 * git, config, the core, Argo CD or the service, and never runs a dist/ older than src/.
 * Asserted on what is loaded, not on how long it takes (bench/startup.ts measures that).
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot, runCli, spawnCli, type CliRun } from '../../helpers/cli.ts';

const version = (
  JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

function node(args: string[], cwd = projectRoot): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

/**
 * Runs the compiled CLI (dist/cli/main.js, whose modules are the sources' one to one) with a
 * module hook that records every module it loads. bin/stackswap.js runs the bundle of the same
 * modules when there is a current one (dist/bundle/: lazy imports stay lazy chunks); the
 * module graph is asserted here, where each module has its own file.
 */
async function loadedModules(args: string[]): Promise<{ run: CliRun; modules: string[] }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stackswap-trace-'));
  const log = path.join(dir, 'loaded.txt');
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}
`,
  );
  writeFileSync(
    path.join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${dir}/hooks.mjs`).href)});\n`,
  );
  writeFileSync(log, '');
  const run = await node([
    '--import',
    path.join(dir, 'register.mjs'),
    path.join(projectRoot, 'dist/cli/main.js'),
    ...args,
  ]);
  return { run, modules: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

const HEAVY =
  /node_modules\/(fastify|@fastify|simple-git|zod|yaml|pino|undici|tsx|prom-client|pg)\/|\/dist\/(gitops|core|server|argocd|sandbox|config|helm)\/|\/src\//;

describe('start-up', () => {
  it('--version prints the package version: bin answers it, and so does the CLI', async () => {
    expect(await spawnCli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(await spawnCli(['-V'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    // Not alone: commander in dist/ answers.
    expect(await spawnCli(['--verbose', '--version'])).toEqual({
      code: 0,
      stdout: `${version}\n`,
      stderr: '',
    });
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  for (const args of [
    ['--version'],
    ['--verbose', '--version'],
    ['--help'],
    ['deploy', '--help'],
    ['no-such-command'],
  ]) {
    it(`${args.join(' ')} loads commander and the CLI shell only`, async () => {
      const { run, modules } = await loadedModules(args);
      expect(run.code).toBe(args[0] === 'no-such-command' ? 2 : 0);
      if (args[0] !== '--version') {
        expect(modules).toContain(new URL(`file://${projectRoot}/dist/cli/program.js`).href);
      }
      expect(modules.filter((m) => HEAVY.test(m))).toEqual([]);
    });
  }

  it('deploy --help documents --dry-run', async () => {
    const r = await spawnCli(['deploy', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--dry-run\s+print the diff that would be committed/);
  });

  it('a git-only deploy does not load the Argo CD client, the service or the logger', async () => {
    const { modules } = await loadedModules(['--no-sync', 'deploy', '--dry-run']);
    expect(modules.some((m) => m.includes('/dist/core/operations/deploy.js'))).toBe(true);
    expect(
      modules.filter((m) =>
        /node_modules\/(undici|fastify|pino)\/|\/dist\/(argocd|server|sandbox)\//.test(m),
      ),
    ).toEqual([]);
  });
});

describe('bin/stackswap.js never runs a stale build', () => {
  /** A copy of bin/ with a dist/ and optionally a src/, in a folder of its own. */
  function layout(opts: { src?: 'older' | 'newer'; dist?: boolean; tsx?: boolean }): string {
    const root = mkdtempSync(path.join(os.tmpdir(), 'stackswap-bin-'));
    mkdirSync(path.join(root, 'bin'));
    for (const file of ['stackswap.js', 'dist-state.js']) {
      copyFileSync(path.join(projectRoot, 'bin', file), path.join(root, 'bin', file));
    }
    writeFileSync(path.join(root, 'package.json'), '{"type":"module"}\n');
    const distMain = path.join(root, 'dist/cli/main.js');
    if (opts.dist !== false) {
      mkdirSync(path.dirname(distMain), { recursive: true });
      writeFileSync(distMain, "console.log('from dist');\n");
      utimesSync(distMain, 2_000_000, 2_000_000);
    }
    if (opts.src) {
      const srcMain = path.join(root, 'src/cli/main.ts');
      mkdirSync(path.dirname(srcMain), { recursive: true });
      writeFileSync(srcMain, "const from: string = 'from source';\nconsole.log(from);\n");
      const t = opts.src === 'newer' ? 3_000_000 : 1_000_000;
      utimesSync(srcMain, t, t);
    }
    if (opts.tsx)
      symlinkSync(path.join(projectRoot, 'node_modules'), path.join(root, 'node_modules'));
    return root;
  }
  const bin = (root: string) => node([path.join(root, 'bin/stackswap.js')], root);

  it('runs dist/ when it is newer than every source file', async () => {
    expect(await bin(layout({ src: 'older' }))).toMatchObject({ code: 0, stdout: 'from dist\n' });
  });

  it('runs the bundle when it was made from the current dist/, and dist/ when it is older', async () => {
    const root = layout({ src: 'older' });
    const bundleMain = path.join(root, 'dist/bundle/main.js');
    mkdirSync(path.dirname(bundleMain), { recursive: true });
    writeFileSync(bundleMain, "console.log('from the bundle');\n");
    const complete = path.join(root, 'dist/bundle/complete');
    writeFileSync(complete, 'done\n');
    utimesSync(complete, 2_500_000, 2_500_000);
    expect(await bin(root)).toMatchObject({ code: 0, stdout: 'from the bundle\n' });
    // dist/ rebuilt after the bundle (tsc alone): the bundle is stale and not run.
    utimesSync(complete, 1_500_000, 1_500_000);
    expect(await bin(root)).toMatchObject({ code: 0, stdout: 'from dist\n' });
    // A bundle without its marker (an interrupted bundling) is not run either.
    rmSync(complete);
    expect(await bin(root)).toMatchObject({ code: 0, stdout: 'from dist\n' });
  });

  it('runs dist/ in an installed copy without src/ (the container image)', async () => {
    expect(await bin(layout({}))).toMatchObject({ code: 0, stdout: 'from dist\n', stderr: '' });
  });

  it('runs the sources through tsx, and says so, when a source is newer', async () => {
    const r = await bin(layout({ src: 'newer', tsx: true }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('from source\n');
    expect(r.stderr).toContain(
      'dist/ is stale (src/cli/main.ts changed after the last build); running the sources through tsx',
    );
  });

  it('refuses with the fix when dist/ is stale or missing and tsx is not installed', async () => {
    const stale = await bin(layout({ src: 'newer' }));
    expect(stale).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'stackswap: src/cli/main.ts changed after the last build: run npm run build\n',
    });
    const missing = await bin(layout({ dist: false }));
    expect(missing).toMatchObject({
      code: 1,
      stderr: 'stackswap: dist/cli/main.js is missing: run npm run build\n',
    });
    const unbuilt = await bin(layout({ src: 'older', dist: false }));
    expect(unbuilt.code).toBe(1);
    expect(unbuilt.stderr).toContain(
      'dist/cli/main.js is missing (src/cli/main.ts has not been built)',
    );
  });

  it('prepare (npm ci) without TypeScript keeps a current dist/ and names the fix otherwise', async () => {
    const prepare = (root: string) => node([path.join(root, 'bin/dist-state.js'), '--build'], root);
    expect(await prepare(layout({ src: 'older' }))).toMatchObject({ code: 0, stderr: '' });
    expect(await prepare(layout({}))).toMatchObject({ code: 0, stderr: '' });
    const stale = await prepare(layout({ src: 'newer' }));
    expect(stale.code).toBe(1);
    expect(stale.stderr).toBe(
      'stackswap: src/cli/main.ts changed after the last build, and TypeScript is not installed to build it: build dist/ where the dev dependencies are installed (npm ci && npm run build), then install with npm ci --omit=dev --ignore-scripts\n',
    );
  });
});
