/**
 * helmet's security headers, computed once. @fastify/helmet rebuilds helmet's middleware chain
 * (parsing the CSP directives again) in two onRequest hooks on every request: about 9% of the
 * CPU of a cached status read. The headers are the same for every route of this service (no
 * per-route helmet options, no CSP nonces), so they are taken from @fastify/helmet itself once
 * at start, on a throwaway instance (no drift when helmet changes its defaults), and set by one
 * synchronous hook.
 */
import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';

/** Header name (lower case) -> value, exactly as @fastify/helmet sets them with `options`. */
export async function helmetHeaders(
  options: FastifyHelmetOptions = {},
): Promise<[string, string | string[]][]> {
  const probe = Fastify({ logger: false });
  try {
    await probe.register(helmet, { ...options, global: true });
    // The handler runs after the onRequest hooks: the raw response holds what helmet set.
    probe.get('/', (_request, reply) => reply.send(reply.raw.getHeaders()));
    const res = await probe.inject({ method: 'GET', url: '/' });
    return Object.entries(res.json() as Record<string, string | number | string[]>).map(
      ([name, value]) => [name, Array.isArray(value) ? value : String(value)],
    );
  } finally {
    await probe.close();
  }
}

/**
 * Sets `headers` on every response. onRequest and on the raw response, as @fastify/helmet does:
 * so they are on errors, 404s and rate-limit refusals too, and on hijacked replies (SSE), and a
 * route's own `reply.header()` still wins.
 */
export function registerSecurityHeaders(
  app: FastifyInstance,
  headers: readonly [string, string | string[]][],
): void {
  app.addHook('onRequest', (_request, reply, done) => {
    const raw = reply.raw;
    for (const [name, value] of headers) raw.setHeader(name, value);
    done();
  });
}
