/**
 * The Application objects, as the Kubernetes API server would hold them: every write is atomic
 * (a synchronous mutator on a copy), bumps `metadata.resourceVersion` (one counter for all
 * objects, like etcd's revision, served as a string) and `metadata.generation` (the CRD has no
 * status subresource, so status changes count), and is broadcast as a watch event. A write that
 * changes nothing is dropped, so watchers never see no-op events.
 */
import { randomUUID } from 'node:crypto';
import { canonicalJson } from './cluster.ts';
import type { Application, ApplicationWatchEvent } from './types.ts';
import { inWireOrder } from './wire.ts';

export type AppListener = (event: ApplicationWatchEvent) => void;

export class ApplicationStore {
  private readonly apps = new Map<string, Application>();
  private readonly listeners = new Set<AppListener>();
  private revision = 1000;

  constructor(private readonly onListenerError: (error: unknown) => void = () => undefined) {}

  get lastResourceVersion(): string {
    return String(this.revision);
  }

  get(name: string): Application | undefined {
    const app = this.apps.get(name);
    return app && structuredClone(app);
  }

  has(name: string): boolean {
    return this.apps.has(name);
  }

  /** Sorted by namespace/name, like the API server's list. */
  list(): Application[] {
    return [...this.apps.values()]
      .sort((a, b) => qualified(a).localeCompare(qualified(b)))
      .map((a) => structuredClone(a));
  }

  create(
    app: Omit<Application, 'metadata'> & {
      metadata: Partial<Application['metadata']> & { name: string };
    },
    now: string,
  ): Application {
    if (this.apps.has(app.metadata.name)) {
      throw new Error(`applications.argoproj.io "${app.metadata.name}" already exists`);
    }
    const created: Application = inWireOrder({
      ...structuredClone(app),
      metadata: {
        ...structuredClone(app.metadata),
        namespace: app.metadata.namespace ?? 'argocd',
        uid: randomUUID(),
        resourceVersion: this.nextRevision(),
        generation: 1,
        creationTimestamp: now,
      },
    });
    this.apps.set(created.metadata.name, created);
    this.broadcast('ADDED', created);
    return structuredClone(created);
  }

  /**
   * Applies `mutate` to a copy and stores it if anything changed. Returns the stored object, or
   * undefined when the app does not exist.
   */
  update(name: string, mutate: (app: Application) => void): Application | undefined {
    const current = this.apps.get(name);
    if (!current) return undefined;
    const draft = structuredClone(current);
    mutate(draft);
    const next = inWireOrder(draft);
    const before = canonicalJson({ ...current, metadata: undefined });
    const after = canonicalJson({ ...next, metadata: undefined });
    const metaChanged = canonicalJson(current.metadata) !== canonicalJson(next.metadata);
    if (before === after && !metaChanged) return structuredClone(current);
    if (before !== after) next.metadata.generation = current.metadata.generation + 1;
    next.metadata.resourceVersion = this.nextRevision();
    next.metadata.uid = current.metadata.uid;
    this.apps.set(name, next);
    this.broadcast('MODIFIED', next);
    return structuredClone(next);
  }

  delete(name: string): boolean {
    const current = this.apps.get(name);
    if (!current) return false;
    this.apps.delete(name);
    const gone = structuredClone(current);
    gone.metadata.resourceVersion = this.nextRevision();
    this.broadcast('DELETED', gone);
    return true;
  }

  subscribe(listener: AppListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private nextRevision(): string {
    this.revision += 1;
    return String(this.revision);
  }

  private broadcast(type: ApplicationWatchEvent['type'], app: Application): void {
    for (const listener of [...this.listeners]) {
      try {
        listener({ type, application: structuredClone(app) });
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}

const qualified = (app: Application) => `${app.metadata.namespace}/${app.metadata.name}`;
