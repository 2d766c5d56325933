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
}

export interface Sandbox {
  dir: string;
  repoPath: string;
  argocd: StandIn;
  /** Present when started with `traffic`: send requests to `traffic.url`. */
  traffic: SandboxTraffic | undefined;
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
  await seedSandboxRepo({ sourceDir: options.sourceDir ?? PROJECT_ROOT, bareRepoPath: repoPath });
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
  return {
    dir,
    repoPath,
    argocd,
    traffic,
    env: {
      ARGOCD_SERVER: argocd.url,
      ARGOCD_AUTH_TOKEN: argocd.token,
      ARGOCD_PLAINTEXT: 'true',
      // The config repo is a local bare repo: allowed in sandbox mode only.
      STACKSWAP_SANDBOX: '1',
      STACKSWAP_REPO: repoPath,
      STACKSWAP_CACHE_DIR: path.join(dir, 'cache'),
    },
    async close() {
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
