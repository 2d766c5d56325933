/**
 * Runs requested sync operations the way the application controller does: the operation is
 * picked up (`operationState.phase: Running`), the revision is rendered, the objects are applied
 * to the simulated cluster (child Application objects become Applications), and the operation
 * ends Succeeded, Failed or Error in one write that also clears `operation` and appends to
 * `status.history`. The follow-up reconcile (sync status, `reconciledAt`) is a separate write,
 * as in Argo CD, so clients see the same intermediate states they would see there.
 */
import {
  parseApplicationManifest,
  CONTROL_PLANE_NAMESPACE,
  isApplicationObject,
} from './app-manifest.ts';
import { k8sTime, type StandInClock, type Timer } from './clock.ts';
import { resourceKey, type LiveObject, type SimulatedCluster } from './cluster.ts';
import type { Faults } from './faults.ts';
import { isCommitSha, type RepoReader } from './git.ts';
import { imagesOf } from './health.ts';
import { errorText, type StandInLogger } from './logger.ts';
import { groupOf, TRACKING_ANNOTATION, versionOf, type Renderer } from './render.ts';
import type { ApplicationStore } from './store.ts';
import type {
  Application,
  ApplicationSource,
  KubeObject,
  OperationPhase,
  ResourceResult,
  RetryStrategy,
  SyncOperationResource,
  SyncOperationResult,
} from './types.ts';

/** repo-server errors reach the controller through gRPC, which prefixes them like this. */
export function comparisonErrorMessage(error: string): string {
  return `Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = ${error}`;
}

export interface OperationOutcome {
  phase: OperationPhase;
  dryRun: boolean;
  /** Child Applications this operation created, changed or deleted. */
  children: string[];
}

export interface RunnerDeps {
  store: ApplicationStore;
  cluster: SimulatedCluster;
  repo: RepoReader;
  renderer: Renderer;
  clock: StandInClock;
  faults: Faults;
  logger: StandInLogger;
  afterOperation(name: string, outcome: OperationOutcome): Promise<void>;
}

const DEFAULT_HISTORY_LIMIT = 10;
const RESOURCES_FINALIZER = 'resources-finalizer.argocd.argoproj.io';

/** Apply order for a readable syncResult (namespaces and config before workloads). */
const KIND_ORDER = [
  'Namespace',
  'CustomResourceDefinition',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'PersistentVolumeClaim',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'Service',
  'DaemonSet',
  'Deployment',
  'StatefulSet',
  'Job',
  'CronJob',
  'Ingress',
];

export class OperationRunner {
  private readonly running = new Map<string, Promise<void>>();
  private readonly retryTimers = new Map<string, Timer>();
  private readonly waiters = new Set<() => void>();
  private stopped = false;

  constructor(private readonly deps: RunnerDeps) {
    deps.faults.onChange(() => this.wake());
  }

  /** Starts the app's requested operation unless one is already being run; resolves when done. */
  start(name: string): Promise<void> {
    const existing = this.running.get(name);
    if (existing) return existing;
    const run = this.run(name)
      .catch((error: unknown) =>
        this.deps.logger.error({ app: name, error: errorText(error) }, 'sync operation crashed'),
      )
      .finally(() => {
        this.running.delete(name);
        // An operation requested while this one was finishing (e.g. an auto-sync started by the
        // follow-up reconcile) has no operationState yet: pick it up now.
        const app = this.deps.store.get(name);
        if (!this.stopped && app?.operation && !app.status.operationState) void this.start(name);
      });
    this.running.set(name, run);
    return run;
  }

  /** Stops picking up operations; a stalled one is abandoned (left Running, as on a crash). */
  stop(): void {
    this.stopped = true;
    for (const timer of this.retryTimers.values()) timer.cancel();
    this.retryTimers.clear();
    this.wake();
  }

  /** Wakes operations waiting on a stall (faults changed or a termination was requested). */
  wake(): void {
    for (const waiter of [...this.waiters]) waiter();
    // A termination requested while an operation waits for its next retry ends it now.
    for (const [name, timer] of [...this.retryTimers]) {
      if (this.terminating(name)) {
        timer.cancel();
        this.retryTimers.delete(name);
        void this.start(name);
      }
    }
  }

  /** Resolves when every running operation has ended (used on close and in tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  private async run(name: string): Promise<void> {
    const { store, clock, faults } = this.deps;
    // Picked up on the next turn, so the POST that requested it is answered first.
    await new Promise((resolve) => setImmediate(resolve));
    const requested = store.get(name);
    const operation = requested?.operation;
    if (!requested || !operation?.sync || this.stopped) return;
    const startedAt = clock.now();
    store.update(name, (app) => {
      const previous = app.status.operationState;
      if (previous?.phase === 'Running' && previous.finishedAt) {
        // processRequestedAppOperation: a retry attempt clears the last result, keeps the rest.
        delete previous.message;
        delete previous.syncResult;
        delete previous.finishedAt;
        return;
      }
      if (previous?.phase === 'Terminating') return;
      app.status.operationState = { operation, phase: 'Running', startedAt: k8sTime(startedAt) };
    });

    while (faults.current.stallOperations && !this.terminating(name)) {
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        const waiter = () => {
          this.waiters.delete(waiter);
          resolve();
        };
        this.waiters.add(waiter);
      });
    }

    const sync = operation.sync;
    const source: ApplicationSource = sync.source ?? requested.spec.source ?? { repoURL: '' };
    const dryRun = sync.dryRun === true;
    const result: SyncOperationResult = { revision: sync.revision ?? '', source };
    if (this.terminating(name))
      return this.finish(name, 'Failed', 'Operation terminated', result, dryRun, []);

    let objects: KubeObject[];
    try {
      const revision =
        sync.revision && isCommitSha(sync.revision)
          ? sync.revision
          : await this.deps.repo.resolve(sync.revision || source.targetRevision || 'HEAD');
      result.revision = revision;
      objects = (
        await this.deps.renderer.render({
          appName: name,
          spec: { ...requested.spec, source },
          revision,
        })
      ).objects;
    } catch (error) {
      return this.finish(
        name,
        'Error',
        `ComparisonError: ${comparisonErrorMessage(errorText(error).trimEnd())}`,
        result,
        dryRun,
        [],
      );
    }
    if (this.terminating(name))
      return this.finish(name, 'Failed', 'Operation terminated', result, dryRun, []);

    const applied = this.apply(name, objects, sync.resources, sync.prune === true, dryRun);
    result.resources = applied.results;
    const failed = applied.results.find((r) => r.status === 'SyncFailed');
    if (failed) {
      return this.finish(
        name,
        'Failed',
        `one or more objects failed to apply, reason: ${failed.message ?? ''}`,
        result,
        dryRun,
        applied.children,
      );
    }
    if (!dryRun) {
      this.deps.cluster.emitApplied(
        {
          app: name,
          revision: result.revision,
          objects: this.deps.cluster.objectsOf(name).map((o) => o.object),
          pruned: applied.pruned,
        },
        (error) =>
          this.deps.logger.warn({ app: name, error: errorText(error) }, 'applied listener threw'),
      );
    }
    return this.finish(
      name,
      'Succeeded',
      'successfully synced (all tasks run)',
      result,
      dryRun,
      applied.children,
    );
  }

  private apply(
    name: string,
    targets: KubeObject[],
    only: SyncOperationResource[] | undefined,
    prune: boolean,
    dryRun: boolean,
  ): { results: ResourceResult[]; children: string[]; pruned: KubeObject[] } {
    const { cluster, clock } = this.deps;
    const now = clock.now();
    const selected = (o: KubeObject) => !only?.length || only.some((r) => matches(r, o));
    const results: ResourceResult[] = [];
    const children: string[] = [];
    const pruned: KubeObject[] = [];
    const targetKeys = new Set(targets.map(resourceKey));

    for (const target of [...targets].filter(selected).sort(byApplyOrder)) {
      const base = resultBase(target);
      if (isApplicationObject(target)) {
        const child = this.applyChildApplication(name, target, dryRun, now);
        if (child.error) {
          results.push({ ...base, status: 'SyncFailed', message: child.error, syncPhase: 'Sync' });
          continue;
        }
        if (child.changed) children.push(target.metadata.name);
      }
      const existing = cluster.get(resourceKey(target));
      const verb = dryRun
        ? existing
          ? 'configured'
          : 'created'
        : cluster.apply(name, target, now);
      results.push({
        ...base,
        status: 'Synced',
        message: `${kubectlRef(target)} ${verb}${dryRun ? ' (dry run)' : ''}`,
        hookPhase: 'Running',
        syncPhase: 'Sync',
        ...withImages(target),
      });
    }

    for (const live of cluster.objectsOf(name)) {
      if (targetKeys.has(live.key) || !selected(live.object)) continue;
      const base = resultBase(live.object);
      if (!prune) {
        results.push({
          ...base,
          status: 'PruneSkipped',
          message: 'ignored (requires pruning)',
          syncPhase: 'Sync',
        });
        continue;
      }
      if (!dryRun) {
        cluster.remove(live.key);
        pruned.push(live.object);
        if (isApplicationObject(live.object)) {
          this.deleteChildApplication(live);
          children.push(live.object.metadata.name);
        }
      }
      results.push({
        ...base,
        status: 'Pruned',
        message: dryRun ? 'pruned (dry run)' : 'pruned',
        hookPhase: 'Running',
        syncPhase: 'Sync',
      });
    }
    return { results, children, pruned };
  }

  /** Creates or updates the Application a parent app applies (app-of-apps). */
  private applyChildApplication(
    parent: string,
    manifest: KubeObject,
    dryRun: boolean,
    now: number,
  ): { changed: boolean; error?: string } {
    const { store } = this.deps;
    let definition;
    try {
      definition = parseApplicationManifest(manifest);
    } catch (error) {
      return { changed: false, error: errorText(error) };
    }
    const name = definition.metadata.name;
    if (name === parent) return { changed: false, error: 'an application cannot manage itself' };
    if (definition.metadata.namespace !== CONTROL_PLANE_NAMESPACE) {
      return {
        changed: false,
        error: `namespace ${definition.metadata.namespace} is not permitted (only ${CONTROL_PLANE_NAMESPACE})`,
      };
    }
    if (dryRun) return { changed: false };
    const annotations = {
      ...(definition.metadata.annotations ?? {}),
      [TRACKING_ANNOTATION]: manifest.metadata.annotations?.[TRACKING_ANNOTATION] ?? '',
    };
    if (!store.has(name)) {
      store.create(
        {
          metadata: { ...definition.metadata, annotations },
          spec: definition.spec,
          status: emptyStatus(),
        },
        k8sTime(now),
      );
      return { changed: true };
    }
    const before = store.get(name);
    const after = store.update(name, (app) => {
      app.metadata.labels = definition.metadata.labels;
      if (!app.metadata.labels) delete app.metadata.labels;
      app.metadata.annotations = annotations;
      app.metadata.finalizers = definition.metadata.finalizers;
      if (!app.metadata.finalizers) delete app.metadata.finalizers;
      app.spec = definition.spec;
    });
    return { changed: before?.metadata.resourceVersion !== after?.metadata.resourceVersion };
  }

  /** Deleting an Application removes its resources only with the resources finalizer. */
  private deleteChildApplication(live: LiveObject): void {
    const name = live.object.metadata.name;
    const app = this.deps.store.get(name);
    if (app?.metadata.finalizers?.includes(RESOURCES_FINALIZER)) {
      for (const owned of this.deps.cluster.objectsOf(name)) this.deps.cluster.remove(owned.key);
    }
    this.deps.store.delete(name);
  }

  private async finish(
    name: string,
    phase: OperationPhase,
    message: string,
    syncResult: SyncOperationResult,
    dryRun: boolean,
    children: string[],
  ): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const finishedAt = k8sTime(now);
    let retryInMs: number | undefined;
    store.update(name, (app) => {
      const state = app.status.operationState;
      if (!state) return;
      const retry = state.operation.retry ?? {};
      const limit = retry.limit ?? 0;
      const count = state.retryCount ?? 0;
      const terminated = message === 'Operation terminated';
      state.finishedAt = finishedAt;
      state.syncResult = syncResult;
      if (
        (phase === 'Failed' || phase === 'Error') &&
        !terminated &&
        (count < limit || limit < 0)
      ) {
        // appcontroller.go ~1683: Running with finishedAt set, operation kept, retried later.
        state.phase = 'Running';
        state.retryCount = count + 1;
        state.message = `${message}. Retrying attempt #${count + 1} at ${kitchenTime(now + retryDelayMs(retry, count))}.`;
        // The controller re-checks NextRetryAt(finishedAt, retryCount) with the new count.
        retryInMs = retryDelayMs(retry, count + 1);
        return;
      }
      state.phase = phase;
      state.message =
        count > 0 && phase !== 'Succeeded' ? `${message} (retried ${count} times).` : message;
      if (phase === 'Succeeded' && !dryRun)
        appendHistory(app, syncResult, state.startedAt, finishedAt);
      delete app.operation;
    });
    if (retryInMs !== undefined) {
      this.deps.logger.info(
        { app: name, phase, message, retryInMs },
        'sync operation will be retried',
      );
      this.retryTimers.set(
        name,
        clock.setTimeout(() => {
          this.retryTimers.delete(name);
          if (!this.stopped) void this.start(name);
        }, retryInMs),
      );
      return;
    }
    this.deps.logger.info({ app: name, phase, message }, 'sync operation finished');
    await this.deps.afterOperation(name, { phase, dryRun, children });
  }

  private terminating(name: string): boolean {
    return this.deps.store.get(name)?.status.operationState?.phase === 'Terminating';
  }
}

/**
 * `RetryStrategy.NextRetryAt`: duration * factor^retries, at most maxDuration (defaults 5 s, 2,
 * 3 m; Go duration strings such as "5s", "1m30s", or a bare number of seconds).
 */
export function retryDelayMs(retry: RetryStrategy, retries: number): number {
  const duration = parseGoDuration(retry.backoff?.duration) ?? 5_000;
  const maxDuration = parseGoDuration(retry.backoff?.maxDuration) ?? 180_000;
  const factor = retry.backoff?.factor ?? 2;
  const wait = duration * factor ** retries;
  return maxDuration > 0 ? Math.min(maxDuration, wait) : wait;
}

function parseGoDuration(text: string | undefined): number | undefined {
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000; // parseStringToDuration: no unit = seconds
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let matched = '';
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * (units[m[2]!] ?? 0);
    matched += m[0];
  }
  return matched === text ? total : undefined;
}

/** Go's time.Kitchen ("3:04PM"), in UTC like a controller pod. */
function kitchenTime(ms: number): string {
  const d = new Date(ms);
  const h = d.getUTCHours();
  const minutes = String(d.getUTCMinutes()).padStart(2, '0');
  return `${h % 12 === 0 ? 12 : h % 12}:${minutes}${h < 12 ? 'AM' : 'PM'}`;
}

export function emptyStatus(): Application['status'] {
  return {
    sync: { status: '', comparedTo: { source: { repoURL: '' }, destination: {} } },
    health: {},
    summary: {},
    sourceHydrator: {},
  };
}

function appendHistory(
  app: Application,
  result: SyncOperationResult,
  startedAt: string,
  finishedAt: string,
): void {
  const history = app.status.history ?? [];
  const id = history.reduce((max, h) => Math.max(max, h.id + 1), 0);
  history.push({
    revision: result.revision,
    deployStartedAt: startedAt,
    deployedAt: finishedAt,
    id,
    source: result.source,
    initiatedBy: app.status.operationState?.operation.initiatedBy ?? {},
  });
  const limit = app.spec.revisionHistoryLimit ?? DEFAULT_HISTORY_LIMIT;
  app.status.history = history.slice(Math.max(0, history.length - limit));
}

function resultBase(object: KubeObject): Omit<ResourceResult, 'status'> {
  return {
    group: groupOf(object.apiVersion),
    version: versionOf(object.apiVersion),
    kind: object.kind,
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name,
  };
}

function withImages(object: KubeObject): { images?: string[] } {
  const images = imagesOf(object);
  return images.length > 0 ? { images } : {};
}

/** kubectl's resource reference: `deployment.apps/web`, `service/web`. */
function kubectlRef(object: KubeObject): string {
  const group = groupOf(object.apiVersion);
  return `${object.kind.toLowerCase()}${group ? `.${group}` : ''}/${object.metadata.name}`;
}

function matches(resource: SyncOperationResource, object: KubeObject): boolean {
  return (
    (resource.group ?? '') === groupOf(object.apiVersion) &&
    resource.kind === object.kind &&
    resource.name === object.metadata.name &&
    (!resource.namespace || resource.namespace === object.metadata.namespace)
  );
}

function byApplyOrder(a: KubeObject, b: KubeObject): number {
  const rank = (o: KubeObject) => {
    const index = KIND_ORDER.indexOf(o.kind);
    return index === -1 ? KIND_ORDER.length : index;
  };
  return (
    rank(a) - rank(b) ||
    a.kind.localeCompare(b.kind) ||
    (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
    a.metadata.name.localeCompare(b.metadata.name)
  );
}
