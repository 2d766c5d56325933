/**
 * Renders a chart the way Argo CD's repo-server does for a Helm source: `helm dependency build`
 * when file:// dependencies are declared but not built, then `helm template` with the
 * Application's release name, namespace and value files. Used by the sandbox Argo CD stand-in
 * and by tests; production rendering is Argo CD's job.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { StackswapError } from '../shared/errors.ts';
import { helmBinary } from './binary.ts';

const run = promisify(execFile);

export interface RenderRequest {
  /** Folder holding Chart.yaml. */
  chartDir: string;
  releaseName: string;
  namespace: string;
  /** Value files relative to chartDir (Argo CD's `spec.source.helm.valueFiles`). */
  valueFiles?: readonly string[];
  /** Extra `--set-string` pairs, as Argo CD's `helm.parameters` with forceString. */
  setString?: Readonly<Record<string, string>>;
  timeoutMs?: number;
}

export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface RenderResult {
  objects: RenderedObject[];
  manifest: string;
}

export class HelmRenderError extends StackswapError {
  constructor(message: string, options: { cause?: unknown; chartDir: string }) {
    super('operation-failed', message, {
      cause: options.cause,
      details: { chartDir: options.chartDir },
    });
    this.name = 'HelmRenderError';
  }
}

export async function renderChart(request: RenderRequest): Promise<RenderResult> {
  const helm = await helmBinary();
  const timeout = request.timeoutMs ?? 60_000;
  // helm needs writable cache/config dirs; keep them private and out of the user's HOME.
  const home = path.join(os.tmpdir(), 'stackswap-helm-home');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
  const exec = async (args: string[]) => {
    try {
      return await run(helm, args, {
        cwd: request.chartDir,
        env,
        timeout,
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (cause) {
      const stderr = (cause as { stderr?: string }).stderr?.trim();
      throw new HelmRenderError(stderr || (cause as Error).message, {
        cause,
        chartDir: request.chartDir,
      });
    }
  };

  // Always rebuild declared dependencies, as Argo CD does: stale .tgz files in charts/ would
  // otherwise render an old copy of a file:// dependency.
  if (await hasDependencies(request.chartDir)) {
    await exec(['dependency', 'build', '--skip-refresh', '.']);
  }
  const args = ['template', request.releaseName, '.', '--namespace', request.namespace];
  for (const file of request.valueFiles ?? []) args.push('--values', file);
  for (const [key, value] of Object.entries(request.setString ?? {}))
    args.push('--set-string', `${key}=${value}`);
  const { stdout } = await exec(args);
  return { manifest: stdout, objects: parseManifest(stdout) };
}

export function parseManifest(manifest: string): RenderedObject[] {
  return parseAllDocuments(manifest)
    .map((doc) => doc.toJS() as RenderedObject | null)
    .filter((o): o is RenderedObject => o !== null && typeof o === 'object' && 'kind' in o);
}

async function hasDependencies(chartDir: string): Promise<boolean> {
  const chartYaml = await readFile(path.join(chartDir, 'Chart.yaml'), 'utf8');
  return /^dependencies:/m.test(chartYaml);
}
