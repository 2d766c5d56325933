/**
 * `npm start`: the whole blue/green cycle on the embedded sandbox under steady load, through
 * the real CLI, then the same stack updated the rolling way, and what the load saw in each.
 *
 * The sandbox is started with traffic (backends for the applied Deployments, a gateway routing
 * by the applied VirtualService) and brought to its deployed start state; then live load runs
 * through the gateway for the rest of the run, labelled with the current phase. Every phase
 * lasts until `settleRequests` were tallied after its last step (so it shows the state the step
 * left), and a swap or revert until it has `minRequestsPerSwitch` requests in all (so each
 * switch is measured over many requests before, during and after it).
 */
import { TimeoutError } from '../shared/errors.ts';
import { PROJECT_ROOT, startSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { findPrometheus } from '../sandbox/prometheus.ts';
import { startLoad, type LoadRun } from '../sandbox/traffic/load.ts';
import type { LoadReport, PhaseTally } from '../sandbox/traffic/tally.ts';
import { CliRunner, DemoClock } from './cli-runner.ts';
import { formatPhaseTable, indent, seconds, stepLine } from './report.ts';
import {
  HOST,
  SETUP_STEP,
  demoPhases,
  type DemoOperation,
  type PhaseSpec,
  type ScenarioState,
  type StepSpec,
} from './scenario.ts';
import { judge, type DemoVerdict } from './verdict.ts';
import { notificationLines, startDemoReceiver, withDemoNotifications } from './notify-receiver.ts';

export interface DemoOptions {
  /** Receives each output line (without its newline). Default: process.stdout. */
  write?: (line: string) => void;
  /** Leave the sandbox running: the result then holds it, and the caller closes it. */
  keep?: boolean;
  /** Also print the CLI's progress lines (its stderr) under each step. */
  verbose?: boolean;
  /** How long a changed Deployment stays Progressing in the stand-in. Default 500 ms. */
  progressingMs?: number;
  /** Live requests in flight at once. Default 8. */
  concurrency?: number;
  /**
   * Also send this many requests per second with the preview header (they reach the idle
   * colour), tallied and printed apart, outside the verdict. Default 0: none.
   */
  previewRatePerSecond?: number;
  /** Each swap and revert phase lasts until it has this many live requests. Default 1000. */
  minRequestsPerSwitch?: number;
  /** Every phase lasts until this many live requests were sent after its last step. Default 200. */
  settleRequests?: number;
  /** Longest wait for that minimum after a phase's CLI steps. Default 30 s. */
  holdTimeoutMs?: number;
  /** `--timeout` of every CLI call, in seconds. Default 60. */
  cliTimeoutSeconds?: number;
  /** The two release plans and the rolling update's version. */
  versions?: { first: string; second: string; rolling: string };
  /** Stops the run before its next step. */
  signal?: AbortSignal;
  /** The bad release (issue 11); `false` leaves the phase out. Default `1.3.0-flaky`. */
  badVersion?: string | false;
  /** Its share of failed requests. Default 0.3. */
  badErrorShare?: number;
}

export interface DemoStep {
  phase: string;
  label: string;
  calls: string[][];
  ok: boolean;
  /** The first failing call's exit code, else 0. */
  exitCode: number;
  /** Since the demo started. */
  startedAtMs: number;
  durationMs: number;
  detail: string;
  /** The CLI's stderr (progress lines; the error on failure). */
  stderr: string;
}

export interface DemoPhase {
  name: string;
  kind: 'whole-stack' | 'rolling' | 'bad-release';
  operation: DemoOperation;
  /** What the live load saw while this phase was current. */
  live: PhaseTally;
  /** What the preview-header load saw (undefined without a preview load). */
  preview: PhaseTally | undefined;
}

export interface DemoReport {
  steps: DemoStep[];
  /** The phases that ran, in order. */
  phases: DemoPhase[];
  live: LoadReport | undefined;
  preview: LoadReport | undefined;
  verdict: DemoVerdict;
  interrupted: boolean;
  durationMs: number;
  /** The bad release's cost and how fast it was taken back (undefined without the phase). */
  badRelease?: BadReleaseReport;
  /** What the demo's signed-webhook receiver accepted, one line each (issue 13). */
  notifications: { lines: string[]; refused: number; duplicates: number };
}

export interface BadReleaseReport {
  phase: string;
  caughtBy: 'analysis' | 'checks';
  /** Its first step's share of traffic (analysis) or 0 (checks: before any user traffic). */
  stepPercent: number;
  requests: number;
  failed: number;
  /** First failed user response to the last one (traffic back on the good colour). */
  firstToLastErrorMs: number | undefined;
}

export interface DemoResult {
  /** 0: every step succeeded, whole-stack phases 0 failed and 0 mixed, rolling mixed > 0. */
  exitCode: number;
  report: DemoReport;
  /** The running sandbox, only with `keep`. */
  sandbox: Sandbox | undefined;
}

const DEFAULT_VERSIONS = { first: '1.1.0', second: '1.2.0', rolling: '1.3.0' };

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const progressingMs = options.progressingMs ?? 500;
  const concurrency = options.concurrency ?? 8;
  const previewRate = options.previewRatePerSecond ?? 0;
  const minRequests = options.minRequestsPerSwitch ?? 1000;
  const settleRequests = options.settleRequests ?? 200;
  const startedAt = Date.now();
  const elapsed = () => Date.now() - startedAt;

  write('stackswap demo: whole-stack blue/green vs. a rolling update, on the embedded sandbox');
  const badVersion = options.badVersion === undefined ? '1.3.0-flaky' : options.badVersion;
  const analysis = badVersion !== false && findPrometheus() !== undefined;
  // Every stack notifies a local signed-webhook receiver of every event (issue 13).
  const receiver = await startDemoReceiver();
  const source = await withDemoNotifications(PROJECT_ROOT);
  const sandbox = await startSandbox({
    sourceDir: source.dir,
    traffic: {
      backends: {
        // With Prometheus: fails a share of user requests but not its health check (only real
        // traffic shows it); without: answers 500 everywhere (the checks catch it).
        faults: badVersion
          ? [
              analysis
                ? {
                    version: /flaky/,
                    // The frontend's own requests only: its health check still answers 200.
                    component: 'my-frontend',
                    errorShare: options.badErrorShare ?? 0.3,
                    paths: /^\/(?!healthz)/,
                  }
                : { version: /flaky/, errorShare: 1 },
            ]
          : [],
      },
    },
    verification: badVersion !== false,
    prometheus: analysis ? true : false,
    // Real-install reconciliation timing (120 s + jitter): the CLI refreshes after each push,
    // as it does against a real Argo CD, so nothing waits for the periodic reconcile.
    argocd: { progressingMs },
  });
  if (badVersion !== false) {
    write(
      sandbox.prometheus
        ? `prometheus: ${sandbox.prometheus.url.href} (scrapes every pod each second: metric analysis on)`
        : 'prometheus: not installed (apt-get install prometheus): metric analysis is unavailable; the pre-swap checks guard the swaps',
    );
  }
  const badErrors: { first?: number; last?: number } = {};
  write(
    stepLine(0, 'sandbox', {
      ok: true,
      durationMs: elapsed(),
      detail: `config repo, Argo CD stand-in (helm; rollouts progress ${progressingMs} ms), gateway`,
    }),
  );

  const clock = new DemoClock();
  await source.remove();
  const cli = new CliRunner({
    env: { ...sandbox.env, ...receiver.env },
    clock,
    timeoutSeconds: options.cliTimeoutSeconds ?? 60,
  });
  const state: ScenarioState = { live: 'blue' };
  const steps: DemoStep[] = [];
  const started: PhaseSpec[] = [];
  const phases = demoPhases(
    options.versions ?? DEFAULT_VERSIONS,
    badVersion ? { version: badVersion, analysis, firstStep: 10 } : undefined,
  );
  const badPhase = phases.find((p) => p.kind === 'bad-release');
  let live: LoadRun | undefined;
  let preview: LoadRun | undefined;
  let failed: DemoStep | undefined;
  let interrupted = false;

  const runStep = async (spec: StepSpec, phase: string): Promise<DemoStep> => {
    if (spec.advanceClockMs) clock.advance(spec.advanceClockMs);
    const startedAtMs = elapsed();
    const results: unknown[] = [];
    let exitCode = 0;
    let stderr = '';
    for (const argv of spec.calls) {
      const call = await cli.call(argv);
      stderr += call.stderr;
      if (call.exitCode !== 0) {
        exitCode = call.exitCode;
        break;
      }
      results.push(call.result);
    }
    const ok = exitCode === (spec.expectExit ?? 0);
    const step: DemoStep = {
      phase,
      label: spec.label,
      calls: spec.calls,
      ok,
      exitCode,
      startedAtMs,
      durationMs: elapsed() - startedAtMs,
      detail: ok
        ? spec.expectExit
          ? `exit ${exitCode}: ${stoppedLine(stderr)}`
          : spec.describe(results, state)
        : '',
      stderr,
    };
    steps.push(step);
    // Ctrl-C also reaches the CLI's git and helm children, so a step it cut short failed for
    // that reason alone: say so instead of showing the error.
    const cut = !ok && options.signal?.aborted === true;
    write(stepLine(startedAtMs, spec.label, { ...step, ...(cut ? { mark: 'interrupted' } : {}) }));
    if ((options.verbose || (!ok && !cut)) && stderr.trim()) write(indent(stderr));
    return step;
  };

  /** Keeps the phase going until it has the requests it needs (see the file comment). */
  const hold = async (load: LoadRun, phase: PhaseSpec) => {
    const count = (r: LoadReport) => r.phases.find((p) => p.phase === phase.name)?.total ?? 0;
    const target = Math.max(
      phase.switchesTraffic ? minRequests : 0,
      count(load.report()) + settleRequests,
    );
    try {
      await load.until((r) => count(r) >= target, options.holdTimeoutMs ?? 30_000);
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      write(
        `         (${phase.name}: only ${count(load.report())} requests, fewer than ${target})`,
      );
    }
  };

  try {
    const setup = await runStep(SETUP_STEP, 'setup');
    if (options.signal?.aborted) interrupted = true;
    else if (!setup.ok) failed = setup;
    else {
      live = startLoad({
        target: sandbox.traffic!.url,
        host: HOST,
        concurrency,
        phase: phases[0]!.name,
        maxDurationMs: 30 * 60_000,
        maxRequests: Number.MAX_SAFE_INTEGER,
        onOutcome: (phase, outcome) => {
          if (phase !== badPhase?.name) return;
          if (outcome.kind === 'served' && outcome.status < 400) return;
          const at = Date.now();
          badErrors.first ??= at;
          badErrors.last = at;
        },
      });
      if (previewRate > 0) {
        preview = startLoad({
          target: sandbox.traffic!.url,
          host: HOST,
          preview: true,
          concurrency: 2,
          ratePerSecond: previewRate,
          phase: phases[0]!.name,
          maxDurationMs: 30 * 60_000,
          maxRequests: Number.MAX_SAFE_INTEGER,
        });
      }
      write(
        `load: ${concurrency} workers through the gateway (Host: ${HOST})` +
          (preview ? ` + ${previewRate}/s with x-stackswap-preview: true` : '') +
          `; swap and revert phases last >= ${minRequests} requests`,
      );
      phases: for (const phase of phases) {
        if (options.signal?.aborted) {
          interrupted = true;
          break;
        }
        if (started.length > 0) {
          // Resolves once the previous phase's requests are answered, so they count there.
          await Promise.all([live.setPhase(phase.name), preview?.setPhase(phase.name)]);
        }
        started.push(phase);
        if (phase.intro) write(phase.intro);
        for (const spec of phase.steps(state)) {
          const step = await runStep(spec, phase.name);
          if (options.signal?.aborted) {
            interrupted = true;
            break phases;
          }
          if (!step.ok) {
            failed = step;
            break phases;
          }
        }
        await hold(live, phase);
      }
    }
    const liveReport = await live?.stop();
    const previewReport = await preview?.stop();
    const ranPhases = started.map((p) => ({
      name: p.name,
      kind: p.kind,
      operation: p.operation,
      live: tallyOf(liveReport, p.name),
      preview: previewReport ? tallyOf(previewReport, p.name) : undefined,
    }));
    const verdict = judge(
      ranPhases,
      failed ? { label: failed.label, exitCode: failed.exitCode } : undefined,
    );
    const badTally = ranPhases.find((p) => p.kind === 'bad-release');
    const badRelease: BadReleaseReport | undefined = badTally && {
      phase: badTally.name,
      caughtBy: analysis ? 'analysis' : 'checks',
      stepPercent: analysis ? 10 : 0,
      requests: badTally.live.total,
      failed: badTally.live.failed,
      firstToLastErrorMs:
        badErrors.first !== undefined ? badErrors.last! - badErrors.first : undefined,
    };
    if (badRelease) checkBadRelease(badRelease, verdict);
    const report: DemoReport = {
      steps,
      phases: ranPhases,
      live: liveReport,
      preview: previewReport,
      verdict,
      interrupted,
      durationMs: elapsed(),
      ...(badRelease ? { badRelease } : {}),
      notifications: {
        lines: notificationLines(receiver.received),
        refused: receiver.refused,
        duplicates: receiver.duplicates,
      },
    };
    printSummary(write, report, { concurrency, previewRate });
    const exitCode = interrupted ? 130 : verdict.ok ? 0 : 1;
    return { exitCode, report, sandbox: options.keep ? sandbox : undefined };
  } catch (error) {
    await Promise.all([live?.stop(), preview?.stop()]);
    // Nobody gets a handle on the sandbox after an error, not even with `keep`.
    if (options.keep) await sandbox.close();
    throw error;
  } finally {
    await receiver.close();
    if (!options.keep) await sandbox.close();
  }
}

/** The first line of the CLI's error: why verification stopped the release. */
function stoppedLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => /verification failed/.test(l)) ?? '';
  return line
    .replace(/^.*?verification failed at /, 'stopped at ')
    .replace(/; the swap to \w+ was stopped at \d+%: /, '; ')
    .replace(/ \(commit [0-9a-f]+\)/, '')
    .slice(0, 200);
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${((100 * part) / whole).toFixed(1)}%`;
}

/** The bad release may cost failed responses only within its step's share, and only then. */
function checkBadRelease(bad: BadReleaseReport, verdict: DemoVerdict): void {
  const bound = (bad.stepPercent / 100) * bad.requests;
  if (bad.failed > bound) {
    verdict.problems.push(
      `the bad release cost ${bad.failed} failed requests, more than its ${bad.stepPercent}% step bounds (${Math.floor(bound)})`,
    );
    verdict.ok = false;
  }
}

function tallyOf(report: LoadReport | undefined, phase: string): PhaseTally {
  return (
    report?.phases.find((p) => p.phase === phase) ?? {
      phase,
      total: 0,
      succeeded: 0,
      failed: 0,
      mixed: 0,
      failures: {},
      served: [],
    }
  );
}

function printSummary(
  write: (line: string) => void,
  report: DemoReport,
  load: { concurrency: number; previewRate: number },
): void {
  if (report.phases.length > 0) {
    write('');
    write(`live traffic (${load.concurrency} workers, Host: ${HOST}), per phase:`);
    write(formatPhaseTable(report.phases.map((p) => p.live)));
    if (report.preview) {
      write('');
      write(
        `preview traffic (${load.previewRate}/s, x-stackswap-preview: true): the idle colour, ` +
          'for checks before a swap; 503 while it has 0 replicas; not part of the verdict',
      );
      const previews = report.phases.flatMap((p) => (p.preview ? [p.preview] : []));
      write(formatPhaseTable(previews, { total: false }));
    }
  }
  const { notifications } = report;
  write('');
  write(
    `notifications received by the demo's webhook receiver (signatures verified; ${notifications.refused} refused, ${notifications.duplicates} duplicates dropped):`,
  );
  for (const line of notifications.lines) write(line);
  if (notifications.lines.length === 0) write('  (none)');
  write('');
  write(report.verdict.line);
  const bad = report.badRelease;
  if (bad) {
    write(
      bad.caughtBy === 'analysis'
        ? `bad release (${bad.phase}, counted apart): caught by the analysis at the ${bad.stepPercent}% step, weight back to 0; it cost ${bad.failed} failed of ${bad.requests} requests (${percent(bad.failed, bad.requests)}, bounded by the step's ${bad.stepPercent}%); first error to traffic back on the good colour: ${bad.firstToLastErrorMs === undefined ? '-' : seconds(bad.firstToLastErrorMs)}`
        : `bad release (${bad.phase}, counted apart): caught by the pre-swap checks before any user traffic: ${bad.failed} failed of ${bad.requests} requests`,
    );
  }
  const outcome = report.interrupted
    ? 'INTERRUPTED'
    : report.verdict.ok
      ? 'OK'
      : `FAILED: ${report.verdict.problems.join('; ')}`;
  write(`verdict: ${outcome} (total ${seconds(report.durationMs)})`);
}
