/**
 * A small, faithful Argo CD REST client over Node's fetch: the calls a promotion needs, each with
 * a timeout, transient failures retried with backoff (idempotent calls only), and every answer
 * validated with zod. Errors are stackswap errors whose text has passed through the Redactor;
 * the token is only ever in the Authorization header.
 *
 * Wire rules it keeps (Argo CD API notes §0-§2): `Authorization: Bearer <jwt>`; every non-GET
 * carries `Content-Type: application/json` exactly (anything else is a 415); a missing app is a
 * 403 unless `project` is given; `GET ?refresh=` blocks until the controller has reconciled, so
 * it gets a longer timeout.
 */
import { z } from 'zod';
import { Agent } from 'undici';
import { AuthError, StackswapError } from '../shared/errors.ts';
import type { Redactor } from '../shared/redact.ts';
import type { ArgoCdConfig } from './config.ts';
import { ArgoCdApiError, ArgoCdStreamError, GrpcCode } from './errors.ts';
import { DEFAULT_RETRY_POLICY, RetriesExhausted, withRetry, type RetryPolicy } from './retry.ts';
import type { Sleep } from './clock.ts';
import { streamMessages, type ByteStream } from './stream.ts';
import {
  Application,
  ApplicationList,
  ApplicationTree,
  ErrorBody,
  ManagedResources,
  SessionResponse,
  StreamError,
  SyncResponse,
  SyncWindows,
  UserInfo,
  WatchStreamMessage,
  type ApplicationWatchEvent,
  type Info,
  type SyncRequestBody,
} from './schema.ts';

export interface RequestScope {
  /** Namespace of the Application when it is not Argo CD's own (needs `application.namespaces`). */
  appNamespace?: string;
  /** With a project, a missing app is a real 404 instead of a 403. */
  project?: string;
  signal?: AbortSignal;
}

export interface GetApplicationOptions extends RequestScope {
  /**
   * Ask the controller to reconcile first; the call blocks until it has and returns the
   * reconciled app. A refresh that times out is not retried (the controller is slow or down).
   */
  refresh?: 'normal' | 'hard' | undefined;
  /** Overrides the client's request (or refresh) timeout for this call. */
  timeoutMs?: number;
}

export interface ListApplicationsOptions {
  selector?: string;
  projects?: string[];
  appNamespace?: string;
  signal?: AbortSignal;
}

export interface SyncOptions extends RequestScope {
  /** Branch, tag or SHA; empty means the app's targetRevision. Argo CD resolves it to a SHA. */
  revision?: string;
  prune?: boolean;
  dryRun?: boolean;
  /** Stored in `operation.info`; lets us recognise our own operation later. */
  infos?: Info[];
}

export interface WatchOptions {
  name?: string;
  appNamespace?: string;
  projects?: string[];
  selector?: string;
  /** Resume point: events for app versions older than this are not sent. */
  resourceVersion?: string;
  signal: AbortSignal;
}

/** What the wait logic needs from Argo CD; ArgoCdClient implements it, tests may fake it. */
export interface ArgoCdApi {
  getApplication(name: string, options?: GetApplicationOptions): Promise<Application>;
  listApplications(options?: ListApplicationsOptions): Promise<Application[]>;
  sync(name: string, options?: SyncOptions): Promise<Application>;
  terminateOperation(name: string, options?: RequestScope): Promise<void>;
  resourceTree(name: string, options?: RequestScope): Promise<ApplicationTree>;
  managedResources(name: string, options?: RequestScope): Promise<ManagedResources>;
  userInfo(options?: { signal?: AbortSignal }): Promise<UserInfo>;
  /** The app's sync windows and whether a manual sync may run now (optional for fakes). */
  syncWindows?(name: string, options?: RequestScope): Promise<SyncWindows>;
  /** Events of `/api/v1/stream/applications` until the stream ends (return) or fails (throw). */
  watchApplications(options: WatchOptions): AsyncIterable<ApplicationWatchEvent>;
}

export interface ArgoCdClientOptions {
  config: ArgoCdConfig;
  redactor: Redactor;
  fetch?: typeof globalThis.fetch;
  /** Per request, including reading the body. Default 30 s. */
  requestTimeoutMs?: number;
  /** For GET ?refresh=, which waits for a reconcile. Default 120 s. */
  refreshTimeoutMs?: number;
  /** A text/event-stream watch that sends nothing (not even its 15 s keepalive) this long is dead. Default 45 s. */
  streamIdleTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  sleep?: Sleep;
  random?: () => number;
}

type Query = Record<string, string | string[] | undefined>;

interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Query;
  body?: unknown;
  /** Human description for messages: "get application shop-green". */
  what: string;
  /** Set when the call is about one application: 403/404 then mean "no such app for you". */
  app?: string;
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  accept?: string;
  /** Login itself: no Authorization header. */
  anonymous?: boolean;
  /** false: a call that timed out is not retried (connection errors and 5xx still are). */
  retryTimeouts?: boolean;
}

/** A failure worth retrying: no connection, no answer in time, or a gateway 502/503/504. */
class TransientFailure extends Error {
  constructor(
    readonly reason: string,
    readonly timedOut = false,
  ) {
    super(reason);
    this.name = 'TransientFailure';
  }
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const MAX_ERROR_TEXT = 300;

export class ArgoCdClient implements ArgoCdApi {
  private readonly fetchFn: typeof globalThis.fetch;
  private readonly dispatcher: Agent | undefined;
  private readonly retryPolicy: RetryPolicy;
  private readonly requestTimeoutMs: number;
  private readonly refreshTimeoutMs: number;
  private readonly streamIdleTimeoutMs: number;
  private session: Promise<string> | undefined;

  constructor(private readonly options: ArgoCdClientOptions) {
    this.fetchFn = options.fetch ?? globalThis.fetch;
    this.dispatcher = options.config.insecure
      ? new Agent({ connect: { rejectUnauthorized: false } })
      : undefined;
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.refreshTimeoutMs = options.refreshTimeoutMs ?? 120_000;
    this.streamIdleTimeoutMs = options.streamIdleTimeoutMs ?? 45_000;
  }

  get baseUrl(): string {
    return this.options.config.baseUrl;
  }

  async getApplication(name: string, options: GetApplicationOptions = {}): Promise<Application> {
    return this.idempotent(Application, {
      method: 'GET',
      path: `/api/v1/applications/${encodeURIComponent(name)}`,
      query: { ...this.scope(options), refresh: options.refresh },
      what: `${options.refresh ? 'refresh' : 'get'} application ${name}`,
      app: name,
      timeoutMs:
        options.timeoutMs ?? (options.refresh ? this.refreshTimeoutMs : this.requestTimeoutMs),
      retryTimeouts: !options.refresh,
      signal: options.signal,
    });
  }

  async listApplications(options: ListApplicationsOptions = {}): Promise<Application[]> {
    const list = await this.idempotent(ApplicationList, {
      method: 'GET',
      path: '/api/v1/applications',
      query: {
        selector: options.selector,
        projects: options.projects,
        appNamespace: options.appNamespace ?? this.options.config.appNamespace,
      },
      what: 'list applications',
      signal: options.signal,
    });
    return list.items;
  }

  /**
   * POST /sync. Not idempotent, so never blindly retried: after a timeout or 5xx the app is read
   * back, and an operation that already targets our revision (or carries our `infos` tag) is
   * taken as the answer; only when there is none is the POST sent one more time.
   */
  async sync(name: string, options: SyncOptions = {}): Promise<Application> {
    const scope = this.scope(options);
    const body: SyncRequestBody = {
      name,
      ...scope,
      ...(options.revision ? { revision: options.revision } : {}),
      prune: options.prune ?? false,
      dryRun: options.dryRun ?? false,
      strategy: { hook: {} },
      ...(options.infos?.length ? { infos: options.infos } : {}),
    };
    const call: Call = {
      method: 'POST',
      path: `/api/v1/applications/${encodeURIComponent(name)}/sync`,
      body,
      what: `sync application ${name}`,
      app: name,
      signal: options.signal,
    };
    try {
      return await this.once(SyncResponse, call);
    } catch (error) {
      if (!(error instanceof TransientFailure)) throw error;
      const app = await this.getApplication(name, { ...options, refresh: undefined });
      if (carriesOurOperation(app, options)) return app;
      try {
        return await this.once(SyncResponse, call);
      } catch (second) {
        if (second instanceof TransientFailure) throw this.unavailable(call, second, 2);
        throw second;
      }
    }
  }

  /** DELETE /operation: asynchronous on Argo CD's side (the op ends Failed "Operation terminated"). */
  async terminateOperation(name: string, options: RequestScope = {}): Promise<void> {
    const call: Call = {
      method: 'DELETE',
      path: `/api/v1/applications/${encodeURIComponent(name)}/operation`,
      query: this.scope(options),
      what: `terminate the operation of application ${name}`,
      app: name,
      signal: options.signal,
    };
    try {
      await this.once(null, call);
    } catch (error) {
      throw error instanceof TransientFailure ? this.unavailable(call, error, 1) : error;
    }
  }

  async resourceTree(name: string, options: RequestScope = {}): Promise<ApplicationTree> {
    return this.idempotent(ApplicationTree, {
      method: 'GET',
      path: `/api/v1/applications/${encodeURIComponent(name)}/resource-tree`,
      query: this.scope(options),
      what: `read the resource tree of application ${name}`,
      app: name,
      signal: options.signal,
    });
  }

  async managedResources(name: string, options: RequestScope = {}): Promise<ManagedResources> {
    return this.idempotent(ManagedResources, {
      method: 'GET',
      path: `/api/v1/applications/${encodeURIComponent(name)}/managed-resources`,
      query: this.scope(options),
      what: `read the managed resources of application ${name}`,
      app: name,
      signal: options.signal,
    });
  }

  async syncWindows(name: string, options: RequestScope = {}): Promise<SyncWindows> {
    return this.idempotent(SyncWindows, {
      method: 'GET',
      path: `/api/v1/applications/${encodeURIComponent(name)}/syncwindows`,
      query: this.scope(options),
      what: `read the sync windows of application ${name}`,
      app: name,
      signal: options.signal,
    });
  }

  async userInfo(options: { signal?: AbortSignal } = {}): Promise<UserInfo> {
    return this.idempotent(UserInfo, {
      method: 'GET',
      path: '/api/v1/session/userinfo',
      what: 'read the session user info',
      signal: options.signal,
    });
  }

  async *watchApplications(options: WatchOptions): AsyncIterable<ApplicationWatchEvent> {
    const local = new AbortController();
    const signal = AbortSignal.any([options.signal, local.signal]);
    const call: Call = {
      method: 'GET',
      path: '/api/v1/stream/applications',
      query: {
        name: options.name,
        appNamespace: options.appNamespace ?? this.options.config.appNamespace,
        projects: options.projects,
        selector: options.selector,
        resourceVersion: options.resourceVersion,
      },
      what: `watch application${options.name ? ` ${options.name}` : 's'}`,
      accept: 'text/event-stream',
      signal,
    };
    let idleTimer: NodeJS.Timeout | undefined;
    let idle = false;
    // The stream has no overall timeout; only the wait for its response headers has one.
    let connecting = true;
    const connectTimer = setTimeout(() => local.abort(), this.requestTimeoutMs);
    try {
      let response: Response;
      try {
        response = await this.authorized(call);
      } catch (error) {
        if (options.signal.aborted) throw options.signal.reason;
        if (error instanceof StackswapError) throw error;
        const reason = local.signal.aborted
          ? `no answer within ${Math.round(this.requestTimeoutMs / 1000)}s`
          : error instanceof TransientFailure
            ? error.reason
            : describeNetworkError(error);
        throw new ArgoCdStreamError(this.redact(`${call.what}: ${reason}`), undefined);
      } finally {
        clearTimeout(connectTimer);
        connecting = false;
      }
      const sse = /text\/event-stream/i.test(response.headers.get('content-type') ?? '');
      const armIdle = () => {
        if (!sse) return; // newline-JSON mode has no keepalives: silence proves nothing
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
          idle = true;
          local.abort();
        }, this.streamIdleTimeoutMs);
      };
      armIdle();
      const body = response.body as unknown as ByteStream | null;
      if (!body) return;
      for await (const text of streamMessages(
        body,
        response.headers.get('content-type'),
        armIdle,
      )) {
        const message = parseStreamMessage(text);
        if (message.kind === 'error') throw this.streamChunkError(call, message.error);
        yield message.event;
      }
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      if (connecting || error instanceof StackswapError) throw error;
      if (idle) {
        throw new ArgoCdStreamError(
          `${call.what}: no data for ${Math.round(this.streamIdleTimeoutMs / 1000)}s`,
          undefined,
        );
      }
      throw new ArgoCdStreamError(
        this.redact(`${call.what}: the stream broke: ${describeNetworkError(error)}`),
        undefined,
        {
          cause: error,
        },
      );
    } finally {
      clearTimeout(idleTimer);
      local.abort();
    }
  }

  // ---------------------------------------------------------------------------------------

  /**
   * An in-band `{"error": ...}` chunk, mapped like a unary error (16 auth, 7 forbidden, 5 not
   * found, ...); what a retry may fix (14 unavailable, 5xx) stays an ArgoCdStreamError, which
   * the watcher answers by reconnecting.
   */
  private streamChunkError(call: Call, e: StreamError): Error {
    const message = this.clip(e.message ?? e.http_status ?? 'unknown');
    const status = e.http_code ?? httpStatusOfGrpc(e.grpc_code);
    const mapped =
      e.grpc_code === undefined || e.grpc_code === GrpcCode.unavailable
        ? undefined
        : this.classify(call, status, e.http_status ?? '', message, e.grpc_code);
    if (mapped instanceof StackswapError && mapped.code !== 'argocd-error') return mapped;
    return new ArgoCdStreamError(
      this.redact(`${call.what}: the stream reported an error: ${message}`),
      e.http_code,
      {
        details: {
          ...(e.http_code ? { httpCode: e.http_code } : {}),
          ...(e.grpc_code ? { grpcCode: e.grpc_code } : {}),
        },
      },
    );
  }

  private scope(options: RequestScope): { appNamespace?: string; project?: string } {
    const appNamespace = options.appNamespace ?? this.options.config.appNamespace;
    const project = options.project ?? this.options.config.project;
    return { ...(appNamespace ? { appNamespace } : {}), ...(project ? { project } : {}) };
  }

  /** GETs: transient failures retried with backoff; exhaustion becomes 'argocd-unavailable'. */
  private async idempotent<S extends z.ZodType>(schema: S, call: Call): Promise<z.infer<S>> {
    let attempts = 0;
    try {
      return await withRetry(
        (n) => {
          attempts = n;
          return this.once(schema, call);
        },
        {
          policy: this.retryPolicy,
          isRetryable: (e) =>
            e instanceof TransientFailure && (call.retryTimeouts !== false || !e.timedOut),
          ...(this.options.sleep ? { sleep: this.options.sleep } : {}),
          ...(this.options.random ? { random: this.options.random } : {}),
          ...(call.signal ? { signal: call.signal } : {}),
        },
      );
    } catch (error) {
      if (error instanceof RetriesExhausted) {
        throw this.unavailable(call, error.lastError as TransientFailure, attempts);
      }
      if (error instanceof TransientFailure) throw this.unavailable(call, error, attempts);
      throw error;
    }
  }

  /** One request (plus one re-login on an expired session); transient failures are thrown raw. */
  private async once<S extends z.ZodType>(schema: S | null, call: Call): Promise<z.infer<S>> {
    const timeout = AbortSignal.timeout(call.timeoutMs ?? this.requestTimeoutMs);
    const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
    let text: string;
    try {
      const response = await this.authorized({ ...call, signal });
      text = await response.text();
    } catch (error) {
      throw this.classifyThrown(error, call, timeout);
    }
    if (schema === null) return undefined as z.infer<S>;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ArgoCdApiError(
        `${call.what}: Argo CD's answer was not JSON (is ARGOCD_SERVER the Argo CD API server?)`,
        200,
        '',
        undefined,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ArgoCdApiError(
        `${call.what}: unexpected answer from Argo CD (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`,
        200,
        '',
        undefined,
      );
    }
    return parsed.data;
  }

  /**
   * Sends the request with credentials and maps a non-2xx answer to an error. A 401 on a
   * session token (it expires after 24 h by default) logs in again once and resends.
   */
  private async authorized(call: Call): Promise<Response> {
    const auth = this.options.config.auth;
    const token = call.anonymous ? undefined : await this.bearer();
    let response = await this.send(call, token);
    if (response.status === 401 && auth.kind === 'session' && !call.anonymous) {
      await response.body?.cancel().catch(() => {});
      this.session = undefined;
      response = await this.send(call, await this.bearer());
    }
    if (!response.ok) throw await this.apiError(call, response);
    return response;
  }

  private async send(call: Call, token: string | undefined): Promise<Response> {
    const url = new URL(`${this.options.config.baseUrl}${call.path}`);
    for (const [key, value] of Object.entries(call.query ?? {})) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (v !== undefined && v !== '') url.searchParams.append(key, v);
      }
    }
    const headers: Record<string, string> = { Accept: call.accept ?? 'application/json' };
    // Argo CD compares the whole header, lower-cased, with its allow-list: no charset suffix.
    if (call.method !== 'GET') headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    // `dispatcher` is undici's extension of RequestInit (Node's fetch is undici).
    const init: Record<string, unknown> = {
      method: call.method,
      headers,
      redirect: 'manual',
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      ...(call.signal ? { signal: call.signal } : {}),
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    };
    return this.fetchFn(url, init as RequestInit);
  }

  private async bearer(): Promise<string> {
    const auth = this.options.config.auth;
    if (auth.kind === 'token') return auth.token;
    // Shared by concurrent callers (children are waited for in parallel), so it does not take
    // any one caller's signal; it has its own timeout.
    this.session ??= this.login().catch((error) => {
      this.session = undefined;
      throw error;
    });
    return this.session;
  }

  private async login(): Promise<string> {
    const auth = this.options.config.auth;
    if (auth.kind !== 'session') throw new Error('internal: login without username/password');
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const call: Call = {
      method: 'POST',
      path: '/api/v1/session',
      body: { username: auth.username, password: auth.password },
      what: `log in to Argo CD as ${auth.username}`,
      signal: timeout,
      anonymous: true,
    };
    let text: string;
    try {
      const response = await this.send(call, undefined);
      if (response.status === 401) {
        const { argocdMessage } = await this.readError(response);
        throw new AuthError(
          `ARGOCD_USERNAME/ARGOCD_PASSWORD rejected by Argo CD for ${auth.username}: ${argocdMessage || 'unauthenticated'}`,
          {
            hint: 'check the account and password; repeated failures are throttled by Argo CD',
            details: { status: 401 },
          },
        );
      }
      if (!response.ok) throw await this.apiError(call, response);
      text = await response.text();
    } catch (error) {
      if (error instanceof StackswapError) throw error;
      const failure = this.classifyThrown(error, call, timeout);
      throw failure instanceof TransientFailure ? this.unavailable(call, failure, 1) : failure;
    }
    const parsed = SessionResponse.safeParse(safeJson(text));
    if (!parsed.success) {
      throw new ArgoCdApiError(
        `${call.what}: Argo CD's answer has no session token`,
        200,
        '',
        undefined,
      );
    }
    this.options.redactor.add(parsed.data.token);
    return parsed.data.token;
  }

  /** Turns what fetch threw into a TransientFailure, the caller's abort reason, or itself. */
  private classifyThrown(error: unknown, call: Call, timeout: AbortSignal): unknown {
    if (call.signal?.aborted && !timeout.aborted) return call.signal.reason;
    if (error instanceof StackswapError || error instanceof TransientFailure) return error;
    if (timeout.aborted) {
      return new TransientFailure(
        `no answer within ${Math.round((call.timeoutMs ?? this.requestTimeoutMs) / 1000)}s`,
        true,
      );
    }
    return new TransientFailure(this.redact(describeNetworkError(error)));
  }

  private async apiError(call: Call, response: Response): Promise<Error> {
    const { argocdMessage, grpcCode } = await this.readError(response);
    return this.classify(call, response.status, response.statusText, argocdMessage, grpcCode);
  }

  /**
   * One mapping for unary errors, stream errors before the first message and in-band stream
   * error chunks: HTTP status and gRPC code to a stackswap error (or a TransientFailure).
   */
  private classify(
    call: Call,
    status: number,
    statusText: string,
    argocdMessage: string,
    grpcCode: number | undefined,
  ): Error {
    const response = { statusText };
    const details = { argocdMessage };
    if (RETRYABLE_STATUS.has(status)) {
      return new TransientFailure(
        `${status} ${response.statusText || 'error'}${argocdMessage ? `: ${argocdMessage}` : ''}`,
      );
    }
    if (status === 401 || grpcCode === GrpcCode.unauthenticated) {
      const auth = this.options.config.auth;
      const message =
        auth.kind === 'token'
          ? 'ARGOCD_AUTH_TOKEN rejected (expired or revoked)'
          : `Argo CD session for ARGOCD_USERNAME ${auth.username} rejected (expired or revoked)`;
      return new AuthError(message, {
        hint: `Argo CD said: ${argocdMessage || 'unauthenticated'}; create a new token with \`argocd account generate-token\``,
        details: { status, ...details },
      });
    }
    const isGatewayError = grpcCode !== undefined;
    if (call.app && (status === 403 || (status === 404 && isGatewayError))) {
      if (/blocked by sync window/i.test(argocdMessage)) {
        return new ArgoCdApiError(
          `${call.what}: ${argocdMessage}`,
          status,
          argocdMessage,
          grpcCode,
          {
            code: 'argocd-error',
            hint: `a sync window forbids syncing ${call.app} now; see \`argocd app get ${call.app}\` or wait for the window`,
          },
        );
      }
      // An RBAC refusal names what was missing; only "permission denied" alone hides the app.
      const rbac = /permission denied: applications, ([\w/*.-]+), ([^,\s]+)/.exec(argocdMessage);
      if (status === 403 && rbac) {
        const [, action, object] = rbac as unknown as [string, string, string];
        return new ArgoCdApiError(
          `${call.what}: permission denied by Argo CD: applications, ${action}, ${object}`,
          status,
          argocdMessage,
          grpcCode,
          {
            code: 'forbidden',
            hint:
              action === 'override'
                ? 'syncing a revision other than the targetRevision needs `override` when argocd-cm sets application.sync.requireOverridePrivilegeForRevisionSync: "true"'
                : `grant it in argocd-rbac-cm: p, <role>, applications, ${action}, ${object}, allow`,
            details: { action, object },
          },
        );
      }
      return new ArgoCdApiError(
        `application ${call.app} not found or not permitted for this token`,
        status,
        argocdMessage,
        grpcCode,
        {
          code: 'argocd-forbidden',
          hint: 'check the app name (and its appNamespace / project); Argo CD answers "permission denied" for apps that do not exist',
        },
      );
    }
    if (status === 403) {
      return new ArgoCdApiError(
        `${call.what}: permission denied by Argo CD (${argocdMessage})`,
        status,
        argocdMessage,
        grpcCode,
        {
          code: 'forbidden',
        },
      );
    }
    if (status === 404 && !isGatewayError) {
      return new ArgoCdApiError(
        `${call.what}: Argo CD has no route ${call.method} ${call.path} (is ARGOCD_SERVER the Argo CD API server, with its root path?)`,
        status,
        argocdMessage,
        grpcCode,
      );
    }
    return new ArgoCdApiError(
      `${call.what}: ${argocdMessage || response.statusText} (HTTP ${status})`,
      status,
      argocdMessage,
      grpcCode,
    );
  }

  private async readError(
    response: Response,
  ): Promise<{ argocdMessage: string; grpcCode: number | undefined }> {
    const text = await response.text().catch(() => '');
    // A stream's error before its first message: one `{"error": {grpc_code, ...}}` chunk,
    // under SSE framed as `data: ...`.
    const chunk = StreamErrorChunk.safeParse(safeJson(text.replace(/^\s*data:/, '')));
    if (chunk.success) {
      return {
        argocdMessage: this.clip(chunk.data.error.message ?? chunk.data.error.http_status ?? ''),
        grpcCode: chunk.data.error.grpc_code,
      };
    }
    const body = ErrorBody.safeParse(safeJson(text));
    if (body.success && (body.data.message !== undefined || body.data.error !== undefined)) {
      return {
        argocdMessage: this.clip(body.data.message || body.data.error || ''),
        grpcCode: body.data.code,
      };
    }
    return { argocdMessage: this.clip(text), grpcCode: undefined };
  }

  private unavailable(
    call: Pick<Call, 'what'>,
    failure: TransientFailure,
    attempts: number,
  ): StackswapError {
    return new StackswapError(
      'argocd-unavailable',
      `${call.what}: Argo CD at ${new URL(this.options.config.baseUrl).host} is unavailable: ${failure.reason}${
        attempts > 1 ? ` (gave up after ${attempts} attempts)` : ''
      }`,
      { hint: 'check ARGOCD_SERVER and that Argo CD (and any ingress in front of it) is up' },
    );
  }

  private clip(text: string): string {
    const oneLine = this.redact(text).replace(/\s+/g, ' ').trim();
    return oneLine.length > MAX_ERROR_TEXT ? `${oneLine.slice(0, MAX_ERROR_TEXT)}…` : oneLine;
  }

  private redact(text: string): string {
    return this.options.redactor.redact(text);
  }
}

/** Does the app show an operation that is (or was) the one we asked for? */
function carriesOurOperation(app: Application, options: SyncOptions): boolean {
  const tagged = (infos: Info[] | null | undefined) =>
    !!options.infos?.length &&
    options.infos.every((ours) =>
      infos?.some((i) => i.name === ours.name && i.value === ours.value),
    );
  if (app.operation) {
    return (
      tagged(app.operation.info) ||
      (!!options.revision && app.operation.sync?.revision === options.revision)
    );
  }
  return tagged(app.status?.operationState?.operation?.info);
}

function parseStreamMessage(
  text: string,
): { kind: 'event'; event: ApplicationWatchEvent } | { kind: 'error'; error: StreamError } {
  const parsed = WatchStreamMessage.safeParse(safeJson(text));
  if (!parsed.success) {
    throw new ArgoCdStreamError('watch: a stream message could not be parsed', undefined);
  }
  const m = parsed.data;
  return 'result' in m && m.result
    ? { kind: 'event', event: m.result as ApplicationWatchEvent }
    : { kind: 'error', error: (m as { error: StreamError }).error };
}

const StreamErrorChunk = z.object({ error: StreamError }).loose();

/** grpc-gateway v1.16 `HTTPStatusFromCode`, for chunks without http_code. */
function httpStatusOfGrpc(code: number | undefined): number {
  const table: Record<number, number> = {
    1: 499,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
  };
  return table[code ?? 2] ?? 500;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** "connection refused (ECONNREFUSED)" rather than undici's bare "fetch failed". */
function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'DNS lookup failed',
    ETIMEDOUT: 'connection timed out',
    UND_ERR_SOCKET: 'connection closed by the server',
    UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
    DEPTH_ZERO_SELF_SIGNED_CERT:
      'self-signed TLS certificate (set ARGOCD_INSECURE=true to accept it)',
    SELF_SIGNED_CERT_IN_CHAIN:
      'self-signed TLS certificate in chain (set ARGOCD_INSECURE=true to accept it)',
    UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      'TLS certificate not verifiable (set ARGOCD_INSECURE=true to accept it)',
  };
  if (code) return `${known[code] ?? cause?.message ?? 'network error'} (${code})`;
  if (error instanceof Error)
    return cause?.message ? `${error.message}: ${cause.message}` : error.message;
  return String(error);
}
