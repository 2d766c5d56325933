/**
 * POST /v1/webhooks/gitlab and POST /v1/webhooks/github: merge request deliveries from the
 * forges (see webhooks/receiver.ts for the checks and their order). Bodies are kept raw, of any
 * content type, so the signature is checked over the bytes as sent and before anything is
 * parsed; the answer comes at once (202), the work follows as journaled operations.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps, Limits } from '../app-deps.ts';
import { ApiError } from '../errors.ts';
import { ErrorResponse } from '../schemas.ts';
import { WebhookAnswer } from '../webhooks/receiver.ts';
import type { ForgeName } from '../../forges/errors.ts';

const SUMMARY: Record<ForgeName, string> = {
  gitlab:
    'GitLab webhook (Merge request events), verified with X-Gitlab-Token; idempotent on Idempotency-Key / X-Gitlab-Event-UUID',
  github:
    'GitHub webhook (Pull requests), verified with X-Hub-Signature-256 over the raw body; idempotent on X-GitHub-Delivery',
};

export async function registerWebhookRoutes(app: FastifyInstance, deps: AppDeps, limits: Limits) {
  await app.register(async (scope) => {
    // Any content type, kept as bytes: the HMAC is over the raw body (JSON or GitHub's form).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: limits.webhookBodyLimit },
      (_request, body, done) => done(null, body),
    );
    for (const forge of ['gitlab', 'github'] as const) {
      scope.withTypeProvider<ZodTypeProvider>().post(
        `/v1/webhooks/${forge}`,
        {
          bodyLimit: limits.webhookBodyLimit,
          schema: {
            operationId: `${forge}Webhook`,
            tags: ['webhooks'],
            summary: SUMMARY[forge],
            body: z.unknown().describe('the raw delivery as the forge sends it'),
            response: {
              200: WebhookAnswer,
              202: WebhookAnswer,
              400: ErrorResponse,
              401: ErrorResponse,
              413: ErrorResponse,
              503: ErrorResponse,
            },
          },
        },
        async (request, reply) => {
          const receiver = deps.webhooks?.receiver;
          if (!receiver) {
            throw new ApiError(401, 'unauthorized', `${forge} webhooks are not configured`);
          }
          const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
          const { statusCode, answer } = await receiver.receive(forge, {
            headers: request.headers,
            body,
          });
          return reply.code(statusCode).send(answer);
        },
      );
    }
  });
}
