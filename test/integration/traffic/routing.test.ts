/**
 * The routing table built from VirtualServices: the ingress chart's real render, and hand-built
 * VirtualServices for the match kinds the chart does not use.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenderedObject } from '../../../src/helm/render.ts';
import { seededRandom } from '../../helpers/random.ts';
import {
  chooseDestination,
  matchRoute,
  selectVirtualService,
  type RequestFacts,
} from '../../../src/sandbox/traffic/routing.ts';
import {
  buildRoutingTable,
  type CompiledRoute,
} from '../../../src/sandbox/traffic/virtual-service.ts';
import { copyExampleRepo, type ExampleRepo } from './rendered-stack.ts';

const BLUE = 'my-frontend.my-app-blue.svc.cluster.local';
const GREEN = 'my-frontend.my-app-green.svc.cluster.local';

function facts(partial: Partial<RequestFacts> = {}): RequestFacts {
  return { method: 'GET', url: '/', host: 'my-app.example.com', headers: {}, ...partial };
}

function virtualService(name: string, spec: Record<string, unknown>): RenderedObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: 'istio-system' },
    spec,
  };
}

function counts(route: CompiledRoute, random: () => number, n: number): Record<string, number> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const host = chooseDestination(route, random)?.host ?? 'none';
    seen[host] = (seen[host] ?? 0) + 1;
  }
  return seen;
}

describe('routing table from the ingress chart', () => {
  let repo: ExampleRepo;
  beforeAll(async () => {
    repo = await copyExampleRepo();
  });
  afterAll(() => repo.remove());

  it('routes the preview header to the preview colour and the rest by weight', async () => {
    const { virtualServices, problems } = buildRoutingTable(
      await repo.renderIngress({ live: 'blue', previewWeight: 10 }),
    );
    expect(problems).toEqual([]);
    const vs = selectVirtualService(virtualServices, 'my-app.example.com')!;
    expect(vs.id).toBe('istio-system/my-app');

    const preview = matchRoute(vs, facts({ headers: { 'x-stackswap-preview': 'true' } }))!;
    expect(preview.name).toBe('preview');
    expect(preview.destinations.map((d) => [d.host, d.weight, d.port])).toEqual([
      [GREEN, 100, 8080],
    ]);
    expect(preview.destinations[0]!.headers.response.set).toEqual({
      'x-stackswap-colour': 'green',
    });
    // exact "true": anything else is ordinary traffic.
    expect(matchRoute(vs, facts({ headers: { 'x-stackswap-preview': 'yes' } }))!.name).toBe(
      'default',
    );

    const main = matchRoute(vs, facts())!;
    expect(main.name).toBe('default');
    expect(main.destinations.map((d) => [d.host, d.weight])).toEqual([
      [BLUE, 90],
      [GREEN, 10],
    ]);
    // Fixed draws at the boundary: [0, 0.9) is blue, [0.9, 1) green.
    expect(chooseDestination(main, () => 0.8999)!.host).toBe(BLUE);
    expect(chooseDestination(main, () => 0.9)!.host).toBe(GREEN);
    const seen = counts(main, seededRandom(42), 10_000);
    expect(seen[GREEN]! / 10_000).toBeGreaterThan(0.08);
    expect(seen[GREEN]! / 10_000).toBeLessThan(0.12);
    expect(counts(main, seededRandom(42), 10_000)).toEqual(seen);
  });

  it('sends everything to the live colour at weight 0, never to the 0-weight destination', async () => {
    const { virtualServices } = buildRoutingTable(await repo.renderIngress({ live: 'green' }));
    const main = matchRoute(virtualServices[0]!, facts())!;
    expect(counts(main, seededRandom(7), 2_000)).toEqual({ [GREEN]: 2_000 });
    expect(chooseDestination(main, () => 0.999999)!.host).toBe(GREEN);
  });
});

describe('hosts and matches', () => {
  const table = buildRoutingTable([
    virtualService('exact', {
      hosts: ['shop.example.com'],
      http: [
        {
          name: 'api',
          match: [{ uri: { prefix: '/api/' } }],
          route: [{ destination: { host: 'api.a.svc.cluster.local' } }],
        },
        {
          name: 'beta',
          match: [
            {
              headers: { 'x-user': { regex: 'beta-[0-9]+' } },
              withoutHeaders: { 'x-opt-out': {} },
            },
            { queryParams: { canary: { exact: '1' } } },
          ],
          route: [{ destination: { host: 'beta.a.svc.cluster.local' } }],
        },
        {
          name: 'agents',
          match: [{ headers: { 'user-agent': { prefix: 'curl/' } }, method: { exact: 'GET' } }],
          route: [{ destination: { host: 'curl.a.svc.cluster.local' } }],
        },
        { route: [{ destination: { host: 'web.a.svc.cluster.local' } }] },
      ],
    }),
    virtualService('wildcard', {
      hosts: ['*.example.com'],
      http: [{ route: [{ destination: { host: 'wild.a.svc.cluster.local' } }] }],
    }),
  ]);

  const routeFor = (partial: Partial<RequestFacts>) => {
    const f = facts({ host: 'shop.example.com', ...partial });
    return matchRoute(selectVirtualService(table.virtualServices, f.host)!, f)?.name;
  };

  it('prefers an exact host to a wildcard and refuses unknown hosts', () => {
    expect(selectVirtualService(table.virtualServices, 'shop.example.com')!.id).toBe(
      'istio-system/exact',
    );
    expect(selectVirtualService(table.virtualServices, 'a.b.example.com')!.id).toBe(
      'istio-system/wildcard',
    );
    expect(selectVirtualService(table.virtualServices, 'example.org')).toBeUndefined();
    // Two VirtualServices: the loopback convenience does not guess.
    expect(selectVirtualService(table.virtualServices, '127.0.0.1')).toBeUndefined();
    expect(selectVirtualService(table.virtualServices.slice(0, 1), '127.0.0.1')!.id).toBe(
      'istio-system/exact',
    );
  });

  it('evaluates uri prefix, header regex (whole value), withoutHeaders, query and method in order', () => {
    expect(routeFor({ url: '/api/orders?x=1' })).toBe('api');
    expect(routeFor({ url: '/apix' })).toBe('#3');
    expect(routeFor({ headers: { 'x-user': 'beta-17' } })).toBe('beta');
    expect(routeFor({ headers: { 'x-user': 'beta-17x' } })).toBe('#3');
    expect(routeFor({ headers: { 'x-user': 'beta-17', 'x-opt-out': '' } })).toBe('#3');
    expect(routeFor({ url: '/?canary=1' })).toBe('beta');
    expect(routeFor({ headers: { 'user-agent': 'curl/8.5' } })).toBe('agents');
    expect(routeFor({ headers: { 'user-agent': 'curl/8.5' }, method: 'POST' })).toBe('#3');
  });

  it('reports what it cannot honour and skips invalid VirtualServices', () => {
    const { virtualServices, problems } = buildRoutingTable([
      virtualService('broken', { http: [] }),
      virtualService('bad-regex', {
        hosts: ['x'],
        http: [{ match: [{ uri: { regex: '(' } }], route: [{ destination: { host: 'a' } }] }],
      }),
      virtualService('redirects', {
        hosts: ['r'],
        http: [{ name: 'r', redirect: { uri: '/x' }, timeout: '3s' }],
      }),
    ]);
    expect(virtualServices.map((v) => v.id)).toEqual(['istio-system/redirects']);
    expect(virtualServices[0]!.routes[0]!.unsupported).toMatch(/redirect/);
    expect(problems).toEqual([
      expect.stringMatching(/broken skipped: spec.hosts/),
      expect.stringMatching(/bad-regex skipped: invalid regex/),
      expect.stringMatching(/redirects route r: timeout is ignored/),
    ]);
  });
});
