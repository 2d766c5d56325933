/**
 * The simulated cluster: what each Application's syncs have applied, keyed like Kubernetes
 * (group/kind/namespace/name), with the bookkeeping the health simulation needs (when a
 * workload's spec last changed). Other sandbox parts read it through `appliedObjects()` and the
 * `applied` event (e.g. a gateway that routes by the applied VirtualService).
 */
import { randomUUID } from 'node:crypto';
import { groupOf } from './render.ts';
import type { KubeObject } from './types.ts';

export interface LiveObject {
  key: string;
  /** The Application that applied it last. */
  app: string;
  /** The object as applied (namespace filled in, tracking annotation set). */
  object: KubeObject;
  uid: string;
  resourceVersion: string;
  createdAt: number;
  /** When `spec` last changed (creation counts): the start of a simulated rollout. */
  specChangedAt: number;
  /** Grows with every pod-template change (a Deployment's `deployment.kubernetes.io/revision`). */
  templateRevision: number;
}

export type ApplyResult = 'created' | 'configured' | 'unchanged';

/** Emitted once per completed (non-dry-run) sync that changed or confirmed objects. */
export interface AppliedEvent {
  app: string;
  /** The commit the sync applied. */
  revision: string;
  /** Every object the app owns after the sync (clones). */
  objects: KubeObject[];
  /** Objects the sync removed (prune), as they were. */
  pruned: KubeObject[];
}

export function resourceKey(object: KubeObject): string {
  return [
    groupOf(object.apiVersion),
    object.kind,
    object.metadata.namespace ?? '',
    object.metadata.name,
  ].join('/');
}

/** JSON with sorted keys, for "is this the same object" comparisons. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}

export class SimulatedCluster {
  private readonly live = new Map<string, LiveObject>();
  private readonly listeners = new Set<(event: AppliedEvent) => void>();
  private revision = 5000;

  get(key: string): LiveObject | undefined {
    return this.live.get(key);
  }

  objectsOf(app: string): LiveObject[] {
    return [...this.live.values()].filter((o) => o.app === app);
  }

  /** Clones of every applied object, optionally only those in one namespace. */
  appliedObjects(namespace?: string): KubeObject[] {
    return [...this.live.values()]
      .filter((o) => namespace === undefined || o.object.metadata.namespace === namespace)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((o) => structuredClone(o.object));
  }

  apply(app: string, object: KubeObject, now: number): ApplyResult {
    const key = resourceKey(object);
    const previous = this.live.get(key);
    if (previous && canonicalJson(previous.object) === canonicalJson(object)) {
      previous.app = app;
      return 'unchanged';
    }
    const specChanged =
      !previous || canonicalJson(previous.object.spec) !== canonicalJson(object.spec);
    const templateOf = (o: KubeObject) =>
      canonicalJson((o.spec as { template?: unknown })?.template);
    const templateChanged = !previous || templateOf(previous.object) !== templateOf(object);
    this.live.set(key, {
      key,
      app,
      object: structuredClone(object),
      uid: previous?.uid ?? randomUUID(),
      resourceVersion: String(++this.revision),
      createdAt: previous?.createdAt ?? now,
      specChangedAt: specChanged ? now : (previous?.specChangedAt ?? now),
      templateRevision: (previous?.templateRevision ?? 0) + (templateChanged ? 1 : 0),
    });
    return previous ? 'configured' : 'created';
  }

  remove(key: string): LiveObject | undefined {
    const previous = this.live.get(key);
    this.live.delete(key);
    return previous;
  }

  onApplied(listener: (event: AppliedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls every listener with its own copy; a throwing listener never breaks a sync. */
  emitApplied(event: AppliedEvent, onListenerError: (error: unknown) => void): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(structuredClone(event));
      } catch (error) {
        onListenerError(error);
      }
    }
  }
}
