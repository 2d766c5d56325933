/**
 * Operations: one by id, a filtered list (newest first), and a server-sent event stream of an
 * operation's progress. The stream replays the events a late client missed (or those after
 * `Last-Event-ID`), then relays live ones, and ends after the final `result` event:
 *
 *   id: 3
 *   event: step-end
 *   data: {"step":"commit","title":"...","durationMs":412,"ok":true,"detail":"pushed 1a2b..."}
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps, Limits } from '../app-deps.ts';
import { ApiError } from '../errors.ts';
import { streamOperationEvents } from '../operations/event-stream.ts';
import {
  ErrorResponse,
  Operation,
  OperationList,
  OperationListQuery,
  OperationParams,
} from '../schemas.ts';

const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 429: ErrorResponse };

export function registerOperationRoutes(app: FastifyInstance, deps: AppDeps, limits: Limits) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const notFound = (id: string) =>
    new ApiError(404, 'not-found', `no operation ${id} (unknown, or older than the retention)`);

  r.get(
    '/v1/operations',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listOperations',
        tags: ['operations'],
        summary: 'operations, newest first, optionally of one stack or in one state',
        security: [{ bearer: [] }],
        querystring: OperationListQuery,
        response: { 200: OperationList, 400: ErrorResponse, ...errors },
      },
    },
    async (request) => ({ operations: await deps.operations.list(request.query) }),
  );

  r.get(
    '/v1/operations/:id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getOperation',
        tags: ['operations'],
        summary:
          'one operation: state (running, succeeded, failed, interrupted), steps with timings, result or error; an interrupted one says how to resume',
        security: [{ bearer: [] }],
        params: OperationParams,
        response: { 200: Operation, 400: ErrorResponse, ...errors },
      },
    },
    async (request) => {
      const operation = await deps.operations.get(request.params.id);
      if (!operation) throw notFound(request.params.id);
      return operation;
    },
  );

  r.get(
    '/v1/operations/:id/events',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'operationEvents',
        tags: ['operations'],
        summary:
          'text/event-stream: step-start, step-end, info and lifecycle (event) events, then the final result; past events are replayed first',
        security: [{ bearer: [] }],
        params: OperationParams,
        headers: z
          .object({
            'last-event-id': z
              .string()
              .regex(/^\d{1,9}$/)
              .optional(),
          })
          .loose(),
        response: { 200: z.string().describe('text/event-stream'), 400: ErrorResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const known = await deps.operations.get(id);
      if (!known) throw notFound(id);
      const after = Number(request.headers['last-event-id'] ?? 0);

      streamOperationEvents(deps.operations, request, reply, id, after, {
        keepAliveMs: limits.sseKeepAliveMs,
      });
    },
  );
}
