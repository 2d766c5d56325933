/**
 * The Argo CD REST objects stackswap reads, as zod schemas. Only the fields we use are declared;
 * everything else is kept (`.loose()`), because these are a third-party API's objects and the
 * server may add fields at any release.
 *
 * Wire facts these schemas encode (see the Argo CD API notes, §1.2-§1.4 and §3.1):
 * - JSON comes from Go `encoding/json` through grpc-gateway v1: `omitempty` fields are absent,
 *   and a nil slice without `omitempty` (e.g. `ApplicationList.items`) arrives as `null`, so
 *   arrays are `.nullish()` and normalised to `[]` by the helpers below.
 * - int64 fields are declared as strings in swagger but the server sends JSON numbers (and only
 *   accepts numbers on input); `Int64` accepts both.
 * - Timestamps are RFC3339 with second precision; they stay strings here (compare with
 *   `Date.parse`, equal seconds compare equal).
 */
import { z } from 'zod';

/** An int64 as the gateway sends it (a number), tolerating the swagger's string form. */
export const Int64 = z.union([
  z.number(),
  z
    .string()
    .regex(/^-?\d+$/)
    .transform(Number),
]);

/** An RFC3339 timestamp string, e.g. "2024-03-05T07:33:04Z". */
const Time = z.string();

export const Info = z.object({ name: z.string(), value: z.string() }).loose();
export type Info = z.infer<typeof Info>;

export const HealthStatus = z
  .object({ status: z.string().optional(), message: z.string().optional() })
  .loose();
export type HealthStatus = z.infer<typeof HealthStatus>;

export const SyncOperation = z
  .object({
    revision: z.string().optional(),
    revisions: z.array(z.string()).nullish(),
    dryRun: z.boolean().optional(),
    prune: z.boolean().optional(),
  })
  .loose();

export const Operation = z
  .object({
    sync: SyncOperation.optional(),
    initiatedBy: z
      .object({ username: z.string().optional(), automated: z.boolean().optional() })
      .loose()
      .optional(),
    info: z.array(Info).nullish(),
  })
  .loose();
export type Operation = z.infer<typeof Operation>;

export const ResourceResult = z
  .object({
    group: z.string().optional(),
    version: z.string().optional(),
    kind: z.string().optional(),
    namespace: z.string().optional(),
    name: z.string().optional(),
    /** Synced | SyncFailed | Pruned | PruneSkipped; empty for hooks. */
    status: z.string().optional(),
    message: z.string().optional(),
    hookType: z.string().optional(),
    /** Also "Running" on plain resources after a successful sync: read it only for hooks. */
    hookPhase: z.string().optional(),
    syncPhase: z.string().optional(),
  })
  .loose();
export type ResourceResult = z.infer<typeof ResourceResult>;

export const OperationState = z
  .object({
    operation: Operation.optional(),
    /** Running | Terminating | Failed | Error | Succeeded. Running may carry finishedAt (retry). */
    phase: z.string(),
    message: z.string().optional(),
    startedAt: Time.optional(),
    finishedAt: Time.nullish(),
    retryCount: Int64.optional(),
    syncResult: z
      .object({
        revision: z.string().optional(),
        revisions: z.array(z.string()).nullish(),
        resources: z.array(ResourceResult).nullish(),
      })
      .loose()
      .optional(),
  })
  .loose();
export type OperationState = z.infer<typeof OperationState>;

export const ResourceStatus = z
  .object({
    group: z.string().optional(),
    version: z.string().optional(),
    kind: z.string().optional(),
    namespace: z.string().optional(),
    name: z.string().optional(),
    /** The resource's sync status (for a child Application: its CR spec, not the child's sync). */
    status: z.string().optional(),
    health: HealthStatus.optional(),
    hook: z.boolean().optional(),
    syncWave: Int64.optional(),
  })
  .loose();
export type ResourceStatus = z.infer<typeof ResourceStatus>;

export const ApplicationCondition = z
  .object({ type: z.string(), message: z.string().optional(), lastTransitionTime: Time.optional() })
  .loose();
export type ApplicationCondition = z.infer<typeof ApplicationCondition>;

const ApplicationSource = z
  .object({
    repoURL: z.string().optional(),
    path: z.string().optional(),
    chart: z.string().optional(),
    targetRevision: z.string().optional(),
  })
  .loose();

export const Application = z
  .object({
    metadata: z
      .object({
        name: z.string(),
        namespace: z.string().optional(),
        resourceVersion: z.string().optional(),
        labels: z.record(z.string(), z.string()).nullish(),
        annotations: z.record(z.string(), z.string()).nullish(),
      })
      .loose(),
    spec: z
      .object({
        project: z.string().optional(),
        source: ApplicationSource.optional(),
        sources: z.array(ApplicationSource).nullish(),
        syncPolicy: z
          .object({
            /** Present means automated sync, unless `enabled: false` (Argo CD >= 2.14 / 3.x). */
            automated: z
              .object({
                enabled: z.boolean().optional(),
                prune: z.boolean().optional(),
                selfHeal: z.boolean().optional(),
              })
              .loose()
              .nullish(),
          })
          .loose()
          .nullish(),
      })
      .loose()
      .optional(),
    /** The requested or in-flight operation; the controller clears it when the op completes. */
    operation: Operation.nullish(),
    status: z
      .object({
        sync: z
          .object({
            status: z.string(),
            revision: z.string().optional(),
            revisions: z.array(z.string()).nullish(),
          })
          .loose()
          .optional(),
        health: HealthStatus.optional(),
        operationState: OperationState.nullish(),
        reconciledAt: Time.nullish(),
        resources: z.array(ResourceStatus).nullish(),
        conditions: z.array(ApplicationCondition).nullish(),
        history: z
          .array(z.object({ id: Int64.optional(), revision: z.string().optional() }).loose())
          .nullish(),
      })
      .loose()
      .optional(),
  })
  .loose();
export type Application = z.infer<typeof Application>;

export const ApplicationList = z
  .object({ items: z.array(Application).nullish() })
  .loose()
  .transform((list) => ({ ...list, items: list.items ?? [] }));
export type ApplicationList = z.infer<typeof ApplicationList>;

/** POST /sync answers with the updated Application: `operation` set, pre-sync `status`. */
export const SyncResponse = Application;
export type SyncResponse = Application;

export const ResourceNode = z
  .object({
    group: z.string().optional(),
    version: z.string().optional(),
    kind: z.string().optional(),
    namespace: z.string().optional(),
    name: z.string().optional(),
    uid: z.string().optional(),
    health: HealthStatus.optional(),
    parentRefs: z
      .array(
        z
          .object({
            group: z.string().optional(),
            kind: z.string().optional(),
            namespace: z.string().optional(),
            name: z.string().optional(),
            uid: z.string().optional(),
          })
          .loose(),
      )
      .nullish(),
    /** e.g. Pods: "Status Reason", "Containers", "Restart Count"; ReplicaSets: "Revision". */
    info: z
      .array(z.object({ name: z.string().optional(), value: z.string().optional() }).loose())
      .nullish(),
  })
  .loose();
export type ResourceNode = z.infer<typeof ResourceNode>;

export const ApplicationTree = z
  .object({
    nodes: z.array(ResourceNode).nullish(),
    orphanedNodes: z.array(ResourceNode).nullish(),
  })
  .loose()
  .transform((tree) => ({
    ...tree,
    nodes: tree.nodes ?? [],
    orphanedNodes: tree.orphanedNodes ?? [],
  }));
export type ApplicationTree = z.infer<typeof ApplicationTree>;

export const ManagedResources = z
  .object({
    items: z
      .array(
        z
          .object({
            group: z.string().optional(),
            kind: z.string().optional(),
            namespace: z.string().optional(),
            name: z.string().optional(),
            /** Serialized manifests: JSON strings; "null" or "" means absent. */
            targetState: z.string().optional(),
            liveState: z.string().optional(),
            modified: z.boolean().optional(),
            hook: z.boolean().optional(),
          })
          .loose(),
      )
      .nullish(),
  })
  .loose()
  .transform((r) => ({ ...r, items: r.items ?? [] }));
export type ManagedResources = z.infer<typeof ManagedResources>;

export const UserInfo = z
  .object({
    loggedIn: z.boolean().optional(),
    username: z.string().optional(),
    iss: z.string().optional(),
    groups: z.array(z.string()).nullish(),
  })
  .loose();
export type UserInfo = z.infer<typeof UserInfo>;

/** The token goes into a header, so printable ASCII only. */
export const SessionResponse = z.object({ token: z.string().regex(/^[\x21-\x7e]+$/) }).loose();

/** grpc-gateway's unary error body (swagger `runtimeError`); `error` and `message` are equal. */
/** GET /applications/{name}/syncwindows (`ApplicationSyncWindowsResponse`). */
const SyncWindowView = z
  .object({
    kind: z.string().optional(),
    schedule: z.string().optional(),
    duration: z.string().optional(),
    manualSync: z.boolean().optional(),
  })
  .loose();
export const SyncWindows = z
  .object({
    assignedWindows: z.array(SyncWindowView).nullish(),
    activeWindows: z.array(SyncWindowView).nullish(),
    canSync: z.boolean().optional(),
  })
  .loose()
  .transform((w) => ({
    assignedWindows: w.assignedWindows ?? [],
    activeWindows: w.activeWindows ?? [],
    canSync: w.canSync ?? false,
  }));
export type SyncWindows = z.infer<typeof SyncWindows>;

export const ErrorBody = z
  .object({
    error: z.string().optional(),
    code: z.number().optional(),
    message: z.string().optional(),
    details: z.array(z.unknown()).nullish(),
  })
  .loose();
export type ErrorBody = z.infer<typeof ErrorBody>;

/** An error sent inside a 200 stream (swagger `runtimeStreamError`, snake_case). */
export const StreamError = z
  .object({
    grpc_code: z.number().optional(),
    http_code: z.number().optional(),
    http_status: z.string().optional(),
    message: z.string().optional(),
    details: z.array(z.unknown()).nullish(),
  })
  .loose();
export type StreamError = z.infer<typeof StreamError>;

export const ApplicationWatchEvent = z
  .object({
    /** ADDED | MODIFIED | DELETED (k8s watch.EventType). */
    type: z.string(),
    application: Application,
  })
  .loose();
export type ApplicationWatchEvent = z.infer<typeof ApplicationWatchEvent>;

/** One message of `/api/v1/stream/applications`: `{result: event}` or `{error: StreamError}`. */
export const WatchStreamMessage = z.union([
  z.object({ result: ApplicationWatchEvent }).loose(),
  z.object({ error: StreamError }).loose(),
]);
export type WatchStreamMessage = z.infer<typeof WatchStreamMessage>;

/** Request body of POST /api/v1/applications/{name}/sync (only the fields we send). */
export interface SyncRequestBody {
  name: string;
  appNamespace?: string;
  project?: string;
  revision?: string;
  prune?: boolean;
  dryRun?: boolean;
  strategy?: { hook?: { force?: boolean }; apply?: { force?: boolean } };
  infos?: Info[];
}
