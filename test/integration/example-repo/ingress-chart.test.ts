/**
 * Renders apps/ingress (the Istio routing of the example) with real helm, after editing
 * global.live and global.previewWeight in its values.yaml the way swap and revert do.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { otherColour, type Colour } from '../../../src/config/names.ts';
import type { RenderedObject } from '../../../src/helm/render.ts';
import { copyExample, findObject, objectsOfKind, renderApp, setValue } from './example-repo.ts';
import { validateVirtualService } from './models.ts';

const VALUES = 'apps/ingress/values.yaml';

interface Destination {
  destination: { host: string; port: { number: number } };
  weight: number;
}
interface HttpRoute {
  name: string;
  match?: { headers: Record<string, { exact: string }> }[];
  route: Destination[];
}

async function renderIngress(edits: { live?: unknown; previewWeight?: unknown } = {}) {
  const root = await copyExample(['charts', 'apps']);
  if ('live' in edits) await setValue(root, VALUES, ['global', 'live'], edits.live);
  if ('previewWeight' in edits) {
    await setValue(root, VALUES, ['global', 'previewWeight'], edits.previewWeight);
  }
  return renderApp(root, {
    path: 'apps/ingress',
    releaseName: 'ingress',
    namespace: 'istio-system',
    valueFiles: ['values.yaml'],
  });
}

function httpRoutes(virtualService: RenderedObject): HttpRoute[] {
  return (virtualService.spec as { http: HttpRoute[] }).http;
}

const frontendOf = (colour: Colour) => `my-frontend.my-app-${colour}.svc.cluster.local`;
const to = (colour: Colour, weight: number): Destination => ({
  destination: { host: frontendOf(colour), port: { number: 8080 } },
  weight,
});

describe('apps/ingress', () => {
  it('renders one VirtualService for my-app, live blue as committed', async () => {
    const objects = await renderIngress();
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['VirtualService/my-app']);
    const vs = findObject(objects, 'VirtualService', 'my-app');
    expect(vs.apiVersion).toBe('networking.istio.io/v1');
    expect(vs.metadata.namespace).toBe('istio-system');
    expect(vs.spec).toMatchObject({
      hosts: ['my-app.example.com'],
      gateways: ['istio-system/public-gateway'],
    });
    expect(
      httpRoutes(vs).map((r) =>
        r.route.map(({ destination, weight }) => ({ destination, weight })),
      ),
    ).toEqual([[to('green', 100)], [to('blue', 100), to('green', 0)]]);
    validateVirtualService(vs);
  });

  describe.each([
    { live: 'blue', previewWeight: 0 },
    { live: 'green', previewWeight: 0 },
    { live: 'blue', previewWeight: 10 },
    { live: 'green', previewWeight: 10 },
  ] as const)('with live=$live and previewWeight=$previewWeight', ({ live, previewWeight }) => {
    const preview = otherColour(live);

    it('sends preview-header requests to the preview colour and the rest by weight', async () => {
      const objects = await renderIngress({ live, previewWeight });
      const vs = findObject(objects, 'VirtualService', 'my-app');
      const [previewRoute, defaultRoute, ...rest] = httpRoutes(vs);
      expect(rest).toEqual([]);

      // Order matters: Istio takes the first route that matches.
      expect(previewRoute!.name).toBe('preview');
      expect(previewRoute!.match).toEqual([
        { headers: { 'x-stackswap-preview': { exact: 'true' } } },
      ]);
      expect(previewRoute!.route).toEqual([expect.objectContaining(to(preview, 100))]);

      expect(defaultRoute!.name).toBe('default');
      expect(defaultRoute!.match).toBeUndefined();
      expect(defaultRoute!.route).toEqual([
        expect.objectContaining(to(live, 100 - previewWeight)),
        expect.objectContaining(to(preview, previewWeight)),
      ]);
      expect(defaultRoute!.route.reduce((sum, d) => sum + d.weight, 0)).toBe(100);

      validateVirtualService(vs);
    });
  });

  it.each(['purple', 'Blue', ''])('fails the render when global.live is %j', async (live) => {
    await expect(renderIngress({ live })).rejects.toThrow(
      `global.live must be "blue" or "green" (got ${JSON.stringify(live)}) for stack my-app`,
    );
  });

  it.each([101, -5, 12.5, 'ten'])('fails the render when previewWeight is %j', async (weight) => {
    await expect(renderIngress({ previewWeight: weight })).rejects.toThrow(
      'global.previewWeight must be a whole number from 0 to 100',
    );
  });

  it('accepts previewWeight 100 (the last step of a weighted swap)', async () => {
    const vs = findObject(await renderIngress({ previewWeight: 100 }), 'VirtualService', 'my-app');
    expect(httpRoutes(vs)[1]!.route).toEqual([
      expect.objectContaining(to('blue', 0)),
      expect.objectContaining(to('green', 100)),
    ]);
  });

  it('routes several stacks from one values file, each with its own live key', async () => {
    // The shared-ingress layout of DESIGN.md: stackswap.yaml gives each stack live.key
    // global.{stack}Live, and the chart reads that key for the stack.
    const root = await copyExample(['charts', 'apps']);
    await writeFile(
      path.join(root, 'apps/ingress/values.yaml'),
      [
        'global:',
        '  my-appLive: green',
        '  shopLive: blue',
        '  shopPreviewWeight: 25',
        'ingress:',
        '  stacks:',
        '    - name: my-app',
        '      liveKey: my-appLive',
        '      hosts: [my-app.example.com]',
        '      gateways: [istio-system/public-gateway]',
        '      entrypoint: { service: my-frontend, port: 8080 }',
        '    - name: shop',
        '      liveKey: shopLive',
        '      previewWeightKey: shopPreviewWeight',
        '      hosts: [shop.example.com]',
        '      gateways: [istio-system/public-gateway]',
        '      entrypoint: { service: web, port: 80 }',
        '',
      ].join('\n'),
    );
    const objects = await renderApp(root, {
      path: 'apps/ingress',
      releaseName: 'ingress',
      namespace: 'istio-system',
      valueFiles: ['values.yaml'],
    });
    const weights = (name: string) =>
      httpRoutes(findObject(objects, 'VirtualService', name)).map((r) =>
        r.route.map((d) => `${d.destination.host}:${d.destination.port.number}=${d.weight}`),
      );
    expect(weights('my-app')).toEqual([
      [`${frontendOf('blue')}:8080=100`],
      [`${frontendOf('green')}:8080=100`, `${frontendOf('blue')}:8080=0`],
    ]);
    expect(weights('shop')).toEqual([
      ['web.shop-green.svc.cluster.local:80=100'],
      ['web.shop-blue.svc.cluster.local:80=75', 'web.shop-green.svc.cluster.local:80=25'],
    ]);
    for (const vs of objectsOfKind(objects, 'VirtualService')) validateVirtualService(vs);
  });

  it('schema validation rejects a broken VirtualService', async () => {
    const [vs] = objectsOfKind(await renderIngress(), 'VirtualService');
    validateVirtualService(vs);

    const weightAsText = structuredClone(vs!) as RenderedObject & { spec: { http: HttpRoute[] } };
    (weightAsText.spec.http[1]!.route[0]! as { weight: unknown }).weight = '100';
    expect(() => validateVirtualService(weightAsText)).toThrow(/weight/);

    // The Istio 1.18 schema checks types but marks few fields required (not even
    // destination.host), which is why the tests above check the routes themselves.
    const hostsAsText = structuredClone(vs!) as RenderedObject & { spec: { hosts: unknown } };
    hostsAsText.spec.hosts = 'my-app.example.com';
    expect(() => validateVirtualService(hostsAsText)).toThrow(/hosts/);

    expect(() => validateVirtualService({ ...vs, apiVersion: 'v1' })).toThrow(/apiVersion/);
  });
});
