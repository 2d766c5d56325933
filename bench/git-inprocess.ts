/**
 * The git part of `stackswap deploy --no-sync`, timed inside one process (no process start-up,
 * no module loading): the same config repo and smart-HTTP server as bench/git-path, the CLI's
 * run() called in-process, cold (empty cache) and warm (cache of the previous warm run),
 * alternating. With --git-log, the debug log (stderr) has one line per git command and its `ms`.
 *
 *   npx tsx bench/git-inprocess.ts [--files 20000] [--commits 20000] [--rounds 7] [--git-log]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { run } from '../src/cli/program.ts';
import { buildConfigRepo, copyRepo, exampleStack } from './git-path/build-repo.ts';
import { startGitServer } from './git-path/http-server.ts';
import { median } from './stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const TOKEN = 'bench-token-0123456789';
const { values: opts } = parseArgs({
  options: {
    files: { type: 'string', default: '20000' },
    commits: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '7' },
    /** Debug log on stderr: one line per git command with its duration (`ms`). */
    'git-log': { type: 'boolean', default: false },
  },
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

async function deploy(url: string, cacheDir: string, version: string): Promise<number> {
  const stdout = new Sink();
  const stderr = new Sink();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    STACKSWAP_REPO: url,
    STACKSWAP_GIT_TOKEN: TOKEN,
    STACKSWAP_GIT_ALLOW_HTTP: 'true',
    STACKSWAP_CACHE_DIR: cacheDir,
    STACKSWAP_REQUESTED_BY: 'bench',
  };
  const started = performance.now();
  const code = await run(
    [
      ...(opts['git-log'] ? ['--verbose'] : []),
      'deploy',
      '--no-sync',
      '--set',
      `my-frontend=${version}`,
      '--output',
      'json',
    ],
    { stdout, stderr, isTTY: false, gitlab: false, env },
  );
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`deploy ${version}: exit ${code}\n${stdout.text}${stderr.text}`);
  return ms;
}

async function main() {
  const repo = await buildConfigRepo(
    { files: Number(opts.files), commits: Number(opts.commits) },
    exampleStack(ROOT),
  );
  const work = mkdtempSync(path.join(os.tmpdir(), 'bench-git-inprocess-'));
  const served = path.join(work, 'served');
  mkdirSync(served);
  copyRepo(repo, served, 'config');
  const server = await startGitServer(served, TOKEN);
  try {
    const url = server.urlOf('config');
    const warm = path.join(work, 'warm');
    await deploy(url, warm, 'prime');
    const cold: number[] = [];
    const hot: number[] = [];
    for (let round = 1; round <= Number(opts.rounds); round++) {
      const cache = path.join(work, `cold-${round}`);
      cold.push(await deploy(url, cache, `c${round}`));
      rmSync(cache, { recursive: true, force: true });
      hot.push(await deploy(url, warm, `w${round}`));
      process.stderr.write(
        `round ${round}: cold ${cold.at(-1)!.toFixed(0)} ms, warm ${hot.at(-1)!.toFixed(0)} ms\n`,
      );
    }
    console.log(
      `in-process deploy --no-sync (${opts.files} files, ${opts.commits} commits, smart HTTP): ` +
        `cold median ${median(cold).toFixed(0)} ms, warm median ${median(hot).toFixed(0)} ms`,
    );
  } finally {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
