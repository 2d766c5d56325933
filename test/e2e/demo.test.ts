/**
 * `npm start` in-process: the whole-stack cycle under load through the real CLI on the sandbox,
 * then a rolling update of the live colour under the same load. Whole-stack phases must serve
 * every request from one release; the rolling update must show mixed responses.
 */
import { describe, expect, it } from 'vitest';
import { runDemo, type DemoPhase } from '../../src/demo/run-demo.ts';

const total = (phases: DemoPhase[]) => phases.reduce((n, p) => n + p.live.total, 0);

describe('npm start demo', () => {
  it('swaps whole stacks with no failed or mixed response; a rolling update mixes', async () => {
    const lines: string[] = [];
    const { exitCode, report, sandbox } = await runDemo({ write: (line) => lines.push(line) });
    const output = lines.join('\n');

    expect(exitCode, output).toBe(0);
    expect(sandbox).toBeUndefined();
    expect(
      report.steps.filter((s) => !s.ok),
      output,
    ).toEqual([]);

    const wholeStack = report.phases.filter((p) => p.kind === 'whole-stack');
    expect(wholeStack.map((p) => p.operation)).toEqual([
      'init',
      'deploy',
      'swap',
      'revert',
      'deploy',
      'swap',
      'scale-down',
    ]);
    for (const phase of wholeStack) {
      expect(phase.live.failed, `${phase.name}: ${JSON.stringify(phase.live.failures)}`).toBe(0);
      expect(phase.live.mixed, phase.name).toBe(0);
    }

    // The switches happened under load: plenty of requests, served by both colours.
    const switches = wholeStack.filter((p) => p.operation === 'swap' || p.operation === 'revert');
    expect(total(switches)).toBeGreaterThanOrEqual(2000);
    for (const phase of switches) {
      expect(new Set(phase.live.served.map((s) => s.colour)), phase.name).toEqual(
        new Set(['blue', 'green']),
      );
    }

    const rolling = report.phases.filter((p) => p.kind === 'rolling');
    expect(rolling.map((p) => p.name)).toEqual(['rolling']);
    expect(rolling[0]!.live.mixed).toBeGreaterThan(0);
    // Mixed means the new backend behind the old frontend, in the live colour.
    expect(rolling[0]!.live.served).toContainEqual(
      expect.objectContaining({ frontendVersion: '1.2.0', backendVersion: '1.3.0', mixed: true }),
    );

    // The bad release (Healthy in Argo CD, failing a share of requests) is caught by the real
    // Prometheus analysis at the first weighted step: what it cost is bounded by that step.
    const bad = report.badRelease;
    expect(bad, output).toBeDefined();
    expect(bad!.caughtBy).toBe('analysis');
    expect(bad!.stepPercent).toBeGreaterThan(0);
    expect(bad!.failed).toBeGreaterThan(0);
    expect(bad!.failed).toBeLessThanOrEqual((bad!.stepPercent / 100) * bad!.requests);
    expect(output).toMatch(/exit 9: stopped at step \d+%/);

    expect(report.verdict).toMatchObject({ ok: true, problems: [] });
    expect(output).toContain(report.verdict.line);
    expect(output).toMatch(/^verdict: OK/m);
  }, 300_000);

  it('fails and prints the CLI error when a step fails', async () => {
    const lines: string[] = [];
    const { exitCode, report } = await runDemo({
      write: (line) => lines.push(line),
      // Not an image tag: deploy refuses it before changing anything.
      versions: { first: '1.1.0 beta', second: '1.2.0', rolling: '1.3.0' },
      minRequestsPerSwitch: 100,
    });
    const output = lines.join('\n');

    expect(exitCode, output).toBe(1);
    expect(report.steps.at(-1)).toMatchObject({
      label: 'deploy 1.1.0 beta',
      ok: false,
      exitCode: 2,
    });
    expect(output).toMatch(/deploy 1\.1\.0 beta \.+ FAILED \(exit 2\)/);
    expect(output).toContain('not a valid OCI image tag');
    expect(report.phases.map((p) => p.name)).toEqual(['init', 'deploy 1.1.0 beta']);
    expect(report.verdict.ok).toBe(false);
    expect(output).toMatch(/^verdict: FAILED: step "deploy 1\.1\.0 beta" failed \(exit 2\)/m);
  }, 60_000);

  it('counts failed live requests against the whole-stack verdict', async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    // The sandbox backends answer 500 for versions matching /fail|bad/; the stand-in still
    // reports them Healthy, so the swap goes through and live requests fail until the revert.
    // The run is cut short once the revert is done.
    const { exitCode, report } = await runDemo({
      write: (line) => {
        lines.push(line);
        if (/\] revert \.+ ok/.test(line)) stop.abort();
      },
      versions: { first: '1.1.0-bad', second: '1.2.0', rolling: '1.3.0' },
      minRequestsPerSwitch: 200,
      signal: stop.signal,
      // Without the verification gates (the bad-release phase is left out): the swap must go
      // through for the verdict to see the failed requests.
      badVersion: false,
    });
    const output = lines.join('\n');

    expect(exitCode, output).toBe(130);
    expect(report.interrupted).toBe(true);
    expect(report.phases.map((p) => p.name)).toEqual([
      'init',
      'deploy 1.1.0-bad',
      'swap 1.1.0-bad',
      'revert',
    ]);
    // The swap phase lasts 200 requests past the swap: those all reach the faulty release.
    const swap = report.phases[2]!;
    expect(swap.live.failures['HTTP 500'], output).toBeGreaterThan(100);
    const failed = report.phases.reduce((n, p) => n + p.live.failed, 0);
    expect(report.verdict.wholeStack.failed).toBe(failed);
    expect(report.verdict.ok).toBe(false);
    expect(report.verdict.problems).toContain(`${failed} whole-stack requests failed`);
    expect(output).toMatch(/^whole-stack swap: [1-9]\d* failed, 0 mixed/m);
    expect(output).toMatch(/^verdict: INTERRUPTED/m);
  }, 60_000);
});
