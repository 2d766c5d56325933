/**
 * `POST /v1/hooks/:id/result`: a lifecycle hook that answered "pending" reports its verdict
 * (issue 13). Two proofs are needed: a bearer token with the `hooks` scope (the service's
 * auth: who may report verdicts at all) and the one-time `token` the service sent in that
 * execution's request (`hook.callbackToken`: which execution this caller was asked about).
 * Only the token's SHA-256 is stored. The verdict is recorded in the pending store, so it
 * counts even when no operation is waiting (the service restarted): the re-run uses it.
 *
 * 200 decided; 400 bad body; 401/403 auth; 403 `hook-token-invalid` (a forged callback);
 * 404 `hook-unknown`; 409 `hook-already-decided` or `hook-expired` (its deadline passed).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HookCallbackBody } from '../../hooks/contract.ts';
import type { PendingHookStore } from '../../hooks/pending.ts';
import type { AppDeps } from '../app-deps.ts';
import { ApiError } from '../errors.ts';
import { ErrorResponse } from '../schemas.ts';

const Params = z.object({ id: z.uuid() });
const Decided = z.object({
  id: z.string(),
  result: z.enum(['pass', 'fail']),
  decidedAt: z.string(),
});

export function registerHookRoutes(
  app: FastifyInstance,
  deps: Pick<AppDeps, 'now'> & { hookCallbacks?: PendingHookStore | undefined },
) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/v1/hooks/:id/result',
    {
      config: { scope: 'hooks' },
      schema: {
        operationId: 'reportHookResult',
        tags: ['hooks'],
        summary:
          'a pending lifecycle hook reports its verdict, with the one-time token of its request',
        security: [{ bearer: [] }],
        params: Params,
        body: HookCallbackBody,
        response: {
          200: Decided,
          400: ErrorResponse,
          401: ErrorResponse,
          403: ErrorResponse,
          404: ErrorResponse,
          409: ErrorResponse,
        },
      },
    },
    async (request) => {
      const store = deps.hookCallbacks;
      const { id } = request.params;
      if (!store) throw new ApiError(404, 'hook-unknown', `no pending hook ${id}`);
      const { result, message, token } = request.body;
      const outcome = await store.decide(
        id,
        { state: result, ...(message ? { message } : {}), by: 'callback' },
        { token, now: deps.now() },
      );
      if (outcome.ok) {
        request.log.info(
          { audit: true, caller: request.identity?.name, hookExecution: id, result },
          'hook verdict reported',
        );
        return { id, result, decidedAt: new Date(outcome.record.answeredAt!).toISOString() };
      }
      switch (outcome.why) {
        case 'unknown':
          throw new ApiError(404, 'hook-unknown', `no pending hook ${id}`);
        case 'bad-token':
          // Same wording whatever was wrong with it: no oracle for guessing.
          throw new ApiError(403, 'hook-token-invalid', `the token does not match hook ${id}`);
        case 'expired':
          throw new ApiError(
            409,
            'hook-expired',
            `hook ${id} passed its deadline and was timed out (its onTimeout applied); the verdict is not taken`,
          );
        case 'already-decided':
          throw new ApiError(
            409,
            'hook-already-decided',
            `hook ${id} was already decided (${outcome.record?.state}); a verdict is taken once`,
          );
      }
    },
  );
}
