/**
 * Minimal Argo CD REST client for the tests: JSON calls that keep status, headers and raw
 * text, a watch-stream reader for both wire modes, and a condition poller.
 */
import type { Application } from '../../../../src/sandbox/argocd/types.ts';

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  json: T;
}

export class ArgoClient {
  constructor(
    readonly url: string,
    readonly token: string | undefined,
  ) {}

  async call<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; token?: string | null } = {},
  ): Promise<Reply<T>> {
    const token = options.token === undefined ? this.token : options.token;
    const headers: Record<string, string> = {
      ...(method === 'GET' ? {} : { 'Content-Type': 'application/json' }),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...options.headers,
    };
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json: json as T };
  }

  get<T = unknown>(
    path: string,
    options?: { token?: string | null; headers?: Record<string, string> },
  ) {
    return this.call<T>('GET', path, options);
  }

  post<T = unknown>(path: string, body: unknown, options?: { headers?: Record<string, string> }) {
    return this.call<T>('POST', path, { body, ...options });
  }

  delete<T = unknown>(path: string, options?: { headers?: Record<string, string> }) {
    return this.call<T>('DELETE', path, options);
  }

  async app(name: string): Promise<Application> {
    const reply = await this.get<Application>(`/api/v1/applications/${name}`);
    if (reply.status !== 200) throw new Error(`GET ${name}: ${reply.status} ${reply.text}`);
    return reply.json;
  }

  async sync(name: string, body: Record<string, unknown> = {}): Promise<Reply<Application>> {
    return this.post<Application>(`/api/v1/applications/${name}/sync`, body);
  }

  watch(query: string, options: { sse?: boolean } = {}): Promise<Watch> {
    return Watch.open(`${this.url}/api/v1/stream/applications${query}`, this.token, options.sse);
  }
}

export interface Envelope {
  result?: { type: string; application: Application };
  error?: { grpc_code: number; http_code: number; message: string; http_status: string };
}

/** A watch stream being read: every parsed message, raw wire text, and how it ended. */
export class Watch {
  readonly messages: Envelope[] = [];
  raw = '';
  keepalives = 0;
  ended: Promise<'end' | 'error'>;
  private readonly waiters = new Set<() => void>();
  private constructor(
    readonly response: Response,
    private readonly abort: AbortController,
  ) {
    this.ended = this.pump();
  }

  static async open(url: string, token: string | undefined, sse = false): Promise<Watch> {
    const abort = new AbortController();
    const response = await fetch(url, {
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(sse ? { Accept: 'text/event-stream' } : {}),
      },
      signal: abort.signal,
    });
    return new Watch(response, abort);
  }

  private async pump(): Promise<'end' | 'error'> {
    const reader = this.response.body?.getReader();
    if (!reader) return 'end';
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'end';
        const text = decoder.decode(value, { stream: true });
        this.raw += text;
        buffer += text;
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          this.line(buffer.slice(0, newline));
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
        }
        for (const waiter of [...this.waiters]) waiter();
      }
    } catch {
      return 'error';
    } finally {
      for (const waiter of [...this.waiters]) waiter();
    }
  }

  private line(line: string): void {
    if (line === '') return;
    if (line === ':') {
      this.keepalives += 1;
      return;
    }
    const json = line.startsWith('data:') ? line.slice('data:'.length) : line;
    this.messages.push(JSON.parse(json) as Envelope);
  }

  /** Resolves with the first message (from `from` on) matching `predicate`. */
  async next(
    predicate: (m: Envelope) => boolean,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<Envelope> {
    const deadline = Date.now() + (options.timeoutMs ?? 45_000);
    let settled = false;
    void this.ended.then(() => (settled = true));
    for (;;) {
      const found = this.messages.slice(options.from ?? 0).find(predicate);
      if (found) return found;
      if (settled) throw new Error(`stream ended before a matching event: ${this.summary()}`);
      if (Date.now() > deadline) throw new Error(`no matching event in time: ${this.summary()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  summary(): string {
    return this.messages
      .map((m) =>
        m.result
          ? `${m.result.type} ${m.result.application.metadata?.name} rv=${m.result.application.metadata?.resourceVersion} op=${m.result.application.status?.operationState?.phase} sync=${m.result.application.status?.sync?.status} health=${m.result.application.status?.health?.status}`
          : `error ${JSON.stringify(m.error)}`,
      )
      .join('\n');
  }

  close(): void {
    this.abort.abort();
  }
}

/** Polls `probe` until it returns a value other than undefined (no fixed sleeps in tests). */
export async function eventually<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 45_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${options.what ?? 'condition'}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
