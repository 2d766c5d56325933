/**
 * The Argo CD JSON shapes the stand-in serves (a subset of `v1alpha1.Application` and friends),
 * named as in `pkg/apis/application/v1alpha1/types.go`. Field presence follows Go's
 * `encoding/json`: struct-typed fields without a pointer (`status.sync`, `status.health`,
 * `status.summary`, `operation.retry`, ...) are always present, even when empty.
 */

export type SyncStatusCode = 'Synced' | 'OutOfSync' | 'Unknown' | '';
export type HealthStatusCode =
  'Healthy' | 'Suspended' | 'Progressing' | 'Missing' | 'Degraded' | 'Unknown';
export type OperationPhase = 'Running' | 'Terminating' | 'Failed' | 'Error' | 'Succeeded';
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

export interface ApplicationSourceHelm {
  valueFiles?: string[];
  parameters?: { name?: string; value?: string; forceString?: boolean }[];
  releaseName?: string;
  values?: string;
  valuesObject?: unknown;
  ignoreMissingValueFiles?: boolean;
  namespace?: string;
  [key: string]: unknown;
}

export interface ApplicationSource {
  repoURL: string;
  path?: string;
  targetRevision?: string;
  helm?: ApplicationSourceHelm;
  directory?: { recurse?: boolean; [key: string]: unknown };
  chart?: string;
  [key: string]: unknown;
}

export interface ApplicationDestination {
  server?: string;
  namespace?: string;
  name?: string;
}

export interface RetryStrategy {
  limit?: number;
  backoff?: { duration?: string; factor?: number; maxDuration?: string };
  refresh?: boolean;
}

export interface SyncPolicy {
  automated?: { prune?: boolean; selfHeal?: boolean; allowEmpty?: boolean; enabled?: boolean };
  syncOptions?: string[];
  retry?: RetryStrategy;
  [key: string]: unknown;
}

export interface ApplicationSpec {
  source?: ApplicationSource;
  sources?: ApplicationSource[];
  destination: ApplicationDestination;
  project: string;
  syncPolicy?: SyncPolicy;
  revisionHistoryLimit?: number;
  [key: string]: unknown;
}

export interface HealthStatus {
  status?: HealthStatusCode;
  message?: string;
  lastTransitionTime?: string;
}

export interface ResourceStatus {
  group?: string;
  version?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  status?: SyncStatusCode;
  health?: HealthStatus;
  requiresPruning?: boolean;
}

export interface ResourceRef {
  group?: string;
  version?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
}

export interface SyncOperationResource {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

export interface SyncOperation {
  revision?: string;
  prune?: boolean;
  dryRun?: boolean;
  syncStrategy?: { apply?: { force?: boolean }; hook?: { force?: boolean } };
  resources?: SyncOperationResource[];
  source?: ApplicationSource;
  syncOptions?: string[];
  autoHealAttemptsCount?: number;
}

export interface OperationInitiator {
  username?: string;
  automated?: boolean;
}

export interface Operation {
  sync?: SyncOperation;
  initiatedBy: OperationInitiator;
  info?: { name?: string; value?: string }[];
  retry: RetryStrategy;
}

export interface ResourceResult {
  group: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
  status?: 'Synced' | 'SyncFailed' | 'Pruned' | 'PruneSkipped';
  message?: string;
  hookPhase?: string;
  syncPhase?: string;
  images?: string[];
}

export interface SyncOperationResult {
  resources?: ResourceResult[];
  revision: string;
  source: ApplicationSource;
}

export interface OperationState {
  operation: Operation;
  phase: OperationPhase;
  message?: string;
  syncResult?: SyncOperationResult;
  startedAt: string;
  finishedAt?: string;
  retryCount?: number;
}

export interface RevisionHistory {
  revision?: string;
  deployedAt: string;
  id: number;
  source: ApplicationSource;
  deployStartedAt?: string;
  initiatedBy: OperationInitiator;
}

export interface ApplicationCondition {
  type: string;
  message: string;
  lastTransitionTime?: string;
}

export interface ApplicationStatus {
  resources?: ResourceStatus[];
  sync: {
    status: SyncStatusCode;
    comparedTo: { source: ApplicationSource; destination: ApplicationDestination };
    revision?: string;
  };
  health: HealthStatus;
  history?: RevisionHistory[];
  conditions?: ApplicationCondition[];
  reconciledAt?: string;
  operationState?: OperationState;
  sourceType?: string;
  summary: { externalURLs?: string[]; images?: string[]; isAppOfApps?: boolean };
  resourceHealthSource?: string;
  controllerNamespace?: string;
  sourceHydrator: Record<string, never>;
}

export interface Application {
  metadata: ObjectMeta;
  spec: ApplicationSpec;
  status: ApplicationStatus;
  operation?: Operation;
}

export interface ApplicationWatchEvent {
  type: WatchEventType;
  application: Application;
}

export interface ResourceNode extends ResourceRef {
  parentRefs?: ResourceRef[];
  info?: { name?: string; value?: string }[];
  resourceVersion?: string;
  images?: string[];
  health?: HealthStatus;
  createdAt?: string;
}

export interface ApplicationTree {
  nodes?: ResourceNode[];
}

export interface ResourceDiff {
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  targetState?: string;
  liveState?: string;
  normalizedLiveState?: string;
  predictedLiveState?: string;
  resourceVersion?: string;
  modified?: boolean;
}

/** A Kubernetes object as rendered from the config repo (or as applied to the simulated cluster). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}
