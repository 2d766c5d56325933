/**
 * The example config repo (charts/, apps/) rendered with real `helm template`, from a private
 * temporary copy, into the objects an Argo CD sync would apply: my-app per colour, and the
 * ingress VirtualService for a live colour and preview weight.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart, type RenderedObject } from '../../../src/helm/render.ts';

const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));

export type Colour = 'blue' | 'green';

export interface AppRender {
  colour: Colour;
  frontendTag: string;
  backendTag: string;
  replicas: number;
  /** Default `my-app-<colour>`. */
  namespace?: string;
}

export interface ExampleRepo {
  root: string;
  renderApp(request: AppRender): Promise<RenderedObject[]>;
  renderIngress(request: { live: Colour; previewWeight?: number }): Promise<RenderedObject[]>;
  remove(): Promise<void>;
}

/** A temporary copy of charts/ and apps/ (without built dependencies). */
export async function copyExampleRepo(): Promise<ExampleRepo> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'stackswap-traffic-'));
  for (const folder of ['charts', 'apps']) {
    await cp(path.join(projectRoot, folder), path.join(root, folder), {
      recursive: true,
      filter: (source) => !/^apps\/[^/]+\/charts(\/|$)/.test(path.relative(projectRoot, source)),
    });
  }
  // `helm dependency build` writes into the chart folder: one render per folder at a time.
  const queues = new Map<string, Promise<unknown>>();
  const serial = <T>(folder: string, task: () => Promise<T>): Promise<T> => {
    const next = (queues.get(folder) ?? Promise.resolve()).then(task, task);
    queues.set(
      folder,
      next.catch(() => undefined),
    );
    return next;
  };
  return {
    root,
    renderApp: (r) =>
      serial('apps/my-app', async () => {
        const namespace = r.namespace ?? `my-app-${r.colour}`;
        const { objects } = await renderChart({
          chartDir: path.join(root, 'apps/my-app'),
          releaseName: `my-app-${r.colour}`,
          namespace,
          valueFiles: ['values.yaml', `values-${r.colour}.yaml`],
          setString: {
            'global.replicas': String(r.replicas),
            'my-frontend.image.tag': r.frontendTag,
            'my-backend.image.tag': r.backendTag,
          },
        });
        // Argo CD sets the destination namespace on objects that have none.
        return objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace } }));
      }),
    renderIngress: (r) =>
      serial('apps/ingress', async () => {
        const { objects } = await renderChart({
          chartDir: path.join(root, 'apps/ingress'),
          releaseName: 'ingress',
          namespace: 'istio-system',
          valueFiles: ['values.yaml'],
          setString: {
            'global.live': r.live,
            'global.previewWeight': String(r.previewWeight ?? 0),
          },
        });
        return objects;
      }),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

export function ofKind(objects: readonly RenderedObject[], kind: string, name: string) {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the render`);
  return found;
}
