/**
 * Renders apps/my-app (the umbrella chart of the example stack) with real helm, as the Argo CD
 * Applications my-app-blue and my-app-green do.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COLOURS, type Colour } from '../../../src/config/names.ts';
import type { RenderedObject } from '../../../src/helm/render.ts';
import { copyExample, findObject, objectsOfKind, renderApp } from './example-repo.ts';

const COMPONENTS = ['my-frontend', 'my-backend'] as const;

function renderColour(root: string, colour: Colour, extraValueFiles: string[] = []) {
  return renderApp(root, {
    path: 'apps/my-app',
    releaseName: `my-app-${colour}`,
    namespace: `my-app-${colour}`,
    valueFiles: ['values.yaml', `values-${colour}.yaml`, ...extraValueFiles],
  });
}

/** Writes a values file with both tags as quoted YAML strings, next to the umbrella chart. */
async function writeTags(root: string, tags: Record<string, string>): Promise<string> {
  const text = Object.entries(tags)
    .map(([component, tag]) => `${component}:\n  image:\n    tag: ${JSON.stringify(tag)}\n`)
    .join('');
  await writeFile(path.join(root, 'apps/my-app/tags.yaml'), text);
  return 'tags.yaml';
}

interface Container {
  name: string;
  image: string;
  ports: { name: string; containerPort: number }[];
  env?: { name: string; value: string }[];
  readinessProbe: { httpGet: { path: string; port: string | number } };
}

function labelsOf(object: RenderedObject): Record<string, unknown> {
  return (object.metadata.labels ?? {}) as Record<string, unknown>;
}

function podSpec(deployment: RenderedObject) {
  const spec = deployment.spec as {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[] } };
  };
  return { ...spec, container: spec.template.spec.containers[0]! };
}

describe('apps/my-app', () => {
  describe.each(COLOURS)('the %s colour', (colour) => {
    const namespace = `my-app-${colour}`;
    const replicas = colour === 'blue' ? 2 : 0;

    it('renders a Deployment and a Service per component in its own namespace', async () => {
      const root = await copyExample(['charts', 'apps']);
      const objects = await renderColour(root, colour);

      expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
        'Deployment/my-backend',
        'Deployment/my-frontend',
        'Service/my-backend',
        'Service/my-frontend',
      ]);
      for (const object of objects) expect(object.metadata.namespace).toBe(namespace);

      for (const component of COMPONENTS) {
        const deployment = findObject(objects, 'Deployment', component);
        const labels = {
          'app.kubernetes.io/name': component,
          'app.kubernetes.io/part-of': 'my-app',
          'app.kubernetes.io/version': '1.0.0',
          'app.kubernetes.io/managed-by': 'Helm',
          'stackswap.io/colour': colour,
        };
        expect(labelsOf(deployment)).toEqual(labels);
        const spec = podSpec(deployment);
        expect(spec.replicas).toBe(replicas);
        expect(spec.template.metadata.labels).toMatchObject(labels);
        expect(spec.template.metadata.labels).toMatchObject(spec.selector.matchLabels);
        expect(spec.selector.matchLabels).toEqual({
          'app.kubernetes.io/name': component,
          'app.kubernetes.io/part-of': 'my-app',
        });
        expect(spec.container.name).toBe(component);
        expect(spec.container.image).toBe(`registry.example.com/my-app/${component}:1.0.0`);
        expect(spec.container.ports).toContainEqual(
          expect.objectContaining({ name: 'http', containerPort: 8080 }),
        );
        expect(spec.container.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });

        const service = findObject(objects, 'Service', component);
        const serviceSpec = service.spec as {
          selector: Record<string, string>;
          ports: { name: string; port: number; targetPort: string | number }[];
        };
        expect(serviceSpec.selector).toEqual(spec.selector.matchLabels);
        expect(serviceSpec.ports).toEqual([
          expect.objectContaining({ name: 'http', port: 8080, targetPort: 'http' }),
        ]);
      }
    });

    it('points the frontend at the backend of the same colour', async () => {
      const root = await copyExample(['charts', 'apps']);
      const objects = await renderColour(root, colour);
      const frontend = podSpec(findObject(objects, 'Deployment', 'my-frontend')).container;
      expect(frontend.env).toContainEqual({
        name: 'BACKEND_URL',
        value: `http://my-backend.${namespace}.svc.cluster.local:8080`,
      });
      const backend = podSpec(findObject(objects, 'Deployment', 'my-backend')).container;
      expect(backend.env?.map((e) => e.name)).not.toContain('BACKEND_URL');
    });
  });

  it.each(['1.10', '0362525', '0e1234', '2.0.0-rc.1_b7'])(
    'keeps the quoted tag %s exactly as written (image and version label)',
    async (tag) => {
      const root = await copyExample(['charts', 'apps']);
      const tags = await writeTags(root, { 'my-frontend': tag, 'my-backend': tag });
      const objects = await renderColour(root, 'green', [tags]);
      for (const component of COMPONENTS) {
        const deployment = findObject(objects, 'Deployment', component);
        expect(podSpec(deployment).container.image).toBe(
          `registry.example.com/my-app/${component}:${tag}`,
        );
        expect(labelsOf(deployment)['app.kubernetes.io/version']).toBe(tag);
      }
    },
  );

  it.each([
    ['1.10', '1.1 (a float64)'],
    ['0362525', '124245 (a float64)'], // YAML 1.1 reads a leading 0 as octal
    ['on', 'true (a bool)'],
  ])('refuses the unquoted tag %s, which helm reads as %s', async (tag, readAs) => {
    const root = await copyExample(['charts', 'apps']);
    await writeFile(
      path.join(root, 'apps/my-app/tags.yaml'),
      `my-frontend:\n  image:\n    tag: ${tag}\n`,
    );
    await expect(renderColour(root, 'blue', ['tags.yaml'])).rejects.toThrow(
      `image.tag of my-frontend must be a quoted string: unquoted, YAML read it as ${readAs};`,
    );
  });

  it('has no image tag in the shared values.yaml: rendering it alone fails', async () => {
    const root = await copyExample(['charts', 'apps']);
    await expect(
      renderApp(root, {
        path: 'apps/my-app',
        releaseName: 'my-app-blue',
        namespace: 'my-app-blue',
        valueFiles: ['values.yaml'],
      }),
    ).rejects.toThrow(/image\.tag is required: set my-(frontend|backend)\.image\.tag/);
  });

  it('refuses a colour other than blue or green', async () => {
    const root = await copyExample(['charts', 'apps']);
    await writeFile(path.join(root, 'apps/my-app/colour.yaml'), 'global:\n  colour: purple\n');
    await expect(renderColour(root, 'blue', ['colour.yaml'])).rejects.toThrow(
      'global.colour must be "blue" or "green" (got "purple")',
    );
  });

  it('renders the same objects whichever colour, apart from colour, namespace and replicas', async () => {
    const root = await copyExample(['charts', 'apps']);
    // One after the other: both renders share the copy's apps/my-app/charts/.
    const blue = await renderColour(root, 'blue');
    const green = await renderColour(root, 'green');
    const normalise = (objects: RenderedObject[]) =>
      JSON.stringify(objectsOfKind(objects, 'Deployment'))
        .replaceAll(/my-app-(blue|green)/g, 'my-app-COLOUR')
        .replaceAll(/"(blue|green)"/g, '"COLOUR"')
        .replaceAll(/"replicas":\d+/g, '"replicas":N');
    expect(normalise(blue)).toBe(normalise(green));
  });
});
