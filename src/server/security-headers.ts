/**
 * Security headers, computed once and set by one synchronous hook per scope.
 *
 * The JSON API gets the set the OWASP REST Security Cheat Sheet recommends for APIs
 * ("Security Headers"): no caching of authenticated answers, no framing, no sniffing, HTTPS only,
 * and a CSP that loads nothing (a JSON answer never needs to). helmet's defaults are written for
 * HTML applications; on every JSON answer they were a dozen headers (and ~9% of the CPU of a
 * cached status read) that change nothing for an API client.
 *
 * The HTML pages under /docs get helmet's defaults, taken from @fastify/helmet itself once at
 * start on a throwaway instance (no drift when helmet changes them). @fastify/helmet as a plugin
 * would rebuild its middleware chain (parsing the CSP directives again) on every request.
 */
import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';

export type HeaderSet = Readonly<Record<string, string>>;

/** OWASP REST Security Cheat Sheet, "Security Headers", for every API answer. */
export const API_SECURITY_HEADERS: HeaderSet = Object.freeze({
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
});

/** Header name (lower case) -> value, exactly as @fastify/helmet sets them with `options`. */
export async function helmetHeaders(options: FastifyHelmetOptions = {}): Promise<HeaderSet> {
  const probe = Fastify({ logger: false });
  try {
    await probe.register(helmet, { ...options, global: true });
    // The handler runs after the onRequest hooks: the raw response holds what helmet set.
    probe.get('/', (_request, reply) => reply.send(reply.raw.getHeaders()));
    const res = await probe.inject({ method: 'GET', url: '/' });
    const headers = res.json() as Record<string, string | number | string[]>;
    return Object.freeze(
      Object.fromEntries(
        Object.entries(headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(', ') : String(value),
        ]),
      ),
    );
  } finally {
    await probe.close();
  }
}

/**
 * Sets `headers` on every response of `app`'s scope (a child scope's set, registered later,
 * overrides names they share). onRequest, so they are on errors, 404s and rate-limit refusals
 * too; a route's own `reply.header()` still wins; hijacked replies (SSE) copy
 * `reply.getHeaders()` into their writeHead. On the reply rather than the raw response: Node
 * validates each `setHeader` call on its own, and writes the reply's headers in one pass.
 */
export function registerSecurityHeaders(app: FastifyInstance, headers: HeaderSet): void {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}
