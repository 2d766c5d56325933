/**
 * Keeps one in-process backend server running per applied Deployment with replicas > 0, in step
 * with the ClusterView, and answers cluster DNS for Services (`resolve`).
 *
 * Changes behave like Kubernetes: a Deployment removed or scaled to zero loses its endpoint at
 * once; a changed pod template (new image, env, labels) gets a new server, which takes over the
 * endpoint only once it listens. A replaced or removed server is then retired like a terminating
 * pod: it stays up for `drainDelayMs` (endpoint removal propagating) and then closes
 * gracefully, finishing the requests it already has. The replica count is not simulated: one
 * server stands for all of a Deployment's pods.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  startBackend,
  type BackendBehaviour,
  type RequestFault,
  type RunningBackend,
} from './backend-server.ts';
import type { ClusterView } from './cluster-view.ts';
import { keepAliveAgent } from './local-server.ts';
import { parseServiceHost } from './service-dns.ts';
import {
  readServices,
  readWorkloads,
  selects,
  type ServiceRecord,
  type Workload,
} from './workloads.ts';

export const DEFAULT_FAULT_PATTERN = /fail|bad/;

export interface BackendPoolOptions {
  /** Versions (image tags) matching it answer 500. Default /fail|bad/. */
  faultPattern?: RegExp;
  /** Added before every answer of every backend (default 0). */
  latencyMs?: number;
  /** Awaited before every answer, after `latencyMs` (tests hold requests in flight with it). */
  beforeAnswer?: (workload: Workload) => Promise<void> | void;
  /** How long a retired server keeps accepting after losing its endpoint. Default 25 ms. */
  drainDelayMs?: number;
  /** How long a retired server waits for its in-flight requests before cutting them. Default 5 s. */
  graceMs?: number;
  /** Timeout of a component's call to its backend. Default 5 s. */
  upstreamTimeoutMs?: number;
  /** Releases Healthy for Argo CD that fail a share of requests or add latency. */
  faults?: readonly RequestFault[];
  /** For the faults' error share; returns [0, 1). Default Math.random. */
  random?: () => number;
  /** Objects that cannot be read, servers that fail to start. Default: ignored. */
  onProblem?: (message: string) => void;
}

/** What is running for one Deployment. */
export interface BackendInfo {
  key: string;
  component: string;
  namespace: string;
  colour: string | null;
  version: string;
  url: URL;
}

/** What the gateway needs from the pool. */
export interface EndpointResolver {
  resolve(host: string, fromNamespace?: string): URL | undefined;
  /** Resolves once the running servers match the latest view. */
  whenSettled(): Promise<void>;
  isSettled(): boolean;
}

export class BackendPool implements EndpointResolver {
  private readonly endpoints = new Map<string, RunningBackend>();
  private services = new Map<string, ServiceRecord>();
  private desired = new Map<string, Workload>();
  private readonly retiring = new Set<Promise<void>>();
  private readonly reportedProblems = new Set<string>();
  private readonly agent = keepAliveAgent();
  private readonly behaviour: BackendBehaviour;
  private readonly unsubscribe: () => void;
  private reconciling: Promise<void> | undefined;
  private dirty = false;
  private closed = false;
  private roundRobin = 0;
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly view: ClusterView,
    private readonly options: BackendPoolOptions,
  ) {
    const latencyMs = options.latencyMs ?? 0;
    this.behaviour = {
      // A /g or /y pattern would make `test` stateful: keep only the flags that change matching.
      faultPattern: new RegExp(
        (options.faultPattern ?? DEFAULT_FAULT_PATTERN).source,
        (options.faultPattern ?? DEFAULT_FAULT_PATTERN).flags.replace(/[gy]/g, ''),
      ),
      resolve: (host, fromNamespace) => this.resolve(host, fromNamespace),
      agent: this.agent,
      upstreamTimeoutMs: options.upstreamTimeoutMs ?? 5_000,
      ...(options.faults ? { faults: options.faults.map(sanitiseFault) } : {}),
      ...(options.random ? { random: options.random } : {}),
      beforeAnswer: async (workload) => {
        if (latencyMs > 0) await sleep(latencyMs);
        await options.beforeAnswer?.(workload);
      },
    };
    this.unsubscribe = view.subscribe(() => this.onChange());
  }

  /** Starts the servers of the view's current Deployments and follows its changes. */
  static async start(view: ClusterView, options: BackendPoolOptions = {}): Promise<BackendPool> {
    const pool = new BackendPool(view, options);
    pool.onChange();
    await pool.whenSettled();
    return pool;
  }

  /**
   * The URL of a running server behind a Service host name (`<service>.<namespace>.svc.cluster
   * .local`, optionally with a port; shorter forms relative to `fromNamespace`), or undefined
   * when the Service does not exist or none of the Deployments it selects is running. Several
   * selected Deployments take turns.
   */
  resolve(host: string, fromNamespace?: string): URL | undefined {
    const name = parseServiceHost(host, fromNamespace);
    if (!name) return undefined;
    const service = this.services.get(`${name.namespace}/${name.service}`);
    if (!service) return undefined;
    const candidates = [...this.endpoints.values()].filter((b) => selects(service, b.workload));
    if (candidates.length === 0) return undefined;
    return candidates[this.roundRobin++ % candidates.length]!.url;
  }

  /** The servers that currently hold an endpoint, sorted by namespace/name. */
  backends(): BackendInfo[] {
    return [...this.endpoints.values()]
      .map(({ workload: w, url }) => ({
        key: w.key,
        component: w.component,
        namespace: w.namespace,
        colour: w.colour,
        version: w.version,
        url,
      }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Replaces the request faults of every server, at once (tests, the demo). */
  setFaults(faults: readonly RequestFault[]): void {
    this.behaviour.faults = faults.map(sanitiseFault);
  }

  /** Called whenever the set of servers holding an endpoint changes (e.g. Prometheus targets). */
  onEndpointsChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private endpointsChanged(): void {
    for (const listener of this.listeners) listener();
  }

  isSettled(): boolean {
    return this.reconciling === undefined;
  }

  async whenSettled(): Promise<void> {
    while (this.reconciling) await this.reconciling;
  }

  /** Settled, and every replaced or removed server has finished closing. */
  async whenDrained(): Promise<void> {
    await this.whenSettled();
    while (this.retiring.size > 0) await Promise.all([...this.retiring]);
  }

  /** Stops following the view and closes every server (in-flight requests get `graceMs`). */
  async close(graceMs = 1_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    await this.whenSettled();
    const running = [...this.endpoints.values()];
    this.endpoints.clear();
    await Promise.all([...running.map((b) => b.close(graceMs)), ...this.retiring]);
    this.agent.destroy();
  }

  /**
   * Applies the view synchronously where Kubernetes would act at once (Service lookups,
   * endpoints of removed or scaled-down Deployments), then starts the missing servers.
   */
  private onChange(): void {
    if (this.closed) return;
    const objects = this.view.objects();
    const services = readServices(objects);
    const workloads = readWorkloads(objects);
    this.report([...services.problems, ...workloads.problems]);
    this.services = new Map(services.items.map((s) => [`${s.namespace}/${s.name}`, s]));
    this.desired = new Map(workloads.items.filter((w) => w.replicas > 0).map((w) => [w.key, w]));
    let removed = false;
    for (const [key, backend] of this.endpoints) {
      if (!this.desired.has(key)) {
        this.endpoints.delete(key);
        this.retire(backend);
        removed = true;
      }
    }
    if (removed) this.endpointsChanged();
    this.dirty = true;
    this.reconciling ??= this.startMissing().finally(() => {
      this.reconciling = undefined;
    });
  }

  private async startMissing(): Promise<void> {
    while (this.dirty && !this.closed) {
      this.dirty = false;
      const stale = [...this.desired.values()].filter(
        (w) => fingerprint(this.endpoints.get(w.key)?.workload) !== fingerprint(w),
      );
      await Promise.all(stale.map((w) => this.replace(w)));
    }
  }

  /** New server first; it takes the endpoint only if its Deployment still looks the same. */
  private async replace(workload: Workload): Promise<void> {
    let started: RunningBackend;
    try {
      started = await startBackend(workload, this.behaviour);
    } catch (error) {
      this.report([`${workload.key}: the server did not start: ${String(error)}`]);
      return;
    }
    const wanted = this.desired.get(workload.key);
    if (this.closed || fingerprint(wanted) !== fingerprint(workload)) {
      await started.close(0);
      return;
    }
    const previous = this.endpoints.get(workload.key);
    this.endpoints.set(workload.key, started);
    if (previous) this.retire(previous);
    this.endpointsChanged();
  }

  private retire(backend: RunningBackend): void {
    const drainDelayMs = this.options.drainDelayMs ?? 25;
    const graceMs = this.options.graceMs ?? 5_000;
    const done = (async () => {
      if (drainDelayMs > 0) await sleep(drainDelayMs);
      await backend.close(graceMs);
    })().catch((error: unknown) => {
      this.report([`${backend.workload.key}: closing the old server failed: ${String(error)}`]);
    });
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  private report(problems: readonly string[]): void {
    for (const problem of problems) {
      if (this.reportedProblems.has(problem)) continue;
      this.reportedProblems.add(problem);
      this.options.onProblem?.(problem);
    }
  }
}

/** A /g or /y pattern would make `test` stateful. */
function stateless(pattern: RegExp): RegExp {
  return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
}

function sanitiseFault(fault: RequestFault): RequestFault {
  return {
    ...fault,
    version: stateless(fault.version),
    ...(fault.paths ? { paths: stateless(fault.paths) } : {}),
  };
}

/** Everything that makes a server answer differently; the replica count does not. */
function fingerprint(workload: Workload | undefined): string {
  if (!workload) return '';
  const { replicas: _replicas, ...rest } = workload;
  return JSON.stringify(rest);
}
