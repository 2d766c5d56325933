/**
 * BackendPool against rendered my-app objects: one server per running Deployment, cluster DNS
 * through Services, the frontend calling the backend of its own namespace, faults, zero
 * replicas, and the hand-over of a Deployment whose image changes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RenderedObject } from '../../../src/helm/render.ts';
import { BackendPool } from '../../../src/sandbox/traffic/backends.ts';
import { StaticClusterView } from '../../../src/sandbox/traffic/cluster-view.ts';
import { withImageTag, withReplicas } from '../../../src/sandbox/traffic/object-edits.ts';
import type { Workload } from '../../../src/sandbox/traffic/workloads.ts';
import { deferred, request } from './http.ts';
import { copyExampleRepo, type ExampleRepo } from './rendered-stack.ts';

const BACKEND_BLUE = 'my-backend.my-app-blue.svc.cluster.local';
const FRONTEND_BLUE = 'my-frontend.my-app-blue.svc.cluster.local';
const FRONTEND_GREEN = 'my-frontend.my-app-green.svc.cluster.local';

let repo: ExampleRepo;
let blue: RenderedObject[];
let green: RenderedObject[];
let greenIdle: RenderedObject[];

beforeAll(async () => {
  repo = await copyExampleRepo();
  [blue, green, greenIdle] = await Promise.all([
    repo.renderApp({ colour: 'blue', frontendTag: '1.0.0', backendTag: '1.0.0', replicas: 2 }),
    repo.renderApp({ colour: 'green', frontendTag: '1.1.0', backendTag: '1.1.0', replicas: 2 }),
    repo.renderApp({ colour: 'green', frontendTag: '1.1.0', backendTag: '1.1.0', replicas: 0 }),
  ]);
});
afterAll(() => repo.remove());

const pools: BackendPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

async function startPool(
  view: StaticClusterView,
  options: Parameters<typeof BackendPool.start>[1] = {},
) {
  const problems: string[] = [];
  const pool = await BackendPool.start(view, { onProblem: (p) => problems.push(p), ...options });
  pools.push(pool);
  return { pool, problems };
}

const deployment = (namespace: string, name: string) => ({ kind: 'Deployment', namespace, name });

describe('BackendPool', () => {
  it('runs one server per Deployment with replicas and none for zero replicas', async () => {
    const { pool, problems } = await startPool(new StaticClusterView([...blue, ...greenIdle]));
    expect(problems).toEqual([]);
    expect(pool.backends().map((b) => [b.key, b.colour, b.version])).toEqual([
      ['my-app-blue/my-backend', 'blue', '1.0.0'],
      ['my-app-blue/my-frontend', 'blue', '1.0.0'],
    ]);
    expect(pool.resolve(FRONTEND_GREEN)).toBeUndefined();
    for (const b of pool.backends()) expect(b.url.hostname).toBe('127.0.0.1');
  });

  it('resolves Service names like cluster DNS, relative to a namespace', async () => {
    const { pool } = await startPool(new StaticClusterView(blue));
    const url = pool.resolve(`${BACKEND_BLUE}:8080`)!;
    expect(url).toBeDefined();
    expect(pool.resolve('my-backend', 'my-app-blue')).toEqual(url);
    expect(pool.resolve('my-backend.my-app-blue')).toEqual(url);
    expect(pool.resolve('my-backend.my-app-blue.svc')).toEqual(url);
    expect(pool.resolve('my-backend')).toBeUndefined();
    expect(pool.resolve('my-backend.my-app-green.svc.cluster.local')).toBeUndefined();
    expect(pool.resolve('nothing.my-app-blue.svc.cluster.local')).toBeUndefined();
  });

  it('answers as its component; the frontend calls the backend of its own namespace', async () => {
    const { pool } = await startPool(new StaticClusterView([...blue, ...green]));
    const backend = await request(pool.resolve(BACKEND_BLUE)!);
    expect(backend.status).toBe(200);
    expect(backend.json()).toEqual({
      component: 'my-backend',
      colour: 'blue',
      version: '1.0.0',
      namespace: 'my-app-blue',
    });
    const frontend = await request(pool.resolve(FRONTEND_GREEN)!);
    expect(frontend.status).toBe(200);
    expect(frontend.json()).toEqual({
      component: 'my-frontend',
      colour: 'green',
      version: '1.1.0',
      namespace: 'my-app-green',
      backend: {
        component: 'my-backend',
        colour: 'green',
        version: '1.1.0',
        namespace: 'my-app-green',
      },
    });
  });

  it('takes the colour from the namespace suffix when the label is missing', async () => {
    const unlabelled = blue.map((o) => {
      const copy = structuredClone(o);
      delete (copy.metadata.labels as Record<string, string>)['stackswap.io/colour'];
      const template = (
        copy.spec as { template?: { metadata: { labels: Record<string, string> } } }
      ).template;
      if (template) delete template.metadata.labels['stackswap.io/colour'];
      return copy;
    });
    const { pool } = await startPool(new StaticClusterView(unlabelled));
    expect(pool.backends().map((b) => b.colour)).toEqual(['blue', 'blue']);
  });

  it('answers 500 for a faulty version, and the frontend above it 502', async () => {
    const view = new StaticClusterView(blue);
    const { pool } = await startPool(view);
    view.update(deployment('my-app-blue', 'my-backend'), withImageTag('1.1.0-bad'));
    await pool.whenSettled();
    const backend = await request(pool.resolve(BACKEND_BLUE)!);
    expect(backend.status).toBe(500);
    expect(backend.json()).toMatchObject({
      version: '1.1.0-bad',
      error: 'version 1.1.0-bad is faulty',
    });
    const frontend = await request(pool.resolve(FRONTEND_BLUE)!);
    expect(frontend.status).toBe(502);
    expect(frontend.json().error).toBe(`backend ${BACKEND_BLUE}:8080 answered 500`);

    view.update(deployment('my-app-blue', 'my-frontend'), withImageTag('fail-2'));
    await pool.whenSettled();
    expect((await request(pool.resolve(FRONTEND_BLUE)!)).status).toBe(500);
  });

  it('uses a configurable fault pattern', async () => {
    const view = new StaticClusterView(blue);
    const { pool } = await startPool(view, { faultPattern: /^1\.0\./g });
    for (let i = 0; i < 3; i++)
      expect((await request(pool.resolve(BACKEND_BLUE)!)).status).toBe(500);
  });

  it('answers 502 from the frontend when its backend has no running server', async () => {
    const view = new StaticClusterView(blue);
    const { pool } = await startPool(view);
    const frontendUrl = pool.resolve(FRONTEND_BLUE)!;
    view.update(deployment('my-app-blue', 'my-backend'), withReplicas(0));
    const frontend = await request(frontendUrl);
    expect(frontend.status).toBe(502);
    expect(frontend.json().error).toBe(`backend ${BACKEND_BLUE}:8080 has no running endpoint`);
  });

  it('hands a changed Deployment over: new server first, in-flight requests on the old finish', async () => {
    const view = new StaticClusterView(blue);
    const hold = deferred();
    const arrived = deferred();
    const { pool } = await startPool(view, {
      beforeAnswer: async (w: Workload) => {
        if (w.component === 'my-backend' && w.version === '1.0.0') {
          arrived.release();
          await hold.promise;
        }
      },
    });
    const oldUrl = pool.resolve(BACKEND_BLUE)!;
    const inFlight = request(oldUrl);
    await arrived.promise;

    view.update(deployment('my-app-blue', 'my-backend'), withImageTag('1.1.0'));
    // The old server keeps the endpoint until the new one listens.
    expect(pool.resolve(BACKEND_BLUE)).toEqual(oldUrl);
    await pool.whenSettled();
    const newUrl = pool.resolve(BACKEND_BLUE)!;
    expect(newUrl).not.toEqual(oldUrl);
    expect((await request(newUrl)).json().version).toBe('1.1.0');

    hold.release();
    const finished = await inFlight;
    expect(finished.status).toBe(200);
    expect(finished.json().version).toBe('1.0.0');
    await pool.whenDrained();
    await expect(request(oldUrl)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('stops the servers of removed and scaled-down Deployments at once', async () => {
    const view = new StaticClusterView([...blue, ...green]);
    const { pool } = await startPool(view);
    const greenFrontend = pool.resolve(FRONTEND_GREEN)!;
    const blueBackend = pool.resolve(BACKEND_BLUE)!;

    view.update(deployment('my-app-green', 'my-frontend'), withReplicas(0));
    view.remove(deployment('my-app-blue', 'my-backend'));
    expect(pool.resolve(FRONTEND_GREEN)).toBeUndefined();
    expect(pool.resolve(BACKEND_BLUE)).toBeUndefined();
    await pool.whenDrained();
    await expect(request(greenFrontend)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(request(blueBackend)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    // Scaling back up starts a new server; a replica count change alone does not.
    view.update(deployment('my-app-green', 'my-frontend'), withReplicas(2));
    await pool.whenSettled();
    const restarted = pool.resolve(FRONTEND_GREEN)!;
    expect(restarted).toBeDefined();
    view.update(deployment('my-app-green', 'my-frontend'), withReplicas(5));
    await pool.whenSettled();
    expect(pool.resolve(FRONTEND_GREEN)).toEqual(restarted);
  });

  it('reports objects it cannot read and keeps serving the rest', async () => {
    const broken: RenderedObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'broken', namespace: 'my-app-blue' },
      spec: { template: { spec: { containers: [] } } },
    };
    const { pool, problems } = await startPool(new StaticClusterView([...blue, broken]));
    expect(problems).toEqual([
      expect.stringMatching(
        /^Deployment my-app-blue\/broken skipped: spec.template.spec.containers/,
      ),
    ]);
    expect(pool.backends()).toHaveLength(2);
  });
});
