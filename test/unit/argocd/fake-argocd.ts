/**
 * A scripted Argo CD API on 127.0.0.1 for the client and wait tests. It speaks the real wire
 * format (grpc-gateway error bodies, 415 on a wrong Content-Type, 403 for unknown apps, the
 * stream in SSE or newline-JSON mode) and simulates just enough controller: a sync sets
 * `operation` and clears `operationState`, then ticks through Running -> Succeeded/Failed ->
 * health steps; a refresh re-compares against the branch head; auto-sync apps start their own
 * operation when a refresh shows them OutOfSync. Tests script faults on top (`fail`, `streams`,
 * `hooks`). It is not the sandbox's stand-in; it exists to make the edge cases reproducible.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export type Json = Record<string, any>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Fault {
  method?: string;
  path: RegExp;
  /** How many matching requests this fault answers (default 1). */
  times?: number;
  status?: number;
  body?: unknown;
  /** Text body instead of JSON. */
  text?: string;
  /** Close the socket without answering. */
  reset?: boolean;
  /** Never answer (the client's timeout must fire). */
  hang?: boolean;
  /** Let the request through (it takes effect) but then answer with this fault's status/reset. */
  passThrough?: boolean;
}

export interface StreamScript {
  /** Answer the stream request with this HTTP error instead. */
  status?: number;
  text?: string;
  /** Destroy the socket after this many events. */
  dropAfter?: number;
  /** Write an in-band `{"error":…}` message after this many events, then end. */
  errorAfter?: number;
  /** The in-band error (default grpc_code 14, 503, "stream terminated by server"). */
  errorChunk?: Json;
  /** Write a line that is not JSON after this many events. */
  malformedAfter?: number;
  /** Send nothing at all (a stalled proxy). */
  silent?: boolean;
}

export interface SimState {
  /** Revision live in the "cluster". */
  deployed: string;
  /** Health statuses after a successful sync, one per tick; the last one stays. */
  healthAfterSync: string[];
  /** The next sync ends Failed with this message (and these resource results). */
  failSync?: { message: string; resources?: Json[] };
  /** Operations stay Running forever (a hook that never completes). */
  holdOperation?: boolean;
  /** Refreshes keep showing the old comparison (Argo CD has not seen the push). */
  staleRefreshes?: number;
  /** The completion of a held operation, run by `release`. */
  held?: (() => void) | undefined;
}

interface StreamClient {
  res: http.ServerResponse;
  name: string | undefined;
  sse: boolean;
  sent: number;
  script: StreamScript;
  lastPayload: Map<string, string>;
}

const SHA = (c: string) => c.repeat(40);
export const OLD = SHA('a');
export const NEW = SHA('b');
export const NEWER = SHA('c');

export class FakeArgoCd {
  token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwcm9tb3RlciJ9.c2VjcmV0LXNpZ25hdHVyZS14eXo';
  users = new Map<string, string>();
  sessions = new Set<string>();
  head = NEW;
  tickMs = 10;
  readonly apps = new Map<string, Json>();
  readonly sim = new Map<string, SimState>();
  readonly requests: RecordedRequest[] = [];
  readonly faults: Fault[] = [];
  readonly streams: StreamScript[] = [];
  /** Called before the built-in handling; return true when the hook has answered. */
  hooks: Array<(req: RecordedRequest, res: http.ServerResponse) => boolean> = [];
  syncPosts = 0;
  private rv = 1000;
  private seconds = 0;
  /** Answer streams in newline-JSON mode whatever the Accept header says. */
  ignoreAccept = false;
  private server: http.Server;
  private clients = new Set<StreamClient>();
  private timers = new Set<NodeJS.Timeout>();
  private sockets = new Set<import('node:net').Socket>();
  url = '';

  constructor(private readonly tls?: { key: string; cert: string }) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) =>
      void this.handle(req, res);
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  }

  async start(): Promise<this> {
    this.server.on(this.tls ? 'secureConnection' : 'connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** RFC3339 "now" of the simulated controller: one second further at every change. */
  now(): string {
    return new Date(Date.UTC(2024, 2, 5, 7, 0, 0) + this.seconds * 1000)
      .toISOString()
      .replace('.000', '');
  }

  addApp(
    name: string,
    options: {
      revision?: string;
      deployed?: string;
      sync?: string;
      health?: string;
      automated?: boolean;
      namespace?: string;
      resources?: Json[];
      operationState?: Json;
      sim?: Partial<SimState>;
    } = {},
  ): Json {
    const revision = options.revision ?? OLD;
    const app: Json = {
      metadata: {
        name,
        namespace: options.namespace ?? 'argocd',
        resourceVersion: String(++this.rv),
        uid: `uid-${name}`,
        annotations: {},
      },
      spec: {
        project: 'default',
        source: {
          repoURL: 'https://git.example/gitops.git',
          path: `apps/${name}`,
          targetRevision: 'main',
        },
        destination: { server: 'https://kubernetes.default.svc', namespace: name },
        ...(options.automated
          ? { syncPolicy: { automated: { prune: true, selfHeal: true } } }
          : {}),
      },
      status: {
        sync: {
          status: options.sync ?? 'Synced',
          revision,
          comparedTo: { source: {}, destination: {} },
        },
        health: { status: options.health ?? 'Healthy' },
        reconciledAt: this.now(),
        resources: options.resources ?? [
          {
            group: 'apps',
            version: 'v1',
            kind: 'Deployment',
            namespace: name,
            name: 'web',
            status: 'Synced',
            health: { status: 'Healthy' },
          },
        ],
        ...(options.operationState ? { operationState: options.operationState } : {}),
        sourceType: 'Helm',
        history: [{ id: 1, revision, deployedAt: this.now(), deployStartedAt: this.now() }],
      },
    };
    this.apps.set(name, app);
    this.sim.set(name, {
      deployed: options.deployed ?? revision,
      healthAfterSync: ['Progressing', 'Healthy'],
      ...options.sim,
    });
    return app;
  }

  app(name: string): Json {
    const app = this.apps.get(name);
    if (!app) throw new Error(`no app ${name}`);
    return app;
  }

  /** Mutates an app as the controller would: new resourceVersion, watchers notified. */
  update(name: string, mutate: (app: Json) => void): void {
    const app = this.app(name);
    mutate(app);
    this.seconds += 1;
    app.metadata.resourceVersion = String(++this.rv);
    this.broadcast('MODIFIED', app);
  }

  later(fn: () => void, ticks = 1): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, this.tickMs * ticks);
    this.timers.add(t);
  }

  /** The controller's reconcile: compare against the branch head. */
  reconcile(name: string): void {
    const sim = this.sim.get(name)!;
    if (sim.staleRefreshes && sim.staleRefreshes > 0) {
      sim.staleRefreshes -= 1;
      return;
    }
    this.update(name, (app) => {
      app.status.sync.revision = this.head;
      app.status.sync.status = sim.deployed === this.head ? 'Synced' : 'OutOfSync';
      app.status.reconciledAt = this.now();
    });
    const app = this.app(name);
    if (
      app.spec.syncPolicy?.automated &&
      !app.operation &&
      app.status.sync.status === 'OutOfSync'
    ) {
      const failedBefore =
        app.status.operationState?.phase === 'Failed' &&
        app.status.operationState?.syncResult?.revision === this.head;
      if (!failedBefore) this.startOperation(name, this.head, { automated: true }, []);
    }
  }

  /** Sets `operation` (clearing operationState, as SetAppOperation does) and runs it. */
  startOperation(name: string, revision: string, initiatedBy: Json, info: Json[]): void {
    const operation = {
      sync: { revision, syncStrategy: { hook: {} } },
      initiatedBy,
      ...(info.length ? { info } : {}),
    };
    this.update(name, (app) => {
      app.operation = operation;
      delete app.status.operationState;
    });
    this.later(() => this.runOperation(name, operation));
  }

  private runOperation(name: string, operation: Json): void {
    const sim = this.sim.get(name)!;
    const startedAt = this.now();
    this.update(name, (app) => {
      app.status.operationState = {
        operation,
        phase: 'Running',
        startedAt,
        message: 'waiting for completion of hook batch/Job/pre-sync',
      };
    });
    if (sim.holdOperation) {
      sim.held = () => this.completeOperation(name, operation, startedAt);
      return;
    }
    this.later(() => this.completeOperation(name, operation, startedAt));
  }

  /** Lets a held operation (holdOperation) finish now. */
  release(name: string): void {
    const sim = this.sim.get(name)!;
    sim.holdOperation = false;
    const held = sim.held;
    sim.held = undefined;
    held?.();
  }

  private completeOperation(name: string, operation: Json, startedAt: string): void {
    const sim = this.sim.get(name)!;
    {
      const revision = operation.sync.revision;
      if (sim.failSync) {
        const { message, resources } = sim.failSync;
        sim.failSync = undefined;
        this.update(name, (app) => {
          delete app.operation;
          app.status.operationState = {
            operation,
            phase: 'Failed',
            message,
            startedAt,
            finishedAt: this.now(),
            syncResult: { revision, resources: resources ?? [] },
          };
        });
        return;
      }
      sim.deployed = revision;
      const [first, ...rest] = sim.healthAfterSync;
      this.update(name, (app) => {
        delete app.operation;
        const finishedAt = this.now();
        app.status.operationState = {
          operation,
          phase: 'Succeeded',
          message: 'successfully synced (all tasks run)',
          startedAt,
          finishedAt,
          syncResult: {
            revision,
            resources: [
              {
                group: 'apps',
                kind: 'Deployment',
                namespace: name,
                name: 'web',
                status: 'Synced',
                hookPhase: 'Running',
                syncPhase: 'Sync',
                message: 'deployment.apps/web configured',
              },
            ],
          },
        };
        app.status.sync = {
          ...app.status.sync,
          status: revision === this.head ? 'Synced' : 'OutOfSync',
          revision: this.head,
        };
        app.status.reconciledAt = finishedAt;
        app.status.health = { status: first ?? 'Healthy' };
        app.status.history.push({
          id: app.status.history.length + 1,
          revision,
          deployedAt: finishedAt,
        });
      });
      rest.forEach((health, i) =>
        this.later(
          () =>
            this.update(
              name,
              (app) =>
                (app.status.health = {
                  status: health,
                  ...(health === 'Degraded'
                    ? { message: 'Deployment "web" exceeded its progress deadline' }
                    : {}),
                }),
            ),
          i + 1,
        ),
      );
    }
  }

  /** Destroys every open stream connection (a proxy cutting idle streams). */
  dropStreams(): void {
    for (const c of this.clients) c.res.destroy();
  }

  get openStreams(): number {
    return this.clients.size;
  }

  count(method: string, path: RegExp): number {
    return this.requests.filter((r) => r.method === method && path.test(r.path)).length;
  }

  // ---------------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    for await (const chunk of req) body += chunk;
    const r: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
    };
    this.requests.push(r);

    const faultIndex = this.faults.findIndex(
      (f) => (!f.method || f.method === r.method) && f.path.test(r.path),
    );
    const fault = faultIndex >= 0 ? this.faults[faultIndex] : undefined;
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.faults.splice(faultIndex, 1);
      if (fault.passThrough) {
        const sink = {
          writeHead: () => sink,
          setHeader: () => sink,
          end: () => sink,
          write: () => true,
        };
        this.route(r, sink as unknown as http.ServerResponse);
      }
      if (fault.hang) return;
      if (fault.reset) return void req.socket.destroy();
      if (fault.text !== undefined) return this.text(res, fault.status ?? 500, fault.text);
      return this.json(
        res,
        fault.status ?? 500,
        fault.body ?? { error: 'fault', code: 2, message: 'fault' },
      );
    }
    for (const hook of this.hooks) if (hook(r, res)) return;
    this.route(r, res);
  }

  private route(r: RecordedRequest, res: http.ServerResponse): void {
    if (
      r.method !== 'GET' &&
      r.path.startsWith('/api/') &&
      (r.headers['content-type'] ?? '').toLowerCase() !== 'application/json'
    ) {
      return this.text(res, 415, 'Invalid content type');
    }
    if (r.method === 'POST' && r.path === '/api/v1/session') return this.login(r, res);
    if (!this.authorized(r)) return this.grpcError(res, 401, 16, 'no session information');

    let m: RegExpMatchArray | null;
    if (r.method === 'GET' && r.path === '/api/v1/session/userinfo') {
      return this.json(res, 200, { loggedIn: true, username: 'promoter', iss: 'argocd' });
    }
    if (r.method === 'GET' && r.path === '/api/v1/stream/applications') return this.stream(r, res);
    if (r.method === 'GET' && r.path === '/api/v1/applications') {
      return this.json(res, 200, { metadata: {}, items: [...this.apps.values()] });
    }
    if ((m = r.path.match(/^\/api\/v1\/applications\/([^/]+)(\/.*)?$/))) {
      const name = decodeURIComponent(m[1]!);
      const app = this.apps.get(name);
      if (!app) {
        const project = r.query.get('project') ?? (r.body ? JSON.parse(r.body).project : undefined);
        return project
          ? this.grpcError(res, 404, 5, `applications.argoproj.io "${name}" not found`)
          : this.grpcError(res, 403, 7, 'permission denied');
      }
      const sub = m[2] ?? '';
      if (r.method === 'GET' && sub === '') {
        if (r.query.get('refresh')) this.reconcile(name);
        return this.json(res, 200, this.app(name));
      }
      if (r.method === 'POST' && sub === '/sync') return this.sync(name, r, res);
      if (r.method === 'DELETE' && sub === '/operation') {
        if (!app.operation || !app.status.operationState) {
          return this.grpcError(
            res,
            400,
            3,
            'Unable to terminate operation. No operation is in progress',
          );
        }
        this.update(name, (a) => (a.status.operationState.phase = 'Terminating'));
        return this.json(res, 200, {});
      }
      if (r.method === 'GET' && sub === '/resource-tree') {
        return this.json(res, 200, {
          nodes: (app.status.resources ?? []).map((x: Json) => ({
            ...x,
            uid: `uid-${x.name}`,
            resourceVersion: '1',
          })),
          hosts: [],
        });
      }
      if (r.method === 'GET' && sub === '/managed-resources') {
        return this.json(res, 200, {
          items: (app.status.resources ?? []).map((x: Json) => ({
            ...x,
            targetState: '{}',
            liveState: 'null',
            modified: false,
          })),
        });
      }
    }
    this.text(res, 404, 'Not Found');
  }

  private authorized(r: RecordedRequest): boolean {
    const header = r.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    return token === this.token || this.sessions.has(token);
  }

  private login(r: RecordedRequest, res: http.ServerResponse): void {
    const { username, password } = JSON.parse(r.body || '{}');
    if (!username || !password) return this.grpcError(res, 401, 16, 'no credentials supplied');
    if (this.users.get(username) !== password)
      return this.grpcError(res, 401, 16, 'Invalid username or password');
    const token = `eyJhbGciOiJIUzI1NiJ9.session-${this.sessions.size + 1}-${Math.random().toString(36).slice(2)}.sig`;
    this.sessions.add(token);
    this.json(res, 200, { token });
  }

  private sync(name: string, r: RecordedRequest, res: http.ServerResponse): void {
    this.syncPosts += 1;
    const body = JSON.parse(r.body || '{}');
    const app = this.app(name);
    const target = app.spec.source.targetRevision;
    if (
      app.spec.syncPolicy?.automated &&
      body.revision &&
      body.revision !== target &&
      body.revision !== this.head
    ) {
      return this.grpcError(
        res,
        400,
        9,
        `Cannot sync to ${body.revision}: auto-sync currently set to ${target}`,
      );
    }
    if (app.operation)
      return this.grpcError(res, 400, 9, 'another operation is already in progress');
    const revision = body.revision || this.head;
    this.startOperation(name, revision, { username: 'promoter' }, body.infos ?? []);
    this.json(res, 200, this.app(name));
  }

  private stream(r: RecordedRequest, res: http.ServerResponse): void {
    const script = this.streams.shift() ?? {};
    if (script.status)
      return script.text !== undefined
        ? this.text(res, script.status, script.text)
        : this.grpcError(res, script.status, 14, 'unavailable');
    const sse = !this.ignoreAccept && (r.headers.accept ?? '').includes('text/event-stream');
    res.writeHead(200, {
      'content-type': sse ? 'text/event-stream' : 'application/json',
      'transfer-encoding': 'chunked',
    });
    res.flushHeaders();
    const client: StreamClient = {
      res,
      name: r.query.get('name') ?? undefined,
      sse,
      sent: 0,
      script,
      lastPayload: new Map(),
    };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    if (script.silent) return;
    const since = r.query.get('resourceVersion');
    if (!since || client.name) {
      for (const app of [...this.apps.values()].sort((a, b) =>
        a.metadata.name.localeCompare(b.metadata.name),
      )) {
        if (!client.name || client.name === app.metadata.name) this.send(client, 'ADDED', app);
      }
    }
  }

  private broadcast(type: string, app: Json): void {
    for (const c of [...this.clients]) {
      if (c.script.silent || (c.name && c.name !== app.metadata.name)) continue;
      this.send(c, type, app);
    }
  }

  private send(c: StreamClient, type: string, app: Json): void {
    const s = c.script;
    if (s.dropAfter !== undefined && c.sent >= s.dropAfter) return void c.res.destroy();
    if (s.errorAfter !== undefined && c.sent >= s.errorAfter) {
      this.write(
        c,
        JSON.stringify({
          error: s.errorChunk ?? {
            grpc_code: 14,
            http_code: 503,
            message: 'stream terminated by server',
            http_status: 'Service Unavailable',
          },
        }),
      );
      this.clients.delete(c);
      return void c.res.end();
    }
    if (s.malformedAfter !== undefined && c.sent >= s.malformedAfter) {
      this.write(c, '{"result": {"type": "MODIFIED", "application": ');
      this.clients.delete(c);
      return void c.res.end();
    }
    const payload = JSON.stringify({ result: { type, application: app } });
    if (c.lastPayload.get(app.metadata.name) === payload) return; // the forwarder's de-duplication
    c.lastPayload.set(app.metadata.name, payload);
    c.sent += 1;
    this.write(c, payload);
  }

  private write(c: StreamClient, json: string): void {
    // grpc-gateway: the message, then the "\n" delimiter; in SSE mode wrapped as `data: … \n\n`.
    c.res.write(c.sse ? `data: ${json} \n\n\n` : `${json}\n`);
  }

  json(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  text(res: http.ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(text);
  }

  grpcError(res: http.ServerResponse, status: number, code: number, message: string): void {
    this.json(res, status, { error: message, code, message });
  }
}
