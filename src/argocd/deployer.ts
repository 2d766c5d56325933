/**
 * The core's `Deployer` port implemented with Argo CD: a thin adapter from the operations'
 * vocabulary (SyncRequest, AppStatus) to syncAndWait / triggerSync / getApplication.
 */
import type { AppStatus, Deployer, SyncRequest } from '../shared/deployer.ts';
import type { Redactor } from '../shared/redact.ts';
import { snapshot } from './app-state.ts';
import { ArgoCdClient, type ArgoCdApi } from './client.ts';
import { argoCdConfigFromEnv } from './config.ts';
import type { ArgoProgressListener } from './progress.ts';
import type { Application } from './schema.ts';
import { syncAndWait, triggerSync } from './wait.ts';

export interface ArgoDeployerOptions {
  /** From stackswap.yaml; wins over ARGOCD_APP_NAMESPACE / ARGOCD_PROJECT. */
  appNamespace?: string | undefined;
  project?: string | undefined;
  onProgress?: ArgoProgressListener;
  /** Apps to wait for together with their child Applications (the stack's app-of-apps). */
  appsOfApps?: readonly string[];
  degradedGraceMs?: number;
  /** 0: no pod check (see wait.ts DEFAULT_CRASH_GRACE_MS). */
  crashGraceMs?: number;
  /** false: fail at the first failed attempt of a retrying operation. */
  retryWait?: boolean;
  /** Wait for a closed sync window (all apps), e.g. `--wait-for-window`. */
  waitForWindow?: boolean;
  /** Apps that wait for a closed sync window (stacks with `argocd.waitForWindow`). */
  waitForWindowApps?: readonly string[];
  pollIntervalMs?: number;
}

/** undefined when ARGOCD_SERVER is not set (git-only mode). */
export function createArgoDeployer(
  env: NodeJS.ProcessEnv,
  redactor: Redactor,
  options: ArgoDeployerOptions = {},
): Deployer | undefined {
  const config = argoCdConfigFromEnv(env, redactor);
  if (!config) return undefined;
  const appNamespace = options.appNamespace ?? config.appNamespace;
  const project = options.project ?? config.project;
  const client = new ArgoCdClient({
    config: {
      ...config,
      ...(appNamespace ? { appNamespace } : {}),
      ...(project ? { project } : {}),
    },
    redactor,
  });
  return new ArgoDeployer(client, options, (text) => redactor.redact(text));
}

export class ArgoDeployer implements Deployer {
  constructor(
    private readonly api: ArgoCdApi,
    private readonly options: ArgoDeployerOptions,
    private readonly redact: (text: string) => string,
  ) {}

  async syncAndWait(request: SyncRequest): Promise<AppStatus> {
    const common = {
      app: request.app,
      revision: request.revision,
      timeoutMs: request.timeoutMs,
      redact: this.redact,
      ...(request.signal ? { signal: request.signal } : {}),
      ...(this.options.onProgress ? { onProgress: this.options.onProgress } : {}),
      ...(this.options.degradedGraceMs !== undefined
        ? { degradedGraceMs: this.options.degradedGraceMs }
        : {}),
      ...(this.options.crashGraceMs !== undefined
        ? { crashGraceMs: this.options.crashGraceMs }
        : {}),
      ...(this.options.retryWait !== undefined ? { retryWait: this.options.retryWait } : {}),
      waitForWindow:
        this.options.waitForWindow === true ||
        (this.options.waitForWindowApps?.includes(request.app) ?? false),
      ...(this.options.pollIntervalMs !== undefined
        ? { pollIntervalMs: this.options.pollIntervalMs }
        : {}),
    };
    if (!request.wait) {
      const { app } = await triggerSync(this.api, common);
      return statusOf(app, this.redact);
    }
    const result = await syncAndWait(this.api, {
      ...common,
      children: this.options.appsOfApps?.includes(request.app) ?? false,
    });
    return {
      app: result.app,
      syncStatus: result.syncStatus,
      revision: result.revision,
      health: result.health,
    };
  }

  async appStatus(
    app: string,
    options: { refresh: boolean; signal?: AbortSignal },
  ): Promise<AppStatus> {
    return statusOf(
      await this.api.getApplication(app, {
        ...(options.refresh ? { refresh: 'normal' as const } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      }),
      this.redact,
    );
  }
}

function statusOf(app: Application, redact: (text: string) => string): AppStatus {
  const s = snapshot(app);
  return {
    app: s.app,
    syncStatus: s.syncStatus,
    revision: s.revision,
    health: s.health,
    ...(s.phase ? { operationPhase: s.phase } : {}),
    ...(s.operationMessage ? { message: redact(s.operationMessage) } : {}),
  };
}
