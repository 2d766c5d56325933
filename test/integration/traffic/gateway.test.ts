/**
 * The gateway routing real requests by the rendered VirtualService to the pool's backends, and
 * proxying faithfully (checked against an echo server behind a stub resolver).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RenderedObject } from '../../../src/helm/render.ts';
import type { EndpointResolver } from '../../../src/sandbox/traffic/backends.ts';
import { StaticClusterView } from '../../../src/sandbox/traffic/cluster-view.ts';
import { Gateway } from '../../../src/sandbox/traffic/gateway.ts';
import { seededRandom } from '../../helpers/random.ts';
import { startSandboxTraffic, type SandboxTraffic } from '../../../src/sandbox/traffic/traffic.ts';
import type { Workload } from '../../../src/sandbox/traffic/workloads.ts';
import { deferred, request } from './http.ts';
import { copyExampleRepo, type ExampleRepo } from './rendered-stack.ts';

const HOST = 'my-app.example.com';

let repo: ExampleRepo;
let blue: RenderedObject[];
let green: RenderedObject[];
let greenIdle: RenderedObject[];
let liveBlue: RenderedObject[];
let liveBlue10: RenderedObject[];
let liveGreen: RenderedObject[];

beforeAll(async () => {
  repo = await copyExampleRepo();
  [blue, green, greenIdle, liveBlue, liveBlue10, liveGreen] = await Promise.all([
    repo.renderApp({ colour: 'blue', frontendTag: '1.0.0', backendTag: '1.0.0', replicas: 2 }),
    repo.renderApp({ colour: 'green', frontendTag: '1.1.0', backendTag: '1.1.0', replicas: 2 }),
    repo.renderApp({ colour: 'green', frontendTag: '1.1.0', backendTag: '1.1.0', replicas: 0 }),
    repo.renderIngress({ live: 'blue' }),
    repo.renderIngress({ live: 'blue', previewWeight: 10 }),
    repo.renderIngress({ live: 'green' }),
  ]);
});
afterAll(() => repo.remove());

const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function start(
  objects: RenderedObject[],
  options: Parameters<typeof startSandboxTraffic>[1] = {},
): Promise<{ view: StaticClusterView; traffic: SandboxTraffic }> {
  const view = new StaticClusterView(objects);
  const traffic = await startSandboxTraffic(view, options);
  running.push(traffic);
  return { view, traffic };
}

describe('gateway routing by the applied VirtualService', () => {
  it('sends everything to the live colour at 100/0 and labels the colour', async () => {
    const { traffic } = await start([...blue, ...green, ...liveBlue]);
    for (let i = 0; i < 40; i++) {
      const answer = await request(traffic.url, { host: HOST });
      expect(answer.status).toBe(200);
      expect(answer.headers['x-stackswap-colour']).toBe('blue');
      expect(answer.json()).toMatchObject({
        colour: 'blue',
        version: '1.0.0',
        backend: { colour: 'blue' },
      });
    }
  });

  it('splits 90/10 exactly as the seeded draws say', async () => {
    const { traffic } = await start([...blue, ...green, ...liveBlue10], {
      gateway: { random: seededRandom(2024) },
    });
    // One draw per request, whatever order concurrent requests arrive in.
    const draws = seededRandom(2024);
    const expectedGreens = Array.from({ length: 200 }, draws).filter((d) => d >= 0.9).length;
    const colours: string[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => request(traffic.url, { host: HOST })),
      );
      for (const answer of answers) {
        expect(answer.headers['x-stackswap-colour']).toBe(answer.json().colour);
        colours.push(answer.json().colour);
      }
    }
    const greens = colours.filter((c) => c === 'green').length;
    expect(greens).toBe(expectedGreens);
    expect(colours.length - greens).toBe(200 - expectedGreens);
    expect(greens).toBeGreaterThan(8);
    expect(greens).toBeLessThan(35);
  });

  it('routes the preview header to the preview colour whatever the weights', async () => {
    const { traffic } = await start([...blue, ...green, ...liveBlue]);
    const answer = await request(traffic.url, {
      host: HOST,
      headers: { 'x-stackswap-preview': 'true' },
    });
    expect(answer.headers['x-stackswap-colour']).toBe('green');
    expect(answer.json()).toMatchObject({
      colour: 'green',
      version: '1.1.0',
      backend: { version: '1.1.0' },
    });
  });

  it('answers 503 for a colour at zero replicas', async () => {
    const { traffic } = await start([...blue, ...greenIdle, ...liveBlue]);
    const answer = await request(traffic.url, {
      host: HOST,
      headers: { 'x-stackswap-preview': 'true' },
    });
    expect(answer.status).toBe(503);
    expect(answer.body).toBe('no healthy upstream');
    expect(answer.headers['x-stackswap-colour']).toBe('green');
  });

  it('uses the only VirtualService for loopback requests and 404s unknown hosts', async () => {
    const { traffic } = await start([...blue, ...liveBlue]);
    expect((await request(traffic.url)).json().colour).toBe('blue');
    const unknown = await request(traffic.url, { host: 'other.example.com' });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toBe('no VirtualService for host other.example.com');
  });

  it('rebuilds the table on change; a request in flight keeps the route it started with', async () => {
    const hold = deferred();
    const arrived = deferred();
    const { view, traffic } = await start([...blue, ...green, ...liveBlue], {
      backends: {
        beforeAnswer: async (w: Workload) => {
          if (w.component === 'my-frontend' && w.colour === 'blue') {
            arrived.release();
            await hold.promise;
          }
        },
      },
    });
    const held = request(traffic.url, { host: HOST });
    await arrived.promise;
    view.apply(liveGreen);
    const after = await request(traffic.url, { host: HOST });
    expect(after.json().colour).toBe('green');
    hold.release();
    const answer = await held;
    expect(answer.status).toBe(200);
    expect(answer.headers['x-stackswap-colour']).toBe('blue');
    expect(answer.json().colour).toBe('blue');
  });

  it('waits for servers still starting instead of failing right after an apply', async () => {
    const { view, traffic } = await start([...blue, ...liveBlue]);
    // Green Deployments and the flip in one change: the green servers are not up yet.
    view.apply([...green, ...liveGreen]);
    expect(traffic.pool.isSettled()).toBe(false);
    const answer = await request(traffic.url, { host: HOST });
    expect(answer.status).toBe(200);
    expect(answer.json().colour).toBe('green');
  });
});

describe('gateway proxying', () => {
  let echo: http.Server;
  let echoUrl: URL;
  beforeAll(async () => {
    echo = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(201, {
          'content-type': 'application/json',
          'x-internal': 'secret-ish',
          'x-keep': 'yes',
        });
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoUrl = new URL(`http://127.0.0.1:${(echo.address() as AddressInfo).port}`);
  });
  afterAll(() => new Promise<void>((r) => echo.close(() => r())));

  const vs: RenderedObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'echo', namespace: 'istio-system' },
    spec: {
      hosts: ['echo.example.com'],
      http: [
        {
          headers: {
            request: { set: { 'x-from-route': 'route' } },
            response: { remove: ['x-internal'] },
          },
          route: [
            {
              destination: { host: 'echo.test.svc.cluster.local', port: { number: 80 } },
              headers: {
                response: { add: { 'x-keep': 'added' }, set: { 'x-stackswap-colour': 'echo' } },
              },
            },
          ],
        },
      ],
    },
  };

  function stubResolver(url: URL | undefined): EndpointResolver {
    return {
      resolve: (host) => (host === 'echo.test.svc.cluster.local' ? url : undefined),
      whenSettled: async () => undefined,
      isSettled: () => true,
    };
  }

  it('passes method, path, query, headers and body, and applies header rules', async () => {
    const gateway = await Gateway.start(new StaticClusterView([vs]), stubResolver(echoUrl));
    running.push(gateway);
    const answer = await request(gateway.url, {
      host: 'echo.example.com:8443',
      method: 'POST',
      path: '/orders/7?expand=lines',
      headers: { 'content-type': 'text/plain', 'x-custom': 'abc' },
      body: 'hello',
    });
    expect(answer.status).toBe(201);
    expect(answer.json()).toMatchObject({
      method: 'POST',
      url: '/orders/7?expand=lines',
      body: 'hello',
      headers: {
        host: 'echo.example.com:8443',
        'x-custom': 'abc',
        'x-from-route': 'route',
        'x-request-id': expect.stringMatching(/^[0-9a-f-]{36}$/),
      },
    });
    expect(answer.headers['x-internal']).toBeUndefined();
    expect(answer.headers['x-keep']).toBe('yes, added');
    expect(answer.headers['x-stackswap-colour']).toBe('echo');
  });

  it('answers 503 when the backend refuses the connection', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const gateway = await Gateway.start(
      new StaticClusterView([vs]),
      stubResolver(new URL(`http://127.0.0.1:${port}`)),
    );
    running.push(gateway);
    const answer = await request(gateway.url, { host: 'echo.example.com' });
    expect(answer.status).toBe(503);
    expect(answer.body).toMatch(/^upstream connect error .* ECONNREFUSED$/);
  });
});
