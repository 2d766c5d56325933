/**
 * Stack status for GET /v1/stacks: what git and Argo CD say, read through the core's
 * `inspectStack` from a clone of its own (so status reads never wait behind an operation's
 * commit), and cached per stack for a short TTL or until an operation on that stack finishes.
 * Concurrent requests for a stack whose entry expired share one read. Errors are not cached.
 */
import type { Deployer } from '../../shared/deployer.ts';
import { loadConfig } from '../../core/load-config.ts';
import { inspectStack, type StackReport } from '../../core/operations/inspect.ts';
import type { StackswapConfig, StackConfig } from '../../config/stackswap-config.ts';
import type { ConfigRepo } from '../../gitops/git/repo.ts';
import { getScalar } from '../../gitops/values-edit.ts';
import { ApiError } from '../errors.ts';
import type { RepoProvider } from '../repo-source.ts';
import { StackStatus } from '../schemas.ts';

export interface StackStatusOptions {
  /** A clone used only for reads (status, dry runs, readiness), opened on first use. */
  repo: RepoProvider;
  deployer: (config: StackswapConfig) => Deployer | undefined;
  /** How long a read of git and Argo CD is served from memory; default 5 s. */
  ttlMs?: number;
  now?: () => number;
  /** Called with each status read from git and Argo CD (the metrics of live colour, weights). */
  onRead?: (status: Omit<StackStatus, 'runningOperation'>) => void;
}

type Cached = Omit<StackStatus, 'runningOperation'>;

/** A status and its JSON, validated against the documented schema once, when it was read. */
export interface CachedStatus {
  value: Cached;
  json: string;
}

interface Entry {
  at: number;
  value?: CachedStatus;
  pending?: Promise<CachedStatus>;
  /** Bumped by invalidate(): a read that started before must not refill the cache. */
  generation: number;
  /** A background refresh started by `peek` is under way. */
  refreshing?: boolean;
}

export class StackStatusService {
  private readonly entries = new Map<string, Entry>();
  private synced: { at: number; config: StackswapConfig; head: string } | undefined;
  private syncing: Promise<StackswapConfig> | undefined;
  private stale = true;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly options: StackStatusOptions) {
    this.ttlMs = options.ttlMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** The reader clone (opened, and synced at least once). */
  async repo(): Promise<ConfigRepo> {
    await this.config();
    return this.options.repo.get();
  }

  /** Stack names of stackswap.yaml (as of the last sync, at most a TTL old). */
  async stackNames(): Promise<string[]> {
    return [...(await this.config()).stacks.keys()];
  }

  /** 404 for a stack stackswap.yaml does not have (after a fresh sync, for a new stack). */
  async assertStack(stack: string): Promise<StackConfig> {
    let config = await this.config();
    if (!config.stacks.has(stack)) config = await this.config({ force: true });
    const found = config.stacks.get(stack);
    if (!found) {
      throw new ApiError(404, 'not-found', `stackswap.yaml has no stack "${stack}"`, {
        stacks: [...config.stacks.keys()],
      });
    }
    return found;
  }

  /**
   * The cached status of a stack, synchronously (the hot path of status polling: no promise,
   * no await); undefined when `get()` has to read or decide. Fresh for a TTL; for one more TTL
   * an expired entry is still answered while a read in the background refreshes it (stale
   * while revalidate: pollers never all wait for the periodic fetch). An entry dropped by an
   * invalidation (an operation on the stack ended) is never answered: that read is waited for.
   */
  peek(stack: string): CachedStatus | undefined {
    // Not `stale`: an invalidation drops its own stack's entry; the other stacks' entries stay
    // good, and their pollers do not wait for the fetch it causes.
    if (!this.synced) return undefined;
    const entry = this.entries.get(stack);
    if (!entry?.value) return undefined;
    const now = this.now();
    const age = Math.max(now - entry.at, now - this.synced.at);
    if (age < this.ttlMs) return entry.value;
    if (age >= 2 * this.ttlMs) return undefined;
    if (!entry.pending && !entry.refreshing) {
      entry.refreshing = true;
      void this.get(stack)
        .catch(() => undefined)
        .finally(() => (entry.refreshing = false));
    }
    return entry.value;
  }

  async get(stack: string): Promise<CachedStatus> {
    await this.assertStack(stack);
    const entry = this.entries.get(stack) ?? { at: 0, generation: 0 };
    this.entries.set(stack, entry);
    if (entry.value && this.now() - entry.at < this.ttlMs) return entry.value;
    if (entry.pending) return entry.pending;
    const generation = entry.generation;
    const pending = this.read(stack)
      .then((status): CachedStatus => ({
        value: status,
        json: JSON.stringify(StackStatus.parse(status)),
      }))
      .then((value) => {
        if (entry.generation === generation) {
          entry.value = value;
          entry.at = this.now();
        }
        return value;
      })
      .finally(() => {
        if (entry.pending === pending) entry.pending = undefined;
      });
    entry.pending = pending;
    return pending;
  }

  /** An operation on the stack finished: the next read goes to git and Argo CD again. */
  invalidate(stack: string): void {
    const entry = this.entries.get(stack);
    if (entry) {
      entry.generation++;
      entry.value = undefined;
      entry.pending = undefined;
    }
    this.stale = true;
  }

  /** Any stack may have changed (changes made elsewhere were missed): as `invalidate` of each. */
  invalidateAll(): void {
    for (const stack of this.entries.keys()) this.invalidate(stack);
    this.stale = true;
  }

  /**
   * The parsed stackswap.yaml after a fetch of the config repo; the fetch happens at most
   * once per TTL (or after an invalidation, or when forced), shared by concurrent callers.
   */
  async config(options: { force?: boolean } = {}): Promise<StackswapConfig> {
    const fresh =
      this.synced && !this.stale && !options.force && this.now() - this.synced.at < this.ttlMs;
    if (fresh) return this.synced!.config;
    this.syncing ??= (async () => {
      try {
        this.stale = false;
        const repo = await this.options.repo.get();
        const head = await repo.sync();
        const config = this.synced?.head === head ? this.synced.config : await loadConfig(repo);
        this.synced = { at: this.now(), config, head };
        return config;
      } catch (e) {
        this.stale = true;
        throw e;
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  private async read(stack: string): Promise<Cached> {
    // A fetch by another read may move the clone's head while this one reads files; reads
    // are consistent only if the head was the same throughout, so read again if it moved.
    for (let attempt = 1; ; attempt++) {
      const config = await this.config();
      const stackConfig = config.stacks.get(stack);
      if (!stackConfig) {
        throw new ApiError(404, 'not-found', `stackswap.yaml has no stack "${stack}"`);
      }
      const repo = await this.options.repo.get();
      const report = await inspectStack(repo, stack, this.options.deployer(config), {
        historyLimit: 5,
      });
      const traffic = await trafficOf(repo, stackConfig, report);
      if (repo.headSha === report.headSha || attempt >= 3) {
        const status = toStatus(report, traffic, new Date(this.now()).toISOString());
        this.options.onRead?.(status);
        return status;
      }
    }
  }
}

/**
 * Percent of the default route per colour: live 100 / preview 0, unless the live file holds a
 * preview weight next to the live key (`global.previewWeight` beside `global.live`, the
 * example layout's weighted-swap key).
 */
async function trafficOf(
  repo: ConfigRepo,
  stack: StackConfig,
  report: StackReport,
): Promise<Record<'blue' | 'green', number>> {
  let previewWeight = 0;
  if (stack.liveKey.at(-1) === 'live') {
    const key = [...stack.liveKey.slice(0, -1), 'previewWeight'];
    try {
      const value = getScalar(await repo.readFile(stack.liveFile), key, { file: stack.liveFile });
      if (typeof value === 'number' && value >= 0 && value <= 100) previewWeight = value;
    } catch {
      // No weight key, or not a scalar: the plain live/preview split.
    }
  }
  const weights = { blue: 0, green: 0 };
  weights[report.live] = 100 - previewWeight;
  weights[report.preview] = previewWeight;
  return weights;
}

function toStatus(
  report: StackReport,
  traffic: Record<'blue' | 'green', number>,
  observedAt: string,
): Cached {
  const colour = (c: 'blue' | 'green') => {
    const s = report.colours[c];
    return {
      role: c === report.live ? ('live' as const) : ('preview' as const),
      namespace: s.namespace,
      app: s.app,
      valuesFile: s.valuesFile,
      replicas: s.replicas,
      versions: Object.fromEntries(Object.entries(s.versions).map(([k, v]) => [k, v ?? null])),
    };
  };
  return {
    stack: report.stack,
    headSha: report.headSha,
    live: report.live,
    preview: report.preview,
    colours: { blue: colour('blue'), green: colour('green') },
    traffic,
    apps: Object.values(report.apps).map((a) =>
      'error' in a
        ? { app: a.app, error: a.error }
        : {
            app: a.app,
            syncStatus: a.syncStatus,
            health: a.health,
            ...(a.revision ? { revision: a.revision } : {}),
            ...(a.operationPhase ? { operationPhase: a.operationPhase } : {}),
            ...(a.message ? { message: a.message } : {}),
          },
    ),
    lastPromotions: report.lastPromotions,
    rejected: report.rejected,
    observedAt,
  };
}
