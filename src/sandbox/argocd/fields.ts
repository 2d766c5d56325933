/**
 * The `fields` query parameter: a comma list of dotted paths to keep, or to drop with a leading
 * `-`. Two implementations, as in Argo CD: the generic JSON walk of argoproj/pkg's
 * `messageMarshaler.processItem` (watch stream, managed-resources), and the fixed field table of
 * the application list (`forwarder_overwrite.go` `appFields`).
 */
import type { Application } from './types.ts';

export interface FieldSelection {
  fields: Set<string>;
  exclude: boolean;
}

export function parseFields(query: string | null | undefined): FieldSelection | undefined {
  if (!query) return undefined;
  const exclude = query.startsWith('-');
  return { fields: new Set((exclude ? query.slice(1) : query).split(',')), exclude };
}

/** Filters a JSON value in place and returns it (argoproj/pkg `processItem` semantics). */
export function filterJson<T>(value: T, selection: FieldSelection | undefined): T {
  if (!selection || selection.fields.size === 0) return value;
  processItem([], value, selection);
  return value;
}

function processItem(path: string[], item: unknown, selection: FieldSelection): void {
  if (Array.isArray(item)) {
    for (const element of item) processItem(path, element, selection);
    return;
  }
  if (item === null || typeof item !== 'object') return;
  const map = item as Record<string, unknown>;
  for (const key of Object.keys(map)) {
    const fieldPath = [...path, key].join('.');
    const pathIn = selection.fields.has(fieldPath);
    // Go's strings.HasPrefix(field, fieldPath): any selected field under (or starting with) it.
    const parentPathIn = pathIn || [...selection.fields].some((f) => f.startsWith(fieldPath));
    const keep = (selection.exclude && !pathIn) || (!selection.exclude && parentPathIn);
    if (!keep) delete map[key];
    else if (!pathIn) processItem([...path, key], map[key], selection);
  }
}

type Extractor = (app: Application) => unknown;

/** `appFields` of forwarder_overwrite.go (note its quirk for operationState.operation.sync). */
const APP_FIELDS: Record<string, Extractor> = {
  'metadata.name': (a) => a.metadata.name,
  'metadata.namespace': (a) => a.metadata.namespace,
  'metadata.annotations': (a) => a.metadata.annotations ?? null,
  'metadata.labels': (a) => a.metadata.labels ?? null,
  'metadata.creationTimestamp': (a) => a.metadata.creationTimestamp,
  'metadata.deletionTimestamp': () => null,
  spec: (a) => a.spec,
  'spec.destination': (a) => a.spec.destination,
  'spec.project': (a) => a.spec.project,
  'spec.source': (a) => a.spec.source ?? null,
  'spec.sources': (a) => a.spec.sources ?? null,
  'spec.sourceHydrator': () => null,
  'spec.syncPolicy': (a) => a.spec.syncPolicy ?? null,
  'status.sourceHydrator': (a) => a.status.sourceHydrator,
  'status.summary': (a) => a.status.summary,
  'status.sync.status': (a) => a.status.sync.status,
  'status.sync.revision': (a) => a.status.sync.revision ?? '',
  'status.health': (a) => a.status.health,
  'status.operationState.startedAt': (a) => a.status.operationState?.startedAt,
  'status.operationState.finishedAt': (a) => a.status.operationState?.finishedAt ?? null,
  'status.resources': (a) => (a.status.resources?.length ? a.status.resources : undefined),
  'operation.sync': (a) => a.operation?.sync,
  'status.operationState.phase': (a) => a.status.operationState?.phase,
  'status.operationState.operation.sync': (a) => a.status.operationState?.syncResult ?? null,
};

/** One list item reduced to the selected `items.<field>` paths (`processAppFields`). */
export function selectAppFields(
  app: Application,
  selection: FieldSelection,
): Record<string, unknown> {
  const selected = Object.keys(APP_FIELDS).filter(
    (field) => selection.fields.has(`items.${field}`) !== selection.exclude,
  );
  const chosen = new Set(selected);
  const specs = selected
    .filter((field) => {
      const parts = field.split('.');
      return !parts.some((_, i) => i > 0 && chosen.has(parts.slice(0, i).join('.')));
    })
    .sort();
  const converted: Record<string, unknown> = {};
  for (const field of specs) {
    const value = APP_FIELDS[field]?.(app);
    if (value === undefined) continue; // a Go nil interface is skipped
    const parts = field.split('.');
    let node = converted;
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1) node[part] = value;
      else node = (node[part] ??= {}) as Record<string, unknown>;
    }
  }
  return converted;
}
