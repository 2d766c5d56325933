/**
 * An in-memory ArgoCdApi for deterministic wait tests on a VirtualClock: tests script the app's
 * states on virtual time (`clock.at(ms, () => api.update(...))`); watchers see every update.
 * Argo CD's sync refusals are reproduced (operation in progress, auto-sync revision).
 */
import type {
  ArgoCdApi,
  GetApplicationOptions,
  SyncOptions,
  WatchOptions,
} from '../../../src/argocd/client.ts';
import { ArgoCdApiError, ArgoCdStreamError } from '../../../src/argocd/errors.ts';
import {
  Application,
  ApplicationTree,
  SyncWindows,
  type ApplicationWatchEvent,
} from '../../../src/argocd/schema.ts';
import type { Json } from './fake-argocd.ts';

export const R = '1'.repeat(40);
export const PREV = '0'.repeat(40);

export function appJson(
  name: string,
  o: { revision?: string; sync?: string; health?: string; automated?: boolean } = {},
): Json {
  return {
    metadata: { name, namespace: 'argocd', resourceVersion: '1' },
    spec: {
      project: 'default',
      source: { repoURL: 'https://git.example/x.git', targetRevision: 'main' },
      ...(o.automated ? { syncPolicy: { automated: {} } } : {}),
    },
    status: {
      sync: { status: o.sync ?? 'Synced', revision: o.revision ?? PREV },
      health: { status: o.health ?? 'Healthy' },
      reconciledAt: '2024-01-01T00:00:00Z',
      resources: [
        {
          group: 'apps',
          kind: 'Deployment',
          namespace: name,
          name: 'web',
          status: 'Synced',
          health: { status: o.health ?? 'Healthy' },
        },
      ],
    },
  };
}

/** Sets the state "operation for `revision` finished `phase`, compared since, sync/health as given". */
export function finished(
  app: Json,
  revision: string,
  phase: string,
  o: { sync?: string; health?: string; message?: string; at?: string } = {},
): void {
  const at = o.at ?? '2024-01-01T00:01:00Z';
  delete app.operation;
  app.status.operationState = {
    operation: { sync: { revision } },
    phase,
    message:
      o.message ??
      (phase === 'Succeeded' ? 'successfully synced' : 'one or more objects failed to apply'),
    startedAt: at,
    finishedAt: at,
    syncResult: { revision, resources: [] },
  };
  app.status.reconciledAt = at;
  if (phase === 'Succeeded') app.status.sync = { status: o.sync ?? 'Synced', revision };
  if (o.health) app.status.health = { status: o.health };
}

interface Watcher {
  push: (e: ApplicationWatchEvent) => void;
  fail: (error: unknown) => void;
}

export class MemoryArgo implements ArgoCdApi {
  readonly apps = new Map<string, Json>();
  readonly calls: string[] = [];
  private rv = 1;
  private watchers = new Set<Watcher>();
  /** Scripted failures for the next watch connections: an error to throw right away. */
  readonly watchFailures: unknown[] = [];
  onRefresh: (name: string) => void = () => {};
  onSync: (name: string, options: SyncOptions) => void = (name, options) =>
    this.defaultSync(name, options);
  head = R;

  add(app: Json): this {
    this.apps.set(app.metadata.name, app);
    return this;
  }

  update(name: string, mutate: (app: Json) => void): void {
    const app = this.apps.get(name)!;
    mutate(app);
    app.metadata.resourceVersion = String(++this.rv);
    const event = { type: 'MODIFIED', application: Application.parse(structuredClone(app)) };
    for (const w of this.watchers) w.push(event);
  }

  async getApplication(name: string, options: GetApplicationOptions = {}): Promise<Application> {
    this.calls.push(`get ${name}${options.refresh ? ' refresh' : ''}`);
    const app = this.apps.get(name);
    if (!app) {
      throw new ArgoCdApiError(
        `application ${name} not found or not permitted for this token`,
        403,
        'permission denied',
        7,
        {
          code: 'argocd-forbidden',
        },
      );
    }
    if (options.refresh) this.onRefresh(name);
    return Application.parse(structuredClone(this.apps.get(name)));
  }

  async sync(name: string, options: SyncOptions = {}): Promise<Application> {
    this.calls.push(`sync ${name}${options.revision ? ` ${options.revision.slice(0, 4)}` : ''}`);
    this.onSync(name, options);
    return Application.parse(structuredClone(this.apps.get(name)));
  }

  defaultSync(name: string, options: SyncOptions): void {
    const app = this.apps.get(name)!;
    if (
      app.spec.syncPolicy?.automated &&
      options.revision &&
      options.revision !== app.spec.source.targetRevision
    ) {
      throw refusal(
        `Cannot sync to ${options.revision}: auto-sync currently set to ${app.spec.source.targetRevision}`,
      );
    }
    if (app.operation) throw refusal('another operation is already in progress');
    this.update(name, (a) => {
      a.operation = {
        sync: { revision: options.revision ?? this.head },
        initiatedBy: { username: 'promoter' },
        info: options.infos,
      };
      delete a.status.operationState;
    });
  }

  async *watchApplications(options: WatchOptions): AsyncIterable<ApplicationWatchEvent> {
    this.calls.push(
      `watch ${options.name}${options.resourceVersion ? ` rv=${options.resourceVersion}` : ''}`,
    );
    const failure = this.watchFailures.shift();
    if (failure) throw failure;
    const queue: ApplicationWatchEvent[] = [];
    let broken: unknown;
    let wake: (() => void) | undefined;
    const watcher: Watcher = {
      push: (e) => {
        if (!options.name || e.application.metadata.name === options.name) {
          queue.push(e);
          wake?.();
        }
      },
      fail: (error) => {
        broken = error;
        wake?.();
      },
    };
    this.watchers.add(watcher);
    const onAbort = () => wake?.();
    options.signal.addEventListener('abort', onAbort);
    try {
      const current = options.name ? this.apps.get(options.name) : undefined;
      if (current)
        yield { type: 'ADDED', application: Application.parse(structuredClone(current)) };
      while (!options.signal.aborted) {
        if (broken) throw broken;
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      options.signal.removeEventListener('abort', onAbort);
      this.watchers.delete(watcher);
    }
  }

  /** Breaks every open watch, as a proxy cutting the stream would. */
  dropWatches(error: unknown = streamError()): void {
    for (const w of this.watchers) w.fail(error);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  async listApplications(): Promise<Application[]> {
    return [...this.apps.values()].map((a) => Application.parse(structuredClone(a)));
  }
  async terminateOperation(): Promise<void> {}
  /** Resource trees by app (default: no nodes); `treeReads` counts the reads. */
  readonly trees = new Map<string, Json | (() => Json)>();
  treeReads = 0;
  async resourceTree(name: string): Promise<ApplicationTree> {
    this.treeReads += 1;
    const tree = this.trees.get(name);
    return ApplicationTree.parse(
      structuredClone(typeof tree === 'function' ? tree() : (tree ?? {})),
    );
  }
  async managedResources(): Promise<never> {
    throw new Error('not scripted');
  }
  /** What GET /syncwindows answers (scripted; default: no windows, canSync). */
  windows: Json = { canSync: true };
  windowReads = 0;
  async syncWindows(): Promise<SyncWindows> {
    this.windowReads += 1;
    return SyncWindows.parse(structuredClone(this.windows));
  }
  async userInfo() {
    return { loggedIn: true };
  }
}

export function refusal(message: string): ArgoCdApiError {
  return new ArgoCdApiError(`sync: ${message} (HTTP 400)`, 400, message, 9);
}

export function streamError(message = 'stream reset'): ArgoCdStreamError {
  return new ArgoCdStreamError(message, undefined);
}
