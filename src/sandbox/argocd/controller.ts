/**
 * The application controller of the stand-in: reconciles each Application against the head of
 * its `targetRevision` (on request, after each operation, and when a poll sees the branch
 * move), writes `status` (sync, resources, health, conditions, reconciledAt, summary), re-writes
 * health when a simulated rollout ends, and starts automated syncs as Argo CD's `autoSync` does.
 */
import { parse as parseYaml } from 'yaml';
import { StackswapError } from '../../shared/errors.ts';
import { CONTROL_PLANE_NAMESPACE, isAutomated, parseApplicationManifest } from './app-manifest.ts';
import { k8sTime, type Timer } from './clock.ts';
import { canonicalJson } from './cluster.ts';
import { compare, type Comparison } from './compare.ts';
import { healthChangesAt, type HealthSettings } from './health.ts';
import { errorText } from './logger.ts';
import {
  comparisonErrorMessage,
  emptyStatus,
  OperationRunner,
  type RunnerDeps,
  type OperationOutcome,
} from './operations.ts';
import type { RenderedTarget } from './render.ts';
import { canSync, windowsOf, type SyncWindow } from './windows.ts';
import type { Application, ApplicationCondition, Operation } from './types.ts';

/** What the operation runner needs (the controller supplies `afterOperation` itself), and more. */
export interface ControllerDeps extends Omit<RunnerDeps, 'afterOperation'> {
  health: () => HealthSettings;
  /** true: honour `syncPolicy.automated`; false: never auto-sync; 'all': auto-sync every app. */
  autoSync: boolean | 'all';
  branch: string;
  /** `timeout.reconciliation`: every app is reconciled this often (0: never on a timer). */
  reconciliationMs: number;
  /** `timeout.reconciliation.jitter`: up to this much is added to each period. */
  reconciliationJitterMs: number;
  /** `controller.repo.error.grace.period.seconds`: periodic reconciles ignore repo errors this long. */
  repoErrorGraceMs: number;
  random: () => number;
  /** The sync windows of a project (auto-sync is skipped while they forbid it). */
  syncWindows?: (project: string) => readonly SyncWindow[];
}

/** What the last reconcile compared against. */
interface TargetState {
  revision?: string;
  target?: RenderedTarget;
  error?: string;
}

export class Controller {
  readonly runner: OperationRunner;
  private readonly targets = new Map<string, TargetState>();
  private readonly syncErrors = new Map<string, string>();
  private readonly reconciles = new Map<string, Promise<void>>();
  private readonly healthTimers = new Map<string, Timer>();
  /** When a periodic reconcile first met a repo (manifest generation) error, per app. */
  private readonly repoErrorsSince = new Map<string, number>();
  private pollTimer: Timer | undefined;
  private lastHead: string | undefined;
  private stopped = false;

  constructor(private readonly deps: ControllerDeps) {
    this.runner = new OperationRunner({
      ...deps,
      afterOperation: (name, outcome) => this.afterOperation(name, outcome),
    });
  }

  /** `kubectl apply` of the root app, a reconcile, and the initial syncs (see server.ts). */
  async bootstrap(rootPath: string | false, initialSync: 'root' | 'all' | 'none'): Promise<void> {
    const head = await this.deps.repo.resolve(this.deps.branch);
    this.lastHead = head;
    if (rootPath === false) return;
    const text = await this.deps.repo.readFile(head, rootPath);
    if (text === undefined) {
      throw new StackswapError('usage', `${rootPath} not found on branch ${this.deps.branch}`, {
        where: { file: rootPath },
        hint: 'the config repo needs an app-of-apps Application there (or pass rootApp: false)',
      });
    }
    let definition;
    try {
      definition = parseApplicationManifest(parseYaml(text));
    } catch (cause) {
      throw new StackswapError('validation', errorText(cause), {
        where: { file: rootPath },
        cause,
      });
    }
    const root = definition.metadata.name;
    this.deps.store.create(
      { metadata: definition.metadata, spec: definition.spec, status: emptyStatus() },
      k8sTime(this.deps.clock.now()),
    );
    await this.refresh(root);
    if (initialSync === 'none') return;
    await this.syncNow(root, { username: 'admin' });
    if (initialSync === 'all') {
      const children = this.deps.store.list().filter((a) => a.metadata.name !== root);
      await Promise.all(children.map((c) => this.syncNow(c.metadata.name, { username: 'admin' })));
    }
  }

  /** The periodic reconcile: every app, every reconciliationMs plus jitter (not forced). */
  startPolling(): void {
    if (this.deps.reconciliationMs <= 0 || this.stopped) return;
    const delay =
      this.deps.reconciliationMs + this.deps.random() * this.deps.reconciliationJitterMs;
    this.pollTimer = this.deps.clock.setTimeout(() => {
      void this.reconcileAll().finally(() => this.startPolling());
    }, delay);
  }

  /** What one reconciliation period does: re-resolve the branch, compare every app. */
  async reconcileAll(): Promise<void> {
    if (this.stopped) return;
    try {
      this.lastHead = await this.deps.repo.resolve(this.deps.branch);
    } catch (error) {
      this.deps.logger.warn({ error: errorText(error) }, 'cannot resolve the branch');
    }
    await Promise.all(
      this.deps.store.list().map((a) => this.refresh(a.metadata.name, { forced: false })),
    );
  }

  /** Re-resolves the branch; when it moved, reconciles every app (which may auto-sync). */
  async poll(): Promise<boolean> {
    if (this.stopped) return false;
    let head: string;
    try {
      head = await this.deps.repo.resolve(this.deps.branch);
    } catch (error) {
      this.deps.logger.warn({ error: errorText(error) }, 'cannot resolve the branch');
      return false;
    }
    if (head === this.lastHead) return false;
    this.lastHead = head;
    await Promise.all(
      this.deps.store.list().map((a) => this.refresh(a.metadata.name, { forced: false })),
    );
    return true;
  }

  /**
   * A full reconcile against the head of `targetRevision` (serialised per app). `forced`
   * (default; a user's refresh, after an operation): repo errors show at once; not forced (the
   * periodic reconcile): they are ignored for repoErrorGraceMs, as Argo CD's controller does.
   */
  refresh(name: string, options: { hard?: boolean; forced?: boolean } = {}): Promise<void> {
    const previous = this.reconciles.get(name) ?? Promise.resolve();
    const next = previous
      .then(() => this.reconcile(name, options.hard === true, options.forced !== false))
      .catch((error: unknown) =>
        this.deps.logger.error({ app: name, error: errorText(error) }, 'reconcile failed'),
      );
    this.reconciles.set(name, next);
    void next.finally(() => {
      if (this.reconciles.get(name) === next) this.reconciles.delete(name);
    });
    return next;
  }

  /** Re-evaluates health everywhere (after the fault pattern or timings changed). */
  rewriteAll(): void {
    for (const app of this.deps.store.list()) this.writeStatus(app.metadata.name, false);
  }

  now(): number {
    return this.deps.clock.now();
  }

  healthSettings(): HealthSettings {
    return this.deps.health();
  }

  /** The last comparison of an app, for the resource tree and managed resources. */
  comparison(name: string): Comparison | undefined {
    if (!this.targets.has(name)) return undefined;
    const state = this.targets.get(name);
    return compare(
      this.targetObjects(state),
      this.deps.cluster.objectsOf(name),
      this.deps.clock.now(),
      this.deps.health(),
    );
  }

  /** Sets a sync operation (as `argocd app sync` does) and waits for it to finish. */
  async syncNow(name: string, initiatedBy: Operation['initiatedBy']): Promise<void> {
    const app = this.deps.store.get(name);
    if (!app?.spec.source) return;
    // Already requested (e.g. an automated root app auto-synced on its first reconcile): wait for it.
    if (app.operation) return this.runner.start(name);
    const revision = await this.deps.repo.resolve(app.spec.source.targetRevision || 'HEAD');
    this.setOperation(name, {
      sync: { revision, source: app.spec.source, ...this.syncOptionsOf(app) },
      initiatedBy,
      retry: app.spec.syncPolicy?.retry ?? {},
    });
    await this.runner.start(name);
  }

  /** Atomically sets `operation` (clearing the last operationState) unless one is set. */
  setOperation(name: string, operation: Operation): Application | undefined {
    let accepted = false;
    const updated = this.deps.store.update(name, (app) => {
      if (app.operation) return;
      accepted = true;
      app.operation = structuredClone(operation);
      delete app.status.operationState;
    });
    return accepted ? updated : undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pollTimer?.cancel();
    for (const timer of this.healthTimers.values()) timer.cancel();
    this.healthTimers.clear();
    this.runner.stop();
    await Promise.allSettled([...this.reconciles.values()]);
  }

  private async reconcile(name: string, hard: boolean, forced: boolean): Promise<void> {
    const app = this.deps.store.get(name);
    if (!app || this.stopped) return;
    const state: TargetState = {};
    try {
      state.revision = await this.deps.repo.resolve(app.spec.source?.targetRevision || 'HEAD');
      state.target = await this.deps.renderer.render({
        appName: name,
        spec: app.spec,
        revision: state.revision,
        noCache: hard,
      });
    } catch (error) {
      state.error = errorText(error);
    }
    if (state.error === undefined) this.repoErrorsSince.delete(name);
    else if (!forced) {
      // controller/state.go: a repo error is ignored (the last comparison stands) for the grace
      // period from its first occurrence, unless the comparison was forced.
      const now = this.deps.clock.now();
      const since = this.repoErrorsSince.get(name);
      if (since === undefined) this.repoErrorsSince.set(name, now);
      if (since === undefined || now - since <= this.deps.repoErrorGraceMs) return;
    }
    this.targets.set(name, state);
    this.writeStatus(name, true);
    this.maybeAutoSync(name);
  }

  private async afterOperation(name: string, outcome: OperationOutcome): Promise<void> {
    // Argo CD refreshes an app after a non-dry-run operation, and child apps a parent changed.
    const refreshes = outcome.children.map((child) => this.refresh(child, { forced: false }));
    if (!outcome.dryRun) refreshes.push(this.refresh(name));
    else this.writeStatus(name, false);
    await Promise.all(refreshes);
  }

  private targetObjects(state: TargetState | undefined) {
    if (!state || state.error !== undefined) return undefined;
    return state.target?.objects ?? [];
  }

  /** Writes the comparison into `status`; `reconciled` also stamps `reconciledAt`. */
  private writeStatus(name: string, reconciled: boolean): void {
    if (!this.targets.has(name)) return;
    const state = this.targets.get(name);
    const now = this.deps.clock.now();
    const settings = this.deps.health();
    const live = this.deps.cluster.objectsOf(name);
    const comparison = compare(this.targetObjects(state), live, now, settings);
    this.deps.store.update(name, (app) => {
      const status = app.status;
      const resources = comparison.resources.map((r) => r.status);
      if (resources.length > 0) status.resources = resources;
      else delete status.resources;
      status.sync = {
        status: comparison.syncStatus,
        comparedTo: {
          source: app.spec.source ?? { repoURL: '' },
          destination: app.spec.destination,
        },
        ...(state?.revision ? { revision: state.revision } : {}),
      };
      const health = { ...comparison.health };
      const previous = status.health;
      status.health = {
        ...health,
        lastTransitionTime:
          previous.status === health.status && previous.lastTransitionTime
            ? previous.lastTransitionTime
            : k8sTime(now),
      };
      this.writeConditions(app, state, now);
      if (reconciled) status.reconciledAt = k8sTime(now);
      if (state?.target) status.sourceType = state.target.sourceType;
      status.summary = {
        ...(comparison.images.length > 0 ? { images: comparison.images } : {}),
        ...(comparison.isAppOfApps ? { isAppOfApps: true } : {}),
      };
      status.resourceHealthSource = 'appTree';
      status.controllerNamespace = CONTROL_PLANE_NAMESPACE;
    });
    this.scheduleHealthCheck(name, now, settings);
  }

  private writeConditions(app: Application, state: TargetState | undefined, now: number): void {
    const wanted: ApplicationCondition[] = [];
    if (state?.error !== undefined) {
      wanted.push({ type: 'ComparisonError', message: comparisonErrorMessage(state.error) });
    }
    const syncError = this.syncErrors.get(app.metadata.name);
    if (syncError) wanted.push({ type: 'SyncError', message: syncError });
    const previous = app.status.conditions ?? [];
    const conditions = wanted.map((condition) => {
      const same = previous.find(
        (p) => p.type === condition.type && p.message === condition.message,
      );
      return { ...condition, lastTransitionTime: same?.lastTransitionTime ?? k8sTime(now) };
    });
    if (conditions.length > 0) app.status.conditions = conditions;
    else delete app.status.conditions;
  }

  /** One timer per app, at the earliest moment a simulated rollout of it ends. */
  private scheduleHealthCheck(name: string, now: number, settings: HealthSettings): void {
    this.healthTimers.get(name)?.cancel();
    this.healthTimers.delete(name);
    if (this.stopped) return;
    const upcoming = this.deps.cluster
      .objectsOf(name)
      .map((o) => healthChangesAt(o, settings, now))
      .filter((at): at is number => at !== undefined && at > now);
    if (upcoming.length === 0) return;
    const at = Math.min(...upcoming);
    this.healthTimers.set(
      name,
      this.deps.clock.setTimeout(() => {
        this.healthTimers.delete(name);
        this.writeStatus(name, false);
      }, at - now),
    );
  }

  /** controller/appcontroller.go `autoSync`, without retries and self-heal backoff. */
  private maybeAutoSync(name: string): void {
    if (this.stopped) return;
    const app = this.deps.store.get(name);
    if (!app?.spec.source) return;
    const policyEnabled = isAutomated(app.spec);
    const enabled = this.deps.autoSync === 'all' || (this.deps.autoSync === true && policyEnabled);
    const hadError = this.syncErrors.delete(name);
    const revision = this.targets.get(name)?.revision;
    const skip = () => {
      if (hadError) this.writeStatus(name, false);
    };
    if (!enabled || app.operation || app.status.sync.status !== 'OutOfSync' || !revision) {
      return skip();
    }
    const windows = windowsOf(app, this.deps.syncWindows?.(app.spec.project || 'default') ?? []);
    if (!canSync(windows, this.deps.clock.now(), false)) {
      this.deps.logger.info({ app: name }, 'Sync prevented by sync window');
      return skip();
    }
    const automated = policyEnabled ? (app.spec.syncPolicy?.automated ?? {}) : {};
    const resources = app.status.resources ?? [];
    if (!automated.prune && resources.every((r) => r.status === 'Synced' || r.requiresPruning)) {
      return skip(); // only pruning is needed, and automated prune is off
    }
    const last = app.status.operationState;
    if (
      last?.syncResult &&
      last.syncResult.revision === revision &&
      canonicalJson(last.syncResult.source) === canonicalJson(app.spec.source)
    ) {
      if (last.phase !== 'Succeeded') {
        this.syncErrors.set(
          name,
          `Failed last sync attempt to [${revision}]: ${last.message ?? ''}`,
        );
        return this.writeStatus(name, false);
      }
      if (!automated.selfHeal) return skip();
    }
    if (automated.prune && !automated.allowEmpty && resources.every((r) => r.requiresPruning)) {
      this.syncErrors.set(
        name,
        `Skipping sync attempt to [${revision}]: auto-sync will wipe out all resources`,
      );
      return this.writeStatus(name, false);
    }
    if (hadError) this.writeStatus(name, false);
    const accepted = this.setOperation(name, {
      sync: {
        revision,
        ...(automated.prune ? { prune: true } : {}),
        source: app.spec.source,
        ...this.syncOptionsOf(app),
      },
      initiatedBy: { automated: true },
      retry: app.spec.syncPolicy?.retry ?? { limit: 5 },
    });
    if (accepted) {
      this.deps.logger.info({ app: name, revision }, `Initiated automated sync to '${revision}'`);
      void this.runner.start(name);
    }
  }

  private syncOptionsOf(app: Application): { syncOptions?: string[] } {
    const options = app.spec.syncPolicy?.syncOptions;
    return options?.length ? { syncOptions: options } : {};
  }
}
