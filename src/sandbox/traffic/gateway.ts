/**
 * The sandbox's Istio ingress gateway: an HTTP proxy on 127.0.0.1 that routes every request the
 * way the applied VirtualServices say (see routing.ts for host selection, including the loopback
 * convenience, and virtual-service.ts for what is supported), resolves the destination's
 * Service host through the backend pool, and proxies method, path, headers and body.
 *
 * The routing table is rebuilt on every ClusterView change. A request is routed once, on
 * arrival, so a request in flight keeps the route and backend it started with.
 *
 * Local answers follow Envoy: 404 when no VirtualService or route matches, 503 "no healthy
 * upstream" when the chosen host has no running backend (a Deployment at zero replicas), 503
 * when the connection to the backend fails before a response, 504 when it does not answer in
 * time. Unlike a default Istio mesh, nothing is retried, so every failure shows in the tallies.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { EndpointResolver } from './backends.ts';
import type { ClusterView } from './cluster-view.ts';
import { keepAliveAgent, listenLocal, type LocalServer } from './local-server.ts';
import {
  applyHeaderOps,
  chooseDestination,
  matchRoute,
  selectVirtualService,
  type RequestFacts,
} from './routing.ts';
import { stripPort } from './service-dns.ts';
import {
  buildRoutingTable,
  type CompiledDestination,
  type CompiledRoute,
  type CompiledVirtualService,
} from './virtual-service.ts';

export interface GatewayOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Weighted choice; returns [0, 1). Default Math.random. */
  random?: () => number;
  /** How long a backend may take to start answering. Default 15 s. */
  upstreamTimeoutMs?: number;
  /** VirtualServices that cannot be read or use ignored fields. Default: ignored. */
  onProblem?: (message: string) => void;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

type HeaderRecord = Record<string, string | string[] | number | undefined>;

export class Gateway {
  private table: readonly CompiledVirtualService[] = [];
  private readonly reportedProblems = new Set<string>();
  private readonly agent = keepAliveAgent();
  private readonly random: () => number;
  private server: LocalServer | undefined;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly view: ClusterView,
    private readonly resolver: EndpointResolver,
    private readonly options: GatewayOptions,
  ) {
    this.random = options.random ?? Math.random;
    this.rebuild();
    this.unsubscribe = view.subscribe(() => this.rebuild());
  }

  static async start(
    view: ClusterView,
    resolver: EndpointResolver,
    options: GatewayOptions = {},
  ): Promise<Gateway> {
    const gateway = new Gateway(view, resolver, options);
    try {
      gateway.server = await listenLocal((req, res) => gateway.handle(req, res), {
        port: options.port ?? 0,
      });
    } catch (error) {
      gateway.unsubscribe();
      throw error;
    }
    return gateway;
  }

  get url(): URL {
    return this.server!.url;
  }

  /** The routing table in use (for diagnostics). */
  virtualServices(): readonly CompiledVirtualService[] {
    return this.table;
  }

  async close(graceMs = 1_000): Promise<void> {
    this.unsubscribe();
    await this.server?.close(graceMs);
    this.agent.destroy();
  }

  private rebuild(): void {
    const { virtualServices, problems } = buildRoutingTable(this.view.objects());
    this.table = virtualServices;
    for (const problem of problems) {
      if (this.reportedProblems.has(problem)) continue;
      this.reportedProblems.add(problem);
      this.options.onProblem?.(problem);
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Everything that decides the route is read now, so a later table change cannot move it.
    const facts: RequestFacts = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      host: stripPort(req.headers.host ?? '').toLowerCase(),
      headers: req.headers,
    };
    const vs = selectVirtualService(this.table, facts.host);
    if (!vs) return localReply(req, res, 404, `no VirtualService for host ${facts.host}`);
    const route = matchRoute(vs, facts);
    if (!route) return localReply(req, res, 404, `no route of ${vs.id} matches`);
    if (route.unsupported) return localReply(req, res, 500, `${vs.id}: ${route.unsupported}`);
    const destination = chooseDestination(route, this.random);
    if (!destination) {
      return localReply(req, res, 503, `no destination of ${vs.id} route ${route.name} has weight`);
    }
    const endpoint = this.resolver.resolve(destination.host);
    if (endpoint) return this.forward(req, res, route, destination, endpoint);
    // Servers start in milliseconds after an apply; the wait stands for pods that already run.
    this.resolveWhenSettled(destination.host).then(
      (settled) =>
        settled
          ? this.forward(req, res, route, destination, settled)
          : localReply(req, res, 503, 'no healthy upstream', responseOps(route, destination)),
      (error: unknown) => localReply(req, res, 500, `sandbox gateway error: ${String(error)}`),
    );
  }

  private async resolveWhenSettled(host: string): Promise<URL | undefined> {
    if (this.resolver.isSettled()) return undefined;
    await this.resolver.whenSettled();
    return this.resolver.resolve(host);
  }

  private forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    route: CompiledRoute,
    destination: CompiledDestination,
    endpoint: URL,
  ): void {
    const headers: HeaderRecord = withoutHopByHop(req.headers);
    headers['x-request-id'] ??= randomUUID();
    applyHeaderOps(headers, destination.headers.request);
    applyHeaderOps(headers, route.headers.request);

    const timeoutMs = this.options.upstreamTimeoutMs ?? 15_000;
    const upstream = http.request({
      host: endpoint.hostname,
      port: endpoint.port,
      method: req.method,
      path: req.url,
      headers: headers as http.OutgoingHttpHeaders,
      agent: this.agent,
    });
    upstream.setTimeout(timeoutMs, () => upstream.destroy(new UpstreamTimeout()));
    upstream.on('response', (answer) => {
      const out: HeaderRecord = withoutHopByHop(answer.headers);
      for (const ops of responseOps(route, destination)) applyHeaderOps(out, ops);
      res.writeHead(answer.statusCode ?? 502, out as http.OutgoingHttpHeaders);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (error) => {
      if (res.headersSent) return void res.destroy();
      if (error instanceof UpstreamTimeout)
        return localReply(req, res, 504, 'upstream request timeout');
      const reason = (error as NodeJS.ErrnoException).code ?? error.message;
      localReply(
        req,
        res,
        503,
        `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`,
      );
    });
    // The client went away: give up on the backend too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }
}

class UpstreamTimeout extends Error {
  constructor() {
    super('upstream request timeout');
  }
}

/** Destination rules first, then the route's, which win on conflict (as in Envoy). */
function responseOps(route: CompiledRoute, destination: CompiledDestination) {
  return [destination.headers.response, route.headers.response];
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): HeaderRecord {
  const out: HeaderRecord = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

function localReply(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  message: string,
  ops: ReturnType<typeof responseOps> = [],
): void {
  if (res.headersSent || res.destroyed) return;
  req.resume();
  const headers: HeaderRecord = {
    'content-type': 'text/plain',
    'content-length': Buffer.byteLength(message),
  };
  for (const op of ops) applyHeaderOps(headers, op);
  res.writeHead(status, headers as http.OutgoingHttpHeaders);
  res.end(message);
}
