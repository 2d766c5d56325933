/**
 * Bearer authentication for routes that declare `config.scope`. Runs as a `preParsing` hook:
 * after the rate limiter (onRequest, which keys on the same identity) and before the body is
 * read, so an unauthenticated request costs no parsing. Routes without `config.scope` are open
 * (health checks, docs, the Slack route, which verifies Slack's signature instead).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redactor } from '../../shared/redact.ts';
import { ApiError } from '../errors.ts';
import { hasScope, type Identity, type Scope, type TokenStore } from './tokens.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; absent: the route is open. */
    scope?: Scope;
  }
}

const REALM = 'Bearer realm="stackswap"';

/**
 * The token of an `Authorization: Bearer <token>` header. The scheme is case-insensitive
 * (RFC 7235 §2.1); the token is one run of printable ASCII (RFC 6750 b64token, leniently).
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
  return match?.[1];
}

/**
 * Per request, so the rate limiter and the auth hook hash the token once: undefined until
 * resolved, then the identity or null. A request decoration rather than a WeakMap keyed by the
 * request (an insert and the GC's ephemeron work on every request).
 */
const RESOLVED = Symbol('stackswap.resolvedIdentity');
type WithResolved = FastifyRequest & { [RESOLVED]?: Identity | null };

export class BearerAuth {
  /** Identities whose token is registered with the redactor already (once is enough). */
  private readonly registered = new Set<string>();

  constructor(
    private readonly tokens: TokenStore,
    private readonly redactor: Redactor,
  ) {}

  identify(request: FastifyRequest): Identity | undefined {
    const cached = (request as WithResolved)[RESOLVED];
    if (cached !== undefined) return cached ?? undefined;
    const header = request.headers.authorization;
    const token = bearerToken(Array.isArray(header) ? header[0] : header);
    const identity = token === undefined ? undefined : this.tokens.verify(token);
    // A valid token is a secret the service now knows: scrub it wherever it might appear.
    if (identity && token && !this.registered.has(identity.name)) {
      this.redactor.add(token);
      this.registered.add(identity.name);
    }
    (request as WithResolved)[RESOLVED] = identity ?? null;
    return identity;
  }

  /** The identity for a route that needs `scope`; throws 401/403. */
  require(request: FastifyRequest, scope: Scope): Identity {
    const header = request.headers.authorization;
    const identity = this.identify(request);
    if (!identity) {
      const presented = header !== undefined && header !== '';
      throw new ApiError(
        401,
        'unauthorized',
        presented
          ? 'the bearer token is not valid'
          : 'this route needs a bearer token (Authorization: Bearer <token>)',
        {},
        { 'www-authenticate': presented ? `${REALM}, error="invalid_token"` : REALM },
      );
    }
    if (!hasScope(identity, scope)) {
      throw new ApiError(
        403,
        'forbidden',
        `token "${identity.name}" lacks the "${scope}" scope`,
        { missingScope: scope },
        { 'www-authenticate': `${REALM}, error="insufficient_scope", scope="${scope}"` },
      );
    }
    return identity;
  }

  /** Installs the hook that enforces `config.scope` on every route that declares one. */
  register(app: FastifyInstance): void {
    app.decorateRequest('identity', null);
    // Declared up front so every request object has the same shape (fastify's advice).
    app.decorateRequest(RESOLVED, undefined);
    // Callback style, not async: no promise per request (fastify passes a thrown ApiError or
    // one given to done() to the error handler alike).
    app.addHook('preParsing', (request, _reply, payload, done) => {
      const scope = request.routeOptions.config.scope;
      if (scope === undefined) return done(null, payload);
      try {
        request.identity = this.require(request, scope);
      } catch (e) {
        return done(e as Error);
      }
      done(null, payload);
    });
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by BearerAuth on routes with `config.scope`. */
    identity: Identity | null;
  }
}
