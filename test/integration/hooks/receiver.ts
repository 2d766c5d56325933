/**
 * A real HTTP hook receiver on 127.0.0.1 (node:http), as a team would write one: it checks
 * the signature with the hook secret (refusing a bad one with 401, as the README's example
 * does) and answers what the test scripts. Every request is recorded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyBodySignature,
} from '../../../src/shared/signed-post.ts';

export interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: Record<string, unknown> | undefined;
  signatureOk: boolean;
}

export type Handler = (req: Received, res: ServerResponse) => void | Promise<void>;

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** Requests to `path` only. */
  at(path: string): Received[];
  close(): Promise<void>;
}

export async function startReceiver(secret: string, handler: Handler): Promise<Receiver> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const sig = req.headers[SIGNATURE_HEADER];
      const ts = req.headers[TIMESTAMP_HEADER];
      const signatureOk = verifyBodySignature(
        secret,
        {
          signature: typeof sig === 'string' ? sig : undefined,
          timestamp: typeof ts === 'string' ? ts : undefined,
        },
        body,
      );
      let json: Record<string, unknown> | undefined;
      try {
        json = body ? (JSON.parse(body) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      const entry: Received = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json,
        signatureOk,
      };
      received.push(entry);
      if (!signatureOk) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ result: 'fail', message: 'bad signature' }));
        return;
      }
      Promise.resolve(handler(entry, res)).catch(() => {
        res.destroy();
      });
    });
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    at: (path) => received.filter((r) => r.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function answer(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}
