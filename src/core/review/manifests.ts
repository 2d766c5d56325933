/**
 * The rendered-manifest diff of a review: the preview colour's Argo CD app rendered with the
 * real `helm template` (src/helm/render.ts) from two directories (the tree before, and the
 * tree after the merge and the deploy it triggers), compared resource by resource.
 *
 * Which chart and value files: the Argo CD Application named like the colour's app
 * (`stacks.<s>.argocd.apps.<colour>`), found among the YAML files of the tree
 * (`spec.source.path`, `helm.valueFiles`, `helm.releaseName`, `destination.namespace`); without
 * one, the directory of the colour values file with `values.yaml` (if present) and that file.
 *
 * Noise filtered out (as argocd-diff-preview does by default): `checksum/*` annotations,
 * `caBundle` and `ca.crt` values. Secret `data`/`stringData` values never reach a comment: each
 * is replaced by a digest, so a change still shows.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { ResourceDiff } from '../../forges/comment.ts';
import { renderChart, type RenderedObject } from '../../helm/render.ts';
import type { Colour } from '../../config/names.ts';
import type { StackConfig } from '../../config/stackswap-config.ts';
import { unifiedDiff } from '../plan-diff.ts';

export interface AppSource {
  /** Repo-relative chart directory. */
  chartDir: string;
  valueFiles: string[];
  releaseName: string;
  namespace: string;
  /** Where it came from, for the comment. */
  from: string;
}

const MAX_SCAN_BYTES = 256 * 1024;

async function yamlFiles(root: string, dir = '', out: string[] = []): Promise<string[]> {
  for (const entry of await readdir(path.join(root, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (entry.name === '.git' || entry.name === 'node_modules') continue;
      await yamlFiles(root, rel, out);
    } else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) out.push(rel);
  }
  return out;
}

/** The chart, value files, release name and namespace the colour's Argo CD app renders. */
export async function appSource(
  root: string,
  stack: StackConfig,
  colour: Colour,
): Promise<AppSource> {
  const app = stack.apps[colour];
  for (const file of await yamlFiles(root)) {
    const full = path.join(root, file);
    if ((await stat(full)).size > MAX_SCAN_BYTES) continue;
    const text = await readFile(full, 'utf8');
    if (!/kind:\s*Application\b/.test(text) || !text.includes(app)) continue;
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJS({ maxAliasCount: 50 }) as Record<string, any> | null;
      if (!o || o.kind !== 'Application' || o.metadata?.name !== app) continue;
      const source = o.spec?.source;
      if (!source || typeof source.path !== 'string') continue;
      const helm = source.helm ?? {};
      return {
        chartDir: path.posix.normalize(source.path),
        valueFiles: Array.isArray(helm.valueFiles) ? helm.valueFiles.map(String) : [],
        releaseName: typeof helm.releaseName === 'string' ? helm.releaseName : app,
        namespace: String(o.spec?.destination?.namespace ?? stack.namespaces[colour]),
        from: file,
      };
    }
  }
  const chartDir = path.posix.dirname(stack.colourValuesFile[colour]);
  const hasDefaults = await stat(path.join(root, chartDir, 'values.yaml')).then(
    (s) => s.isFile(),
    () => false,
  );
  return {
    chartDir,
    valueFiles: [
      ...(hasDefaults ? ['values.yaml'] : []),
      path.posix.basename(stack.colourValuesFile[colour]),
    ],
    releaseName: app,
    namespace: stack.namespaces[colour],
    from: stack.colourValuesFile[colour],
  };
}

const NOISY_ANNOTATION = /^checksum\//;
const NOISY_KEYS = new Set(['caBundle', 'ca.crt']);

function digest(value: unknown): string {
  return `(secret value, sha256:${createHash('sha256').update(String(value)).digest('hex').slice(0, 12)})`;
}

/** The object as shown in a diff: noise dropped, secret values replaced by digests. */
export function normalise(object: RenderedObject): Record<string, unknown> {
  const copy = structuredClone(object) as Record<string, any>;
  const annotations = copy.metadata?.annotations as Record<string, unknown> | undefined;
  if (annotations) {
    for (const key of Object.keys(annotations))
      if (NOISY_ANNOTATION.test(key)) delete annotations[key];
    if (Object.keys(annotations).length === 0) delete copy.metadata.annotations;
  }
  const scrub = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(scrub);
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value))
        out[k] = NOISY_KEYS.has(k) ? '(filtered)' : scrub(v);
      return out;
    }
    return value;
  };
  const scrubbed = scrub(copy) as Record<string, any>;
  if (scrubbed.kind === 'Secret') {
    for (const field of ['data', 'stringData']) {
      const data = scrubbed[field] as Record<string, unknown> | undefined;
      if (data && typeof data === 'object') {
        for (const key of Object.keys(data)) data[key] = digest(data[key]);
      }
    }
  }
  return scrubbed;
}

export function resourceId(o: RenderedObject, defaultNamespace: string): string {
  return `${o.metadata.namespace ?? defaultNamespace}/${o.kind}/${o.metadata.name}`;
}

/** Per-resource unified diffs between two renders (added, removed and changed resources). */
export function diffRenders(
  before: readonly RenderedObject[],
  after: readonly RenderedObject[],
  namespace: string,
): ResourceDiff[] {
  const index = (objects: readonly RenderedObject[]) =>
    new Map(
      objects.map((o) => [resourceId(o, namespace), stringify(normalise(o), { lineWidth: 0 })]),
    );
  const a = index(before);
  const b = index(after);
  const ids = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: ResourceDiff[] = [];
  for (const id of ids) {
    const x = a.get(id) ?? '';
    const y = b.get(id) ?? '';
    if (x === y) continue;
    const label = !a.has(id) ? `${id} (added)` : !b.has(id) ? `${id} (removed)` : id;
    const diff = unifiedDiff(id, x, y, !a.has(id)).replace(/\n$/, '');
    out.push({ resource: label, diff });
  }
  return out;
}

export interface RenderPair {
  source: AppSource;
  diffs: ResourceDiff[];
}

/** Renders the colour's app in both trees and diffs them. */
export async function manifestDiff(input: {
  beforeDir: string;
  afterDir: string;
  stack: StackConfig;
  colour: Colour;
  timeoutMs?: number;
}): Promise<RenderPair> {
  const render = async (root: string) => {
    const source = await appSource(root, input.stack, input.colour);
    const chartDir = path.join(root, source.chartDir);
    if (!path.resolve(chartDir).startsWith(path.resolve(root) + path.sep)) {
      throw new Error(`chart path ${source.chartDir} leaves the repository`);
    }
    const exists = await stat(path.join(chartDir, 'Chart.yaml')).then(
      () => true,
      () => false,
    );
    if (!exists) return { source, objects: [] as RenderedObject[] };
    // Value files stay inside the tree (a merge request must not make helm read /etc/...).
    for (const file of source.valueFiles) {
      const resolved = path.resolve(chartDir, file);
      if (/^[a-z]+:\/\//i.test(file) || !resolved.startsWith(path.resolve(root) + path.sep)) {
        throw new Error(`value file ${file} of ${source.from} is outside the repository`);
      }
    }
    const result = await renderChart({
      chartDir,
      releaseName: source.releaseName,
      namespace: source.namespace,
      valueFiles: source.valueFiles,
      ...(input.timeoutMs ? { timeoutMs: input.timeoutMs } : {}),
    });
    return { source, objects: result.objects };
  };
  const before = await render(input.beforeDir);
  const after = await render(input.afterDir);
  return {
    source: after.source,
    diffs: diffRenders(before.objects, after.objects, after.source.namespace),
  };
}
