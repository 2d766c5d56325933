/**
 * "Make Argo CD apply exactly revision R to this app, and tell me when it is live there."
 *
 * syncAndWait: refresh (so Argo CD sees the pushed commit now, not within ~3 min), then start a
 * sync at R, adopting an operation that already targets R (an auto-sync that got there first,
 * or our own POST whose answer was lost) and waiting out anyone else's; then waitForApp.
 *
 * waitForApp: done only when the app shows, in one observed version: no operation in flight;
 * the operation for R (when there is one) Succeeded and Argo CD has compared since it finished;
 * `status.sync` Synced at R; health Healthy. A GET comes first, so an app that is already live
 * returns at once (argo-cd #12211); then the watch stream with a safety poll. A Failed/Error
 * operation at R fails at once; Degraded health, a persisting ComparisonError, and "Argo CD
 * moved on to another revision" fail only when they outlast `degradedGraceMs`, because all
 * three show up briefly during a normal rollout or re-comparison.
 *
 * App-of-apps: Argo CD does not roll child health up (since v1.8) and a parent sync only
 * applies the child Application CRs, so each child is synced (or, with auto-sync, refreshed)
 * and waited for at the same R.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, StackswapError, TimeoutError, isStackswapError } from '../shared/errors.ts';
import type { ArgoCdApi } from './client.ts';
import { systemClock, type Clock } from './clock.ts';
import {
  isAutoSyncRefusal,
  isOperationInProgress,
  isOverrideRefusal,
  isSyncWindowRefusal,
  type ArgoCdApiError,
} from './errors.ts';
import { STREAM_RECONNECT_POLICY, observeApp } from './observe.ts';
import { stateFields, type ArgoProgressEvent, type ArgoProgressListener } from './progress.ts';
import { describePodProblem, failingPods, podHint, type PodProblem } from './pods.ts';
import type { RetryPolicy } from './retry.ts';
import type { Application, Info, SyncWindows } from './schema.ts';
import {
  assessApp,
  describeSnapshot,
  hasInfo,
  inFlightRevision,
  inFlightTargets,
  initiatorOf,
  isAutoSyncEnabled,
  isBusy,
  isMultiSource,
  operationStateTargets,
  retryingAt,
  revisionMatches,
  short,
  snapshot,
  type Problem,
  type WaitTarget,
} from './app-state.ts';

/**
 * Degraded (and the other grace-period problems) must persist this long before the wait fails:
 * a rollout can pass through Degraded for a few seconds (a pod restarting, a probe settling),
 * and `argocd app wait --degraded` users asked for exactly this tolerance.
 */
export const DEFAULT_DEGRADED_GRACE_MS = 30_000;
/**
 * A pod of the new release in CrashLoopBackOff / ImagePullBackOff / ErrImagePull, or restarting
 * repeatedly, this long fails the wait (0: no pod check). Long enough for a slow image pull or
 * a container that crashes once while a dependency starts; far below the 600 s progress
 * deadline after which Argo CD itself would say Degraded.
 */
export const DEFAULT_CRASH_GRACE_MS = 30_000;
/** How often the resource tree is read while the app is Synced at R but not yet Healthy. */
export const DEFAULT_POD_CHECK_INTERVAL_MS = 5_000;
/** Safety poll interval: bounds detection delay when the watch stream stalls silently. */
export const DEFAULT_POLL_INTERVAL_MS = 10_000;
/** GET ?refresh= blocks until the controller reconciled; past this we read the app without it. */
export const DEFAULT_REFRESH_TIMEOUT_MS = 60_000;
/** The `operation.info` name that tags operations stackswap started. */
export const OPERATION_INFO_NAME = 'stackswap';

export interface WaitCommonOptions {
  appNamespace?: string;
  project?: string;
  timeoutMs: number;
  degradedGraceMs?: number;
  /**
   * false (`--no-retry-wait`): fail as soon as our operation fails and Argo CD schedules a
   * retry, instead of following the retries to the end. Default true.
   */
  retryWait?: boolean;
  /**
   * true (`--wait-for-window`): a sync refused by a sync window waits (within the timeout)
   * until the window lets it through; false (default): fails at once, naming the window.
   */
  waitForWindow?: boolean;
  /** See DEFAULT_CRASH_GRACE_MS; 0 turns the pod check off. */
  crashGraceMs?: number;
  podCheckIntervalMs?: number;
  pollIntervalMs?: number;
  refreshTimeoutMs?: number;
  /** false: never open the watch stream, poll only. */
  watch?: boolean;
  signal?: AbortSignal;
  onProgress?: ArgoProgressListener;
  clock?: Clock;
  random?: () => number;
  /** Applied to every text taken from Argo CD into events and errors (a Redactor's redact). */
  redact?: (text: string) => string;
  reconnect?: Partial<RetryPolicy>;
}

export interface WaitForAppOptions extends WaitCommonOptions {
  app: string;
  revision: string;
  /** true: also require an operation at `revision` recorded as Succeeded (we requested one). */
  requireOperation?: boolean;
  /** Ignore app versions older than this (e.g. the sync response's), which the stream may replay. */
  minResourceVersion?: string;
}

export interface SyncAndWaitOptions extends WaitCommonOptions {
  app: string;
  revision: string;
  /** Also sync and wait for the child Applications of this app-of-apps. */
  children: boolean;
  /** Tags the operation (`infos: [{name: 'stackswap', value}]`) so a retry can recognise it. */
  operationId?: string;
  prune?: boolean;
}

export interface AppWaitResult {
  app: string;
  revision: string;
  health: string;
  syncStatus: string;
  durationMs: number;
}

export interface SyncAndWaitResult extends AppWaitResult {
  children: AppWaitResult[];
}

export interface TriggerResult {
  /**
   * requested: we POSTed a sync; adopted: an operation at R was already in flight; live: the app
   * was already live at R; auto-sync: refreshed only, its auto-sync applies R (children).
   */
  outcome: 'requested' | 'adopted' | 'live' | 'auto-sync';
  app: Application;
}

interface Ctx {
  clock: Clock;
  deadline: number;
  timeoutMs: number;
  degradedGraceMs: number;
  crashGraceMs: number;
  podCheckIntervalMs: number;
  retryWait: boolean;
  waitForWindow: boolean;
  pollIntervalMs: number;
  refreshTimeoutMs: number;
  watch: boolean;
  signal: AbortSignal | undefined;
  random: (() => number) | undefined;
  redact: (text: string) => string;
  reconnect: RetryPolicy;
  revision: string;
  tag: Info;
  prune: boolean;
  emit: (event: DistributiveOmit<ArgoProgressEvent, 'at'>) => void;
  /** Emits 'observed' only when what is shown changed, per app. */
  observed: (app: Application, source: 'get' | 'stream' | 'poll') => void;
}

interface AppRef {
  app: string;
  appNamespace?: string | undefined;
  project?: string | undefined;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export async function syncAndWait(
  api: ArgoCdApi,
  options: SyncAndWaitOptions,
): Promise<SyncAndWaitResult> {
  const ctx = context(options);
  const start = ctx.clock.now();
  const ref = refOf(options);
  const trigger = await requestSync(api, ctx, ref, { refreshOnlyIfAuto: false });
  const parent = await waitUntilLive(api, ctx, ref, trigger);
  const children = options.children ? await syncChildren(api, ctx, ref, parent.app) : [];
  return { ...parent.result, children, durationMs: ctx.clock.now() - start };
}

export async function waitForApp(
  api: ArgoCdApi,
  options: WaitForAppOptions,
): Promise<AppWaitResult> {
  const ctx = context(options);
  const target: WaitTarget = {
    revision: options.revision,
    requireOperation: options.requireOperation ?? false,
  };
  const { result } = await follow(api, ctx, refOf(options), {
    target,
    minResourceVersion: options.minResourceVersion,
  });
  return result;
}

/**
 * The trigger half of syncAndWait (refresh, adopt or wait, POST sync), for callers that do not
 * wait (`--no-wait`).
 */
export async function triggerSync(
  api: ArgoCdApi,
  options: Omit<SyncAndWaitOptions, 'children'>,
): Promise<TriggerResult> {
  return requestSync(api, context(options), refOf(options), { refreshOnlyIfAuto: false });
}

// ---------------------------------------------------------------------------------------------

function context(
  options: WaitCommonOptions & { revision: string; operationId?: string; prune?: boolean },
): Ctx {
  const clock = options.clock ?? systemClock;
  const redact = options.redact ?? ((t: string) => t);
  const listener = options.onProgress;
  const shown = new Map<string, string>();
  const emit: Ctx['emit'] = (event) => {
    if (!listener) return;
    const clean = Object.fromEntries(
      Object.entries(event).map(([k, v]) => [k, typeof v === 'string' ? redact(v) : v]),
    ) as typeof event;
    listener({ ...clean, at: clock.now() } as ArgoProgressEvent);
  };
  return {
    clock,
    deadline: clock.now() + options.timeoutMs,
    timeoutMs: options.timeoutMs,
    degradedGraceMs: options.degradedGraceMs ?? DEFAULT_DEGRADED_GRACE_MS,
    crashGraceMs: options.crashGraceMs ?? DEFAULT_CRASH_GRACE_MS,
    retryWait: options.retryWait ?? true,
    waitForWindow: options.waitForWindow ?? false,
    podCheckIntervalMs: options.podCheckIntervalMs ?? DEFAULT_POD_CHECK_INTERVAL_MS,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    refreshTimeoutMs: options.refreshTimeoutMs ?? DEFAULT_REFRESH_TIMEOUT_MS,
    watch: options.watch ?? true,
    signal: options.signal,
    random: options.random,
    redact,
    reconnect: { ...STREAM_RECONNECT_POLICY, ...options.reconnect },
    revision: options.revision,
    tag: { name: OPERATION_INFO_NAME, value: options.operationId ?? randomUUID() },
    prune: options.prune ?? false,
    emit,
    observed: (app, source) => {
      const s = snapshot(app);
      const key = JSON.stringify([
        s.syncStatus,
        s.revision,
        s.health,
        s.phase,
        s.operationMessage,
        s.operationRunning,
      ]);
      if (shown.get(s.app) === key) return;
      shown.set(s.app, key);
      emit({ type: 'observed', app: s.app, source, ...stateFields(s) });
    },
  };
}

function refOf(o: { app: string; appNamespace?: string; project?: string }): AppRef {
  return { app: o.app, appNamespace: o.appNamespace, project: o.project };
}

function scopeOf(ref: AppRef): { appNamespace?: string; project?: string } {
  return {
    ...(ref.appNamespace ? { appNamespace: ref.appNamespace } : {}),
    ...(ref.project !== undefined ? { project: ref.project } : {}),
  };
}

function remaining(ctx: Ctx): number {
  return ctx.deadline - ctx.clock.now();
}

/** GET ?refresh=normal; if the controller does not answer in time, a plain GET. */
async function refreshApp(api: ArgoCdApi, ctx: Ctx, ref: AppRef): Promise<Application> {
  const signal = ctx.signal;
  try {
    return await api.getApplication(ref.app, {
      ...scopeOf(ref),
      refresh: 'normal',
      timeoutMs: Math.max(1, Math.min(ctx.refreshTimeoutMs, remaining(ctx))),
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    // 'argocd-unavailable' (refresh timed out) or 500 "application refresh deadline exceeded".
    if (!isStackswapError(error) || !['argocd-unavailable', 'argocd-error'].includes(error.code))
      throw error;
    ctx.emit({
      type: 'poll-error',
      app: ref.app,
      reason: `refresh failed, reading without it: ${error.message}`,
    });
    return api.getApplication(ref.app, { ...scopeOf(ref), ...(signal ? { signal } : {}) });
  }
}

async function requestSync(
  api: ArgoCdApi,
  ctx: Ctx,
  ref: AppRef,
  how: { refreshOnlyIfAuto: boolean },
): Promise<TriggerResult> {
  const R = ctx.revision;
  let app = await refreshApp(api, ctx, ref);
  ctx.emit({ type: 'refresh', app: ref.app, ...stateFields(snapshot(app)) });
  if (assessApp(app, { revision: R, requireOperation: false }).verdict === 'done') {
    return { outcome: 'live', app };
  }
  // A child with auto-sync: the refresh above has kicked its auto-sync; we only verify. Not when
  // its last auto-sync at R failed: auto-sync never retries that revision, so we sync it.
  if (
    how.refreshOnlyIfAuto &&
    isAutoSyncEnabled(app) &&
    !isBusy(app) &&
    assessApp(app, { revision: R, requireOperation: false }).verdict !== 'failed'
  ) {
    return { outcome: 'auto-sync', app };
  }

  // With auto-sync on, Argo CD refuses a revision other than targetRevision (§2.2); multi-source
  // apps take `revisions` + positions, which we do not know: sync their targetRevisions.
  let pinnable = !isAutoSyncEnabled(app) && !isMultiSource(app);
  // When R is the head of targetRevision (the refresh above re-resolved it), a sync without a
  // revision applies R and needs no `override` permission (argocd-cm
  // application.sync.requireOverridePrivilegeForRevisionSync); we check the resolved revision.
  let withRevision = pinnable && !revisionMatches(app.status?.sync, R);
  let overrideRefused: ArgoCdApiError | undefined;
  let headMoved = false;
  let waitedFor: string | undefined;
  for (let attempt = 1; ; attempt++) {
    if (remaining(ctx) <= 0) throw busyTimeout(ctx, ref, app);
    if (isBusy(app)) {
      if (inFlightTargets(app, R) || hasInfo(app, ctx.tag)) {
        ctx.emit({
          type: 'operation-adopted',
          app: ref.app,
          ...opFields(app),
          ...stateFields(snapshot(app)),
        });
        return { outcome: 'adopted', app };
      }
      const key = `${inFlightRevision(app)}|${initiatorOf(app)}`;
      if (waitedFor !== key) {
        waitedFor = key;
        ctx.emit({
          type: 'operation-wait',
          app: ref.app,
          ...opFields(app),
          ...stateFields(snapshot(app)),
        });
      }
      app = await waitUntilIdle(api, ctx, ref, app);
      continue;
    }
    try {
      const response = await api.sync(ref.app, {
        ...scopeOf(ref),
        ...(withRevision ? { revision: R } : {}),
        prune: ctx.prune,
        infos: [ctx.tag],
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      const opRevision = response.operation?.sync?.revision;
      ctx.emit({
        type: 'sync-requested',
        app: ref.app,
        targetRevision: withRevision ? R : undefined,
        ...(opRevision ? { operationRevision: opRevision } : {}),
      });
      if (
        response.operation?.sync &&
        !withRevision &&
        !revisionMatches(response.operation.sync, R) &&
        opRevision
      ) {
        if (pinnable && !overrideRefused && !headMoved) {
          headMoved = true;
          // The branch moved between our refresh and the sync: let that operation finish, then
          // look again (and sync R pinned, as it is no longer the head).
          ctx.emit({
            type: 'head-moved',
            app: ref.app,
            operationRevision: opRevision,
            reason: `Argo CD resolved ${ref.app}'s targetRevision to ${short(opRevision)}, not the pushed ${short(R)}: waiting for that operation, then syncing ${short(R)} itself`,
          });
          await waitUntilNotBusy(api, ctx, ref, response);
          app = await refreshApp(api, ctx, ref);
          withRevision = !revisionMatches(app.status?.sync, R);
          continue;
        }
        if (overrideRefused) throw overrideError(ctx, ref, overrideRefused, opRevision);
        throw new ConflictError(
          ctx.redact(
            `app ${ref.app}: Argo CD resolved its targetRevision to ${short(opRevision)}, not the pushed ${short(R)}: the branch has moved on (or the app tracks another branch)`,
          ),
          { details: { app: ref.app, revision: R, operationRevision: opRevision } },
        );
      }
      return { outcome: 'requested', app: response };
    } catch (error) {
      if (isOperationInProgress(error)) {
        // Someone (often auto-sync, kicked by our refresh) got there first: look at it.
        app = await api.getApplication(ref.app, {
          ...scopeOf(ref),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
        if (finishedAt(app, R) === 'Succeeded') {
          // ...and it already finished, at our revision: that was the sync we wanted.
          ctx.emit({
            type: 'operation-adopted',
            app: ref.app,
            ...opFields(app),
            ...stateFields(snapshot(app)),
          });
          return { outcome: 'adopted', app };
        }
        if (!isBusy(app))
          await ctx.clock.sleep(Math.min(ctx.pollIntervalMs, 1_000 * attempt), ctx.signal);
        continue;
      }
      if (isAutoSyncRefusal(error) && withRevision) {
        withRevision = false;
        pinnable = false;
        ctx.emit({ type: 'auto-sync', app: ref.app, reason: error.argocdMessage });
        continue;
      }
      if (isSyncWindowRefusal(error)) {
        await waitForSyncWindow(api, ctx, ref, error);
        app = await api.getApplication(ref.app, {
          ...scopeOf(ref),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
        continue;
      }
      if (isOverrideRefusal(error) && withRevision) {
        // Pinning a revision needs `override` here; R as the branch head needs only `sync`.
        overrideRefused = error;
        app = await refreshApp(api, ctx, ref);
        if (!revisionMatches(app.status?.sync, R)) {
          throw overrideError(ctx, ref, error, app.status?.sync?.revision ?? undefined);
        }
        ctx.emit({
          type: 'override-fallback',
          app: ref.app,
          reason: `Argo CD refused to sync a pinned revision (${error.argocdMessage}); ${short(R)} is the head of the app's targetRevision, so syncing that instead`,
        });
        withRevision = false;
        continue;
      }
      throw error;
    }
  }
}

/** Every this often the sync windows are read again while waiting for one to open. */
const WINDOW_POLL_MS = 15_000;

/** "deny window \"0 22 * * *\" for 10h is active" / "outside the allow window \"0 6 * * 1-5\" (12h)". */
function describeWindows(w: SyncWindows | undefined): string {
  if (!w) return 'the sync windows could not be read';
  const show = (x: {
    kind?: string | undefined;
    schedule?: string | undefined;
    duration?: string | undefined;
  }) => `${x.kind ?? '?'} window "${x.schedule ?? '?'}" (${x.duration ?? '?'})`;
  const deny = w.activeWindows.filter((x) => x.kind === 'deny');
  if (deny.length > 0)
    return `${deny.map(show).join(', ')} ${deny.length > 1 ? 'are' : 'is'} active`;
  const allow = w.assignedWindows.filter((x) => x.kind === 'allow');
  if (allow.length > 0) return `outside the ${allow.map(show).join(', ')}`;
  return w.assignedWindows.map(show).join(', ') || 'no window is listed';
}

/**
 * A sync refused by a sync window: fails naming the window, or with waitForWindow reads the
 * windows every 15 s (the poll interval if shorter) until `canSync`, within the deadline.
 */
async function waitForSyncWindow(
  api: ArgoCdApi,
  ctx: Ctx,
  ref: AppRef,
  refusal: ArgoCdApiError,
): Promise<void> {
  const read = async () => {
    try {
      return await api.syncWindows?.(ref.app, {
        ...scopeOf(ref),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
    } catch (error) {
      if (ctx.signal?.aborted) throw error;
      return undefined;
    }
  };
  let windows = await read();
  const blocked = () =>
    ctx.redact(
      `app ${ref.app}: Argo CD refuses to sync now (${refusal.argocdMessage}): ${describeWindows(windows)}`,
    );
  if (!ctx.waitForWindow) {
    throw new StackswapError('argocd-error', blocked(), {
      hint: 'wait for the window with --wait-for-window (or waitForWindow: true for the stack in stackswap.yaml), within --timeout; or ask for a window with manualSync',
      details: { app: ref.app, revision: ctx.revision, windows: windows ?? null },
    });
  }
  ctx.emit({
    type: 'sync-window-wait',
    app: ref.app,
    reason: `${describeWindows(windows)}; waiting for it to open`,
  });
  const every = Math.min(WINDOW_POLL_MS, ctx.pollIntervalMs);
  // Refused although the windows say "can sync" (it just closed, or a race): look again later.
  if (windows?.canSync) await ctx.clock.sleep(Math.min(every, 5_000), ctx.signal);
  for (;;) {
    if (windows?.canSync) return;
    if (remaining(ctx) <= 0) {
      throw new TimeoutError(`${blocked()}; still closed after ${seconds(ctx.timeoutMs)}`, {
        hint: 'the commit is in git; re-run when the window is open, or with a longer --timeout',
        details: { app: ref.app, revision: ctx.revision, windows: windows ?? null },
      });
    }
    await ctx.clock.sleep(Math.min(every, Math.max(1, remaining(ctx))), ctx.signal);
    windows = await read();
  }
}

/** Syncing R needs `applications, override` and R is not (or no longer) the branch head. */
function overrideError(
  ctx: Ctx,
  ref: AppRef,
  refusal: ArgoCdApiError,
  head: string | undefined,
): StackswapError {
  const object = /applications, override, ([^,\s]+)/.exec(refusal.argocdMessage)?.[1];
  const permission = `applications, override, ${object ?? `<project>/${ref.app}`}`;
  return new StackswapError(
    'forbidden',
    ctx.redact(
      `app ${ref.app}: Argo CD refused to sync revision ${short(ctx.revision)}: the token lacks the permission \`${permission}\`, needed to sync a revision other than the app's targetRevision because argocd-cm sets application.sync.requireOverridePrivilegeForRevisionSync: "true"; and ${short(ctx.revision)} is not the head of the targetRevision${head ? ` (Argo CD sees ${short(head)})` : ''}, so a plain sync would apply something else`,
    ),
    {
      hint: `grant it in argocd-rbac-cm (p, <role>, ${permission}, allow), or promote from the branch head (the branch moved on since this commit)`,
      details: { app: ref.app, revision: ctx.revision, permission, ...(head ? { head } : {}) },
    },
  );
}

/** Follows the app until no operation is in flight (whoever's it is). */
async function waitUntilNotBusy(
  api: ArgoCdApi,
  ctx: Ctx,
  ref: AppRef,
  current: Application,
): Promise<Application> {
  return (
    await follow(api, ctx, ref, {
      initial: current,
      decide: (app) => (isBusy(app) ? undefined : app),
      onTimeout: (last) => busyTimeout(ctx, ref, last ?? current),
    })
  ).result;
}

/** The phase of a completed operation at `revision`, if the app shows one. */
function finishedAt(app: Application, revision: string): string | undefined {
  const os = app.status?.operationState;
  if (isBusy(app) || !os || !operationStateTargets(os, revision)) return undefined;
  return os.phase;
}

function opFields(app: Application): { operationRevision?: string; initiatedBy?: string } {
  const operationRevision = inFlightRevision(app);
  const initiatedBy = initiatorOf(app);
  return {
    ...(operationRevision ? { operationRevision } : {}),
    ...(initiatedBy ? { initiatedBy } : {}),
  };
}

/** Follows the app until no operation is in flight, or the one in flight is adoptable. */
async function waitUntilIdle(
  api: ArgoCdApi,
  ctx: Ctx,
  ref: AppRef,
  current: Application,
): Promise<Application> {
  return (
    await follow(api, ctx, ref, {
      initial: current,
      decide: (app) =>
        !isBusy(app) || inFlightTargets(app, ctx.revision) || hasInfo(app, ctx.tag)
          ? app
          : undefined,
      onTimeout: (last) => busyTimeout(ctx, ref, last ?? current),
    })
  ).result;
}

function busyTimeout(ctx: Ctx, ref: AppRef, app: Application): TimeoutError {
  const s = snapshot(app);
  return new TimeoutError(
    ctx.redact(
      `app ${ref.app}: timed out after ${seconds(ctx.timeoutMs)} waiting for another operation to finish before syncing ${short(ctx.revision)}: ${describeSnapshot(s)}`,
    ),
    {
      hint: `the operation was started by ${s.initiatedBy ?? 'someone else'}; to stop it: argocd app terminate-op ${ref.app}`,
      details: { app: ref.app, revision: ctx.revision, lastSeen: redactSnapshot(ctx, s) },
    },
  );
}

async function waitUntilLive(
  api: ArgoCdApi,
  ctx: Ctx,
  ref: AppRef,
  trigger: TriggerResult,
): Promise<{ result: AppWaitResult; app: Application }> {
  return follow(api, ctx, ref, {
    target: {
      revision: ctx.revision,
      requireOperation: trigger.outcome === 'requested' || trigger.outcome === 'adopted',
    },
    minResourceVersion: trigger.app.metadata.resourceVersion,
  });
}

interface FollowLive {
  target: WaitTarget;
  minResourceVersion?: string | undefined;
}

interface FollowUntil<T> {
  initial: Application;
  decide: (app: Application) => T | undefined;
  onTimeout: (last: Application | undefined) => Error;
}

function follow(
  api: ArgoCdApi,
  ctx: Ctx,
  ref: AppRef,
  spec: FollowLive,
): Promise<{ result: AppWaitResult; app: Application }>;
function follow<T>(
  api: ArgoCdApi,
  ctx: Ctx,
  ref: AppRef,
  spec: FollowUntil<T>,
): Promise<{ result: T; app: Application }>;
/**
 * Observes the app (GET first, then stream + poll) until `decide` returns a value, something
 * fails fast, or the deadline passes. Versions older than the newest one seen are skipped.
 */
async function follow<T>(
  api: ArgoCdApi,
  ctx: Ctx,
  ref: AppRef,
  spec: FollowLive | FollowUntil<T>,
): Promise<{ result: unknown; app: Application }> {
  const start = ctx.clock.now();
  const live = 'target' in spec ? liveDecider(ctx, ref, spec.target, start) : undefined;
  const decide = live ? live.decide : (spec as FollowUntil<T>).decide;
  const onTimeout = live ? live.onTimeout : (spec as FollowUntil<T>).onTimeout;
  let newest = 'minResourceVersion' in spec ? spec.minResourceVersion : undefined;
  let last: Application | undefined;

  const consider = (app: Application, source: 'get' | 'stream' | 'poll'): unknown => {
    const version = app.metadata.resourceVersion;
    if (isOlder(version, newest)) return undefined;
    newest = version ?? newest;
    last = app;
    ctx.observed(app, source);
    return decide(app);
  };

  const initial =
    'initial' in spec
      ? spec.initial
      : await api.getApplication(ref.app, {
          ...scopeOf(ref),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
  const first = consider(initial, 'get');
  if (first !== undefined) return { result: first, app: initial };
  if (remaining(ctx) <= 0) throw onTimeout(last);

  const stop = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal;
  const observations = observeApp({
    api,
    app: ref.app,
    appNamespace: ref.appNamespace,
    project: ref.project,
    pollIntervalMs: ctx.pollIntervalMs,
    watch: ctx.watch,
    reconnect: ctx.reconnect,
    clock: ctx.clock,
    ...(ctx.random ? { random: ctx.random } : {}),
    signal,
  })[Symbol.asyncIterator]();
  const DEADLINE = 'deadline' as const;
  const deadline = ctx.clock.sleep(remaining(ctx), signal).then(
    () => DEADLINE,
    () => DEADLINE,
  );
  const RECHECK = 'recheck' as const;
  // A grace period can expire while Argo CD sends nothing new (a Degraded app is quiet), so
  // the last state is judged again when it ends instead of at the next poll.
  const recheckAfterGrace = () => {
    const until = live?.problemDeadline();
    if (until === undefined) return new Promise<never>(() => {});
    return ctx.clock.sleep(Math.max(0, until - ctx.clock.now()), signal).then(
      () => RECHECK,
      () => RECHECK,
    );
  };
  const POD_FAILURE = 'pod-failure' as const;
  let podFailure: Error | undefined;
  const podCheck =
    live && ctx.crashGraceMs > 0
      ? checkPods(api, ctx, ref, live.target, () => last, signal).then((error) => {
          podFailure = error;
          return POD_FAILURE;
        })
      : new Promise<never>(() => {});
  let pending = observations.next();
  try {
    for (;;) {
      const next = await Promise.race([pending, deadline, recheckAfterGrace(), podCheck]);
      if (next === POD_FAILURE) {
        if (ctx.signal?.aborted) throw ctx.signal.reason;
        if (podFailure) throw podFailure;
        continue;
      }
      if (ctx.signal?.aborted) throw ctx.signal.reason;
      if (next === RECHECK) {
        if (last) {
          const result = decide(last);
          if (result !== undefined) return { result, app: last };
        }
        continue;
      }
      if (next === DEADLINE || next.done) throw onTimeout(last);
      pending = observations.next();
      const o = next.value;
      switch (o.kind) {
        case 'app': {
          const result = consider(o.app, o.source);
          if (result !== undefined) return { result, app: o.app };
          break;
        }
        case 'deleted':
          throw new StackswapError(
            'not-found',
            `application ${ref.app} was deleted while waiting for it`,
            {
              details: { app: ref.app },
            },
          );
        case 'fatal':
          throw o.error;
        case 'notice':
          ctx.emit({ app: ref.app, ...o.notice });
          break;
      }
    }
  } finally {
    stop.abort();
    await observations.return?.();
  }
}

/** The "live at R" decision with its grace-period bookkeeping, for one follow. */
function liveDecider(ctx: Ctx, ref: AppRef, target: WaitTarget, start: number) {
  const since = new Map<Problem, number>();
  let retryShown = 0;
  const decide = (app: Application): AppWaitResult | undefined => {
    const retry = retryingAt(app, target.revision);
    if (retry && retry.attempt !== retryShown) {
      retryShown = retry.attempt;
      ctx.emit({
        type: 'operation-retry',
        app: ref.app,
        attempt: retry.attempt,
        reason: retry.message,
      });
      if (!ctx.retryWait) {
        throw new StackswapError(
          'operation-failed',
          ctx.redact(
            `app ${ref.app}: sync operation at ${short(target.revision)} failed (Argo CD will retry it; not waiting, --no-retry-wait): ${retry.message}`,
          ),
          {
            hint: `the operation is still set in Argo CD and will be retried; to stop it: argocd app terminate-op ${ref.app}`,
            details: { app: ref.app, revision: target.revision, attempt: retry.attempt },
          },
        );
      }
    }
    const a = assessApp(app, target);
    const now = ctx.clock.now();
    if (a.verdict === 'done') {
      const s = snapshot(app);
      const durationMs = now - start;
      ctx.emit({ type: 'done', app: ref.app, durationMs, ...stateFields(s) });
      return {
        app: ref.app,
        revision: target.revision,
        health: s.health,
        syncStatus: s.syncStatus,
        durationMs,
      };
    }
    if (a.verdict === 'failed') {
      const resources = a.failedResources.length
        ? `; failed: ${a.failedResources.slice(0, 10).join('; ')}`
        : '';
      throw new StackswapError(
        'operation-failed',
        ctx.redact(`app ${ref.app}: ${a.message}${resources}`),
        {
          hint: `see \`argocd app get ${ref.app}\`; fix the commit and promote again`,
          details: {
            app: ref.app,
            revision: target.revision,
            failedResources: a.failedResources.map(ctx.redact),
          },
        },
      );
    }
    const problem = a.problem;
    for (const kind of [...since.keys()]) if (kind !== problem?.kind) since.delete(kind);
    if (problem) {
      const first = since.get(problem.kind) ?? now;
      since.set(problem.kind, first);
      if (now - first >= ctx.degradedGraceMs)
        throw problemError(ctx, ref, app, target, problem, now - first);
    }
    return undefined;
  };
  const onTimeout = (last: Application | undefined) => liveTimeout(ctx, ref, target, last);
  /** When the oldest pending problem outlasts the grace period (undefined: none pending). */
  const problemDeadline = (): number | undefined => {
    const firsts = [...since.values()];
    return firsts.length > 0 ? Math.min(...firsts) + ctx.degradedGraceMs : undefined;
  };
  return { decide, onTimeout, problemDeadline, target };
}

/** Synced at R, our operation (if any) done, not yet Healthy: the new pods are starting. */
function podsMatter(app: Application, target: WaitTarget): boolean {
  if (isBusy(app)) return false;
  const os = app.status?.operationState;
  if (
    target.requireOperation &&
    !(os && operationStateTargets(os, target.revision) && os.phase === 'Succeeded')
  )
    return false;
  const sync = app.status?.sync;
  return (
    revisionMatches(sync, target.revision) &&
    sync?.status === 'Synced' &&
    app.status?.health?.status !== 'Healthy'
  );
}

/**
 * Reads the resource tree every podCheckIntervalMs while the pods matter, and resolves with the
 * error to fail with once a pod has shown a failure for crashGraceMs (never resolves otherwise;
 * ends quietly when `signal` aborts). Tree read errors are reported and tried again.
 */
async function checkPods(
  api: ArgoCdApi,
  ctx: Ctx,
  ref: AppRef,
  target: WaitTarget,
  latest: () => Application | undefined,
  signal: AbortSignal,
): Promise<Error> {
  const since = new Map<string, number>();
  let shown = '';
  for (;;) {
    try {
      await ctx.clock.sleep(ctx.podCheckIntervalMs, signal);
    } catch {
      return new Promise<never>(() => {});
    }
    const app = latest();
    if (!app || !podsMatter(app, target)) {
      since.clear();
      continue;
    }
    let problems: PodProblem[];
    try {
      problems = failingPods(await api.resourceTree(ref.app, { ...scopeOf(ref), signal }));
    } catch (error) {
      if (signal.aborted) return new Promise<never>(() => {});
      if (isStackswapError(error) && ['auth', 'forbidden'].includes(error.code)) return error;
      ctx.emit({
        type: 'poll-error',
        app: ref.app,
        reason: `reading the resource tree: ${error instanceof Error ? error.message : String(error)}`,
      });
      continue;
    }
    const now = ctx.clock.now();
    for (const key of [...since.keys()])
      if (!problems.some((p) => p.key === key)) since.delete(key);
    for (const p of problems) if (!since.has(p.key)) since.set(p.key, now);
    const text = problems.map(describePodProblem).join('; ');
    if (text !== shown) {
      shown = text;
      if (problems.length > 0) {
        ctx.emit({ type: 'pods', app: ref.app, problems: problems.map(describePodProblem) });
      }
    }
    const expired = problems.find((p) => now - (since.get(p.key) ?? now) >= ctx.crashGraceMs);
    if (expired)
      return podError(ctx, ref, app, target, expired, problems, now - since.get(expired.key)!);
  }
}

function podError(
  ctx: Ctx,
  ref: AppRef,
  app: Application,
  target: WaitTarget,
  problem: PodProblem,
  all: PodProblem[],
  forMs: number,
): StackswapError {
  const s = snapshot(app);
  const others =
    all.length > 1 ? ` (${all.length - 1} more pod${all.length > 2 ? 's' : ''} failing)` : '';
  return new StackswapError(
    'degraded',
    ctx.redact(
      `app ${ref.app}: ${describePodProblem(problem)}, for ${seconds(forMs)} at ${short(target.revision)}${others}; Argo CD still says ${s.health} (it says Degraded only after the progress deadline)`,
    ),
    {
      hint: ctx.redact(podHint(problem)),
      details: {
        app: ref.app,
        revision: target.revision,
        pods: all.map((p) => ({
          pod: p.pod,
          namespace: p.namespace,
          deployment: p.deployment,
          reason: p.reason,
          restarts: p.restarts,
          ...(p.message ? { message: ctx.redact(p.message) } : {}),
        })),
        lastSeen: redactSnapshot(ctx, s),
      },
    },
  );
}

function problemError(
  ctx: Ctx,
  ref: AppRef,
  app: Application,
  target: WaitTarget,
  problem: { kind: Problem; message: string },
  forMs: number,
): StackswapError {
  const s = snapshot(app);
  const details = { app: ref.app, revision: target.revision, lastSeen: redactSnapshot(ctx, s) };
  const unhealthy = s.unhealthy.length ? `; unhealthy: ${s.unhealthy.slice(0, 10).join('; ')}` : '';
  const message = ctx.redact(
    `app ${ref.app}: ${problem.message} for ${seconds(forMs)} at ${short(target.revision)}${unhealthy}`,
  );
  switch (problem.kind) {
    case 'degraded':
      return new StackswapError('degraded', message, {
        hint: `see \`argocd app get ${ref.app}\` for the failing resources`,
        details,
      });
    case 'superseded':
      return new ConflictError(message, { details });
    case 'error-condition':
      return new StackswapError('operation-failed', message, { details });
  }
}

function liveTimeout(
  ctx: Ctx,
  ref: AppRef,
  target: WaitTarget,
  last: Application | undefined,
): TimeoutError {
  const s = last ? snapshot(last) : undefined;
  const seen = s ? describeSnapshot(s) : 'nothing (no answer from Argo CD)';
  const running = !!s?.operationRunning;
  return new TimeoutError(
    ctx.redact(
      `app ${ref.app}: timed out after ${seconds(ctx.timeoutMs)} waiting for Synced and Healthy at ${short(target.revision)}; last seen: ${seen}`,
    ),
    {
      hint: running
        ? `the pushed revision ${short(target.revision)} is in git; to stop the running operation: argocd app terminate-op ${ref.app}`
        : `the pushed revision ${short(target.revision)} is in git; re-run to resume waiting, or see \`argocd app get ${ref.app}\``,
      details: {
        app: ref.app,
        revision: target.revision,
        ...(s ? { lastSeen: redactSnapshot(ctx, s) } : {}),
      },
    },
  );
}

function redactSnapshot(ctx: Ctx, s: ReturnType<typeof snapshot>): Record<string, unknown> {
  return JSON.parse(ctx.redact(JSON.stringify(s))) as Record<string, unknown>;
}

/** Children: the parent's managed `argoproj.io/Application` resources, each synced and waited for. */
async function syncChildren(
  api: ArgoCdApi,
  ctx: Ctx,
  parentRef: AppRef,
  parent: Application,
): Promise<AppWaitResult[]> {
  const refs = (parent.status?.resources ?? [])
    .filter((r) => r.group === 'argoproj.io' && r.kind === 'Application' && r.name)
    .map((r): AppRef => ({
      app: r.name!,
      appNamespace:
        r.namespace && r.namespace !== parent.metadata.namespace
          ? r.namespace
          : parentRef.appNamespace,
      // Children may live in other projects: no project filter (a missing child is then a 403).
      project: '',
    }));
  if (refs.length === 0) return [];
  ctx.emit({ type: 'children', app: parentRef.app, children: refs.map((r) => r.app) });

  const stop = new AbortController();
  const childCtx: Ctx = {
    ...ctx,
    signal: ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal,
  };
  let firstFailure: { ref: AppRef; error: unknown } | undefined;
  const settled = await Promise.allSettled(
    refs.map(async (ref) => {
      try {
        const trigger = await requestSync(api, childCtx, ref, { refreshOnlyIfAuto: true });
        return (await waitUntilLive(api, childCtx, ref, trigger)).result;
      } catch (error) {
        if (!(error instanceof TimeoutError) && !firstFailure && !stop.signal.aborted) {
          firstFailure = { ref, error };
          stop.abort(); // one child failed: the promotion failed, stop waiting for the others
        }
        throw error;
      }
    }),
  );
  if (ctx.signal?.aborted) throw ctx.signal.reason;
  if (firstFailure) throw childError(parentRef, firstFailure.ref, firstFailure.error);
  const blocking = settled.flatMap((s, i) =>
    s.status === 'rejected' ? [{ ref: refs[i]!, error: s.reason }] : [],
  );
  if (blocking.length > 0) {
    const lines = blocking.map(
      ({ ref, error }) => `${ref.app}: ${error instanceof Error ? error.message : String(error)}`,
    );
    throw new TimeoutError(
      ctx.redact(
        `app ${parentRef.app}: timed out after ${seconds(ctx.timeoutMs)} waiting for its child applications at ${short(ctx.revision)}; blocking: ${lines.join(' | ')}`,
      ),
      {
        hint: `blocking children: ${blocking.map((b) => b.ref.app).join(', ')}`,
        details: {
          app: parentRef.app,
          revision: ctx.revision,
          blockingChildren: blocking.map(({ ref, error }) => ({
            app: ref.app,
            ...(isStackswapError(error) && error.details ? error.details : {}),
          })),
        },
      },
    );
  }
  return settled.map((s) => (s as PromiseFulfilledResult<AppWaitResult>).value);
}

function childError(parentRef: AppRef, ref: AppRef, error: unknown): unknown {
  if (!isStackswapError(error)) return error;
  return new StackswapError(
    error.code,
    `child application ${ref.app} of ${parentRef.app}: ${error.message}`,
    {
      ...(error.hint ? { hint: error.hint } : {}),
      details: { ...error.details, parent: parentRef.app, child: ref.app },
      cause: error,
    },
  );
}

/** resourceVersion is an integer in Argo CD (it compares them as such); unknown forms never compare. */
function isOlder(version: string | undefined, than: string | undefined): boolean {
  if (!version || !than || !/^\d+$/.test(version) || !/^\d+$/.test(than)) return false;
  return BigInt(version) < BigInt(than);
}

function seconds(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)}m` : `${Math.round(ms / 1000)}s`;
}
