/**
 * The sandbox Argo CD stand-in: a local HTTP server that speaks the parts of Argo CD's REST API
 * stackswap uses (session, applications list/get/sync/terminate, resource tree, managed
 * resources, the watch stream), with Argo CD's JSON shapes, status codes and error bodies. It
 * renders the config repo from a local bare repo with real `helm template`, applies the result
 * to a simulated cluster and reports sync and health the way Argo CD does.
 *
 * Start-up is `kubectl apply -f argo/root.yaml` followed by one sync of the root app-of-apps,
 * so the child Applications exist (OutOfSync and Missing until synced), as in a real
 * bootstrap. `initialSync: 'all'` also syncs every child once; `'none'` leaves only `root`.
 * See README.md in this folder for behaviours and deliberate differences.
 */
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StackswapError } from '../../shared/errors.ts';
import { TokenAuthority } from './auth.ts';
import { sleep, systemClock, type StandInClock } from './clock.ts';
import { SimulatedCluster, type AppliedEvent } from './cluster.ts';
import { Controller } from './controller.ts';
import { Faults, type FaultSettings } from './faults.ts';
import { sendStreamError } from './stream.ts';
import { RepoReader } from './git.ts';
import { ApiError, GrpcCode, toApiError } from './grpc-errors.ts';
import type { HealthSettings } from './health.ts';
import { sendError, sendJson, sendText } from './http-util.ts';
import { errorText, silentLogger, type StandInLogger } from './logger.ts';
import { Renderer } from './render.ts';
import { rbacAuthorizer, type RbacSettings } from './rbac.ts';
import { validateWindow, type SyncWindow } from './windows.ts';
import { buildRoutes, type Route } from './routes.ts';
import { ApplicationService, type Authorizer } from './service.ts';
import { ApplicationStore } from './store.ts';
import type { Application, KubeObject } from './types.ts';

export type { AccessRequest, Authorizer } from './service.ts';
export type { RbacSettings } from './rbac.ts';
export type { SyncWindow } from './windows.ts';
export type { AppliedEvent } from './cluster.ts';
export type { FaultSettings } from './faults.ts';
export type { StandInClock, Timer } from './clock.ts';
export type { StandInLogger } from './logger.ts';
export type { Application, KubeObject } from './types.ts';

export interface StandInOptions {
  /** The local bare config repo (the stand-in ignores every Application's repoURL). */
  repoPath: string;
  /** The branch polled for new commits and read for the root app (default `main`). */
  branch?: string;
  /** The bearer token to accept (default: a freshly minted JWT, see `StandIn.token`). */
  token?: string;
  /** Credentials for `POST /api/v1/session` (default user `admin`; no password: logins refused). */
  username?: string;
  password?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How long a rollout's pods take to start (and, with a good image, be ready): default 1500 ms. */
  progressingMs?: number;
  /**
   * Containers whose image tag matches this (a RegExp, or a string used as one) crash-loop: the
   * pods go CrashLoopBackOff and the Deployment is Degraded once its progress deadline passes.
   */
  faultPattern?: RegExp | string;
  /** Images (whole references) matching this do not exist: ErrImagePull / ImagePullBackOff. */
  missingImagePattern?: RegExp | string;
  /**
   * The progress deadline of Deployments that do not set `spec.progressDeadlineSeconds`
   * (default 600, Kubernetes' default). Shorten it only in tests that need the Degraded state.
   */
  progressDeadlineSeconds?: number;
  /** kubelet's initial restart / image-pull back-off (default 10000 ms; doubles, capped at 30x). */
  backoffBaseMs?: number;
  /**
   * true (default): apps with `spec.syncPolicy.automated` auto-sync when a reconcile finds them
   * OutOfSync; false: never; 'all': every app auto-syncs as if automated.
   */
  autoSync?: boolean | 'all';
  /**
   * `timeout.reconciliation`: every app is reconciled against the branch head this often
   * (default 120000 ms, Argo CD's; 0: only on refresh and after operations).
   */
  reconciliationMs?: number;
  /** `timeout.reconciliation.jitter`: up to this much is added to each period (default 60000 ms). */
  reconciliationJitterMs?: number;
  /** Older name for `reconciliationMs` with no jitter (0: no periodic reconcile). */
  pollIntervalMs?: number;
  /** `controller.repo.error.grace.period.seconds`: periodic reconciles ignore repo errors (default 180000 ms). */
  repoErrorGraceMs?: number;
  /** Initial delay before every non-stream response (also settable with `setFaults`). */
  latencyMs?: number;
  /** Initial fault injection (see `FaultSettings`). */
  faults?: FaultSettings;
  /** Where checkouts and scratch files go (default: a temporary directory removed on close). */
  workDir?: string;
  clock?: StandInClock;
  /** Randomness for `errorRate` (default Math.random). */
  random?: () => number;
  /** The app-of-apps manifest, relative to the repo root (default `argo/root.yaml`); false: none. */
  rootApp?: string | false;
  /** What start-up syncs: the root app (default), root and every child, or nothing. */
  initialSync?: 'root' | 'all' | 'none';
  /** RBAC: return false to deny (wins over `rbac`; default: everything allowed for a valid token). */
  authorize?: Authorizer;
  /** Argo CD RBAC (`policy.csv` subset, see rbac.ts), per token subject (see `issueToken`). */
  rbac?: RbacSettings;
  /** argocd-cm `application.sync.requireOverridePrivilegeForRevisionSync` (default false). */
  requireOverridePrivilegeForRevisionSync?: boolean;
  /** AppProjects by name: their `spec.syncWindows` (allow/deny, cron schedules); see windows.ts. */
  projects?: Record<string, { syncWindows?: SyncWindow[] }>;
  logger?: StandInLogger;
  /** SSE keepalive comment interval (default 15000 ms, as Argo CD). */
  sseKeepaliveMs?: number;
  helmTimeoutMs?: number;
}

export interface StandIn {
  /** Base URL, e.g. `http://127.0.0.1:41234` (what ARGOCD_SERVER would hold). */
  readonly url: string;
  readonly port: number;
  /** A bearer token the stand-in accepts (the configured one, or the minted default). */
  readonly token: string;
  /** An API-key token for another account (subject `<username>:apiKey`), for RBAC tests. */
  issueToken(username: string): string;
  close(): Promise<void>;
  /** Merges fault settings (see `FaultSettings`); `undefined` values clear one. */
  setFaults(
    changes: FaultSettings & {
      faultPattern?: RegExp | string | undefined;
      missingImagePattern?: RegExp | string | undefined;
    },
  ): void;
  /** Snapshot of every Application object, as the API would return it. */
  apps(): Application[];
  app(name: string): Application | undefined;
  /** Objects applied to the simulated cluster, optionally in one namespace. */
  appliedObjects(namespace?: string): KubeObject[];
  /** Called after every completed non-dry-run sync; returns an unsubscribe function. */
  on(event: 'applied', listener: (event: AppliedEvent) => void): () => void;
  /** Reconciles one app (or all) against the branch head now, like `?refresh=normal`. */
  refresh(name?: string): Promise<void>;
  /** Checks the branch now; reconciles every app if it moved. Resolves true if it moved. */
  poll(): Promise<boolean>;
  /** Resolves when no sync operation is running. */
  idle(): Promise<void>;
  /** Replaces an AppProject's sync windows (validated as Argo CD does; throws on a bad one). */
  setSyncWindows(project: string, windows: SyncWindow[]): void;
}

export async function startArgoCdStandIn(options: StandInOptions): Promise<StandIn> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const branch = options.branch ?? 'main';
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(path.join(os.tmpdir(), 'stackswap-argocd-')));
  await mkdir(workDir, { recursive: true });

  const faults = new Faults(
    {
      ...(options.latencyMs !== undefined ? { latencyMs: options.latencyMs } : {}),
      ...options.faults,
    },
    options.random ?? Math.random,
  );
  let health: HealthSettings = {
    progressingMs: options.progressingMs ?? 1500,
    faultPattern: toPattern(options.faultPattern),
    missingImagePattern: toPattern(options.missingImagePattern),
    progressDeadlineSeconds: options.progressDeadlineSeconds ?? 600,
    backoffBaseMs: options.backoffBaseMs ?? 10_000,
  };
  const store = new ApplicationStore((error) =>
    logger.warn({ error: errorText(error) }, 'watch listener threw'),
  );
  const cluster = new SimulatedCluster();
  const repo = new RepoReader(path.resolve(options.repoPath), workDir);
  const renderer = new Renderer(repo, path.join(workDir, 'scratch'), options.helmTimeoutMs);
  const syncWindows = new Map<string, SyncWindow[]>();
  const setSyncWindows = (project: string, windows: SyncWindow[]) => {
    for (const w of windows) validateWindow(w);
    syncWindows.set(project, structuredClone(windows));
  };
  for (const [project, spec] of Object.entries(options.projects ?? {})) {
    setSyncWindows(project, spec.syncWindows ?? []);
  }
  const windowsOfProject = (project: string) => syncWindows.get(project) ?? [];
  const controller = new Controller({
    store,
    cluster,
    repo,
    renderer,
    clock,
    faults,
    logger,
    health: () => health,
    autoSync: options.autoSync ?? true,
    branch,
    reconciliationMs: options.reconciliationMs ?? options.pollIntervalMs ?? 120_000,
    reconciliationJitterMs:
      options.reconciliationJitterMs ??
      (options.pollIntervalMs !== undefined && options.reconciliationMs === undefined ? 0 : 60_000),
    repoErrorGraceMs: options.repoErrorGraceMs ?? 180_000,
    random: options.random ?? Math.random,
    syncWindows: windowsOfProject,
  });
  const authorize: Authorizer =
    options.authorize ?? (options.rbac ? rbacAuthorizer(options.rbac) : () => true);
  const service = new ApplicationService(store, controller, repo, authorize, {
    requireOverridePrivilegeForRevisionSync:
      options.requireOverridePrivilegeForRevisionSync ?? false,
    syncWindows: windowsOfProject,
    now: () => clock.now(),
  });
  const auth = new TokenAuthority({
    ...(options.token !== undefined ? { token: options.token } : {}),
    username: options.username ?? 'admin',
    now: () => clock.now(),
  });

  const cleanupWorkDir = async () => {
    if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
  };
  try {
    await controller.bootstrap(options.rootApp ?? 'argo/root.yaml', options.initialSync ?? 'root');
  } catch (error) {
    await controller.stop();
    await cleanupWorkDir();
    if (error instanceof StackswapError) throw error;
    throw new StackswapError('usage', `the sandbox Argo CD could not start: ${errorText(error)}`, {
      cause: error,
      details: { repoPath: options.repoPath, branch },
    });
  }

  const streams = new Map<ServerResponse, () => void>();
  const routes = buildRoutes({
    service,
    auth,
    credentials: { username: options.username ?? 'admin', password: options.password },
    stream: { store, clock, faults, sseKeepaliveMs: options.sseKeepaliveMs ?? 15_000 },
    trackStream: (close, res) => {
      streams.set(res, close);
      res.on('close', () => streams.delete(res));
    },
  });

  const server = createServer((req, res) => {
    handle(req, res, { routes, auth, faults, clock }).catch((error: unknown) => {
      const apiError = toApiError(error);
      if (!(error instanceof ApiError)) {
        logger.error({ error: errorText(error), url: req.url }, 'request failed');
      }
      if (res.headersSent) return void res.destroy();
      // Streams answer errors as grpc-gateway's stream error chunk, not the unary body.
      if (isStreamPath(req.url)) sendStreamError(req, res, apiError);
      else sendError(res, apiError);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  controller.startPolling();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, repoPath: options.repoPath, branch }, 'sandbox Argo CD stand-in listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    token: auth.token,
    issueToken: (username) => auth.issue(username, 'apiKey'),
    close() {
      closing ??= (async () => {
        for (const close of [...streams.values()]) close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await controller.stop();
        await controller.runner.idle();
        await cleanupWorkDir();
      })();
      return closing;
    },
    setFaults(changes) {
      const { faultPattern, missingImagePattern, ...rest } = changes;
      if ('faultPattern' in changes) {
        health = { ...health, faultPattern: toPattern(faultPattern) };
      }
      if ('missingImagePattern' in changes) {
        health = { ...health, missingImagePattern: toPattern(missingImagePattern) };
      }
      faults.set(rest);
      if ('faultPattern' in changes || 'missingImagePattern' in changes) controller.rewriteAll();
    },
    apps: () => store.list(),
    app: (name) => store.get(name),
    appliedObjects: (namespace) => cluster.appliedObjects(namespace),
    on: (_event, listener) => cluster.onApplied(listener),
    async refresh(name) {
      const names = name === undefined ? store.list().map((a) => a.metadata.name) : [name];
      await Promise.all(names.map((n) => controller.refresh(n)));
    },
    poll: () => controller.poll(),
    setSyncWindows,
    idle: () => controller.runner.idle(),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  deps: { routes: Route[]; auth: TokenAuthority; faults: Faults; clock: StandInClock },
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://stand-in');
  if (!url.pathname.startsWith('/api/')) return sendText(res, 404, 'Not Found');
  const isStream = url.pathname.startsWith('/api/v1/stream/');
  if (!isStream) await sleep(deps.clock, deps.faults.current.latencyMs ?? 0);
  if (deps.faults.shouldFail(isStream)) {
    const unavailable = new ApiError(GrpcCode.unavailable, 'transport is closing');
    if (isStream) return sendStreamError(req, res, unavailable);
    return sendJson(res, unavailable.httpStatus, unavailable.body());
  }
  // server.go enforceContentTypes: exact, lower-cased match, before anything else.
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  if (req.method !== 'GET' && contentType !== 'application/json') {
    return sendText(res, 415, 'Invalid content type');
  }
  const match = findRoute(deps.routes, req.method ?? 'GET', url.pathname);
  if (match === 'method-not-allowed') return sendText(res, 405, 'Method Not Allowed');
  if (!match) return sendText(res, 404, 'Not Found');
  const { route, params } = match;
  let session;
  if (route.auth !== 'none') {
    try {
      session = deps.auth.authenticate({
        authorization: req.headers.authorization,
        cookie: req.headers.cookie,
      });
    } catch (error) {
      if (route.auth === 'required') throw error;
    }
  }
  await route.handle({ req, res, url, params, session });
}

function isStreamPath(url: string | undefined): boolean {
  return new URL(url ?? '/', 'http://stand-in').pathname.startsWith('/api/v1/stream/');
}

function findRoute(
  routes: Route[],
  method: string,
  pathname: string,
): { route: Route; params: Record<string, string> } | 'method-not-allowed' | undefined {
  let pathMatched = false;
  for (const route of routes) {
    const match = route.pattern.exec(pathname);
    if (!match) continue;
    if (route.method !== method) {
      pathMatched = true;
      continue;
    }
    const params: Record<string, string> = {};
    route.params.forEach((name, i) => {
      params[name] = decodeURIComponent(match[i + 1] ?? '');
    });
    return { route, params };
  }
  return pathMatched ? 'method-not-allowed' : undefined;
}

function toPattern(pattern: RegExp | string | undefined): RegExp | undefined {
  if (pattern === undefined || pattern === '') return undefined;
  if (typeof pattern === 'string') return new RegExp(pattern);
  // A global or sticky RegExp keeps state between test() calls; drop those flags.
  return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
}
