/**
 * The Prometheus metrics one sandbox pod exposes on `/metrics`, as an instrumented service
 * would: `http_requests_total{namespace,component,version,code}` and the
 * `http_request_duration_seconds` histogram with the same labels but `code`. One registry per
 * server, so a replaced pod starts from zero like a real one.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { Workload } from './workloads.ts';

export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class BackendMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'namespace' | 'component' | 'version' | 'code'>;
  private readonly durations: Histogram<'namespace' | 'component' | 'version'>;
  private readonly labels: { namespace: string; component: string; version: string };

  constructor(workload: Workload) {
    this.labels = {
      namespace: workload.namespace,
      component: workload.component,
      version: workload.version,
    };
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by status code',
      labelNames: ['namespace', 'component', 'version', 'code'],
      registers,
    });
    this.durations = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request',
      labelNames: ['namespace', 'component', 'version'],
      buckets: DURATION_BUCKETS,
      registers,
    });
  }

  observe(code: number, seconds: number): void {
    this.requests.inc({ ...this.labels, code: String(code) });
    this.durations.observe(this.labels, seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
