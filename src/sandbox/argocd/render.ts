/**
 * Manifest generation, as Argo CD's repo-server does it for the two source types the config repo
 * uses: a Helm chart (a `Chart.yaml` in the source path; rendered with the real `helm template`
 * through `renderChart`) and a plain directory of manifests (the app-of-apps `argo/apps`).
 * Results (and failures) are cached per commit and source, like repo-server's manifest cache;
 * a hard refresh bypasses the cache. Failures carry repo-server's wording so the stand-in's
 * `operationState.message` and conditions read like Argo CD's.
 */
import { lstat, mkdir, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseAllDocuments, stringify } from 'yaml';
import { HelmRenderError, renderChart } from '../../helm/render.ts';
import type { RepoReader } from './git.ts';
import type { ApplicationSource, ApplicationSpec, KubeObject } from './types.ts';

export type SourceType = 'Helm' | 'Directory';

export interface RenderedTarget {
  sourceType: SourceType;
  /** Normalised: namespace filled in for namespaced kinds, tracking annotation set. */
  objects: KubeObject[];
}

/** A manifest generation failure; `message` is repo-server's error text. */
export class ManifestGenerationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ManifestGenerationError';
  }
}

export const TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id';

/** Kinds without a namespace (the ones a config repo may plausibly contain). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'APIService',
  'RuntimeClass',
]);

export const groupOf = (apiVersion: string) =>
  apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
export const versionOf = (apiVersion: string) =>
  apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;

/** `<app>:<group>/<kind>:<namespace>/<name>`, Argo CD's annotation tracking id. */
export function trackingId(app: string, object: KubeObject): string {
  const group = groupOf(object.apiVersion);
  return `${app}:${group}/${object.kind}:${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

export interface RenderRequest {
  appName: string;
  spec: ApplicationSpec;
  revision: string;
  noCache?: boolean;
}

export class Renderer {
  private readonly cache = new Map<string, Promise<RenderedTarget>>();
  private readonly chartLocks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly repo: RepoReader,
    private readonly scratchDir: string,
    private readonly helmTimeoutMs = 60_000,
  ) {}

  render(request: RenderRequest): Promise<RenderedTarget> {
    const key = JSON.stringify([
      request.revision,
      request.appName,
      request.spec.source,
      request.spec.destination,
    ]);
    const namespace = managedNamespace(request);
    const withNamespace = (target: Promise<RenderedTarget>) =>
      namespace
        ? target.then((t) => ({ ...t, objects: [structuredClone(namespace), ...t.objects] }))
        : target;
    if (!request.noCache) {
      const cached = this.cache.get(key);
      if (cached) return withNamespace(cached);
    }
    const pending = this.generate(request);
    this.cache.set(key, pending);
    // Keep failures cached too (repo-server does), but never let one go unobserved.
    pending.catch(() => undefined);
    return withNamespace(pending);
  }

  private async generate(request: RenderRequest): Promise<RenderedTarget> {
    const source = request.spec.source;
    if (!source) {
      throw new ManifestGenerationError(
        'multi-source applications are not supported by the sandbox stand-in',
      );
    }
    if (source.chart) {
      throw new ManifestGenerationError(
        'Helm repository sources are not supported by the sandbox stand-in (use a git path)',
      );
    }
    const root = await this.repo.checkout(request.revision).catch((cause: unknown) => {
      throw new ManifestGenerationError(cause instanceof Error ? cause.message : String(cause), {
        cause,
      });
    });
    const appDir = await resolveInside(root, source.path ?? '.');
    const namespace = request.spec.destination.namespace ?? '';
    const chartYaml = await isFile(path.join(appDir, 'Chart.yaml'));
    const objects = chartYaml
      ? await this.withChartLock(appDir, () =>
          this.renderHelm(root, appDir, source, request.appName, namespace),
        )
      : await readDirectory(root, appDir, source.directory?.recurse === true);
    return {
      sourceType: chartYaml ? 'Helm' : 'Directory',
      objects: objects.map((o) => normalise(o, request.appName, namespace)),
    };
  }

  private async renderHelm(
    root: string,
    chartDir: string,
    source: ApplicationSource,
    appName: string,
    destinationNamespace: string,
  ): Promise<KubeObject[]> {
    const helm = source.helm ?? {};
    const releaseName = helm.releaseName ?? appName;
    const namespace = helm.namespace ?? destinationNamespace;
    const valueFiles: string[] = [];
    for (const file of helm.valueFiles ?? []) {
      if (/^[a-z]+:\/\//i.test(file)) {
        throw new ManifestGenerationError(
          `remote value files are not supported by the sandbox stand-in: ${file}`,
        );
      }
      const resolved = path.resolve(chartDir, file);
      if (!isWithin(root, resolved)) {
        throw new ManifestGenerationError(`file '${file}' resolved to outside repository root`);
      }
      if (helm.ignoreMissingValueFiles && !(await isFile(resolved))) continue;
      valueFiles.push(file);
    }
    let inlineValues: string | undefined;
    const inline =
      helm.valuesObject !== undefined ? stringify(helm.valuesObject) : (helm.values ?? undefined);
    if (inline) {
      await mkdir(this.scratchDir, { recursive: true });
      inlineValues = path.join(this.scratchDir, `values-${randomUUID()}.yaml`);
      await writeFile(inlineValues, inline);
      valueFiles.push(inlineValues);
    }
    const setString: Record<string, string> = {};
    for (const parameter of helm.parameters ?? []) {
      if (parameter.name) setString[parameter.name] = parameter.value ?? '';
    }
    const shown = [
      'helm template .',
      `--name-template ${releaseName}`,
      `--namespace ${namespace}`,
      ...valueFiles.map((f) => `--values ${f}`),
      '--include-crds',
    ].join(' ');
    try {
      const result = await renderChart({
        chartDir,
        releaseName,
        namespace,
        valueFiles,
        setString,
        timeoutMs: this.helmTimeoutMs,
      });
      return result.objects as KubeObject[];
    } catch (cause) {
      if (cause instanceof HelmRenderError) {
        // repo-server: "failed to execute helm template command: failed running helm: `...` failed exit status 1: <stderr>"
        throw new ManifestGenerationError(
          `failed to execute helm template command: failed running helm: \`${shown}\` failed exit status 1: ${cause.message}`,
          { cause },
        );
      }
      throw cause;
    } finally {
      if (inlineValues) await rm(inlineValues, { force: true });
    }
  }

  /** One helm run per chart directory at a time: `helm dependency build` writes into it. */
  private async withChartLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
    const previous = this.chartLocks.get(dir) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.chartLocks.set(dir, settled);
    try {
      return await next;
    } finally {
      if (this.chartLocks.get(dir) === settled) this.chartLocks.delete(dir);
    }
  }
}

/**
 * `CreateNamespace=true` with `managedNamespaceMetadata`: Argo CD adds the destination
 * Namespace, with those labels and annotations, to the app's target objects (controller/state.go),
 * so it is a managed resource of the app.
 */
function managedNamespace(request: RenderRequest): KubeObject | undefined {
  const policy = request.spec.syncPolicy;
  const metadata = policy?.managedNamespaceMetadata as
    { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined;
  const name = request.spec.destination.namespace;
  if (!metadata || !name || !(policy?.syncOptions ?? []).includes('CreateNamespace=true')) {
    return undefined;
  }
  return normalise(
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name,
        ...(metadata.labels ? { labels: { ...metadata.labels } } : {}),
        ...(metadata.annotations ? { annotations: { ...metadata.annotations } } : {}),
      },
    },
    request.appName,
    '',
  );
}

function normalise(object: KubeObject, appName: string, namespace: string): KubeObject {
  const copy = structuredClone(object);
  if (!copy.metadata.namespace && !CLUSTER_SCOPED.has(copy.kind) && namespace) {
    copy.metadata.namespace = namespace;
  }
  copy.metadata.annotations = {
    ...(copy.metadata.annotations ?? {}),
    [TRACKING_ANNOTATION]: trackingId(appName, copy),
  };
  return copy;
}

async function resolveInside(root: string, relative: string): Promise<string> {
  const candidate = path.resolve(root, relative);
  if (!isWithin(root, candidate)) throw new ManifestGenerationError('app path does not exist');
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw new ManifestGenerationError('app path does not exist');
  }
  const realRoot = await realpath(root);
  if (!isWithin(realRoot, real)) {
    throw new ManifestGenerationError(
      `repository contains out-of-bounds symlinks. file: ${relative}`,
    );
  }
  if (!(await lstat(real)).isDirectory()) {
    throw new ManifestGenerationError('app path is not a directory');
  }
  return real;
}

function isWithin(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await lstat(file)).isFile();
  } catch {
    return false;
  }
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** A directory source: every .yaml/.yml/.json file (recursively if asked), in name order. */
async function readDirectory(root: string, dir: string, recurse: boolean): Promise<KubeObject[]> {
  const objects: KubeObject[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) {
      throw new ManifestGenerationError(
        `repository contains out-of-bounds symlinks. file: ${path.relative(root, full)}`,
      );
    }
    if (entry.isDirectory()) {
      if (recurse) objects.push(...(await readDirectory(root, full, recurse)));
      continue;
    }
    if (!entry.isFile() || !MANIFEST_EXTENSIONS.has(path.extname(entry.name))) continue;
    objects.push(...parseManifests(await readFile(full, 'utf8'), path.relative(root, full)));
  }
  return objects;
}

function parseManifests(text: string, file: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new ManifestGenerationError(
        `failed to unmarshal manifest: ${file}: ${doc.errors[0]?.message ?? 'invalid YAML'}`,
      );
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (!isKubeObject(value)) {
      throw new ManifestGenerationError(
        `failed to unmarshal manifest: ${file}: Object 'Kind' is missing or metadata.name is empty`,
      );
    }
    if (value.kind.endsWith('List') && Array.isArray(value.items)) {
      for (const item of value.items) if (isKubeObject(item)) objects.push(item);
    } else {
      objects.push(value);
    }
  }
  return objects;
}

function isKubeObject(value: unknown): value is KubeObject {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<KubeObject>;
  return (
    typeof v.kind === 'string' &&
    typeof v.apiVersion === 'string' &&
    typeof v.metadata === 'object' &&
    v.metadata !== null &&
    (typeof v.metadata.name === 'string' || v.kind.endsWith('List'))
  );
}
