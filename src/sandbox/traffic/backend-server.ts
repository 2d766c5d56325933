/**
 * One sandbox "pod": an in-process HTTP server that answers as a component of one colour and
 * version. A version matching the fault pattern answers 500 (a broken release). A version
 * matching a request fault (`faults`) answers 500 on a share of requests and/or adds latency,
 * while Argo CD still reports it Healthy. `/metrics` is the pod's Prometheus metrics
 * (backend-metrics.ts), not counted in them. A component
 * with BACKEND_URL (the frontend) calls that backend on every request, resolved from its own
 * namespace as cluster DNS would, and answers 502 when the backend is missing or failing.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ComponentAnswer, type ErrorAnswer } from './answers.ts';
import { BackendMetrics } from './backend-metrics.ts';
import { listenLocal, type LocalServer } from './local-server.ts';
import type { Workload } from './workloads.ts';

export interface BackendBehaviour {
  /** Versions matching it answer 500. */
  faultPattern: RegExp;
  /** Cluster DNS for the calls a component makes: a host name -> a running backend's URL. */
  resolve(host: string, fromNamespace: string): URL | undefined;
  /** Keep-alive agent for those calls (shared by every backend of a pool). */
  agent: http.Agent;
  /** How long a call to a backend may take before the caller gives up with 502. */
  upstreamTimeoutMs: number;
  /** Awaited before every answer: a fixed latency, or a test holding a request in flight. */
  beforeAnswer?: (workload: Workload) => Promise<void> | void;
  /** Request faults by version: a share of 500s, added latency. */
  faults?: readonly RequestFault[];
  /** For the share of faulty answers; returns [0, 1). Default Math.random. */
  random?: () => number;
}

/** A release that is Healthy for Argo CD but fails or slows down requests. */
export interface RequestFault {
  /** Versions (image tags) it applies to. */
  version: RegExp;
  /** Share of requests answered 500, 0..1. */
  errorShare?: number;
  /** Added to every matching request. */
  latencyMs?: number;
  /** The component it applies to (default every component of that version). */
  component?: string;
  /** Paths it applies to (default every path): e.g. /^\/(?!healthz)/ spares the health check. */
  paths?: RegExp;
}

export interface RunningBackend {
  readonly workload: Workload;
  readonly url: URL;
  inFlight(): number;
  close(graceMs?: number): Promise<void>;
}

export async function startBackend(
  workload: Workload,
  behaviour: BackendBehaviour,
): Promise<RunningBackend> {
  const self: ComponentAnswer = {
    component: workload.component,
    colour: workload.colour,
    version: workload.version,
    namespace: workload.namespace,
  };
  const metrics = new BackendMetrics(workload);
  const server: LocalServer = await listenLocal((req, res) => {
    // The request body is not used; drain it so keep-alive connections stay usable.
    req.resume();
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/metrics') {
      void metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(text);
      });
      return;
    }
    const started = process.hrtime.bigint();
    const send = (status: number, body: object) => {
      metrics.observe(status, Number(process.hrtime.bigint() - started) / 1e9);
      sendJson(res, status, body);
    };
    answer(workload, self, behaviour, req.headers, path)
      .then(({ status, body }) => send(status, body))
      .catch((error: unknown) => send(500, { ...self, error: String(error) }));
  });
  return {
    workload,
    url: server.url,
    inFlight: () => server.inFlight(),
    close: (graceMs) => server.close(graceMs),
  };
}

interface Answer {
  status: number;
  body: object;
}

async function answer(
  workload: Workload,
  self: ComponentAnswer,
  behaviour: BackendBehaviour,
  headers: http.IncomingHttpHeaders,
  path: string,
): Promise<Answer> {
  await behaviour.beforeAnswer?.(workload);
  if (behaviour.faultPattern.test(workload.version)) {
    return { status: 500, body: { ...self, error: `version ${workload.version} is faulty` } };
  }
  for (const fault of behaviour.faults ?? []) {
    if (!fault.version.test(workload.version) || (fault.paths && !fault.paths.test(path))) continue;
    if (fault.component !== undefined && fault.component !== workload.component) continue;
    if (fault.latencyMs) await sleep(fault.latencyMs);
    if (fault.errorShare && (behaviour.random ?? Math.random)() < fault.errorShare) {
      return {
        status: 500,
        body: { ...self, error: `version ${workload.version} failed this request` },
      };
    }
  }
  if (workload.backendUrl === undefined) return { status: 200, body: self };

  const called = await callBackend(workload, behaviour, headers);
  if ('error' in called) return { status: 502, body: { ...self, ...called } };
  return { status: 200, body: { ...self, backend: called.answer } };
}

type CallResult = { answer: ComponentAnswer } | ErrorAnswer;

async function callBackend(
  workload: Workload,
  behaviour: BackendBehaviour,
  incoming: http.IncomingHttpHeaders,
): Promise<CallResult> {
  let target: URL;
  try {
    target = new URL(workload.backendUrl!);
  } catch {
    return { error: `BACKEND_URL ${workload.backendUrl} is not a URL` };
  }
  const endpoint = behaviour.resolve(target.host, workload.namespace);
  if (!endpoint) return { error: `backend ${target.host} has no running endpoint` };

  const requestId = incoming['x-request-id'];
  const response = await getJson(new URL(target.pathname + target.search, endpoint), {
    agent: behaviour.agent,
    timeoutMs: behaviour.upstreamTimeoutMs,
    headers: { host: target.host, ...(requestId ? { 'x-request-id': requestId } : {}) },
  }).catch((error: unknown) => ({ status: 0, text: '', error: String(error) }));
  if ('error' in response) return { error: `backend ${target.host}: ${response.error}` };
  if (response.status < 200 || response.status > 299) {
    return {
      error: `backend ${target.host} answered ${response.status}`,
      backendStatus: response.status,
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.text);
  } catch {
    return { error: `backend ${target.host} answered something other than JSON` };
  }
  const checked = ComponentAnswer.safeParse(parsed);
  return checked.success
    ? { answer: checked.data }
    : { error: `backend ${target.host} answered an unexpected body` };
}

function getJson(
  url: URL,
  options: { agent: http.Agent; timeoutMs: number; headers: http.OutgoingHttpHeaders },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: options.agent, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    request.setTimeout(options.timeoutMs, () =>
      request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
    );
    request.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: object): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
