/**
 * A throwaway PostgreSQL server for the tests: Debian's binaries (provided by the test set-up,
 * test/helpers/system-packages.ts), a fresh cluster in a temp dir, listening on 127.0.0.1 on a
 * free port with trust authentication, fsync off. PostgreSQL refuses to run as root: when the
 * tests run as root, initdb and postgres are started as `nobody` (spawn's uid/gid) in a
 * directory chowned to it. `restart()` stops and starts the same cluster on the same port
 * (the database-restart test); `stop()` removes it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { POSTGRESQL, requireBinary } from '../../helpers/system-packages.ts';

export interface PostgresServer {
  url: string;
  port: number;
  /** Stops the server and starts it again on the same port and data. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Fast shutdown (sessions are cut); `up()` starts it again. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

const NOBODY = { uid: 65534, gid: 65534 };

function asUser(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? NOBODY : {};
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<PostgresServer> {
  const initdb = requireBinary(POSTGRESQL);
  const postgres = path.join(path.dirname(initdb), 'postgres');
  const root = mkdtempSync(path.join(os.tmpdir(), 'stackswap-pg-'));
  const data = path.join(root, 'data');
  const sockets = path.join(root, 'run');
  mkdirSync(data, { mode: 0o700 });
  mkdirSync(sockets, { mode: 0o700 });
  const user = asUser();
  if (user.uid !== undefined) {
    for (const dir of [root, data, sockets]) chownSync(dir, user.uid, user.gid!);
  }
  const init = spawnSync(
    initdb,
    ['-D', data, '-U', 'stackswap', '--auth=trust', '-E', 'UTF8', '--no-sync', '-A', 'trust'],
    { ...user, encoding: 'utf8', env: { PATH: process.env.PATH, LC_ALL: 'C' } },
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error}`);
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';

  const start = async () => {
    child = spawn(
      postgres,
      [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        sockets,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=200',
        '-c',
        'shared_buffers=32MB',
      ],
      {
        ...user,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { PATH: process.env.PATH, LC_ALL: 'C' },
      },
    );
    child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port,
        user: 'stackswap',
        database: 'postgres',
      });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`postgres did not start: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const halt = async () => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    // SIGINT: "fast shutdown" (sessions are cut, like a database restart in production).
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGINT');
    await exited;
  };

  await start();
  return {
    url: `postgres://stackswap@127.0.0.1:${port}/postgres`,
    port,
    async restart(options = {}) {
      await halt();
      await new Promise((r) => setTimeout(r, options.downMs ?? 0));
      await start();
    },
    down: halt,
    up: start,
    async stop() {
      await halt();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
