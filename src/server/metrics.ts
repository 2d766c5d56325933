/**
 * Prometheus metrics of the service, on a registry of its own (no prom-client global state):
 * operations by stack, kind and result with their durations, push retries (compare-and-swap
 * attempts after the first), and how long Argo CD took to sync and turn healthy (the `sync`
 * step), plus the process defaults.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { OperationKind } from './schemas.ts';

/** What `details.verification` holds for each gate (core/operations/gated-swap.ts summarise). */
export interface VerdictSummary {
  phase: string;
  result: string;
  metrics?: { name: string; measurements?: { value?: number }[] }[];
}

function phaseKind(phase: string): string {
  const word = /^(pre-swap|step|post-swap|verify)/.exec(phase);
  return word ? word[1]! : 'other';
}

export type OperationResultLabel = 'succeeded' | 'failed' | 'interrupted';

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly operations: Counter<'stack' | 'kind' | 'result'>;
  private readonly durations: Histogram<'stack' | 'kind' | 'result'>;
  private readonly running: Gauge<'stack'>;
  private readonly pushRetries: Counter<'stack' | 'kind'>;
  private readonly argoWait: Histogram<'stack' | 'kind' | 'ok'>;
  // verification (issue 11)
  private readonly analysisRuns: Counter<'stack' | 'phase' | 'result'>;
  private readonly measurementValue: Gauge<'stack' | 'phase' | 'metric'>;
  private readonly stackInfo: Gauge<'stack' | 'live' | 'preview'>;
  private readonly trafficWeight: Gauge<'stack' | 'colour'>;
  private readonly deployToSwap: Histogram<'stack'>;
  private readonly databaseUp: Gauge;
  private readonly operationTimeout: Gauge;
  private readonly started = new Map<string, number>();
  private readonly notificationFailures: Counter<'channel'>;
  private readonly scheduledScaleDowns: Counter<'stack' | 'result'>;
  private readonly notificationDeliveries: Counter<'stack' | 'target' | 'kind' | 'result'>;
  private readonly notificationRetries: Counter<'stack' | 'target' | 'kind'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.operations = new Counter({
      name: 'stackswap_operations_total',
      help: 'Operations finished, by stack, kind and result',
      labelNames: ['stack', 'kind', 'result'],
      registers,
    });
    this.durations = new Histogram({
      name: 'stackswap_operation_duration_seconds',
      help: 'Wall time of operations from acceptance to their result',
      labelNames: ['stack', 'kind', 'result'],
      buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200],
      registers,
    });
    this.running = new Gauge({
      name: 'stackswap_operations_running',
      help: 'Operations running now, by stack',
      labelNames: ['stack'],
      registers,
    });
    this.pushRetries = new Counter({
      name: 'stackswap_push_retries_total',
      help: 'Compare-and-swap push attempts beyond the first (lost races with other writers, or pushes that failed in transfer)',
      labelNames: ['stack', 'kind'],
      registers,
    });
    this.argoWait = new Histogram({
      name: 'stackswap_argocd_wait_seconds',
      help: 'Argo CD sync-and-wait step durations (until synced at the commit and healthy)',
      labelNames: ['stack', 'kind', 'ok'],
      buckets: [0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.analysisRuns = new Counter({
      name: 'stackswap_analysis_runs_total',
      help: 'Verification gates run, by stack, phase (pre-swap, step, post-swap, verify) and result (passed, failed, inconclusive, interrupted)',
      labelNames: ['stack', 'phase', 'result'],
      registers,
    });
    this.measurementValue = new Gauge({
      name: 'stackswap_analysis_last_value',
      help: 'The last value measured by each analysis metric, by stack, phase and metric',
      labelNames: ['stack', 'phase', 'metric'],
      registers,
    });
    this.stackInfo = new Gauge({
      name: 'stackswap_stack_info',
      help: 'The live and preview colour of each stack (value 1)',
      labelNames: ['stack', 'live', 'preview'],
      registers,
    });
    this.trafficWeight = new Gauge({
      name: 'stackswap_traffic_weight',
      help: "Percent of a stack's user traffic each colour receives",
      labelNames: ['stack', 'colour'],
      registers,
    });
    this.deployToSwap = new Histogram({
      name: 'stackswap_deploy_to_swap_seconds',
      help: 'Time from the deploy of a release to its swap (how long it waited for a human)',
      labelNames: ['stack'],
      buckets: [60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400, 259_200],
      registers,
    });
    this.databaseUp = new Gauge({
      name: 'stackswap_database_up',
      help: 'Whether the operations database answered the last check (1) or not (0); absent with the file journal',
      registers,
    });
    this.operationTimeout = new Gauge({
      name: 'stackswap_operation_timeout_seconds',
      help: 'How long an operation may wait for Argo CD (STACKSWAP_TIMEOUT)',
      registers,
    });
    const started = this.started;
    new Gauge({
      name: 'stackswap_operation_oldest_running_seconds',
      help: 'Age of the oldest operation this replica runs, by stack (0 when none)',
      labelNames: ['stack'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        const oldest = new Map<string, number>();
        for (const [key, at] of started) {
          const stack = key.slice(0, key.indexOf('\n'));
          oldest.set(stack, Math.max(oldest.get(stack) ?? 0, (now - at) / 1000));
        }
        for (const [stack, age] of oldest) this.set({ stack }, age);
      },
    });
    this.notificationFailures = new Counter({
      name: 'stackswap_notification_failures_total',
      help: 'Notifications (Slack follow-ups, webhooks) that could not be delivered, by channel',
      labelNames: ['channel'],
      registers,
    });
    this.notificationFailures.inc({ channel: 'slack' }, 0);
    // notifications (issue 13): the outbox's deliveries, settled and retried
    this.notificationDeliveries = new Counter({
      name: 'stackswap_notification_deliveries_total',
      help: 'Notifications settled, by stack, target (its name in stackswap.yaml), kind (slack, webhook) and result (delivered, failed: given up)',
      labelNames: ['stack', 'target', 'kind', 'result'],
      registers,
    });
    this.notificationRetries = new Counter({
      name: 'stackswap_notification_retries_total',
      help: 'Notification attempts that failed and were scheduled again (5xx, 429, timeouts), by stack, target and kind',
      labelNames: ['stack', 'target', 'kind'],
      registers,
    });
    this.scheduledScaleDowns = new Counter({
      name: 'stackswap_scheduled_scale_downs_total',
      help: 'Scale-downs the scheduler started (retention.autoScaleDown), by stack and result',
      labelNames: ['stack', 'result'],
      registers,
    });
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: 'stackswap_' });
    }
  }

  operationStarted(stack: string, id?: string): void {
    this.running.inc({ stack });
    if (id) this.started.set(`${stack}\n${id}`, Date.now());
  }

  setDatabaseUp(up: boolean): void {
    this.databaseUp.set(up ? 1 : 0);
  }

  setOperationTimeout(seconds: number): void {
    this.operationTimeout.set(seconds);
  }

  notificationFailed(channel: string): void {
    this.notificationFailures.inc({ channel });
  }

  /** An outbox delivery was delivered or given up; a failure also counts in the failures total. */
  notificationSettled(
    stack: string,
    target: string,
    kind: 'slack' | 'webhook',
    result: 'delivered' | 'failed',
  ): void {
    this.notificationDeliveries.inc({ stack, target, kind, result });
    if (result === 'failed') {
      this.notificationFailures.inc({ channel: kind === 'slack' ? 'slack-webhook' : 'webhook' });
    }
  }

  notificationRetried(stack: string, target: string, kind: 'slack' | 'webhook'): void {
    this.notificationRetries.inc({ stack, target, kind });
  }

  scheduledScaleDown(stack: string, result: 'started' | 'skipped' | 'failed'): void {
    this.scheduledScaleDowns.inc({ stack, result });
  }

  operationFinished(
    stack: string,
    kind: OperationKind,
    result: OperationResultLabel,
    durationMs: number,
    attempts: number | undefined,
    id?: string,
  ): void {
    this.running.dec({ stack });
    if (id) this.started.delete(`${stack}\n${id}`);
    this.operations.inc({ stack, kind, result });
    this.durations.observe({ stack, kind, result }, durationMs / 1000);
    if (attempts !== undefined && attempts > 1) this.pushRetries.inc({ stack, kind }, attempts - 1);
  }

  argoWaitObserved(stack: string, kind: OperationKind, ok: boolean, durationMs: number): void {
    this.argoWait.observe({ stack, kind, ok: String(ok) }, durationMs / 1000);
  }

  /** The verdicts an operation reports in `details.verification` (result or error). */
  verificationObserved(stack: string, verdicts: readonly VerdictSummary[]): void {
    for (const verdict of verdicts) {
      const phase = phaseKind(verdict.phase);
      this.analysisRuns.inc({ stack, phase, result: verdict.result });
      for (const metric of verdict.metrics ?? []) {
        const last = metric.measurements?.findLast((m) => typeof m.value === 'number');
        if (last?.value !== undefined) {
          this.measurementValue.set({ stack, phase, metric: metric.name }, last.value);
        }
      }
    }
  }

  /** The live colour and the traffic split after an operation (weight: the preview's share). */
  stackObserved(stack: string, live: string, preview: string, previewWeight = 0): void {
    this.stackInfo.remove({ stack, live: preview, preview: live });
    this.stackInfo.set({ stack, live, preview }, 1);
    this.trafficWeight.set({ stack, colour: live }, 100 - previewWeight);
    this.trafficWeight.set({ stack, colour: preview }, previewWeight);
  }

  deployToSwapObserved(stack: string, seconds: number): void {
    if (seconds >= 0) this.deployToSwap.observe({ stack }, seconds);
  }

  /** A stack's status was read: its live colour and traffic weights (the same gauges). */
  statusObserved(
    stack: string,
    live: 'blue' | 'green',
    traffic: Readonly<Record<'blue' | 'green', number>>,
  ): void {
    const preview = live === 'blue' ? 'green' : 'blue';
    this.stackObserved(stack, live, preview, traffic[preview]);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
