/**
 * One metric of an analysis, measured `count` times every `interval` (the first measurement
 * after one interval, so the scrape after a change is in). Semantics follow Argo Rollouts'
 * AnalysisRun where they are sound, and differ where users were hurt:
 * - failed when failed measurements > failureLimit; stops at once;
 * - a Prometheus error does not count as a measurement, but more than consecutiveErrorLimit in
 *   a row ends the metric as `error`, which the gate treats as a failure (fail closed);
 * - no data (empty, NaN) follows `onNoData`: inconclusive by default, never a silent pass;
 * - success only given: not success = failed. Failure only: not failure = successful. Both and
 *   neither true: inconclusive;
 * - an interrupted metric is `interrupted`, never successful.
 */
import type { AnalysisConfig } from '../config/verification-config.ts';
import { compileCondition, ConditionError } from './condition.ts';
import type { PrometheusClient } from './prometheus-client.ts';
import { fillTemplate, promqlString, type TemplateValues } from './template.ts';
import type { VerifyClock } from './clock.ts';

export type MeasurementPhase = 'successful' | 'failed' | 'inconclusive' | 'error';
export type MetricPhase = MeasurementPhase | 'interrupted';

export interface Measurement {
  metric: string;
  at: number;
  phase: MeasurementPhase;
  value?: number;
  live?: number;
  /** The condition that decided, when one did. */
  condition?: string;
  detail: string;
}

export interface MetricResult {
  metric: string;
  phase: MetricPhase;
  measurements: Measurement[];
  /** The query as sent (templates filled), for the audit trail and the API. */
  query: string;
  /** The deciding measurement of a failed, error or inconclusive metric. */
  decisive?: Measurement;
  reason?: string;
}

export interface AnalysisRunOptions {
  client: PrometheusClient;
  clock: VerifyClock;
  values: TemplateValues;
  /** The live colour's values during a weighted step: enables `compare`. */
  liveValues?: TemplateValues;
  /** Measurements to take (default the metric's count). */
  count?: number;
  signal?: AbortSignal;
  onMeasurement?: (m: Measurement) => void;
}

export function resolvedQuery(metric: AnalysisConfig, values: TemplateValues): string {
  return fillTemplate(metric.query, values, promqlString);
}

export async function runMetric(
  metric: AnalysisConfig,
  options: AnalysisRunOptions,
): Promise<MetricResult> {
  const success = metric.successCondition && compileCondition(metric.successCondition, 'metric');
  const failure = metric.failureCondition && compileCondition(metric.failureCondition, 'metric');
  const compare =
    metric.compare && options.liveValues ? compileCondition(metric.compare, 'compare') : undefined;
  const query = resolvedQuery(metric, options.values);
  const liveQuery = options.liveValues ? resolvedQuery(metric, options.liveValues) : undefined;
  const count = options.count ?? metric.count;
  const measurements: Measurement[] = [];
  const tally = { failed: 0, inconclusive: 0, consecutiveErrors: 0, taken: 0 };
  const end = (phase: MetricPhase, decisive?: Measurement): MetricResult => ({
    metric: metric.name,
    phase,
    measurements,
    query,
    ...(decisive ? { decisive, reason: reasonOf(metric.name, decisive) } : {}),
  });

  while (tally.taken < count) {
    try {
      await options.clock.sleep(metric.interval, options.signal);
    } catch {
      return end('interrupted');
    }
    if (options.signal?.aborted) return end('interrupted');
    let m: Measurement;
    try {
      m = await measure();
    } catch (e) {
      if (options.signal?.aborted) return end('interrupted');
      m = { metric: metric.name, at: options.clock.now(), phase: 'error', detail: String(e) };
    }
    measurements.push(m);
    options.onMeasurement?.(m);
    if (m.phase === 'error') {
      tally.consecutiveErrors++;
      if (tally.consecutiveErrors > metric.consecutiveErrorLimit) return end('error', m);
      continue;
    }
    tally.consecutiveErrors = 0;
    tally.taken++;
    if (m.phase === 'failed' && ++tally.failed > metric.failureLimit) return end('failed', m);
    if (m.phase === 'inconclusive' && ++tally.inconclusive > metric.inconclusiveLimit) {
      return end('inconclusive', m);
    }
  }
  return end('successful');

  async function measure(): Promise<Measurement> {
    const at = options.clock.now();
    const base = { metric: metric.name, at };
    const outcome = await options.client.query(
      query,
      options.signal ? { signal: options.signal } : {},
    );
    if (outcome.kind === 'error') {
      return { ...base, phase: 'error', detail: `${outcome.message} (failing closed)` };
    }
    if (outcome.kind === 'no-data') {
      const phase: MeasurementPhase =
        metric.onNoData === 'pass'
          ? 'successful'
          : metric.onNoData === 'fail'
            ? 'failed'
            : 'inconclusive';
      return { ...base, phase, detail: `no data: ${outcome.why} (onNoData: ${metric.onNoData})` };
    }
    const result = outcome.value;
    if (metric.minRequests) {
      const short = await tooFewRequests(metric.minRequests);
      if (short) return { ...base, value: result, ...short };
    }
    const judged = judge(result);
    if (judged.phase !== 'successful' || !compare || !liveQuery)
      return { ...base, value: result, ...judged };
    const live = await options.client.query(
      liveQuery,
      options.signal ? { signal: options.signal } : {},
    );
    if (live.kind === 'error') {
      return {
        ...base,
        value: result,
        phase: 'error',
        detail: `live colour: ${live.message} (failing closed)`,
      };
    }
    if (live.kind === 'no-data') {
      return {
        ...base,
        value: result,
        ...judged,
        detail: `${judged.detail}; comparison skipped: live has no data`,
      };
    }
    try {
      const holds = compare.evaluate({ result, live: live.value });
      return {
        ...base,
        value: result,
        live: live.value,
        phase: holds ? 'successful' : 'failed',
        condition: compare.source,
        detail: `${fmt(result)} vs live ${fmt(live.value)}: ${compare.source} is ${holds}`,
      };
    } catch (e) {
      return {
        ...base,
        value: result,
        phase: 'error',
        detail: conditionFailure(compare.source, e),
      };
    }
  }

  /** Fewer requests in the window than `minRequests.count`: inconclusive (or error). */
  async function tooFewRequests(
    min: NonNullable<AnalysisConfig['minRequests']>,
  ): Promise<Pick<Measurement, 'phase' | 'detail'> | undefined> {
    const counted = await options.client.query(
      fillTemplate(min.query, options.values, promqlString),
      options.signal ? { signal: options.signal } : {},
    );
    if (counted.kind === 'error') {
      return { phase: 'error', detail: `request count: ${counted.message} (failing closed)` };
    }
    const requests = counted.kind === 'value' ? counted.value : 0;
    if (requests >= min.count) return undefined;
    return {
      phase: 'inconclusive',
      detail: `only ${fmt(requests)} request(s) in the window, fewer than minRequests ${min.count}: not enough evidence to judge`,
    };
  }

  function judge(result: number): Pick<Measurement, 'phase' | 'condition' | 'detail'> {
    try {
      if (failure && failure.evaluate({ result })) {
        return {
          phase: 'failed',
          condition: failure.source,
          detail: `${fmt(result)}: ${failure.source} is true`,
        };
      }
      if (success) {
        const holds = success.evaluate({ result });
        if (holds)
          return {
            phase: 'successful',
            condition: success.source,
            detail: `${fmt(result)}: ${success.source} holds`,
          };
        if (failure) {
          return {
            phase: 'inconclusive',
            detail: `${fmt(result)}: neither ${success.source} nor ${failure.source}`,
          };
        }
        return {
          phase: 'failed',
          condition: success.source,
          detail: `${fmt(result)}: ${success.source} is false`,
        };
      }
      return {
        phase: 'successful',
        condition: failure ? failure.source : undefined,
        detail: `${fmt(result)}: ${failure ? failure.source : ''} is false`,
      };
    } catch (e) {
      return {
        phase: 'error',
        detail: conditionFailure(success ? success.source : String(failure && failure.source), e),
      };
    }
  }
}

function conditionFailure(source: string, e: unknown): string {
  return `condition ${source} could not be evaluated: ${e instanceof ConditionError ? e.message : String(e)}`;
}

export function fmt(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

function reasonOf(name: string, m: Measurement): string {
  return `analysis ${name}: ${m.detail}`;
}
