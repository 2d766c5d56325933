/**
 * The embedded sandbox in one call: a local bare config repo seeded from the example in the
 * project root, and the Argo CD stand-in serving it. Used by `stackswap sandbox up`, by
 * `npm start` and by the end-to-end tests, so all three run the same thing.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../shared/errors.ts';
import { startArgoCdStandIn, type StandIn, type StandInOptions } from './argocd/server.ts';
import { seedSandboxRepo } from './seed.ts';
import { sourceWithoutVerification } from './example-source.ts';
import { findPrometheus, startPrometheus, type SandboxPrometheus } from './prometheus.ts';
import type { ClusterView } from './traffic/cluster-view.ts';
import { startSandboxTraffic, type SandboxTraffic } from './traffic/traffic.ts';
import type { BackendPoolOptions } from './traffic/backends.ts';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SandboxOptions {
  /** Folder for the bare repo and the stand-in's work; default a fresh temporary folder. */
  dir?: string;
  /** Folder holding the example config to seed from (default: the project root). */
  sourceDir?: string;
  port?: number;
  token?: string;
  /** Passed to the stand-in (progressingMs, faultPattern, faults, latencyMs, ...). */
  argocd?: Omit<StandInOptions, 'repoPath' | 'workDir' | 'port' | 'token'>;
  /** Also start backends for the applied Deployments and a gateway routing by the applied VirtualService. */
  traffic?: boolean | { backends?: BackendPoolOptions; gatewayPort?: number };
  /**
   * Keep the example's verification gates (issue 11). Default false: the seeded
   * stackswap.yaml has no `verification` blocks, so a sandbox without gateway or Prometheus
   * swaps as before. `sandbox up`, `npm start` and the verification tests keep them.
   */
  verification?: boolean;
  /**
   * With `traffic`: a real Prometheus scraping the pods (1 s), when installed. `true` fails
   * when it is not; `'if-installed'` starts it only when it is (`prometheus` is then undefined).
   */
  prometheus?: boolean | 'if-installed';
}

export interface Sandbox {
  dir: string;
  repoPath: string;
  argocd: StandIn;
  /** Present when started with `traffic`: send requests to `traffic.url`. */
  traffic: SandboxTraffic | undefined;
  /** Present when started with `prometheus` (and it is installed). */
  prometheus: SandboxPrometheus | undefined;
  /** The environment that points the CLI at this sandbox. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const owned = options.dir === undefined;
  const dir = options.dir
    ? path.resolve(options.dir)
    : await mkdtemp(path.join(os.tmpdir(), 'stackswap-sandbox-'));
  await mkdir(dir, { recursive: true });
  if (!owned && (await readdir(dir)).length > 0) {
    throw new UsageError(`sandbox folder ${dir} is not empty`, {
      hint: 'pass an empty or new folder with --dir',
    });
  }
  const repoPath = path.join(dir, 'config.git');
  const sourceDir = options.sourceDir ?? PROJECT_ROOT;
  if (options.verification) {
    await seedSandboxRepo({ sourceDir, bareRepoPath: repoPath });
  } else {
    const stripped = await sourceWithoutVerification(sourceDir);
    try {
      await seedSandboxRepo({ sourceDir: stripped.dir, bareRepoPath: repoPath });
    } finally {
      await stripped.remove();
    }
  }
  const workDir = path.join(dir, 'argocd');
  await mkdir(workDir);
  const argocd = await startArgoCdStandIn({
    ...options.argocd,
    repoPath,
    workDir,
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
  });
  const trafficOptions = options.traffic === true ? {} : options.traffic || undefined;
  let traffic: SandboxTraffic | undefined;
  if (trafficOptions) {
    try {
      traffic = await startSandboxTraffic(clusterViewOf(argocd), {
        ...(trafficOptions.backends ? { backends: trafficOptions.backends } : {}),
        ...(trafficOptions.gatewayPort !== undefined
          ? { gateway: { port: trafficOptions.gatewayPort } }
          : {}),
      });
    } catch (e) {
      await argocd.close();
      throw e;
    }
  }
  let prometheus: SandboxPrometheus | undefined;
  if (traffic && options.prometheus && (options.prometheus === true || findPrometheus())) {
    try {
      prometheus = await startPrometheus({ dir: path.join(dir, 'prometheus'), pool: traffic.pool });
    } catch (e) {
      await traffic.close();
      await argocd.close();
      throw e;
    }
  }
  return {
    dir,
    repoPath,
    argocd,
    traffic,
    prometheus,
    env: {
      ARGOCD_SERVER: argocd.url,
      ARGOCD_AUTH_TOKEN: argocd.token,
      ARGOCD_PLAINTEXT: 'true',
      // The config repo is a local bare repo: allowed in sandbox mode only.
      STACKSWAP_SANDBOX: '1',
      STACKSWAP_REPO: repoPath,
      STACKSWAP_CACHE_DIR: path.join(dir, 'cache'),
      // Verification checks reach the colours through the sandbox's gateway.
      ...(traffic ? { STACKSWAP_INGRESS_URL: traffic.url.href } : {}),
      ...(prometheus ? { STACKSWAP_PROMETHEUS_URL: prometheus.url.href } : {}),
    },
    async close() {
      await prometheus?.close();
      await traffic?.close();
      await argocd.close();
      if (owned) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What the traffic side sees of the stand-in's simulated cluster. */
function clusterViewOf(argocd: StandIn): ClusterView {
  return {
    objects: () => argocd.appliedObjects(),
    subscribe: (listener) => argocd.on('applied', () => listener()),
  };
}
