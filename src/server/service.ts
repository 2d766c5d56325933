/**
 * The service's composition root: environment -> config repo clones, Argo CD access, tokens,
 * journal, operation manager, status cache -> the fastify app. The same building blocks as the
 * CLI's Session (ConfigRepo.open, the Argo CD deployer, the core operations), assembled for a
 * long-running process:
 *
 * - a writer clone for operations (in STACKSWAP_CACHE_DIR, shared with CLI runs on the host
 *   through its inter-process lock) and a reader clone for status, dry runs and readiness, so
 *   reads never wait behind a commit;
 * - one Argo CD client shared by all requests; a deployer per operation for its progress notes.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { isStackswapError, StackswapError, ValidationError } from '../shared/errors.ts';
import { loadConfig } from '../core/load-config.ts';
import type { OperationContext } from '../core/operations/context.ts';
import { ConfigRepo, type RetryOptions } from '../gitops/git/repo.ts';
import {
  defaultCacheDir,
  locateConfigRepo,
  readEnvironment,
  type Environment,
} from '../config/environment.ts';
import { buildApp, type Limits } from './app.ts';
import { ArgoAccess, type ArgoAccessOptions } from './argo.ts';
import { loadTokens, type TokenStore } from './auth/tokens.ts';
import { defaultDataDir, readServeEnvironment } from './config.ts';
import { createServiceLogger, ServiceRedactor } from './logging.ts';
import { history } from '../core/operations/inspect.ts';
import { ServerMetrics, type VerdictSummary } from './metrics.ts';
import { callCore, reasonOf } from './operations/core-call.ts';
import { Journal, type JournaledOperation } from './operations/journal.ts';
import type { JournalWriter, SharedOperations } from './operations/store.ts';
import { PostgresStore } from './store/postgres.ts';
import { OperationManager } from './operations/manager.ts';
import { openNotifications, type NotifyTuning } from './notifications.ts';
import { ScaleDownScheduler } from './operations/scheduler.ts';
import type { ReadyResponse } from './schemas.ts';
import { RepoSource } from './repo-source.ts';
import { SlackResponder } from './slack/responder.ts';
import { FileHookStore } from '../hooks/file-store.ts';
import type { HookEnvironment } from '../hooks/runner.ts';
import type { PendingHookStore } from '../hooks/pending.ts';
import { PgHookStore } from './store/hook-callbacks.ts';
import { dryRun } from './stacks/dry-run.ts';
import { StackStatusService } from './stacks/status.ts';
import { readForgeSettings } from '../forges/config.ts';
import type { ForgeName } from '../forges/errors.ts';
import { createForge } from '../forges/factory.ts';
import type { Forge } from '../forges/forge.ts';
import type { ForgeFetchOptions } from '../forges/http.ts';
import {
  FileDeliveryStore,
  SharedDeliveryStore,
  type DeliveryStore,
} from './webhooks/deliveries.ts';
import { pendingEvent, WebhookProcessor } from './webhooks/processor.ts';
import { WebhookReceiver } from './webhooks/receiver.ts';
import { runReview, type ReviewExecutor } from './webhooks/review.ts';
import { forgeForConfigRepo } from '../forges/for-repo.ts';

export interface ServiceOptions {
  env: NodeJS.ProcessEnv;
  /** Overrides STACKSWAP_DATA_DIR. */
  dataDir?: string;
  logDestination?: DestinationStream;
  logLevel?: string;
  limits?: Partial<Limits>;
  now?: () => number;
  /** Which Slack response_url hosts may be called (default: https on slack.com). */
  slackAllowUrl?: (url: URL) => boolean;
  /** Argo CD wait tuning (tests and the sandbox poll faster). */
  argo?: ArgoAccessOptions;
  /** Compare-and-swap retry tuning of the writer clone. */
  gitRetry?: RetryOptions;
  /** Seconds; overrides STACKSWAP_TIMEOUT. */
  timeoutSeconds?: number;
  /** Forge HTTP tuning (retry policy, clock); tests shorten it. */
  forgeHttp?: Omit<ForgeFetchOptions, 'forge'>;
  /** The review of a merge request (default: the core review, src/core/review). */
  review?: ReviewExecutor;
  /** Lifecycle hook tuning (tests: a faster poll of the pending store). */
  hooks?: Partial<Pick<HookEnvironment, 'clock'>> & { pendingPollMs?: number };
  /** Notification retry clock and policy (tests). */
  notify?: NotifyTuning;
}

export interface Service {
  app: FastifyInstance;
  operations: OperationManager;
  /** The cached stack status (dropped per stack when an operation on it ends). */
  status: StackStatusService;
  tokens: TokenStore;
  logger: Logger;
  dataDir: string;
  /** Ids of operations found running in the journal at start, now recorded as interrupted. */
  interruptedAtStart: string[];
  /** Scheduled scale-down (retention.autoScaleDown); ticks every STACKSWAP_SCALE_DOWN_INTERVAL_SECONDS. */
  scheduler: ScaleDownScheduler;
  /** Forge webhooks' background work (tests wait for it with `idle()`). */
  webhooks: WebhookProcessor;
  /** SIGTERM's path: stop new operations, let running ones finish or stop, then close. */
  shutdown(options?: { graceMs?: number; settleMs?: number }): Promise<void>;
}

function withForge(forge: OperationContext['forge']): Pick<OperationContext, 'forge'> {
  return forge ? { forge } : {};
}

export async function createService(options: ServiceOptions): Promise<Service> {
  const redactor = new ServiceRedactor();
  const cliEnv = readEnvironment(options.env, redactor);
  const serveEnv = readServeEnvironment(options.env, redactor);
  const now = options.now ?? Date.now;
  const logger = createServiceLogger({
    redactor,
    level: options.logLevel ?? serveEnv.STACKSWAP_LOG_LEVEL ?? 'info',
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  });

  const tokens = loadTokens({
    ...(serveEnv.STACKSWAP_TOKENS_FILE
      ? {
          file: {
            path: serveEnv.STACKSWAP_TOKENS_FILE,
            text: await readTokensFile(serveEnv.STACKSWAP_TOKENS_FILE),
          },
        }
      : {}),
    ...(serveEnv.STACKSWAP_TOKENS !== undefined ? { json: serveEnv.STACKSWAP_TOKENS } : {}),
  });
  if (tokens.size === 0) {
    logger.warn(
      'no API tokens configured (STACKSWAP_TOKENS_FILE / STACKSWAP_TOKENS): every API route answers 401',
    );
  }

  const cacheDir = defaultCacheDir(cliEnv);
  const writer = new RepoSource(() =>
    openRepo(cliEnv, cacheDir, redactor, logger, options.gitRetry),
  );
  const reader = new RepoSource(() =>
    openRepo(cliEnv, path.join(cacheDir, 'serve-reader'), redactor, logger),
  );
  // An unreachable remote (or one refusing the token) does not stop the start: the service
  // runs not-ready, /readyz names the config repo, and the next use opens it again.
  for (const [name, source] of [
    ['writer', writer],
    ['reader', reader],
  ] as const) {
    const failure = await source.openAtStart();
    if (failure) {
      logger.warn(
        { clone: name, error: describeError(failure, redactor) },
        'the config repo cannot be opened; starting not-ready (GET /readyz), it is tried again on the next use',
      );
    }
  }
  const argo = ArgoAccess.fromEnv(options.env, redactor, options.argo ?? {});
  const timeoutMs = (options.timeoutSeconds ?? serveEnv.STACKSWAP_TIMEOUT ?? 600) * 1000;

  const metrics = new ServerMetrics();
  metrics.setOperationTimeout(timeoutMs / 1000);
  const status = new StackStatusService({
    repo: reader,
    deployer: (config) => argo?.deployer(config),
    ttlMs: (serveEnv.STACKSWAP_STATUS_CACHE_SECONDS ?? 5) * 1000,
    now,
    onRead: (read) => metrics.statusObserved(read.stack, read.live, read.traffic),
  });
  const dataDir = path.resolve(options.dataDir ?? defaultDataDir(serveEnv));
  const store = await openStore({
    databaseUrl: cliEnv.STACKSWAP_DATABASE_URL,
    dataDir,
    leaseMs: (serveEnv.STACKSWAP_LOCK_LEASE_SECONDS ?? 15) * 1000,
    logger,
    redactor,
  });
  const { journal, shared } = store;
  // Operations other replicas ended drop this one's cached status (closed with the journal).
  await store.postgres?.listenStackChanges(
    (stack) => status.invalidate(stack),
    () => status.invalidateAll(),
  );
  const forges = openForges(options.env, redactor, options.forgeHttp);
  const review = options.review ?? runReview;
  // Pending lifecycle hooks (issue 13): beside the journal, in the same place (PostgreSQL's
  // table for several replicas, so a callback may reach any of them; else a file).
  const hookCallbacks: PendingHookStore = cliEnv.STACKSWAP_DATABASE_URL
    ? new PgHookStore(cliEnv.STACKSWAP_DATABASE_URL)
    : await FileHookStore.open(dataDir, now());
  const publicUrl = (serveEnv.STACKSWAP_PUBLIC_URL ?? '').replace(/\/+$/, '');
  const notifications = await openNotifications({
    env: options.env,
    dataDir,
    databaseUrl: cliEnv.STACKSWAP_DATABASE_URL,
    replica: `${os.hostname()}/${process.pid}`,
    redactor,
    metrics,
    logger,
    ...(options.notify ? { tuning: options.notify } : {}),
  });
  const operations = new OperationManager({
    journal,
    notifications: notifications.hooks,
    ...(shared ? { shared } : {}),
    redactor,
    metrics,
    logger,
    now,
    onSettled: (stack) => {
      status.invalidate(stack);
      // The other replicas drop their cached status too (else it is up to 2 TTLs old there).
      store.postgres?.notifyStackChanged(stack).catch((e: unknown) => {
        logger.warn(
          { stack, error: describeError(e, redactor) },
          'could not tell the other replicas that the stack changed; they see it within the status TTL',
        );
      });
    },
    execute: async ({ id, stack, kind, requestedBy, request, progress, signal }) => {
      if (kind === 'review') {
        return review({
          id,
          stack,
          body: request.body,
          forges,
          repo: await reader.get(),
          progress,
          signal,
          now,
          link: (opId) => operationLink(serveEnv.STACKSWAP_PUBLIC_URL, opId),
          deployer: (config) => argo?.deployer(config, progress),
        });
      }
      const repo = await writer.get();
      const config = await loadConfig(repo);
      notifications.targetsFor(id, config.stacks.get(stack)?.notifications);
      const reason = reasonOf(kind, request.body);
      const skipHooks = (request.body as { hooks?: unknown } | undefined)?.hooks === false;
      const ctx: OperationContext = {
        // The route let `"hooks": false` through only for admin tokens.
        hooks: {
          secret: (name) => {
            const value = options.env[name];
            if (value) redactor.add(value);
            return value || undefined;
          },
          pending: publicUrl
            ? {
                kind: 'callback',
                store: hookCallbacks,
                callbackUrl: (id) => `${publicUrl}/v1/hooks/${id}/result`,
                ...(options.hooks?.pendingPollMs ? { pollMs: options.hooks.pendingPollMs } : {}),
              }
            : { kind: 'poll' },
          ...(options.hooks?.clock ? { clock: options.hooks.clock } : {}),
          ...(skipHooks ? { skip: { by: requestedBy, admin: true } } : {}),
        },
        repo,
        actor: { requestedBy, operationId: id, ...(reason ? { reason } : {}) },
        progress,
        deployer: argo?.deployer(config, progress),
        wait: true,
        timeoutMs,
        signal,
        now,
        verify: {
          ...(cliEnv.STACKSWAP_PROMETHEUS_URL
            ? { prometheusUrl: cliEnv.STACKSWAP_PROMETHEUS_URL }
            : {}),
          ...(cliEnv.STACKSWAP_INGRESS_URL ? { ingressUrl: cliEnv.STACKSWAP_INGRESS_URL } : {}),
        },
        // Merge-request promotion (issue 12): the same forge lookup as the CLI's.
        ...withForge(
          forgeForConfigRepo(
            repo.remoteUrl,
            { forge: cliEnv.STACKSWAP_FORGE, project: cliEnv.STACKSWAP_FORGE_PROJECT },
            options.env,
            redactor,
          ),
        ),
      };
      // Verification gates run inside the operation (the post-swap window too), in the
      // background of the 202; their verdicts feed the metrics (issue 11).
      try {
        const result = await callCore(ctx, kind, stack, request.body);
        observeVerification(metrics, stack, result.details);
        if (result.live && result.preview)
          metrics.stackObserved(stack, result.live, result.preview);
        if (kind === 'swap' && result.committed)
          await observeDeployToSwap(metrics, await writer.get(), stack);
        return result;
      } catch (e) {
        if (isStackswapError(e)) observeVerification(metrics, stack, e.details);
        throw e;
      } finally {
        notifications.forget(id);
      }
    },
  });
  const { interrupted } = shared
    ? { interrupted: await operations.sweep().catch(() => []) }
    : await operations.restore(store.operations);
  if (interrupted.length > 0) {
    logger.warn(
      { operations: interrupted },
      'operations were running when the service stopped; recorded as interrupted (POST the same request again to resume)',
    );
  }

  const webhooks = new WebhookProcessor({
    forges,
    operations,
    config: () => status.config({ force: true }),
    publicUrl: serveEnv.STACKSWAP_PUBLIC_URL,
    logger,
  });
  const receiver = new WebhookReceiver({
    secrets: {
      ...(serveEnv.STACKSWAP_GITLAB_WEBHOOK_SECRET
        ? { gitlab: serveEnv.STACKSWAP_GITLAB_WEBHOOK_SECRET }
        : {}),
      ...(serveEnv.STACKSWAP_GITHUB_WEBHOOK_SECRET
        ? { github: serveEnv.STACKSWAP_GITHUB_WEBHOOK_SECRET }
        : {}),
    },
    scope: {
      project: cliEnv.STACKSWAP_FORGE_PROJECT ?? forgeProjectOf(cliEnv.STACKSWAP_REPO),
      branch: cliEnv.STACKSWAP_BRANCH ?? 'main',
    },
    deliveries: store.deliveries,
    processor: webhooks,
    logger,
  });

  // Deliveries accepted before a stop whose work never finished: taken up again (idempotent).
  const pending = await store.deliveries.pending().catch((e: unknown) => {
    logger.warn({ error: describeError(e, redactor) }, 'pending webhook deliveries not read');
    return [];
  });
  for (const p of pending) {
    const event = pendingEvent(p.event);
    if (!event) continue;
    webhooks.submit(
      event,
      () => store.deliveries.release(p.source, p.id),
      () => store.deliveries.done(p.source, p.id),
    );
  }
  if (pending.length > 0) {
    logger.info(
      { deliveries: pending.map((p) => `${p.source}:${p.id}`) },
      'webhook deliveries accepted before the restart are taken up again',
    );
  }

  const app = await buildApp({
    webhooks: { receiver },
    logger,
    redactor,
    tokens,
    operations,
    status,
    metrics,
    now,
    hookCallbacks,
    dryRun: async (input) =>
      dryRun({
        ...input,
        repo: await status.repo(),
        refresh: () => status.config({ force: true }),
        deployer: argo?.deployer(await status.config()),
        timeoutMs,
        now,
      }),
    readiness: readinessCheck(
      status,
      argo,
      shared ? () => operations.databaseOk() : undefined,
      redactor,
      metrics,
    ),
    slack: {
      signingSecret: serveEnv.STACKSWAP_SLACK_SIGNING_SECRET,
      responder: new SlackResponder({
        logger,
        onFailure: () => metrics.notificationFailed('slack'),
        ...(options.slackAllowUrl ? { allowUrl: options.slackAllowUrl } : {}),
      }),
    },
    limits: {
      ...(serveEnv.STACKSWAP_RATE_LIMIT ? { rateLimitMax: serveEnv.STACKSWAP_RATE_LIMIT } : {}),
      ...options.limits,
    },
    ...(serveEnv.STACKSWAP_TRUST_PROXY === 'true' ? { trustProxy: true } : {}),
  });

  // With several replicas: find operations whose replica died, and learn what runs elsewhere.
  let sweepFailures = 0;
  const sweeper = shared
    ? setInterval(() => {
        operations.sweep().then(
          () => {
            sweepFailures = 0;
            metrics.setDatabaseUp(true);
          },
          (e: unknown) => {
            metrics.setDatabaseUp(false);
            if (sweepFailures++ === 0) {
              logger.warn({ error: describeError(e, redactor) }, 'the database is not reachable');
            }
          },
        );
      }, SWEEP_INTERVAL_MS)
    : undefined;
  sweeper?.unref();

  const scheduler = new ScaleDownScheduler({
    operations,
    config: () => status.config({ force: true }),
    repo: () => status.repo(),
    metrics,
    logger,
    now,
  });
  const scheduleTimer = setInterval(
    () => {
      scheduler.tick().catch((e: unknown) => {
        logger.warn({ error: describeError(e, redactor) }, 'scheduled scale-down check failed');
      });
    },
    (serveEnv.STACKSWAP_SCALE_DOWN_INTERVAL_SECONDS ?? 60) * 1000,
  );
  scheduleTimer.unref();

  let closing: Promise<void> | undefined;
  const defaultGraceMs = (serveEnv.STACKSWAP_SHUTDOWN_GRACE_SECONDS ?? 30) * 1000;
  return {
    app,
    operations,
    status,
    tokens,
    logger,
    dataDir,
    interruptedAtStart: interrupted,
    scheduler,
    webhooks,
    shutdown: (opts = {}) =>
      (closing ??= (async () => {
        await operations.shutdown({
          graceMs: opts.graceMs ?? defaultGraceMs,
          settleMs: opts.settleMs ?? 10_000,
        });
        clearInterval(sweeper);
        clearInterval(scheduleTimer);
        await app.close();
        await store.deliveries.close();
        await notifications.close();
        await journal.close();
        await hookCallbacks.close();
        logger.info('stopped');
      })()),
  };
}

async function readTokensFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new ValidationError(
      `cannot read STACKSWAP_TOKENS_FILE: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`,
      { where: { file, key: 'STACKSWAP_TOKENS_FILE' }, cause },
    );
  }
}

/** As the CLI's Session.openRepo: a local path or file:// only in sandbox mode. */
async function openRepo(
  env: Environment,
  cacheDir: string,
  redactor: ServiceRedactor,
  logger: Logger,
  retry?: RetryOptions,
): Promise<ConfigRepo> {
  const url = env.STACKSWAP_REPO;
  if (!url) {
    throw new ValidationError('no config repo: set STACKSWAP_REPO', {
      where: { key: 'STACKSWAP_REPO' },
    });
  }
  const location = locateConfigRepo(url, env, 'STACKSWAP_REPO');
  return ConfigRepo.open({
    url: location.url,
    branch: env.STACKSWAP_BRANCH ?? 'main',
    cacheDir,
    auth: { token: env.STACKSWAP_GIT_TOKEN, username: env.STACKSWAP_GIT_USERNAME },
    author: {
      name: env.STACKSWAP_GIT_AUTHOR_NAME ?? 'stackswap',
      email: env.STACKSWAP_GIT_AUTHOR_EMAIL ?? 'stackswap@localhost',
    },
    redactor,
    allowFileProtocol: location.local,
    allowInsecureHttp: env.STACKSWAP_GIT_ALLOW_HTTP === 'true',
    logger: {
      debug: (obj, msg) => logger.debug(obj, msg),
      info: (obj, msg) => logger.info(obj, msg),
      warn: (obj, msg) => logger.warn(obj, msg),
    },
    ...(retry ? { retry } : {}),
  });
}

const SWEEP_INTERVAL_MS = 2_000;

type OpenedStore = {
  journal: JournalWriter;
  /** Webhook delivery ids seen (the file beside the journal, or the database). */
  deliveries: DeliveryStore;
  shared: SharedOperations | undefined;
  /** The PostgreSQL store (stack change notifications), when there is one. */
  postgres: PostgresStore | undefined;
  /** The file journal's operations as loaded (none with PostgreSQL: it is read on demand). */
  operations: JournaledOperation[];
};

/** PostgreSQL when STACKSWAP_DATABASE_URL is set (several replicas), else the file journal. */
async function openStore(options: {
  databaseUrl: string | undefined;
  dataDir: string;
  leaseMs: number;
  logger: Logger;
  redactor: ServiceRedactor;
}): Promise<OpenedStore> {
  const { logger, redactor } = options;
  if (options.databaseUrl) {
    const store = new PostgresStore({
      url: options.databaseUrl,
      replica: `${os.hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`,
      leaseMs: options.leaseMs,
      logger,
    });
    const { failure } = await store.openAtStart();
    if (failure) {
      logger.warn(
        { error: describeError(failure, redactor) },
        'the database cannot be reached; starting not-ready (GET /readyz), it is tried again on the next use',
      );
    }
    return {
      journal: store,
      shared: store,
      postgres: store,
      deliveries: new SharedDeliveryStore(store),
      operations: [],
    };
  }
  const { journal, load } = await Journal.open(options.dataDir);
  if (load.tornTail || load.skippedLines > 0) {
    logger.warn(
      { tornTail: load.tornTail, skippedLines: load.skippedLines },
      'the journal had unreadable lines; they were skipped',
    );
  }
  return {
    journal,
    shared: undefined,
    postgres: undefined,
    deliveries: await FileDeliveryStore.open(options.dataDir),
    operations: load.operations,
  };
}

const READY_TIMEOUT_MS = 5_000;
const READY_CACHE_MS = 2_000;

/**
 * /readyz: a fetch of the config repo, Argo CD's userinfo and the database, at most every 2 s,
 * shared.
 */
function readinessCheck(
  status: StackStatusService,
  argo: ArgoAccess | undefined,
  database: (() => Promise<void>) | undefined,
  redactor: ServiceRedactor,
  metrics: ServerMetrics,
): () => Promise<ReadyResponse> {
  let last: { at: number; value: ReadyResponse } | undefined;
  let pending: Promise<ReadyResponse> | undefined;
  const check = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await withTimeout(fn(), READY_TIMEOUT_MS, `${what} did not answer within 5 s`);
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: describeError(e, redactor) };
    }
  };
  return () => {
    if (last && Date.now() - last.at < READY_CACHE_MS) return Promise.resolve(last.value);
    pending ??= (async () => {
      try {
        const configRepo = await check('the config repo', () => status.config({ force: true }));
        const argocd = argo
          ? await check('Argo CD', async () => {
              const info = await argo.probe().userInfo();
              // Argo CD answers userinfo without a session as `{}` (a false loggedIn is omitted
              // from its JSON), never 401: only an explicit true means the token is accepted.
              if (info.loggedIn !== true) {
                throw new StackswapError('auth', 'Argo CD does not accept the token');
              }
            })
          : { ok: true, reason: 'not configured (git-only)' };
        const db = database
          ? await check('the database', database)
          : { ok: true, reason: 'not configured (file journal, one replica)' };
        if (database) metrics.setDatabaseUp(db.ok);
        const value: ReadyResponse = {
          status: configRepo.ok && argocd.ok && db.ok ? 'ready' : 'not-ready',
          checks: { configRepo, argocd, database: db },
        };
        last = { at: Date.now(), value };
        return value;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}

/** One line for a log or /readyz: the error's code and message, scrubbed, at most 300 chars. */
function describeError(e: unknown, redactor: ServiceRedactor): string {
  const reason = isStackswapError(e)
    ? `${e.code}: ${e.message}`
    : e instanceof Error
      ? e.message
      : String(e);
  return redactor.redact(reason).slice(0, 300);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function observeVerification(
  metrics: ServerMetrics,
  stack: string,
  details: Record<string, unknown> | undefined,
): void {
  const verdicts = details?.verification;
  if (Array.isArray(verdicts)) metrics.verificationObserved(stack, verdicts as VerdictSummary[]);
}

/** Deploy-to-swap time of the release just swapped, from the commit dates in the history. */
async function observeDeployToSwap(
  metrics: ServerMetrics,
  repo: Parameters<typeof history>[0],
  stack: string,
): Promise<void> {
  try {
    const entries = await history(repo, stack);
    const swapped = entries.find((e) => e.operation === 'swap');
    const deployed =
      swapped && entries.find((e) => e.operation === 'deploy' && e.colour === swapped.to);
    if (swapped && deployed) {
      metrics.deployToSwapObserved(
        stack,
        (Date.parse(swapped.date) - Date.parse(deployed.date)) / 1000,
      );
    }
  } catch {
    // a metric never fails an operation
  }
}

/** The forges whose token is set (the webhooks answer on them; without one they are logged). */
function openForges(
  env: NodeJS.ProcessEnv,
  redactor: ServiceRedactor,
  http: Omit<ForgeFetchOptions, 'forge'> | undefined,
): Partial<Record<ForgeName, Forge>> {
  const settings = readForgeSettings(env, redactor);
  const forges: Partial<Record<ForgeName, Forge>> = {};
  if (settings.gitlab.token) forges.gitlab = createForge('gitlab', settings, http ? { http } : {});
  if (settings.github.token) forges.github = createForge('github', settings, http ? { http } : {});
  return forges;
}

/** "group/project" from an https config repo URL; undefined for a local path or ssh. */
export function forgeProjectOf(repo: string | undefined): string | undefined {
  if (!repo || !/^https?:\/\//i.test(repo)) return undefined;
  try {
    const p = new URL(repo).pathname.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
    return p.includes('/') ? p : undefined;
  } catch {
    return undefined;
  }
}

function operationLink(publicUrl: string | undefined, id: string): string {
  return `${publicUrl?.replace(/\/+$/, '') ?? ''}/v1/operations/${id}`;
}
