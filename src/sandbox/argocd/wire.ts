/**
 * Key order of the served objects. JSON clients do not care, but people reading responses next
 * to real Argo CD output do: Go's encoding/json writes struct fields in declaration order.
 */
import type { Application } from './types.ts';

const ORDER: Record<string, readonly string[]> = {
  application: ['metadata', 'spec', 'status', 'operation'],
  metadata: [
    'name',
    'namespace',
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'labels',
    'annotations',
    'finalizers',
  ],
  spec: [
    'source',
    'destination',
    'project',
    'syncPolicy',
    'ignoreDifferences',
    'info',
    'revisionHistoryLimit',
    'sources',
  ],
  status: [
    'resources',
    'sync',
    'health',
    'history',
    'conditions',
    'reconciledAt',
    'operationState',
    'observedAt',
    'sourceType',
    'summary',
    'resourceHealthSource',
    'sourceTypes',
    'controllerNamespace',
    'sourceHydrator',
  ],
  sync: ['status', 'comparedTo', 'revision', 'revisions'],
  operationState: [
    'operation',
    'phase',
    'message',
    'syncResult',
    'startedAt',
    'finishedAt',
    'retryCount',
  ],
  operation: ['sync', 'initiatedBy', 'info', 'retry'],
  syncOperation: [
    'revision',
    'prune',
    'dryRun',
    'syncStrategy',
    'resources',
    'source',
    'manifests',
    'syncOptions',
    'sources',
    'revisions',
    'autoHealAttemptsCount',
  ],
  syncResult: ['resources', 'revision', 'source', 'sources', 'revisions'],
  history: [
    'revision',
    'deployedAt',
    'id',
    'source',
    'deployStartedAt',
    'sources',
    'revisions',
    'initiatedBy',
  ],
};

function ordered<T extends object>(value: T | undefined, order: readonly string[]): T | undefined {
  if (!value) return value;
  const source = value as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const key of order) if (key in source) result[key] = source[key];
  for (const key of Object.keys(source)) if (!(key in result)) result[key] = source[key];
  return result as T;
}

function orderedOperation(operation: Application['operation']): Application['operation'] {
  const op = ordered(operation, ORDER.operation ?? []);
  if (op?.sync) op.sync = ordered(op.sync, ORDER.syncOperation ?? []);
  return op;
}

/** A copy of `app` with Go's field order at the levels people read. */
export function inWireOrder(app: Application): Application {
  const status = ordered(app.status, ORDER.status ?? []) as Application['status'];
  status.sync = ordered(status.sync, ORDER.sync ?? []) as Application['status']['sync'];
  if (status.operationState) {
    const state = ordered(status.operationState, ORDER.operationState ?? []);
    if (state) {
      state.operation = orderedOperation(state.operation) as NonNullable<Application['operation']>;
      if (state.syncResult) state.syncResult = ordered(state.syncResult, ORDER.syncResult ?? []);
      status.operationState = state;
    }
  }
  if (status.history)
    status.history = status.history.map((h) => ordered(h, ORDER.history ?? []) ?? h);
  const result = ordered(
    {
      ...app,
      metadata: ordered(app.metadata, ORDER.metadata ?? []) as Application['metadata'],
      spec: ordered(app.spec, ORDER.spec ?? []) as Application['spec'],
      status,
      ...(app.operation ? { operation: orderedOperation(app.operation) } : {}),
    },
    ORDER.application ?? [],
  ) as Application;
  return result;
}
