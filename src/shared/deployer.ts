/**
 * The Argo CD side of an operation, as the operations see it: "apply this commit to this app
 * and tell me when it is live", and "what does this app look like now". The Argo CD adapter
 * (src/argocd/deployer.ts) implements it; git-only runs (--no-sync) have none.
 */
export interface AppStatus {
  app: string;
  syncStatus: string;
  revision: string | undefined;
  health: string;
  operationPhase?: string;
  message?: string;
}

export interface SyncRequest {
  app: string;
  revision: string;
  /** false: request the sync and return without waiting (`--no-wait`). */
  wait: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface Deployer {
  syncAndWait(request: SyncRequest): Promise<AppStatus>;
  appStatus(app: string, options: { refresh: boolean; signal?: AbortSignal }): Promise<AppStatus>;
}

export function isLiveAt(status: AppStatus, revision: string): boolean {
  return (
    status.syncStatus === 'Synced' && status.health === 'Healthy' && status.revision === revision
  );
}
