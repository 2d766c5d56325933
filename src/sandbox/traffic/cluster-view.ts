/**
 * What the sandbox traffic layer sees of the (simulated) cluster: every applied object across
 * namespaces, and a signal when that set changes. The Argo CD stand-in is adapted to this
 * interface; `StaticClusterView` is a settable in-memory implementation for tests and for the
 * demo's rolling-update comparison (which edits Deployments directly, as `kubectl apply` would).
 */
import type { RenderedObject } from '../../helm/render.ts';

export interface ClusterView {
  /** Every currently applied object. Callers treat it as read-only. */
  objects(): readonly RenderedObject[];
  /** Calls `listener` after every change of `objects()`; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
}

/** Identifies one object the way Kubernetes does (the group without its version). */
export interface ObjectRef {
  kind: string;
  name: string;
  namespace?: string;
  /** Optional: only needed when two groups have a kind of the same name. */
  apiVersion?: string;
}

export class StaticClusterView implements ClusterView {
  private current: readonly RenderedObject[];
  private readonly listeners = new Set<() => void>();

  constructor(objects: readonly RenderedObject[] = []) {
    this.current = snapshot(objects);
  }

  objects(): readonly RenderedObject[] {
    return this.current;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Replaces every object (like a fresh cluster holding exactly these). */
  set(objects: readonly RenderedObject[]): void {
    this.current = snapshot(objects);
    this.notify();
  }

  /** Creates or replaces each object by kind/namespace/name (like `kubectl apply`), one change. */
  apply(objects: readonly RenderedObject[]): void {
    const byKey = new Map(this.current.map((o) => [keyOf(o), o]));
    for (const object of objects) byKey.set(keyOf(object), object);
    this.current = snapshot([...byKey.values()]);
    this.notify();
  }

  /** Deletes the objects matching `ref`; returns how many were removed. */
  remove(ref: ObjectRef): number {
    const kept = this.current.filter((o) => !matches(o, ref));
    const removed = this.current.length - kept.length;
    if (removed > 0) {
      this.current = snapshot(kept);
      this.notify();
    }
    return removed;
  }

  /** Replaces the one object matching `ref` by `edit(copy)`; throws when there is none. */
  update(ref: ObjectRef, edit: (object: RenderedObject) => RenderedObject): void {
    const found = this.current.filter((o) => matches(o, ref));
    if (found.length !== 1) {
      throw new Error(
        `expected one ${ref.kind} ${ref.namespace ?? ''}/${ref.name}, found ${found.length}`,
      );
    }
    this.apply([edit(structuredClone(found[0]!))]);
  }

  /** Calls every listener even when one throws; the first error is rethrown afterwards. */
  private notify(): void {
    const errors: unknown[] = [];
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** Private deep copies, frozen at the top level, so callers cannot change the view in place. */
function snapshot(objects: readonly RenderedObject[]): readonly RenderedObject[] {
  return Object.freeze(objects.map((o) => structuredClone(o)));
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

function keyOf(object: RenderedObject): string {
  return [
    groupOf(object.apiVersion),
    object.kind,
    object.metadata.namespace ?? '',
    object.metadata.name,
  ].join('/');
}

function matches(object: RenderedObject, ref: ObjectRef): boolean {
  return (
    object.kind === ref.kind &&
    object.metadata.name === ref.name &&
    (ref.namespace === undefined || (object.metadata.namespace ?? '') === ref.namespace) &&
    (ref.apiVersion === undefined || groupOf(object.apiVersion) === groupOf(ref.apiVersion))
  );
}
