/**
 * The service's access to Argo CD: one client per (appNamespace, project) of stackswap.yaml,
 * shared by every request, and a Deployer per operation whose wait events become that
 * operation's progress notes. Absent (git-only) when ARGOCD_SERVER is not set.
 */
import { ArgoCdClient } from '../argocd/client.ts';
import { argoCdConfigFromEnv, type ArgoCdConfig } from '../argocd/config.ts';
import { ArgoDeployer } from '../argocd/deployer.ts';
import type { ArgoProgressEvent } from '../argocd/progress.ts';
// A pure formatter shared with the CLI (it belongs in src/argocd/; see the report).
import { describeArgoEvent } from '../argocd/progress-text.ts';
import type { Deployer } from '../shared/deployer.ts';
import type { Progress } from '../shared/progress.ts';
import type { Redactor } from '../shared/redact.ts';
import {
  appsWaitingForSyncWindows,
  rootApps,
  type StackswapConfig,
} from '../config/stackswap-config.ts';

export interface ArgoAccessOptions {
  degradedGraceMs?: number;
  /** How long a pod of the new release may crash-loop before the wait fails (default 30 s). */
  crashGraceMs?: number;
  pollIntervalMs?: number;
}

export class ArgoAccess {
  private readonly clients = new Map<string, ArgoCdClient>();
  private probeClient: ArgoCdClient | undefined;

  private constructor(
    private readonly config: ArgoCdConfig,
    private readonly redactor: Redactor,
    private readonly options: ArgoAccessOptions,
  ) {}

  /** undefined when ARGOCD_SERVER is not set: git-only. Registers the secrets either way. */
  static fromEnv(
    env: NodeJS.ProcessEnv,
    redactor: Redactor,
    options: ArgoAccessOptions = {},
  ): ArgoAccess | undefined {
    const config = argoCdConfigFromEnv(env, redactor);
    return config ? new ArgoAccess(config, redactor, options) : undefined;
  }

  get serverUrl(): string {
    return this.config.baseUrl;
  }

  client(stackswap?: StackswapConfig): ArgoCdClient {
    const appNamespace = stackswap?.appNamespace ?? this.config.appNamespace;
    const project = stackswap?.project ?? this.config.project;
    const key = `${appNamespace ?? ''}/${project ?? ''}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new ArgoCdClient({
        config: {
          ...this.config,
          ...(appNamespace ? { appNamespace } : {}),
          ...(project ? { project } : {}),
        },
        redactor: this.redactor,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /** For readiness probes: one attempt, a short timeout (a probe must answer, not retry). */
  probe(): ArgoCdClient {
    this.probeClient ??= new ArgoCdClient({
      config: this.config,
      redactor: this.redactor,
      retry: { retries: 0 },
      requestTimeoutMs: 4_000,
    });
    return this.probeClient;
  }

  /** A deployer for one operation (progress notes) or for status reads (no progress). */
  deployer(stackswap: StackswapConfig, progress?: Progress): Deployer {
    const relay = progress ? argoRelay(progress) : undefined;
    return new ArgoDeployer(
      this.client(stackswap),
      {
        appsOfApps: rootApps(stackswap),
        ...(this.options.degradedGraceMs !== undefined
          ? { degradedGraceMs: this.options.degradedGraceMs }
          : {}),
        ...(this.options.crashGraceMs !== undefined
          ? { crashGraceMs: this.options.crashGraceMs }
          : {}),
        ...(this.options.pollIntervalMs !== undefined
          ? { pollIntervalMs: this.options.pollIntervalMs }
          : {}),
        // Stacks with `argocd.waitForWindow` wait for a closed sync window, as in the CLI.
        waitForWindowApps: appsWaitingForSyncWindows(stackswap),
        ...(relay ? { onProgress: relay } : {}),
      },
      (text) => this.redactor.redact(text),
    );
  }
}

/** Wait events as one-line notes on the `sync` step; repeats of the same line are dropped. */
function argoRelay(progress: Progress): (event: ArgoProgressEvent) => void {
  let last: string | undefined;
  return (event) => {
    const line = describeArgoEvent(event);
    if (!line || line === last) return;
    last = line;
    progress.info(line, 'sync');
  };
}
