/**
 * The dashboard under /ui: server-rendered pages over the service's own API, and one small
 * script (assets/app.js) for live progress.
 *
 * Every page and action calls the JSON API in-process (`app.inject`) with the API token of the
 * caller's session, so the dashboard has exactly the API's authorization, rate limits, audit log
 * lines and answers: a 403, 409 or 412 is shown as the service gave it. Two reads go to the
 * collaborators the API routes use, because the API offers them only in another shape: the
 * release plan against the preview (the deploy dry run, which needs the `deploy` scope through
 * the API, while a read-only caller should see it too: it changes nothing) and the SSE progress
 * stream (relayed from the same `operations.follow`, since a browser's EventSource cannot send
 * a bearer token).
 *
 * Changing requests (sign-out, the dry-run review, the action itself) need the session's CSRF
 * token in the form and are refused when the browser says they come from another site
 * (Sec-Fetch-Site: cross-site); the session cookie is SameSite=Strict besides.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_LIMITS, type AppDeps } from '../app-deps.ts';
import { streamOperationEvents } from '../operations/event-stream.ts';
import {
  OPERATION_KINDS,
  type DryRunResult,
  type OperationKind,
  type OperationView,
  type StackStatus,
} from '../schemas.ts';
import { registerSecurityHeaders, type HeaderSet } from '../security-headers.ts';
import {
  apiErrorPage,
  commitPage,
  operationPage,
  overviewPage,
  reviewPage,
  signInPage,
  stackPage,
  type PageContext,
  type VerdictView,
} from './pages.ts';
import { csrfMatches, SessionStore, type Session, type SessionOptions } from './sessions.ts';

/**
 * The cookie: `__Host-` (Secure, Path=/, no Domain: no subdomain can set or shadow it), HttpOnly
 * (no script reads it), SameSite=Strict (no cross-site request carries it). Secure cookies work
 * over plain http on localhost and 127.0.0.1: browsers treat loopback as a secure context.
 */
export const SESSION_COOKIE = '__Host-stackswap-session';

/** CSP without 'unsafe-inline' for scripts and styles: one script and one stylesheet, ours. */
export const UI_SECURITY_HEADERS: HeaderSet = Object.freeze({
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
});

const ASSETS_DIR = new URL('../../../src/server/ui/assets/', import.meta.url);
const ASSETS: Record<string, { type: string; body: Buffer }> = {
  'app.js': {
    type: 'text/javascript; charset=utf-8',
    body: readFileSync(new URL('app.js', ASSETS_DIR)),
  },
  'app.css': {
    type: 'text/css; charset=utf-8',
    body: readFileSync(new URL('app.css', ASSETS_DIR)),
  },
};

const FORM_LIMIT = 16 * 1024;
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[?::1\]?)(:\d+)?$/;
const STACK_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface UiOptions {
  sessions?: Omit<SessionOptions, 'now'>;
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

type Form = Record<string, string>;

export async function registerUiRoutes(
  app: FastifyInstance,
  deps: AppDeps,
  options: UiOptions = {},
): Promise<SessionStore> {
  const sessions = new SessionStore({ ...options.sessions, now: deps.now });

  /** The JSON API with the session's token, in-process. */
  const api = async (
    session: Session,
    method: 'GET' | 'POST',
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await app.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${session.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, body: res.body, json: () => JSON.parse(res.body) as unknown };
  };

  const ctxOf = (session: Session | undefined): PageContext => ({
    ...(session ? { identity: session.identity, csrf: session.csrf } : {}),
    now: deps.now(),
  });
  const sessionOf = (request: FastifyRequest) =>
    sessions.get(cookieValue(request.headers.cookie, SESSION_COOKIE));
  const page = (reply: FastifyReply, status: number, text: string) =>
    reply.code(status).type('text/html; charset=utf-8').send(text);

  await app.register(async (ui) => {
    registerSecurityHeaders(ui, UI_SECURITY_HEADERS);
    // Pages, not API: kept out of the OpenAPI document at /docs.
    ui.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, hide: true };
    });
    ui.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: FORM_LIMIT },
      (_request, body, done) => {
        const form: Form = {};
        for (const [k, v] of new URLSearchParams(body as string)) form[k] = v;
        done(null, form);
      },
    );

    /** The signed-in session of a page request, or a redirect to sign-in (undefined). */
    const pageSession = (request: FastifyRequest, reply: FastifyReply) => {
      const session = sessionOf(request);
      if (!session) void reply.code(303).header('location', '/ui/sign-in').send();
      return session;
    };

    /**
     * The session of a changing request with its CSRF token checked; otherwise answers 401
     * (no session) or 403 (no or wrong CSRF token, or a cross-site request) and returns
     * undefined.
     */
    const actionSession = (request: FastifyRequest, reply: FastifyReply) => {
      const session = sessionOf(request);
      if (!session) {
        void page(
          reply,
          401,
          signInPage(ctxOf(undefined), 'Your session has ended: sign in again.', 401),
        );
        return undefined;
      }
      const form = (request.body ?? {}) as Form;
      const crossSite = request.headers['sec-fetch-site'] === 'cross-site';
      if (crossSite || !csrfMatches(session, form.csrf)) {
        request.log.info(
          { audit: true, caller: session.identity.name, path: request.url.split('?')[0] },
          'dashboard action refused: missing or wrong CSRF token',
        );
        void page(
          reply,
          403,
          apiErrorPage(
            ctxOf(session),
            403,
            JSON.stringify({
              error: {
                code: 'csrf',
                message:
                  'refused: the form did not carry this session’s CSRF token (reload the page and try again)',
              },
            }),
            { href: '/ui/stacks', label: 'back to the stacks' },
          ),
        );
        return undefined;
      }
      return session;
    };

    ui.get('/ui', (_request, reply) => reply.code(303).header('location', '/ui/stacks').send());

    ui.get('/ui/assets/:name', (request, reply) => {
      const asset = ASSETS[(request.params as { name: string }).name];
      if (!asset) return page(reply, 404, 'not found');
      return reply.header('cache-control', 'no-cache').type(asset.type).send(asset.body);
    });

    ui.get('/ui/sign-in', (request, reply) => {
      if (sessionOf(request)) return reply.code(303).header('location', '/ui/stacks').send();
      // A browser keeps a Secure cookie only from https or loopback: say so instead of looping.
      const insecure = request.protocol !== 'https' && !LOOPBACK.test(request.hostname);
      return page(
        reply,
        200,
        signInPage(
          ctxOf(undefined),
          insecure
            ? 'This page was served over plain http: browsers keep the session cookie only over https (or on localhost). Put the service behind TLS to sign in.'
            : undefined,
        ),
      );
    });

    ui.post('/ui/sign-in', (request, reply) => {
      if (request.headers['sec-fetch-site'] === 'cross-site') {
        return page(reply, 403, signInPage(ctxOf(undefined), 'cross-site sign-in refused', 403));
      }
      const token = ((request.body ?? {}) as Form).token?.trim() ?? '';
      const identity = token ? deps.tokens.verify(token) : undefined;
      if (!identity) {
        request.log.info({ audit: true }, 'dashboard sign-in refused: token not valid');
        return page(reply, 401, signInPage(ctxOf(undefined), 'That token is not valid.', 401));
      }
      deps.redactor.add(token);
      const { id } = sessions.create(identity, token);
      request.log.info({ audit: true, caller: identity.name }, 'dashboard sign-in');
      return reply
        .code(303)
        .header('set-cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; Secure; SameSite=Strict`)
        .header('location', '/ui/stacks')
        .send();
    });

    ui.post('/ui/sign-out', (request, reply) => {
      const session = actionSession(request, reply);
      if (!session) return reply;
      sessions.delete(cookieValue(request.headers.cookie, SESSION_COOKIE));
      request.log.info({ audit: true, caller: session.identity.name }, 'dashboard sign-out');
      return reply
        .code(303)
        .header(
          'set-cookie',
          `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`,
        )
        .header('location', '/ui/sign-in')
        .send();
    });

    ui.get('/ui/stacks', async (request, reply) => {
      const session = pageSession(request, reply);
      if (!session) return reply;
      const res = await api(session, 'GET', '/v1/stacks');
      if (res.status !== 200)
        return page(reply, res.status, apiErrorPage(ctxOf(session), res.status, res.body));
      const { stacks } = res.json() as { stacks: StackStatus[] };
      return page(reply, 200, overviewPage(ctxOf(session), stacks));
    });

    ui.get('/ui/stacks/:stack', async (request, reply) => {
      const session = pageSession(request, reply);
      if (!session) return reply;
      const { stack } = request.params as { stack: string };
      if (!STACK_RE.test(stack))
        return page(
          reply,
          404,
          apiErrorPage(
            ctxOf(session),
            404,
            '{"error":{"code":"not-found","message":"no such stack"}}',
          ),
        );
      const [statusRes, opsRes, plan] = await Promise.all([
        api(session, 'GET', `/v1/stacks/${stack}`),
        api(session, 'GET', `/v1/operations?stack=${stack}&limit=50`),
        planOf(deps, stack, session),
      ]);
      if (statusRes.status !== 200) {
        return page(
          reply,
          statusRes.status,
          apiErrorPage(ctxOf(session), statusRes.status, statusRes.body, {
            href: '/ui/stacks',
            label: 'back to the stacks',
          }),
        );
      }
      const status = statusRes.json() as StackStatus;
      const operations =
        opsRes.status === 200 ? (opsRes.json() as { operations: OperationView[] }).operations : [];
      const lastSwap = operations.find((o) => o.kind === 'swap' && o.state !== 'running');
      return page(
        reply,
        200,
        stackPage(ctxOf(session), {
          status,
          plan,
          ...(lastSwap ? { lastSwap } : {}),
          verification: verdictsOf(lastSwap),
          operations: operations.slice(0, 10),
        }),
      );
    });

    ui.get('/ui/stacks/:stack/commits/:sha', async (request, reply) => {
      const session = pageSession(request, reply);
      if (!session) return reply;
      const { stack, sha } = request.params as { stack: string; sha: string };
      const notFound = () =>
        page(
          reply,
          404,
          apiErrorPage(
            ctxOf(session),
            404,
            JSON.stringify({
              error: { code: 'not-found', message: `no commit ${sha} in the recent history` },
            }),
          ),
        );
      if (!STACK_RE.test(stack) || !/^[0-9a-f]{7,40}$/.test(sha)) return notFound();
      const repo = await deps.status.repo();
      const commit = (await repo.log({ maxCount: 500 })).find((c) => c.sha.startsWith(sha));
      if (!commit) return notFound();
      return page(reply, 200, commitPage(ctxOf(session), stack, commit));
    });

    ui.get('/ui/operations/:id', async (request, reply) => {
      const session = pageSession(request, reply);
      if (!session) return reply;
      const { id } = request.params as { id: string };
      const res = await api(session, 'GET', `/v1/operations/${encodeURIComponent(id)}`);
      if (res.status !== 200)
        return page(reply, res.status, apiErrorPage(ctxOf(session), res.status, res.body));
      const op = res.json() as OperationView;
      const events: Record<string, unknown>[] = [];
      const stop = await deps.operations.follow(id, 0, (e) => {
        if (e.type !== 'event') return;
        const event = (e.data as { event?: unknown }).event;
        if (event && typeof event === 'object') events.push(event as Record<string, unknown>);
      });
      stop?.();
      return page(reply, 200, operationPage(ctxOf(session), op, events));
    });

    // The operation's progress stream for the page's script: the API's stream, by session.
    ui.get('/ui/operations/:id/events', async (request, reply) => {
      const session = sessionOf(request);
      if (!session) return page(reply, 401, 'sign in first');
      const { id } = request.params as { id: string };
      if (!UUID_RE.test(id) || !(await deps.operations.get(id)))
        return page(reply, 404, 'no such operation');
      const lastId = request.headers['last-event-id'];
      const after = typeof lastId === 'string' && /^\d{1,9}$/.test(lastId) ? Number(lastId) : 0;
      streamOperationEvents(deps.operations, request, reply, id, after, {
        keepAliveMs: deps.limits?.sseKeepAliveMs ?? DEFAULT_LIMITS.sseKeepAliveMs,
        sayEnd: true,
      });
    });

    for (const review of [true, false]) {
      ui.post(
        `/ui/stacks/:stack/actions/:kind${review ? '/review' : ''}`,
        async (request, reply) => {
          const session = actionSession(request, reply);
          if (!session) return reply;
          const { stack, kind } = request.params as { stack: string; kind: string };
          if (!STACK_RE.test(stack) || !(OPERATION_KINDS as readonly string[]).includes(kind)) {
            return page(
              reply,
              404,
              apiErrorPage(
                ctxOf(session),
                404,
                '{"error":{"code":"not-found","message":"no such action"}}',
              ),
            );
          }
          const form = request.body as Form;
          const built = actionBody(kind as OperationKind, form);
          const back = { href: `/ui/stacks/${stack}`, label: `back to ${stack}` };
          if ('error' in built) {
            return page(
              reply,
              400,
              apiErrorPage(
                ctxOf(session),
                400,
                JSON.stringify({ error: { code: 'invalid-form', message: built.error } }),
                back,
              ),
            );
          }
          const url = `/v1/stacks/${stack}/${kind}`;
          if (review) {
            const res = await api(session, 'POST', url, { ...built.body, dryRun: true });
            if (res.status !== 200)
              return page(
                reply,
                res.status,
                apiErrorPage(ctxOf(session), res.status, res.body, back),
              );
            return page(
              reply,
              200,
              reviewPage(
                ctxOf(session),
                stack,
                kind,
                res.json() as DryRunResult,
                built.fields,
                randomUUID(),
              ),
            );
          }
          const key = form.idempotencyKey;
          const res = await api(
            session,
            'POST',
            url,
            built.body,
            key && /^[\x21-\x7e]{1,255}$/.test(key) ? { 'idempotency-key': key } : {},
          );
          if (res.status !== 202)
            return page(
              reply,
              res.status,
              apiErrorPage(ctxOf(session), res.status, res.body, back),
            );
          const { operation } = res.json() as { operation: OperationView };
          return reply.code(303).header('location', `/ui/operations/${operation.id}`).send();
        },
      );
    }
  });
  return sessions;
}

/** The API body of an action from its form fields (and the fields to carry to the confirm). */
export function actionBody(
  kind: OperationKind,
  form: Form,
): { body: Record<string, unknown>; fields: Form } | { error: string } {
  const body: Record<string, unknown> = {};
  const fields: Form = {};
  const reason = form.reason?.trim();
  if (reason) {
    body.reason = reason;
    fields.reason = reason;
  }
  if (kind === 'swap' && form.steps?.trim()) {
    const steps = form.steps
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(Number);
    if (steps.some((n) => !Number.isInteger(n))) {
      return { error: `steps: "${form.steps}" is not a list of whole percentages like 10,50,100` };
    }
    body.steps = steps;
    fields.steps = steps.join(',');
  }
  if (kind === 'scale-down' && form.force === 'true') {
    body.force = true;
    fields.force = 'true';
  }
  return { body, fields };
}

/** The deploy dry run (the plan against what the preview runs), or why there is none. */
async function planOf(deps: AppDeps, stack: string, session: Session) {
  try {
    return {
      result: await deps.dryRun({
        kind: 'deploy',
        stack,
        body: {},
        requestedBy: session.identity.name,
      }),
    };
  } catch (e) {
    return { error: deps.redactor.redact((e as Error).message) };
  }
}

/** The verification verdicts of a finished swap (its result's or its error's details). */
export function verdictsOf(op: OperationView | undefined): VerdictView[] {
  if (!op) return [];
  const details = (op.result?.details ?? op.error?.details) as
    { verification?: unknown } | undefined;
  const list = details?.verification;
  return Array.isArray(list)
    ? (list.filter((v) => v && typeof v === 'object') as VerdictView[])
    : [];
}
