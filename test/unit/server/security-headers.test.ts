import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  API_SECURITY_HEADERS,
  helmetHeaders,
  registerSecurityHeaders,
} from '../../../src/server/security-headers.ts';

/**
 * Routes that exercise every way a response leaves: send, throw, 404, hijack, own header. A
 * hijacked reply copies the reply's headers into its writeHead, as the service's SSE route does.
 */
function routes(app: FastifyInstance): FastifyInstance {
  app.get('/ok', async () => ({ ok: true }));
  app.get('/fails', async () => {
    throw Object.assign(new Error('nope'), { statusCode: 418 });
  });
  app.get('/own-csp', async (_request, reply) =>
    reply.header('content-security-policy', "default-src 'none'").send('x'),
  );
  app.get('/hijacked', (_request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream',
    });
    reply.raw.end('data: 1\n\n');
  });
  return app;
}

/** Headers minus those that differ per response for reasons of their own. */
function comparable(headers: Record<string, unknown>) {
  const { date: _date, ...rest } = headers;
  return rest;
}

describe('security headers computed once', () => {
  it('are the headers @fastify/helmet sets, on every kind of response', async () => {
    const withPlugin = Fastify();
    await withPlugin.register(helmet, { global: true });
    routes(withPlugin);
    const precomputed = Fastify();
    registerSecurityHeaders(precomputed, await helmetHeaders());
    routes(precomputed);

    for (const url of ['/ok', '/fails', '/missing', '/own-csp', '/hijacked']) {
      const expected = await withPlugin.inject({ method: 'GET', url });
      const actual = await precomputed.inject({ method: 'GET', url });
      expect(actual.statusCode, url).toBe(expected.statusCode);
      expect(comparable(actual.headers), url).toEqual(comparable(expected.headers));
    }
    const ok = await precomputed.inject({ method: 'GET', url: '/ok' });
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    expect(ok.headers['content-security-policy']).toContain("default-src 'self'");
    const own = await precomputed.inject({ method: 'GET', url: '/own-csp' });
    expect(own.headers['content-security-policy']).toBe("default-src 'none'");
    await Promise.all([withPlugin.close(), precomputed.close()]);
  });

  it('the API set (OWASP REST) on every kind of response; a child scope adds its own set', async () => {
    const app = Fastify();
    registerSecurityHeaders(app, API_SECURITY_HEADERS);
    routes(app);
    await app.register(async (docs) => {
      registerSecurityHeaders(docs, await helmetHeaders());
      docs.get('/docs', async () => 'html');
    });
    for (const url of ['/ok', '/fails', '/missing', '/hijacked']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.headers, url).toMatchObject({
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'strict-transport-security': 'max-age=31536000; includeSubDomains',
      });
    }
    const own = await app.inject({ method: 'GET', url: '/own-csp' });
    expect(own.headers['content-security-policy']).toBe("default-src 'none'");
    const docs = await app.inject({ method: 'GET', url: '/docs' });
    expect(docs.headers['content-security-policy']).toContain("default-src 'self'");
    expect(docs.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(docs.headers['cross-origin-opener-policy']).toBe('same-origin');
    await app.close();
  });
});
