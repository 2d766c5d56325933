/**
 * An HTTP server on 127.0.0.1 that can be closed the way a Kubernetes pod terminates: stop
 * accepting, let in-flight requests finish (their responses say `Connection: close`), close idle
 * keep-alive connections at once, and cut whatever is still open after a grace period.
 * Plain `server.close()` would wait for idle keep-alive sockets to time out instead.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalServer {
  readonly url: URL;
  /** Requests received and not yet answered (or aborted). */
  inFlight(): number;
  /** Resolves once every connection is closed. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

export interface LocalServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Grace period of `close()` when not given there. */
  graceMs?: number;
}

const LOOPBACK = '127.0.0.1';

/** How long the sandbox's keep-alive agents keep an idle socket. */
export const CLIENT_IDLE_MS = 10_000;

/** A keep-alive agent that drops idle sockets well before a LocalServer would. */
export function keepAliveAgent(options: http.AgentOptions = {}): http.Agent {
  return new http.Agent({ keepAlive: true, timeout: CLIENT_IDLE_MS, ...options });
}

export async function listenLocal(
  handler: http.RequestListener,
  options: LocalServerOptions = {},
): Promise<LocalServer> {
  const active = new Set<http.ServerResponse>();
  let closing: Promise<void> | undefined;

  const server = http.createServer((req, res) => {
    active.add(res);
    if (closing) res.setHeader('connection', 'close');
    res.on('close', () => {
      active.delete(res);
      // A response that had already started when closing began leaves an idle socket behind.
      if (closing && active.size === 0) setImmediate(() => server.closeIdleConnections());
    });
    handler(req, res);
  });
  // Longer than the sandbox's clients keep an idle socket (CLIENT_IDLE_MS), so the server never
  // closes a socket a client is about to reuse.
  server.keepAliveTimeout = CLIENT_IDLE_MS * 3;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: new URL(`http://${LOOPBACK}:${port}`),
    inFlight: () => active.size,
    close(graceMs = options.graceMs ?? 5_000) {
      closing ??= new Promise<void>((resolve) => {
        // One more poll phase first: connections and requests that already reached this
        // process (accepted or readable, not yet handled) are taken in, not reset as idle.
        setImmediate(() => closeNow(graceMs, resolve));
      });
      return closing;
    },
  };

  function closeNow(graceMs: number, resolve: () => void): void {
    for (const res of active) if (!res.headersSent) res.setHeader('connection', 'close');
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    deadline.unref();
    server.close(() => {
      clearTimeout(deadline);
      resolve();
    });
    server.closeIdleConnections();
  }
}
