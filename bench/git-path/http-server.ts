/**
 * Smart HTTP for the benchmark: a real `git http-backend` behind a small node server on
 * 127.0.0.1 that demands HTTP Basic auth (as a forge does for a private project) and counts the
 * bytes of every request and response body, so each client's transfer can be reported.
 * Responses are streamed, not buffered, so a large clone costs what it would over a LAN.
 */
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { basicPassword, httpBackendEnv } from '../../test/helpers/git-fixtures.ts';

export interface Traffic {
  requests: number;
  /** Response body bytes: what the client fetched (ref advertisements and packs). */
  fetched: number;
  /** Request body bytes: what the client sent (negotiation and pushed packs). */
  sent: number;
  unauthorized: number;
}

export const noTraffic = (): Traffic => ({ requests: 0, fetched: 0, sent: 0, unauthorized: 0 });

export interface GitServer {
  /** http://127.0.0.1:<port>/<repo>.git for a bare repo `<root>/<repo>.git`. */
  urlOf(repoName: string): string;
  /** Starts a new meter; every request from now on counts into it (and into the total). */
  meter(): Traffic;
  total: Traffic;
  close(): Promise<void>;
}

export async function startGitServer(projectRoot: string, token: string): Promise<GitServer> {
  const backend = path.join(
    execFileSync('git', ['--exec-path'], { cwd: os.tmpdir(), encoding: 'utf8' }).trim(),
    'git-http-backend',
  );
  const total = noTraffic();
  let current = noTraffic();

  const server = http.createServer((req, res) => {
    const meters = [total, current];
    const count = (f: (t: Traffic) => void) => meters.forEach(f);
    count((t) => t.requests++);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (basicPassword(req.headers.authorization) !== token) {
      count((t) => t.unauthorized++);
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="stackswap-bench"' });
      res.end('Unauthorized\n');
      return;
    }
    const child = spawn(backend, [], {
      env: httpBackendEnv(req, url, projectRoot, 'bench'),
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.on('data', (c: Buffer) => count((t) => (t.sent += c.length)));
    req.pipe(child.stdin);
    child.stdin.on('error', () => {});

    // CGI output: headers, a blank line, then the body, which is streamed through.
    let head: Buffer | undefined = Buffer.alloc(0);
    child.stdout.on('data', (chunk: Buffer) => {
      if (head === undefined) {
        count((t) => (t.fetched += chunk.length));
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      if (crlf < 0 && lf < 0) return;
      const [split, sep] = crlf >= 0 && (lf < 0 || crlf < lf) ? [crlf, 4] : [lf, 2];
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, split).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      const body = head.subarray(split + sep);
      head = undefined;
      res.writeHead(status, headers);
      count((t) => (t.fetched += body.length));
      if (body.length) res.write(body);
    });
    child.on('close', () => res.end());
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    urlOf: (name) => `http://127.0.0.1:${port}/${name}.git`,
    meter: () => (current = noTraffic()),
    total,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
