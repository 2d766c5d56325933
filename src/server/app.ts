/**
 * `buildApp(deps)`: the fastify application of `stackswap serve`, with every dependency passed
 * in and nothing listening (tests use `app.inject()`; `serve.ts` listens). Plugins: zod type
 * provider (validation and OpenAPI from the same schemas), security headers, rate limiting keyed
 * by the caller's token (by IP for unauthenticated requests), bearer auth, one error handler.
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import {
  createJsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import { BearerAuth } from './auth/bearer.ts';
import { ApiError, errorHandler, notFoundHandler } from './errors.ts';
import { clientErrorHandler, frameworkErrorHandler } from './framework-errors.ts';
import { lazyChildLogger, logPath } from './logging.ts';
import {
  API_SECURITY_HEADERS,
  helmetHeaders,
  registerSecurityHeaders,
} from './security-headers.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerHookRoutes } from './routes/hooks.ts';
import { registerOperationRoutes } from './routes/operations.ts';
import { registerSlackRoutes } from './routes/slack.ts';
import { registerStackRoutes } from './routes/stacks.ts';
import { registerWebhookRoutes } from './routes/webhooks.ts';
import { registerUiRoutes } from './ui/routes.ts';
import { DEFAULT_LIMITS, type AppDeps } from './app-deps.ts';
export { DEFAULT_LIMITS, type AppDeps, type Limits } from './app-deps.ts';

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const app = Fastify({
    loggerInstance: deps.logger,
    genReqId: () => randomUUID(),
    childLoggerFactory: lazyChildLogger,
    trustProxy: deps.trustProxy ?? false,
    bodyLimit: limits.bodyLimit,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Logged by the onResponse hook below instead, once the caller is known: a verified token
    // is registered with the redactor by then, wherever the caller put it (even in the URL).
    logController: new LogController({ disableRequestLogging: true }),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Shutdown (service.ts): the manager answers 503 to new operations while running ones
    // finish; once the server closes, fastify answers 503 to whatever still arrives.
    return503OnClosing: true,
    forceCloseConnections: true,
    // Refusals before any route or hook runs, in the service's shape and headers too.
    frameworkErrors: frameworkErrorHandler(API_SECURITY_HEADERS),
    clientErrorHandler: clientErrorHandler(API_SECURITY_HEADERS, (obj, msg) =>
      deps.logger.info(obj, msg),
    ),
  });
  // JSON only (and Slack's form, in its own scope): a text/plain body is a 415, not a string.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler(deps.redactor));
  app.setNotFoundHandler(notFoundHandler);

  const auth = new BearerAuth(deps.tokens, deps.redactor);
  // The API's security headers; the HTML pages under /docs add helmet's (security-headers.ts).
  registerSecurityHeaders(app, API_SECURITY_HEADERS);
  await app.register(rateLimit, {
    global: true,
    max: limits.rateLimitMax,
    timeWindow: limits.rateLimitWindowMs,
    keyGenerator: (request) => {
      const identity = auth.identify(request);
      return identity ? `token:${identity.name}` : `ip:${request.ip}`;
    },
    errorResponseBuilder: (_request, context) =>
      new ApiError(429, 'rate-limited', `rate limit exceeded; retry in ${context.after}`, {
        limit: context.max,
      }),
  });
  auth.register(app);
  // One line per request: at info for changes and refusals, at debug for successful reads
  // (status polling would otherwise drown the audit-relevant lines).
  // Callback style, not async: no promise per request for a hook that mostly returns at once.
  app.addHook('onResponse', (request, reply, done) => {
    const quiet = request.method === 'GET' && reply.statusCode < 400;
    if (quiet && request.log.level !== 'debug' && request.log.level !== 'trace') return done();
    const caller = auth.identify(request)?.name;
    request.log[quiet ? 'debug' : 'info'](
      {
        method: request.method,
        // The path alone: a query string may carry a credential (?api_key=...).
        path: logPath(request.url),
        statusCode: reply.statusCode,
        responseTimeMs: Math.round(reply.elapsedTime * 100) / 100,
        ...(caller ? { caller } : {}),
      },
      'request',
    );
    done();
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'stackswap',
        description:
          'Whole-stack blue/green promotion through git and Argo CD. Changing operations answer 202 with an operation id; follow it at /v1/operations/{id} or its /events stream. Rate limit: 300 requests a minute per token (per client address without one; STACKSWAP_RATE_LIMIT), then 429 with retry-after; /healthz and /readyz are exempt.',
        version: '0.1.0',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
    },
    transform: createJsonSchemaTransform({ skipList: [] }),
  });
  const docsHeaders = await helmetHeaders();
  await app.register(async (docs) => {
    registerSecurityHeaders(docs, docsHeaders);
    await docs.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  });

  registerHealthRoutes(app, deps);
  registerStackRoutes(app, deps);
  registerOperationRoutes(app, deps, limits);
  registerHookRoutes(app, deps);
  await registerSlackRoutes(app, deps, limits);
  await registerWebhookRoutes(app, deps, limits);
  await registerUiRoutes(app, deps);
  return app;
}
