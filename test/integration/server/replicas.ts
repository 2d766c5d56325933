/**
 * `stackswap serve` as separate processes (the real CLI entry through tsx), for the scale-out
 * test and the bench: each replica gets its own cache and data dir, the shared environment
 * (config repo, Argo CD, PostgreSQL) and a free port; `base` is its address once it listens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = path.join(ROOT, 'src/cli/main.ts');

export interface Replica {
  name: string;
  base: string;
  child: ChildProcess;
  /** Everything the process wrote on stderr (JSON log lines). */
  log(): string;
  /** SIGKILL, and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>;
}

export async function startReplica(name: string, env: NodeJS.ProcessEnv): Promise<Replica> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'serve', '--port', '0', '--host', '127.0.0.1'],
    {
      cwd: ROOT,
      env: {
        STACKSWAP_CACHE_DIR: tempDir(`${name}-cache`),
        STACKSWAP_DATA_DIR: tempDir(`${name}-data`),
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  const base = await new Promise<string>((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`replica ${name} exited with ${code}: ${stderr.slice(-2000)}`));
    child.once('exit', onExit);
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      const match = /stackswap serve listening on (http:\/\/[^\s]+)/.exec(stderr);
      if (match) {
        child.removeListener('exit', onExit);
        resolve(match[1]!);
      }
    });
  });
  const exited = () =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : once(child, 'exit').then(() => undefined);
  return {
    name,
    base,
    child,
    log: () => stderr,
    async kill9() {
      const done = exited();
      child.kill('SIGKILL');
      await done;
    },
    async stop() {
      const done = exited();
      child.kill('SIGTERM');
      await done;
    },
  };
}
