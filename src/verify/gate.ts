/**
 * A verification phase (pre-swap, a weighted step, the post-swap window, or `stackswap
 * verify`): the selected checks and metrics run side by side and give one verdict.
 *
 * Verdicts: `passed`, `failed` (a check failed, a metric failed or errored: Prometheus down
 * fails closed), `inconclusive` (no evidence either way), `interrupted` (the run was stopped:
 * never reported as passed). `onInconclusive`:
 * - `hold` (default): the inconclusive metrics are measured again until they give a verdict or
 *   the deadline (the operation's --timeout) passes; a hold that times out ends `inconclusive`
 *   with `held: true`, and the caller stops the release as it would on a failure;
 * - `fail`: inconclusive stops the release at once;
 * - `pass`: inconclusive counts as passed, and the verdict says so (`passedInconclusive`).
 */
import type { Dispatcher } from 'undici';
import type {
  AnalysisConfig,
  CheckConfig,
  VerificationConfigFile,
} from '../config/verification-config.ts';
import { runMetric, type Measurement, type MetricResult } from './analysis.ts';
import type { VerifyClock } from './clock.ts';
import { runCheck, type AttemptResult, type CheckResult, type CheckTarget } from './http-check.ts';
import type { PrometheusClient } from './prometheus-client.ts';
import { withComponent, type TemplateValues } from './template.ts';

export type GateResult = 'passed' | 'failed' | 'inconclusive' | 'interrupted';

export interface GateVerdict {
  phase: string;
  result: GateResult;
  /** One line: which check or metric, which value, which condition. */
  reason?: string;
  metric?: string;
  value?: number;
  condition?: string;
  held?: boolean;
  passedInconclusive?: boolean;
  checks: CheckResult[];
  metrics: MetricResult[];
  startedAt: number;
  endedAt: number;
}

export interface GateEvent {
  phase: string;
  kind: 'measurement' | 'attempt';
  name: string;
  text: string;
  measurement?: Measurement;
  attempt?: AttemptResult;
}

export interface GateRequest {
  phase: string;
  checks: readonly CheckConfig[];
  analysis: readonly AnalysisConfig[];
  target: CheckTarget;
  values: TemplateValues;
  liveValues?: TemplateValues;
  /** Image tag per component of the colour under test: `{version}` of a metric's `component`. */
  versions?: Readonly<Record<string, string | undefined>>;
  /** The same for the live colour (comparisons during weighted steps). */
  liveVersions?: Readonly<Record<string, string | undefined>>;
  /** Measurements per metric (the post-swap window sets it from its length). */
  countOf?: (metric: AnalysisConfig) => number;
  onInconclusive: VerificationConfigFile['onInconclusive'];
  /** Absolute time (clock) after which a hold gives up. */
  deadline: number;
  prometheus: PrometheusClient | undefined;
  dispatcher: Dispatcher;
  clock: VerifyClock;
  signal?: AbortSignal;
  onEvent?: (event: GateEvent) => void;
}

export async function runGate(request: GateRequest): Promise<GateVerdict> {
  const startedAt = request.clock.now();
  const stop = new AbortController();
  const signal = request.signal ? AbortSignal.any([request.signal, stop.signal]) : stop.signal;
  const emit = request.onEvent ?? (() => {});
  const verdict = (v: Omit<GateVerdict, 'phase' | 'startedAt' | 'endedAt'>): GateVerdict => ({
    phase: request.phase,
    startedAt,
    endedAt: request.clock.now(),
    ...v,
  });

  if (request.analysis.length > 0 && !request.prometheus) {
    return verdict({
      result: 'failed',
      reason: `no Prometheus configured for analysis ${request.analysis.map((a) => a.name).join(', ')} (set verification.prometheus.url or STACKSWAP_PROMETHEUS_URL); failing closed`,
      checks: [],
      metrics: [],
    });
  }

  // A failed check or metric stops the others: the verdict is known.
  const checksRun = Promise.all(
    request.checks.map(async (check) => {
      const target = check.component
        ? {
            ...request.target,
            values: withComponent(request.target.values, check.component, request.versions ?? {}),
          }
        : request.target;
      const result = await runCheck(check, target, {
        clock: request.clock,
        dispatcher: request.dispatcher,
        signal,
        onAttempt: (attempt, i) =>
          emit({
            phase: request.phase,
            kind: 'attempt',
            name: check.name,
            attempt,
            text: `check ${check.name} #${i + 1}: ${attempt.ok ? 'ok' : 'failed'}: ${attempt.detail}`,
          }),
      });
      if (result.phase === 'failed') stop.abort();
      return result;
    }),
  );
  const metricsRun = Promise.all(
    request.analysis.map(async (metric) => {
      let result: MetricResult;
      const held: MetricResult['measurements'] = [];
      for (;;) {
        result = await runMetric(metric, {
          client: request.prometheus!,
          clock: request.clock,
          values: forMetric(metric, request.values, request.versions),
          ...(request.liveValues
            ? { liveValues: forMetric(metric, request.liveValues, request.liveVersions) }
            : {}),
          count: request.countOf?.(metric) ?? metric.count,
          signal,
          onMeasurement: (m) =>
            emit({
              phase: request.phase,
              kind: 'measurement',
              name: metric.name,
              measurement: m,
              text: `${metric.name} = ${m.value === undefined ? '-' : m.value} ${m.phase}: ${m.detail}`,
            }),
        });
        const holding =
          result.phase === 'inconclusive' &&
          request.onInconclusive === 'hold' &&
          request.clock.now() + metric.interval < request.deadline &&
          !signal.aborted;
        held.push(...result.measurements);
        if (!holding) break;
        emit({
          phase: request.phase,
          kind: 'measurement',
          name: metric.name,
          text: `${metric.name}: inconclusive, holding (measuring again until a verdict or the timeout)`,
        });
      }
      if (result.phase === 'failed' || result.phase === 'error') stop.abort();
      // Every measurement of every round of a hold, not only the last round's.
      return { ...result, measurements: held };
    }),
  );
  const [checks, metrics] = await Promise.all([checksRun, metricsRun]);

  const failedCheck = checks.find((c) => c.phase === 'failed');
  if (failedCheck)
    return verdict({ result: 'failed', reason: failedCheck.reason!, checks, metrics });
  const failedMetric = metrics.find((m) => m.phase === 'failed' || m.phase === 'error');
  if (failedMetric) {
    return verdict({ result: 'failed', ...decided(failedMetric), checks, metrics });
  }
  if (
    request.signal?.aborted ||
    checks.some((c) => c.phase === 'interrupted') ||
    metrics.some((m) => m.phase === 'interrupted')
  ) {
    return verdict({
      result: 'interrupted',
      reason: `${request.phase} was interrupted before it finished: not verified`,
      checks,
      metrics,
    });
  }
  const inconclusive = metrics.find((m) => m.phase === 'inconclusive');
  if (inconclusive) {
    if (request.onInconclusive === 'pass') {
      return verdict({
        result: 'passed',
        passedInconclusive: true,
        ...decided(inconclusive),
        checks,
        metrics,
      });
    }
    return verdict({
      result: 'inconclusive',
      held: request.onInconclusive === 'hold',
      ...decided(inconclusive),
      reason: `${decided(inconclusive).reason}${request.onInconclusive === 'hold' ? ' (held until the timeout)' : ' (onInconclusive: fail)'}`,
      checks,
      metrics,
    });
  }
  return verdict({ result: 'passed', checks, metrics });
}

function decided(
  metric: MetricResult,
): Pick<GateVerdict, 'reason' | 'metric' | 'value' | 'condition'> {
  const m = metric.decisive;
  return {
    reason: metric.reason ?? `analysis ${metric.metric}: ${metric.phase}`,
    metric: metric.metric,
    ...(m?.value !== undefined ? { value: m.value } : {}),
    ...(m?.condition ? { condition: m.condition } : {}),
  };
}

/** The named items of a phase selection (undefined: all of them). */
export function select<T extends { name: string }>(
  all: readonly T[],
  names: readonly string[] | undefined,
): T[] {
  if (!names) return [...all];
  return names
    .map((n) => all.find((item) => item.name === n))
    .filter((x): x is T => x !== undefined);
}

/** A metric with its own `component` is templated with that component (and its version). */
function forMetric(
  metric: AnalysisConfig,
  values: TemplateValues,
  versions: Readonly<Record<string, string | undefined>> | undefined,
): TemplateValues {
  return metric.component ? withComponent(values, metric.component, versions ?? {}) : values;
}
