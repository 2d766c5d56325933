/**
 * The sandbox pods' metrics scraped by a real Prometheus (Debian's package, 1 s scrape), and
 * the Prometheus client and analysis on its answers: a value, no data (empty, NaN), several
 * series, a bad query (400), Prometheus down, and targets that follow the pods.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenderedObject } from '../../../src/helm/render.ts';
import { startPrometheus, type SandboxPrometheus } from '../../../src/sandbox/prometheus.ts';
import { BackendPool } from '../../../src/sandbox/traffic/backends.ts';
import { StaticClusterView } from '../../../src/sandbox/traffic/cluster-view.ts';
import { runMetric } from '../../../src/verify/analysis.ts';
import type { AnalysisConfig } from '../../../src/config/verification-config.ts';
import { runGate, type GateRequest } from '../../../src/verify/gate.ts';
import { checkDispatcher } from '../../../src/verify/http-check.ts';
import { systemClock } from '../../../src/verify/clock.ts';
import { prometheusClient, type PrometheusClient } from '../../../src/verify/prometheus-client.ts';
import { PROMETHEUS, requireBinary } from '../../helpers/system-packages.ts';
import { request } from '../traffic/http.ts';
import { copyExampleRepo, type ExampleRepo } from '../traffic/rendered-stack.ts';

let repo: ExampleRepo;
let dir: string;
let view: StaticClusterView;
let pool: BackendPool;
let prometheus: SandboxPrometheus;
let client: PrometheusClient;
let blue: RenderedObject[];
let green: RenderedObject[];
let stopLoad = false;
let loading: Promise<void> | undefined;

const ERROR_RATE = (ns: string) =>
  `(sum(rate(http_requests_total{namespace="${ns}",component="my-frontend",code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total{namespace="${ns}",component="my-frontend"}[5s]))`;

beforeAll(async () => {
  const binary = requireBinary(PROMETHEUS);
  repo = await copyExampleRepo();
  dir = await mkdtemp(path.join(os.tmpdir(), 'stackswap-prom-'));
  [blue, green] = await Promise.all([
    repo.renderApp({ colour: 'blue', frontendTag: '1.0.0', backendTag: '1.0.0', replicas: 2 }),
    repo.renderApp({
      colour: 'green',
      frontendTag: '1.1.0',
      backendTag: '1.1.0-broken',
      replicas: 2,
    }),
  ]);
  view = new StaticClusterView([...blue, ...green]);
  pool = await BackendPool.start(view, {
    faults: [{ version: /broken/, errorShare: 1 }],
  });
  prometheus = await startPrometheus({ dir, pool, binary, scrapeIntervalMs: 1000 });
  client = prometheusClient(prometheus.url.href, { timeoutMs: 5000 });
  const frontends = ['my-app-blue', 'my-app-green'].map((ns) =>
    pool.resolve(`my-frontend.${ns}.svc.cluster.local`)!,
  );
  // Steady traffic on both colours' frontends for the whole file (rates need it).
  loading = (async () => {
    while (!stopLoad) {
      await Promise.all(frontends.map((url) => request(url, { path: '/' }).catch(() => {})));
      await sleep(20);
    }
  })();
  // Every pod scraped, and rates over both colours' traffic (a shared machine can be slow).
  await eventually(
    () => client.query('count(up == 1)'),
    (o) => o.kind === 'value' && o.value === 4,
  );
  await eventually(
    () => client.query(ERROR_RATE('my-app-green')),
    (o) => o.kind === 'value' && o.value === 1,
  );
}, 120_000);

afterAll(async () => {
  stopLoad = true;
  await loading;
  await client?.close();
  await prometheus?.close();
  await pool?.close();
  await repo?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let last: T;
  for (let i = 0; i < 120; i++) {
    last = await probe();
    if (ok(last)) return last;
    await sleep(250);
  }
  return last!;
}

describe('sandbox metrics on a real Prometheus', () => {
  it('counts requests per namespace, component, version and code', async () => {
    const green500 = await eventually(
      () =>
        client.query(
          'sum(http_requests_total{namespace="my-app-green",component="my-frontend",code="502"})',
        ),
      (o) => o.kind === 'value' && o.value > 0,
    );
    expect(green500).toMatchObject({ kind: 'value' });
    const backend500 = await client.query(
      'sum(http_requests_total{namespace="my-app-green",component="my-backend",version="1.1.0-broken",code="500"})',
    );
    expect(backend500.kind === 'value' && backend500.value).toBeGreaterThan(0);
    const rate = await eventually(
      () => client.query(ERROR_RATE('my-app-green')),
      (o) => o.kind === 'value',
    );
    expect(rate).toEqual({ kind: 'value', value: 1 });
    const blueRate = await eventually(
      () => client.query(ERROR_RATE('my-app-blue')),
      (o) => o.kind === 'value',
    );
    expect(
      blueRate,
      JSON.stringify([
        blueRate,
        await client.query('sum(http_requests_total{namespace="my-app-blue"})'),
      ]),
    ).toEqual({ kind: 'value', value: 0 });
    const p99 = await client.query(
      'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="my-app-blue",component="my-frontend"}[5s])))',
    );
    expect(p99.kind).toBe('value');
  });

  it('gives no data for an empty result and for NaN, never a value', async () => {
    expect(await client.query('sum(http_requests_total{namespace="nowhere"})')).toMatchObject({
      kind: 'no-data',
    });
    expect(await client.query('vector(0) / vector(0)')).toMatchObject({ kind: 'no-data' });
  });

  it('refuses several series where one number is expected', async () => {
    const outcome = await client.query('http_requests_total{component="my-frontend"}');
    expect(outcome.kind).toBe('error');
    expect(outcome.kind === 'error' && outcome.message).toMatch(
      /returned \d+ series where one number is expected/,
    );
  });

  it('reports a bad query (400) and Prometheus down as errors', async () => {
    const bad = await client.query('sum(rate(foo[1m])');
    expect(bad).toMatchObject({ kind: 'error' });
    expect(bad.kind === 'error' && bad.message).toMatch(/answered 400: bad_data/);
    const down = prometheusClient('http://127.0.0.1:9/', { timeoutMs: 2000 });
    const outcome = await down.query('vector(1)');
    await down.close();
    expect(outcome.kind === 'error' && outcome.message).toMatch(/unreachable/);
  });

  it('fails a metric on a failing condition, with the value and the condition', async () => {
    const result = await runMetric(
      {
        name: 'error-rate',
        query:
          '(sum(rate(http_requests_total{namespace="{namespace}",component="my-frontend",code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total{namespace="{namespace}",component="my-frontend"}[5s]))',
        successCondition: 'result < 0.02',
        interval: 10,
        count: 2,
        failureLimit: 0,
        inconclusiveLimit: 0,
        consecutiveErrorLimit: 0,
        onNoData: 'inconclusive',
      },
      {
        client,
        clock: systemClock,
        values: {
          namespace: 'my-app-green',
          colour: 'green',
          stack: 'my-app',
          component: 'my-frontend',
          version: '1.1.0',
        },
      },
    );
    expect(result.phase).toBe('failed');
    expect(result.reason).toBe('analysis error-rate: 1: result < 0.02 is false');
    expect(result.decisive).toMatchObject({ value: 1, condition: 'result < 0.02' });
  });

  it('measures only the release under test with {version}: replaced pods stay in the rate window', async () => {
    // Green answers 502 on every request (its backend is broken). A fixed release replaces
    // its pods: their series are gone from the targets but their samples stay in the window.
    const share = (scoped: boolean) => {
      const of = `namespace="{namespace}",component="{component}"${scoped ? ',version="{version}"' : ''}`;
      return `(sum(rate(http_requests_total{${of},code=~"5.."}[30s])) or vector(0)) / sum(rate(http_requests_total{${of}}[30s]))`;
    };
    const fixed = await repo.renderApp({
      colour: 'green',
      frontendTag: '1.2.0',
      backendTag: '1.2.0',
      replicas: 2,
    });
    view.set([...blue, ...fixed]);
    await pool.whenSettled();
    const frontend = pool.resolve('my-frontend.my-app-green.svc.cluster.local')!;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        await request(frontend, { path: '/' }).catch(() => {});
        await sleep(20);
      }
    })();
    try {
      const m = (scoped: boolean) =>
        metric({
          name: scoped ? 'release' : 'namespace',
          component: 'my-frontend',
          query: share(scoped),
          successCondition: 'result < 0.02',
        });
      // The whole namespace: the replaced pods' 502s are still in the 30 s window.
      const namespace = await gate({
        analysis: [m(false)],
        versions: { 'my-frontend': '1.2.0', 'my-backend': '1.2.0' },
      });
      expect(namespace.result, namespace.reason).toBe('failed');
      // The release under test ({version} of the metric's component): no error at all, once
      // its own pods have been scraped twice.
      const scoped =
        'sum(rate(http_requests_total{namespace="my-app-green",component="my-frontend",version="1.2.0"}[30s]))';
      await eventually(
        () => client.query(scoped),
        (o) => o.kind === 'value' && o.value > 0,
      );
      const release = await gate({
        analysis: [m(true)],
        versions: { 'my-frontend': '1.2.0', 'my-backend': '1.2.0' },
      });
      expect(release.result, release.reason).toBe('passed');
      expect(release.metrics[0]!.query).toContain('version="1.2.0"');
      expect(release.metrics[0]!.measurements[0]).toMatchObject({ value: 0 });
    } finally {
      stop = true;
      await load;
    }
  });

  it('follows the pods: a Deployment scaled to zero leaves the targets', async () => {
    const upGreen = () => client.query('count(up{pod=~"my-app-green/.*"} == 1)');
    expect(await upGreen()).toEqual({ kind: 'value', value: 2 });
    view.set(blue);
    const gone = await eventually(upGreen, (o) => o.kind === 'no-data');
    expect(gone.kind).toBe('no-data');
  });
});

const metric = (over: Partial<AnalysisConfig>): AnalysisConfig => ({
  name: 'm',
  query: 'vector(1)',
  successCondition: 'result < 2.0',
  interval: 100,
  count: 2,
  failureLimit: 0,
  inconclusiveLimit: 0,
  consecutiveErrorLimit: 0,
  onNoData: 'inconclusive',
  ...over,
});

function gate(
  over: Partial<GateRequest>,
): Promise<ReturnType<typeof runGate> extends Promise<infer V> ? V : never> {
  const values = {
    namespace: 'my-app-green',
    colour: 'green',
    stack: 'my-app',
    component: 'my-frontend',
    version: '',
  };
  return runGate({
    phase: 'test',
    checks: [],
    analysis: [],
    target: {
      values,
      ingress: { url: undefined, host: undefined, previewHeader: 'x' },
      preview: true,
      allowed: [],
    },
    values,
    onInconclusive: 'hold',
    deadline: systemClock.now() + 60_000,
    prometheus: client,
    dispatcher: checkDispatcher(),
    clock: systemClock,
    ...over,
  });
}

describe('gates on a real Prometheus: no data, hold, interruption', () => {
  const EMPTY = 'sum(http_requests_total{namespace="nowhere"})';
  const NAN = 'vector(0) / vector(0)';

  it('holds an empty or NaN result until the deadline, then ends inconclusive, not passed', async () => {
    for (const query of [EMPTY, NAN]) {
      const started = Date.now();
      const verdict = await gate({
        analysis: [metric({ query })],
        deadline: systemClock.now() + 1200,
      });
      expect(verdict.result).toBe('inconclusive');
      expect(verdict.held).toBe(true);
      expect(verdict.reason).toMatch(
        /no data: the query returned (no series|NaN).*held until the timeout/,
      );
      // Measured again and again while holding, not once.
      expect(verdict.metrics[0]!.measurements.length).toBeGreaterThan(3);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    }
  });

  it('onInconclusive fail stops at once; pass continues and says so', async () => {
    const failed = await gate({ analysis: [metric({ query: EMPTY })], onInconclusive: 'fail' });
    expect(failed).toMatchObject({ result: 'inconclusive', held: false });
    expect(failed.metrics[0]!.measurements).toHaveLength(1);
    const passed = await gate({ analysis: [metric({ query: NAN })], onInconclusive: 'pass' });
    expect(passed).toMatchObject({ result: 'passed', passedInconclusive: true, metric: 'm' });
  });

  it('onNoData fail and pass are explicit per metric', async () => {
    expect((await gate({ analysis: [metric({ query: EMPTY, onNoData: 'fail' })] })).result).toBe(
      'failed',
    );
    expect((await gate({ analysis: [metric({ query: EMPTY, onNoData: 'pass' })] })).result).toBe(
      'passed',
    );
  });

  it('reports an interrupted window as interrupted, never passed', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 500);
    const verdict = await gate({
      analysis: [metric({ query: 'vector(1)', count: 100 })],
      signal: controller.signal,
    });
    expect(verdict.result).toBe('interrupted');
    expect(verdict.reason).toMatch(/interrupted before it finished: not verified/);
    expect(verdict.metrics[0]!.measurements.length).toBeGreaterThan(0);
    expect(verdict.metrics[0]!.phase).toBe('interrupted');
  });

  it('fails closed when Prometheus is down', async () => {
    const down = prometheusClient('http://127.0.0.1:9/', { timeoutMs: 1000 });
    const verdict = await gate({
      analysis: [metric({ consecutiveErrorLimit: 1 })],
      prometheus: down,
    });
    await down.close();
    expect(verdict.result).toBe('failed');
    expect(verdict.reason).toMatch(/unreachable.*failing closed/);
    expect(verdict.metrics[0]!.measurements).toHaveLength(2);
  });
});

describe('a minimum request count on a real Prometheus (minRequests)', () => {
  // Blue keeps its steady traffic for the whole file and answers no error.
  const blueValues = {
    namespace: 'my-app-blue',
    colour: 'blue',
    stack: 'my-app',
    component: 'my-frontend',
    version: '',
  };
  const errorRate = (count: number, namespace = '{namespace}') =>
    metric({
      name: 'error-rate',
      query: ERROR_RATE('{namespace}'),
      successCondition: 'result < 0.02',
      count: 1,
      minRequests: {
        count,
        query: `sum(increase(http_requests_total{namespace="${namespace}",component="{component}"}[5s]))`,
      },
    });

  it('judges a measurement once the colour answered enough requests in the window', async () => {
    const verdict = await gate({
      analysis: [errorRate(1)],
      values: blueValues,
      onInconclusive: 'fail',
    });
    expect(verdict.result, verdict.reason).toBe('passed');
    expect(verdict.metrics[0]!.measurements[0]).toMatchObject({ phase: 'successful', value: 0 });
  });

  it('makes a measurement that would pass inconclusive when too few requests were seen', async () => {
    const verdict = await gate({
      analysis: [errorRate(1_000_000_000)],
      values: blueValues,
      onInconclusive: 'fail',
    });
    expect(verdict.result).toBe('inconclusive');
    const m = verdict.metrics[0]!.measurements[0]!;
    expect(m).toMatchObject({ phase: 'inconclusive', value: 0 });
    // The real count of the window is reported, with the minimum it fell short of.
    const seen = Number(/only (\d+(?:\.\d+)?) request\(s\)/.exec(m.detail)?.[1]);
    expect(seen).toBeGreaterThan(0);
    expect(m.detail).toMatch(/fewer than minRequests 1000000000: not enough evidence to judge/);
  });

  it('counts an idle colour (no series at all) as zero requests: inconclusive, and held', async () => {
    const verdict = await gate({
      analysis: [errorRate(1, 'idle-namespace')],
      values: blueValues,
      deadline: systemClock.now() + 1000,
    });
    expect(verdict).toMatchObject({ result: 'inconclusive', held: true });
    expect(verdict.reason).toMatch(/only 0 request\(s\) in the window, fewer than minRequests 1/);
  });

  it('fails closed when the request count query errors', async () => {
    const verdict = await gate({
      analysis: [
        metric({
          consecutiveErrorLimit: 0,
          minRequests: { count: 1, query: 'http_requests_total' },
        }),
      ],
      values: blueValues,
    });
    expect(verdict.result).toBe('failed');
    expect(verdict.reason).toMatch(/request count: .*series where one number is expected/);
  });
});
