/**
 * A real Prometheus server (Debian's `prometheus` package) scraping the sandbox's pods: one
 * file_sd target per running backend, rewritten (atomically) whenever the pool's endpoints
 * change, so targets come and go with the pods. Scrape interval 1 s by default.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackendPool } from './traffic/backends.ts';

export interface SandboxPrometheus {
  url: URL;
  /** Resolves once Prometheus has the current targets in its file (not yet scraped). */
  targetsWritten(): Promise<void>;
  close(): Promise<void>;
}

export interface PrometheusOptions {
  /** Folder for its config, targets and data (created). */
  dir: string;
  pool: BackendPool;
  binary?: string;
  scrapeIntervalMs?: number;
  port?: number;
  /** How long to wait for /-/ready. Default 30 s. */
  startTimeoutMs?: number;
}

/** The `prometheus` executable on PATH (or /usr/bin), or undefined when it is not installed. */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, 'prometheus');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function startPrometheus(options: PrometheusOptions): Promise<SandboxPrometheus> {
  const binary = options.binary ?? findPrometheus();
  if (!binary) throw new Error('prometheus is not installed (apt-get install prometheus)');
  const interval = Math.max(1, Math.round((options.scrapeIntervalMs ?? 1000) / 1000));
  await mkdir(path.join(options.dir, 'data'), { recursive: true });
  const targetsFile = path.join(options.dir, 'targets.json');
  let writing = Promise.resolve();
  const writeTargets = () => {
    const targets = options.pool.backends().map((b) => ({
      targets: [b.url.host],
      labels: { pod: b.key },
    }));
    writing = writing.then(async () => {
      const tmp = `${targetsFile}.tmp`;
      await writeFile(tmp, JSON.stringify(targets));
      await rename(tmp, targetsFile);
    });
    return writing;
  };
  await writeTargets();
  const unsubscribe = options.pool.onEndpointsChange(() => void writeTargets());
  const configFile = path.join(options.dir, 'prometheus.yml');
  await writeFile(
    configFile,
    [
      'global:',
      `  scrape_interval: ${interval}s`,
      `  scrape_timeout: ${interval}s`,
      `  evaluation_interval: ${interval}s`,
      'scrape_configs:',
      '  - job_name: sandbox-pods',
      '    file_sd_configs:',
      `      - files: [${JSON.stringify(targetsFile)}]`,
      '        refresh_interval: 1s',
      '',
    ].join('\n'),
  );

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.port ?? (await freePort());
    const child = spawn(
      binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(options.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=2h',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const stderr: string[] = [];
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr.push(chunk.toString('utf8'));
      if (stderr.length > 50) stderr.shift();
    });
    const url = new URL(`http://127.0.0.1:${port}/`);
    try {
      await waitReady(url, child, options.startTimeoutMs ?? 30_000);
    } catch (e) {
      lastError = new Error(
        `${String(e)}: ${stderr.join('').trim().split('\n').slice(-3).join(' | ')}`,
      );
      await stop(child);
      if (options.port !== undefined) break;
      continue;
    }
    return {
      url,
      targetsWritten: () => writing,
      async close() {
        unsubscribe();
        await writing.catch(() => {});
        await stop(child);
      },
    };
  }
  unsubscribe();
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

async function waitReady(url: URL, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`prometheus exited with ${exited}`);
    try {
      const response = await fetch(new URL('-/ready', url), { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`prometheus did not become ready within ${timeoutMs} ms`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killed = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  if (!killed) {
    child.kill('SIGKILL');
    await exited;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
