/**
 * Load through the gateway while the cluster view changes: the whole-stack swap (the
 * VirtualService flipping between two complete colours) fails nothing and mixes nothing; a
 * rolling update of the components of one colour, one at a time, serves mixed versions.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RenderedObject } from '../../../src/helm/render.ts';
import { StaticClusterView } from '../../../src/sandbox/traffic/cluster-view.ts';
import { startLoad, type LoadRun } from '../../../src/sandbox/traffic/load.ts';
import { withImageTag } from '../../../src/sandbox/traffic/object-edits.ts';
import { formatLoadReport, type LoadReport } from '../../../src/sandbox/traffic/tally.ts';
import { startSandboxTraffic, type SandboxTraffic } from '../../../src/sandbox/traffic/traffic.ts';
import { copyExampleRepo, ofKind, type ExampleRepo } from './rendered-stack.ts';

const HOST = 'my-app.example.com';

let repo: ExampleRepo;
let blue: RenderedObject[];
let blueNext: RenderedObject[];
let green: RenderedObject[];
let greenBadBackend: RenderedObject[];
let liveBlue: RenderedObject[];
let liveBlue10: RenderedObject[];
let liveBlue50: RenderedObject[];
let liveGreen: RenderedObject[];

beforeAll(async () => {
  repo = await copyExampleRepo();
  [blue, blueNext, green, greenBadBackend, liveBlue, liveBlue10, liveBlue50, liveGreen] =
    await Promise.all([
      repo.renderApp({ colour: 'blue', frontendTag: '1.0.0', backendTag: '1.0.0', replicas: 2 }),
      repo.renderApp({ colour: 'blue', frontendTag: '1.1.0', backendTag: '1.1.0', replicas: 2 }),
      repo.renderApp({ colour: 'green', frontendTag: '1.1.0', backendTag: '1.1.0', replicas: 2 }),
      repo.renderApp({
        colour: 'green',
        frontendTag: '1.1.0',
        backendTag: '1.1.0-bad',
        replicas: 2,
      }),
      repo.renderIngress({ live: 'blue' }),
      repo.renderIngress({ live: 'blue', previewWeight: 10 }),
      repo.renderIngress({ live: 'blue', previewWeight: 50 }),
      repo.renderIngress({ live: 'green' }),
    ]);
});
afterAll(() => repo.remove());

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scenario(objects: RenderedObject[], latencyMs = 1) {
  const view = new StaticClusterView(objects);
  const traffic: SandboxTraffic = await startSandboxTraffic(view, { backends: { latencyMs } });
  cleanups.push(() => traffic.close());
  return { view, traffic };
}

function load(
  traffic: SandboxTraffic,
  options: Partial<Parameters<typeof startLoad>[0]> = {},
): LoadRun {
  const run = startLoad({ target: traffic.url, host: HOST, maxDurationMs: 20_000, ...options });
  cleanups.push(() => run.stop());
  return run;
}

const phase = (report: LoadReport, name: string) => report.phases.find((p) => p.phase === name);
/** Waits until `count` more answers than now have been tallied in the current phase. */
async function more(run: LoadRun, count: number): Promise<LoadReport> {
  const start = phase(run.report(), run.phase)?.total ?? 0;
  return run.until((r) => (phase(r, run.phase)?.total ?? 0) >= start + count);
}
const servedRows = (report: LoadReport, name: string) =>
  phase(report, name)!.served.map((s) => [s.colour, s.frontendVersion, s.backendVersion]);

describe('load through the sandbox', () => {
  it('a whole-stack swap in weighted steps and a revert: no failed and no mixed answers', async () => {
    const { view, traffic } = await scenario([...blue, ...green, ...liveBlue]);
    const run = load(traffic, { phase: 'deploy' });
    await more(run, 60);
    await run.setPhase('swap');
    for (const step of [liveBlue10, liveBlue50, liveGreen]) {
      view.apply(step);
      await more(run, 80);
    }
    await run.setPhase('revert');
    view.apply(liveBlue);
    await more(run, 60);
    const report = await run.stop();

    expect(report.failed).toBe(0);
    expect(report.mixed).toBe(0);
    expect(report.total).toBeGreaterThanOrEqual(360);
    expect(servedRows(report, 'deploy')).toEqual([['blue', '1.0.0', '1.0.0']]);
    expect(servedRows(report, 'swap')).toEqual(
      expect.arrayContaining([
        ['blue', '1.0.0', '1.0.0'],
        ['green', '1.1.0', '1.1.0'],
      ]),
    );
    expect(servedRows(report, 'swap')).toHaveLength(2);
    expect(servedRows(report, 'revert')).toEqual(
      expect.arrayContaining([['blue', '1.0.0', '1.0.0']]),
    );
    const text = formatLoadReport(report);
    expect(text).toMatch(/^PHASE +REQUESTS +FAILED +MIXED$/m);
    expect(text).toMatch(/^swap +\d+ +0 +0$/m);
  });

  it('a rolling update of one colour, component by component, serves mixed answers', async () => {
    const { view, traffic } = await scenario([...blue, ...liveBlue]);
    const run = load(traffic, { phase: 'before' });
    await more(run, 50);
    // Requests sent before the switch are answered before anything changes.
    await run.setPhase('rolling');
    view.apply([ofKind(blueNext, 'Deployment', 'my-backend')]);
    await run.until((r) => (phase(r, 'rolling')?.mixed ?? 0) >= 20);
    view.apply([ofKind(blueNext, 'Deployment', 'my-frontend')]);
    await traffic.pool.whenSettled();
    await run.setPhase('after');
    await more(run, 50);
    const report = await run.stop();

    expect(report.failed).toBe(0);
    const rolling = phase(report, 'rolling')!;
    expect(rolling.mixed).toBeGreaterThan(0);
    expect(rolling.served).toContainEqual(
      expect.objectContaining({
        colour: 'blue',
        frontendVersion: '1.0.0',
        backendVersion: '1.1.0',
        mixed: true,
      }),
    );
    expect(phase(report, 'before')!.mixed).toBe(0);
    expect(phase(report, 'after')!.mixed).toBe(0);
    expect(servedRows(report, 'after')).toEqual([['blue', '1.1.0', '1.1.0']]);
    expect(formatLoadReport(report)).toMatch(/^ {2}blue +1\.0\.0 +1\.1\.0 +\d+ +yes$/m);
  });

  it('hands image changes of the entry point over under load without failed requests', async () => {
    const { view, traffic } = await scenario([...blue, ...liveBlue], 3);
    const run = load(traffic, { phase: 'handover', concurrency: 16 });
    await more(run, 50);
    for (const tag of ['1.0.1', '1.0.2', '1.0.3']) {
      view.update(
        { kind: 'Deployment', namespace: 'my-app-blue', name: 'my-frontend' },
        withImageTag(tag),
      );
      await traffic.pool.whenSettled();
      await more(run, 50);
    }
    const report = await run.stop();
    await traffic.pool.whenDrained();

    expect(report.failed).toBe(0);
    const versions = phase(report, 'handover')!.served.map((s) => s.frontendVersion);
    expect(versions).toEqual(['1.0.0', '1.0.1', '1.0.2', '1.0.3']);
    expect(traffic.pool.backends().map((b) => b.version)).toEqual(['1.0.0', '1.0.3']);
  });

  it('sends preview traffic to the preview colour and counts a faulty backend as failures', async () => {
    const { view, traffic } = await scenario([...blue, ...green, ...liveBlue]);
    const preview = load(traffic, { preview: true, phase: 'preview', maxRequests: 60 });
    const ok = await preview.done;
    expect(ok.ended).toBe('max-requests');
    expect(ok.total).toBe(60);
    expect(servedRows(ok, 'preview')).toEqual([['green', '1.1.0', '1.1.0']]);

    view.apply(greenBadBackend);
    await traffic.pool.whenSettled();
    const bad = await load(traffic, { preview: true, phase: 'preview', maxRequests: 40 }).done;
    expect(bad.failed).toBe(40);
    expect(phase(bad, 'preview')!.failures).toEqual({ 'HTTP 502': 40 });
    expect(formatLoadReport(bad)).toContain('  failed: HTTP 502 x 40');
  });

  it('counts 503s when the live colour has no running servers', async () => {
    const { traffic } = await scenario([...blue, ...liveGreen]);
    const report = await load(traffic, { maxRequests: 30 }).done;
    expect(report.failed).toBe(30);
    expect(report.phases[0]!.failures).toEqual({ 'HTTP 503': 30 });
  });
});

describe('load generator bounds', () => {
  it('stops by itself after its maximum duration (injected clock)', async () => {
    const { traffic } = await scenario([...blue, ...liveBlue]);
    let now = 0;
    const run = load(traffic, { now: () => now, maxDurationMs: 1_000 });
    await more(run, 10);
    now = 1_000;
    const report = await run.done;
    expect(report.ended).toBe('max-duration');
    expect(report.failed).toBe(0);
  });

  it('paces requests to the rate cap (injected sleep)', async () => {
    const { traffic } = await scenario([...blue, ...liveBlue]);
    const sleeps: number[] = [];
    const report = await load(traffic, {
      concurrency: 1,
      ratePerSecond: 100,
      maxRequests: 5,
      now: () => 0,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    }).done;
    expect(report.total).toBe(5);
    expect(sleeps).toEqual([10, 20, 30, 40]);
  });

  it('until() rejects with a timeout when the condition never holds', async () => {
    const { traffic } = await scenario([...blue, ...liveBlue]);
    const run = load(traffic);
    await expect(run.until(() => false, 50)).rejects.toMatchObject({ code: 'timeout' });
  });
});

describe('formatLoadReport', () => {
  it('prints totals per phase, then what served each phase and its failures', () => {
    const report: LoadReport = {
      total: 7,
      failed: 1,
      mixed: 2,
      durationMs: 1_250,
      ended: 'stopped',
      phases: [
        {
          phase: 'rolling',
          total: 7,
          succeeded: 6,
          failed: 1,
          mixed: 2,
          failures: { 'HTTP 503': 1 },
          served: [
            {
              colour: 'blue',
              frontendVersion: '1.0.0',
              backendColour: 'blue',
              backendVersion: '1.0.0',
              mixed: false,
              count: 4,
            },
            {
              colour: 'blue',
              frontendVersion: '1.0.0',
              backendColour: 'green',
              backendVersion: '1.1.0',
              mixed: true,
              count: 2,
            },
          ],
        },
      ],
    };
    expect(formatLoadReport(report)).toBe(
      [
        'PHASE    REQUESTS  FAILED  MIXED',
        'rolling         7       1      2',
        'total           7       1      2',
        '(1.3 s, stopped)',
        '',
        'rolling:',
        '  COLOUR      FRONTEND  BACKEND  SERVED  MIXED',
        '  blue        1.0.0     1.0.0         4',
        '  blue/green  1.0.0     1.1.0         2  yes',
        '  failed: HTTP 503 x 1',
      ].join('\n'),
    );
  });
});
