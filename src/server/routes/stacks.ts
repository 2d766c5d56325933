/**
 * Stacks: their status (read), and the changing operations, which answer 202 with the
 * operation and a Location header (or 200 with the values diff for a dry run).
 * Scopes: deploy -> `deploy`; swap and revert -> `swap`; scale-down -> `admin`.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { AppDeps } from '../app-deps.ts';
import type { CachedStatus } from '../stacks/status.ts';
import { hasScope, type Scope } from '../auth/tokens.ts';
import { ApiError } from '../errors.ts';
import { BODY_SCHEMAS } from '../operations/core-call.ts';
import { checkDeployBody } from '../stacks/deploy-check.ts';
import {
  DryRunResult,
  ErrorResponse,
  IdempotencyHeaders,
  OperationAccepted,
  StackList,
  StackParams,
  StackStatus,
  type DeployBody,
  type OperationKind,
} from '../schemas.ts';

const errors = {
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};

const OPERATIONS: Record<Exclude<OperationKind, 'review'>, { scope: Scope; summary: string }> = {
  deploy: {
    scope: 'deploy',
    summary: 'deploy a release plan (or versions) into the preview colour; live is never touched',
  },
  swap: { scope: 'swap', summary: 'make the preview colour live (the whole stack at once)' },
  revert: {
    scope: 'swap',
    summary: 'send live traffic back to the colour that was live before the last swap',
  },
  'scale-down': {
    scope: 'admin',
    summary: 'scale the idle colour to zero once the retention window has passed',
  },
};

export function registerStackRoutes(app: FastifyInstance, deps: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/stacks',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listStacks',
        tags: ['stacks'],
        summary: 'every stack with its status',
        security: [{ bearer: [] }],
        response: { 200: StackList, ...errors },
      },
    },
    async (_request, reply) => {
      const names = await deps.status.stackNames();
      const stacks = await Promise.all(names.map((name) => statusJson(deps, name)));
      return sendJson(reply, `{"stacks":[${stacks.join(',')}]}`);
    },
  );

  r.get(
    '/v1/stacks/:stack',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getStack',
        tags: ['stacks'],
        summary:
          'live and preview colour, versions and replicas per colour, traffic weights, Argo CD sync and health per app, the last promotions',
        security: [{ bearer: [] }],
        params: StackParams,
        response: { 200: StackStatus, ...errors },
      },
    },
    // Not async: a fresh cached status is answered without a promise (status.peek).
    (request, reply) => {
      const { stack } = request.params;
      const cached = deps.status.peek(stack);
      if (cached) {
        sendJson(reply, withRunningOperation(deps, stack, cached));
        return;
      }
      return statusJson(deps, stack).then((json) => {
        sendJson(reply, json);
      });
    },
  );

  for (const [kind, { scope, summary }] of Object.entries(OPERATIONS) as [
    keyof typeof OPERATIONS,
    (typeof OPERATIONS)[keyof typeof OPERATIONS],
  ][]) {
    r.post(
      `/v1/stacks/:stack/${kind}`,
      {
        config: { scope },
        schema: {
          operationId: camel(kind),
          tags: ['operations'],
          summary,
          description: `Needs the \`${scope}\` scope. Answers 202 with the operation (Location: /v1/operations/{id}); 409 with the running operation's id when the stack is busy (one operation per stack at a time; not queued); 200 with the values diff when dryRun is true. An Idempotency-Key makes a retry return the same operation.`,
          security: [{ bearer: [] }],
          params: StackParams,
          headers: IdempotencyHeaders,
          body: BODY_SCHEMAS[kind].optional(),
          response: {
            200: DryRunResult,
            202: OperationAccepted,
            400: ErrorResponse,
            409: ErrorResponse,
            412: ErrorResponse,
            422: ErrorResponse,
            503: ErrorResponse,
            ...errors,
          },
        },
      },
      async (request, reply) => operate(deps, kind, request, reply),
    );
  }
}

/**
 * The hot path of the service: a status is served from its cached JSON (validated against the
 * schema when it was read), with the running operation added when there is one.
 */
async function statusJson(deps: AppDeps, stack: string): Promise<string> {
  return withRunningOperation(deps, stack, await deps.status.get(stack));
}

function withRunningOperation(deps: AppDeps, stack: string, { value, json }: CachedStatus) {
  const running = deps.operations.runningOn(stack);
  // The cached JSON with the field appended: the same text as stringifying the object again
  // (`runningOperation` comes last), without doing so on every poll of a busy stack.
  return running && json.endsWith('}')
    ? `${json.slice(0, -1)},"runningOperation":${JSON.stringify(running)}}`
    : running
      ? JSON.stringify({ ...value, runningOperation: running })
      : json;
}

/** A JSON string is sent as is: fastify serializes only objects. */
function sendJson(reply: FastifyReply, json: string) {
  return reply.type('application/json; charset=utf-8').send(json as never);
}

async function operate(
  deps: AppDeps,
  kind: keyof typeof OPERATIONS,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const identity = request.identity!;
  const { stack } = request.params as { stack: string };
  // The schema validated the body; absent, it takes every default.
  const body = BODY_SCHEMAS[kind].parse(request.body ?? {}) as Record<string, unknown> & {
    dryRun: boolean;
    reason?: string;
  };
  // Skipping lifecycle hooks is for admins (issue 13); it is recorded in the commit trailers.
  if ((body as { hooks?: unknown }).hooks === false && !hasScope(identity, 'admin')) {
    throw new ApiError(
      403,
      'forbidden',
      `"hooks": false needs the admin scope (token "${identity.name}" lacks it)`,
      {
        missingScope: 'admin',
      },
    );
  }
  const stackConfig = await deps.status.assertStack(stack);
  const { dryRun, ...operationBody } = body;
  // A deploy that cannot succeed is refused now (400, as its dry run), not accepted to fail.
  if (kind === 'deploy' && !dryRun) {
    await checkDeployBody(await deps.status.repo(), stackConfig, operationBody as DeployBody);
  }
  if (dryRun) {
    const result = await deps.dryRun({
      kind,
      stack,
      body: operationBody,
      requestedBy: identity.name,
      ...(body.reason ? { reason: body.reason } : {}),
    });
    return reply.code(200).send(result);
  }
  const key = (request.headers as z.infer<typeof IdempotencyHeaders>)['idempotency-key'];
  const path = `/v1/stacks/${stack}/${kind}`;
  const { operation, replayed } = await deps.operations.start({
    stack,
    kind,
    requestedBy: identity.name,
    request: { method: 'POST', path, body: operationBody },
    ...(key
      ? {
          idempotency: {
            scope: `token:${identity.name}`,
            key,
            fingerprint: fingerprint({ kind, stack, body: operationBody }),
          },
        }
      : {}),
  });
  request.log.info(
    {
      audit: true,
      caller: identity.name,
      operation: kind,
      stack,
      operationId: operation.id,
      replayed,
    },
    replayed ? 'operation request replayed (idempotency key)' : 'operation started',
  );
  return reply.code(202).header('location', operation.links.self).send({ operation });
}

/** A stable hash of a request: same kind, stack and body (key order ignored). */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function camel(kind: string): string {
  return kind.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
