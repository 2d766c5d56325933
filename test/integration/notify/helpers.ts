/**
 * Real local HTTP receivers (node:http on 127.0.0.1) and a manual clock for the notification
 * tests. A receiver records every request (headers, raw body, the signature check with its
 * secret) and answers from a script: one answer per request in order, the last one repeated.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StackEvent } from '../../../src/shared/events.ts';
import {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyBodySignature,
} from '../../../src/shared/signed-post.ts';
import type { NotifyClock } from '../../../src/notify/notifier.ts';

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: unknown;
  /** With a secret: whether X-Stackswap-Signature-256 matches the body and timestamp. */
  signatureOk: boolean | undefined;
  deliveryId: string | undefined;
  status: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Replaces the script (answers for the next requests). */
  answer(...answers: Answer[]): void;
  close(): Promise<void>;
}

export async function startReceiver(
  options: {
    secret?: string;
    answers?: Answer[];
    /** The clock the signature's timestamp is judged by. */
    nowSeconds?: () => number;
    /** Refuse requests whose signature does not verify (401), as a real receiver should. */
    enforceSignature?: boolean;
  } = {},
): Promise<Receiver> {
  let script: Answer[] = options.answers ?? [{ status: 200, body: 'ok' }];
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signatureOk =
        options.secret === undefined
          ? undefined
          : verifyBodySignature(
              options.secret,
              {
                signature: req.headers[SIGNATURE_HEADER] as string | undefined,
                timestamp: req.headers[TIMESTAMP_HEADER] as string | undefined,
              },
              body,
              options.nowSeconds ? { nowSeconds: options.nowSeconds() } : {},
            );
      let answer = script.length > 1 ? script.shift()! : script[0]!;
      if (options.enforceSignature && signatureOk === false) {
        answer = { status: 401, body: 'bad signature' };
      }
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body,
        json,
        signatureOk,
        deliveryId: req.headers[DELIVERY_HEADER] as string | undefined,
        status: answer.status,
      });
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    answer: (...answers) => {
      script = answers;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Time moves only when the test says so; sleeps resolve as it passes their end. */
export class ManualClock implements NotifyClock {
  private timers: { at: number; resolve: () => void }[] = [];
  readonly sleeps: number[] = [];

  constructor(public t = Date.parse('2026-12-02T12:00:00Z')) {}

  now = (): number => this.t;

  sleep = (ms: number, signal: AbortSignal): Promise<void> => {
    this.sleeps.push(ms);
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = { at: this.t + ms, resolve };
      this.timers.push(timer);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  };

  /** Sleeps waiting now. */
  get waiting(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((t) => t.at <= this.t);
    this.timers = this.timers.filter((t) => t.at > this.t);
    for (const t of due) t.resolve();
  }
}

/** A clock whose sleeps pass at once (recording their length): for retry sequences. */
export class InstantClock implements NotifyClock {
  readonly sleeps: number[] = [];
  constructor(public t = Date.parse('2026-12-02T12:00:00Z')) {}
  now = (): number => this.t;
  sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.t += ms;
  };
}

/** Polls until `check` holds (behaviour, not speed: generous bound). */
export async function until(
  check: () => boolean,
  what: string | (() => string),
  timeoutMs = 10_000,
) {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let counter = 0;
/** A StackEvent built with the schema (as an operation emits it). */
export function stackEvent(overrides: Partial<StackEvent> & Pick<StackEvent, 'type'>): StackEvent {
  counter += 1;
  const operationId = overrides.operationId ?? '00000000-0000-4000-8000-000000000001';
  return StackEvent.parse({
    id: `${operationId}.${counter}`,
    at: '2026-12-02T12:00:00.000Z',
    stack: 'my-app',
    operationId,
    operation: 'swap',
    actor: 'alice',
    live: 'green',
    preview: 'blue',
    versions: { blue: { web: '1.1.0' }, green: { web: '1.2.0' } },
    commit: { sha: 'a'.repeat(40), url: `https://git.example.com/c/-/commit/${'a'.repeat(40)}` },
    ...overrides,
  });
}
