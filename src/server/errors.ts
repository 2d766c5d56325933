/**
 * Every error the HTTP service answers has one shape, `{error: {code, message, ...}}`, with no
 * stack trace. Domain errors (StackswapError) keep their code and map to a status through
 * `httpStatus`; the service's own refusals (auth, busy stack, idempotency, shutdown, rate limit)
 * are ApiErrors. 5xx answers never carry internals: 500s say "internal error" and give the
 * request id to find the logged cause; classified upstream failures (502/504: git remote or
 * Argo CD unreachable, timed out) keep their message, which the core writes for users and the
 * redactor has scrubbed.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isStackswapError } from '../shared/errors.ts';
import type { Redactor } from '../shared/redact.ts';

/** A refusal by the service itself; `extra` fields are merged into the error body. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ErrorBody {
  error: { code: string; message: string; [key: string]: unknown };
}

/** Fastify's own client errors (body parsing, content type, limits) by code. */
const FASTIFY_CLIENT_ERRORS: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload-too-large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported-media-type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid-content-length' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'empty-json-body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid-json' },
  FST_ERR_CTP_MALFORMED_JSON_BODY: { status: 400, code: 'invalid-json' },
};

export interface MappedError {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** Worth an error-level log line with the cause (5xx). */
  serverFault: boolean;
}

/** Maps anything thrown in a request to the stable error body. */
export function mapError(error: unknown, requestId: string, redactor: Redactor): MappedError {
  const scrub = (text: string) => redactor.redact(text);
  if (error instanceof ApiError) {
    return {
      status: error.statusCode,
      body: { error: { code: error.code, message: scrub(error.message), ...error.extra } },
      headers: error.headers,
      serverFault: error.statusCode >= 500,
    };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = error.validation.map((v) => ({
      path: v.instancePath,
      message: scrub(v.message ?? 'invalid'),
    }));
    return clientError(400, 'validation', describeIssues(error.validationContext, issues), {
      issues,
    });
  }
  if (isStackswapError(error)) {
    const status = error.httpStatus;
    if (status >= 500 && (error.code === 'internal' || status === 500)) {
      return internal(requestId);
    }
    const json = JSON.parse(scrub(JSON.stringify(error.toJSON()))) as ErrorBody['error'];
    return { status, body: { error: json }, headers: {}, serverFault: status >= 500 };
  }
  const fastifyError = error as Partial<FastifyError> | undefined;
  const known = fastifyError?.code ? FASTIFY_CLIENT_ERRORS[fastifyError.code] : undefined;
  if (known) return clientError(known.status, known.code, scrub(fastifyError!.message ?? ''));
  // Other 4xx from fastify or plugins (e.g. prototype poisoning is a 400 from the JSON parser).
  const status = fastifyError?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return clientError(status, 'bad-request', scrub(fastifyError!.message ?? 'bad request'));
  }
  return internal(requestId);
}

function describeIssues(
  context: string | undefined,
  issues: readonly { path: string; message: string }[],
): string {
  const first = issues[0];
  const where = context ?? 'request';
  if (!first) return `invalid ${where}`;
  const path = first.path === '/' ? '' : ` at ${first.path}`;
  return `invalid ${where}${path}: ${first.message}`;
}

function clientError(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
): MappedError {
  return { status, body: { error: { code, message, ...extra } }, headers: {}, serverFault: false };
}

function internal(requestId: string): MappedError {
  return {
    status: 500,
    body: {
      error: {
        code: 'internal',
        message: `internal error; the service log has the cause (request ${requestId})`,
        requestId,
      },
    },
    headers: {},
    serverFault: true,
  };
}

/** Fastify error handler: one shape for every error, causes of server faults logged. */
export function errorHandler(redactor: Redactor) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const mapped = mapError(error, request.id, redactor);
    if (mapped.serverFault) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: mapped.body.error.code, status: mapped.status }, 'request refused');
    }
    void reply.code(mapped.status).headers(mapped.headers).send(mapped.body);
  };
}

/** The path is not echoed: a caller may have put a credential in it. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  void reply
    .code(404)
    .send({ error: { code: 'not-found', message: `no such route for ${request.method}` } });
}
