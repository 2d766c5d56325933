/**
 * The REST routes of the stand-in (the grpc-gateway patterns of Argo CD's session and
 * application services that stackswap uses), each with its authentication mode.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Session, TokenAuthority } from './auth.ts';
import { filterJson, parseFields } from './fields.ts';
import { ApiError, GrpcCode } from './grpc-errors.ts';
import { readBody, sendJson } from './http-util.ts';
import { decodeBody, SessionCreateBody, SyncRequestBody } from './requests.ts';
import type { AppQuery, ApplicationService } from './service.ts';
import { serveWatch, type StreamDeps } from './stream.ts';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  session: Session | undefined;
}

export interface RouteDeps {
  service: ApplicationService;
  auth: TokenAuthority;
  credentials: { username: string; password: string | undefined };
  stream: StreamDeps;
  trackStream(close: () => void, res: ServerResponse): void;
}

export interface Route {
  method: string;
  pattern: RegExp;
  params: string[];
  /** `required`: 401 without a valid token; `optional`: the session if any; `none`. */
  auth: 'required' | 'optional' | 'none';
  stream?: boolean;
  handle(ctx: RouteContext): Promise<void> | void;
}

const route = (
  method: string,
  path: string,
  auth: Route['auth'],
  handle: Route['handle'],
  stream = false,
): Route => {
  const params: string[] = [];
  const pattern = new RegExp(
    `^${path.replace(/\{(\w+)\}/g, (_m, name: string) => {
      params.push(name);
      return '([^/]+)';
    })}$`,
  );
  return { method, pattern, params, auth, handle, stream };
};

/** `ApplicationQuery` from query parameters (`project` is the legacy alias of `projects`). */
function appQuery(url: URL): AppQuery {
  const q = url.searchParams;
  const legacy = q.getAll('project');
  return {
    ...(q.has('name') ? { name: q.get('name') ?? '' } : {}),
    ...(q.get('appNamespace') ? { appNamespace: q.get('appNamespace') ?? '' } : {}),
    projects: legacy.length > 0 ? legacy : q.getAll('projects'),
    ...(q.get('selector') ? { selector: q.get('selector') ?? '' } : {}),
    ...(q.get('repo') ? { repo: q.get('repo') ?? '' } : {}),
    ...(q.has('refresh') ? { refresh: q.get('refresh') ?? '' } : {}),
  };
}

const requireSession = (ctx: RouteContext): Session => {
  if (!ctx.session) throw new ApiError(GrpcCode.unauthenticated, 'no session information');
  return ctx.session;
};

export function buildRoutes(deps: RouteDeps): Route[] {
  const { service } = deps;
  return [
    route('POST', '/api/v1/session', 'none', async ({ req, res }) => {
      const body = decodeBody(
        await readBody(req),
        SessionCreateBody,
        'session.SessionCreateRequest',
      );
      if (body.token) {
        throw new ApiError(
          GrpcCode.unauthenticated,
          'token-based session creation no longer supported. please upgrade argocd cli to v0.7+',
        );
      }
      if (!body.username || !body.password) {
        throw new ApiError(GrpcCode.unauthenticated, 'no credentials supplied');
      }
      const { username, password } = deps.credentials;
      if (password === undefined || body.username !== username || body.password !== password) {
        throw new ApiError(GrpcCode.unauthenticated, 'Invalid username or password');
      }
      const token = deps.auth.issue(username, 'login');
      sendJson(
        res,
        200,
        { token },
        {
          'Set-Cookie': `argocd.token=${token}; path=/; SameSite=lax; httpOnly`,
        },
      );
    }),
    route('DELETE', '/api/v1/session', 'none', ({ res }) => {
      sendJson(
        res,
        200,
        {},
        { 'Set-Cookie': 'argocd.token=; path=/; SameSite=lax; httpOnly; Max-Age=0' },
      );
    }),
    route('GET', '/api/v1/session/userinfo', 'optional', ({ res, session }) => {
      sendJson(
        res,
        200,
        session ? { loggedIn: true, username: session.username, iss: session.issuer } : {},
      );
    }),
    route('GET', '/api/v1/applications', 'required', (ctx) => {
      sendJson(
        ctx.res,
        200,
        service.list(requireSession(ctx), appQuery(ctx.url), ctx.url.searchParams.get('fields')),
      );
    }),
    route('GET', '/api/v1/applications/{name}', 'required', async (ctx) => {
      const app = await service.get(requireSession(ctx), ctx.params.name ?? '', appQuery(ctx.url));
      sendJson(ctx.res, 200, app);
    }),
    route('POST', '/api/v1/applications/{name}/sync', 'required', async (ctx) => {
      const body = decodeBody(
        await readBody(ctx.req),
        SyncRequestBody,
        'application.ApplicationSyncRequest',
      );
      const app = await service.sync(requireSession(ctx), ctx.params.name ?? '', body);
      sendJson(ctx.res, 200, app);
    }),
    route('DELETE', '/api/v1/applications/{name}/operation', 'required', (ctx) => {
      sendJson(
        ctx.res,
        200,
        service.terminate(requireSession(ctx), ctx.params.name ?? '', appQuery(ctx.url)),
      );
    }),
    route('GET', '/api/v1/applications/{name}/syncwindows', 'required', (ctx) => {
      sendJson(
        ctx.res,
        200,
        service.syncWindows(requireSession(ctx), ctx.params.name ?? '', appQuery(ctx.url)),
      );
    }),
    route('GET', '/api/v1/applications/{applicationName}/resource-tree', 'required', (ctx) => {
      sendJson(
        ctx.res,
        200,
        service.resourceTree(
          requireSession(ctx),
          ctx.params.applicationName ?? '',
          appQuery(ctx.url),
        ),
      );
    }),
    route('GET', '/api/v1/applications/{applicationName}/managed-resources', 'required', (ctx) => {
      const q = ctx.url.searchParams;
      const filter = {
        ...(q.get('namespace') ? { namespace: q.get('namespace') ?? '' } : {}),
        ...(q.get('name') ? { name: q.get('name') ?? '' } : {}),
        ...(q.get('group') ? { group: q.get('group') ?? '' } : {}),
        ...(q.get('kind') ? { kind: q.get('kind') ?? '' } : {}),
      };
      const result = service.managedResources(
        requireSession(ctx),
        ctx.params.applicationName ?? '',
        appQuery(ctx.url),
        filter,
      );
      sendJson(ctx.res, 200, filterManaged(result, q.get('fields')));
    }),
    route(
      'GET',
      '/api/v1/stream/applications',
      'required',
      (ctx) => {
        const query = appQuery(ctx.url);
        const resourceVersion = ctx.url.searchParams.get('resourceVersion') ?? '';
        const visible = service.watchFilter(requireSession(ctx), { ...query, resourceVersion });
        const close = serveWatch(
          ctx.req,
          ctx.res,
          {
            visible,
            initial: resourceVersion === '' || Boolean(query.name),
            fields: ctx.url.searchParams.get('fields'),
          },
          deps.stream,
        );
        deps.trackStream(close, ctx.res);
      },
      true,
    ),
  ];
}

function filterManaged<T>(result: T, fields: string | null): T {
  return filterJson(result, parseFields(fields));
}
