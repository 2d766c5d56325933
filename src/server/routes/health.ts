/**
 * /healthz (the process answers), /readyz (the config repo and Argo CD answer), both open and
 * exempt from rate limiting; /metrics needs the `read` scope (it names stacks and outcomes;
 * give the Prometheus scraper a read token).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../app-deps.ts';
import { ErrorResponse, HealthResponse, ReadyResponse } from '../schemas.ts';

export function registerHealthRoutes(app: FastifyInstance, deps: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/healthz',
    {
      config: { rateLimit: false },
      schema: {
        operationId: 'healthz',
        tags: ['health'],
        summary: 'the process is alive',
        response: { 200: HealthResponse },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  r.get(
    '/readyz',
    {
      config: { rateLimit: false },
      schema: {
        operationId: 'readyz',
        tags: ['health'],
        summary: 'the config repo and Argo CD are reachable (503 with the reason when not)',
        response: { 200: ReadyResponse, 503: ReadyResponse },
      },
    },
    async (_request, reply) => {
      const ready = await deps.readiness();
      return reply.code(ready.status === 'ready' ? 200 : 503).send(ready);
    },
  );

  r.get(
    '/metrics',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'metrics',
        tags: ['health'],
        summary: 'Prometheus metrics (needs the read scope)',
        security: [{ bearer: [] }],
        response: { 200: z.string(), 401: ErrorResponse, 403: ErrorResponse },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await deps.metrics.render();
      return reply.type(contentType).send(body);
    },
  );
}
