/**
 * `npm start`'s notification receiver (issue 13): a generic signed-webhook receiver on
 * 127.0.0.1, as a team would run one. It checks every request's X-Stackswap-Signature-256
 * against the shared secret (401 when it does not verify), dedupes redeliveries by
 * X-Stackswap-Delivery, and keeps the events it accepted; the demo prints them at the end,
 * one line each.
 *
 * The demo's config repo gets a `notifications` entry pointing every stack at it
 * (`withDemoNotifications`), through env vars, exactly as a real stackswap.yaml would.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exampleSourceWith, type ExampleCopy } from '../sandbox/example-source.ts';
import { StackEvent } from '../shared/events.ts';
import {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyBodySignature,
} from '../shared/signed-post.ts';
import { headline } from '../notify/slack-message.ts';

export const DEMO_URL_ENV = 'STACKSWAP_NOTIFY_DEMO_URL';
export const DEMO_SECRET_ENV = 'STACKSWAP_NOTIFY_DEMO_SECRET';

export interface ReceivedNotification {
  receivedAt: number;
  event: StackEvent;
}

export interface DemoReceiver {
  /** The env the CLI needs to reach it. */
  env: Record<string, string>;
  received: ReceivedNotification[];
  /** Requests refused: bad signature or not a StackEvent. */
  refused: number;
  duplicates: number;
  close(): Promise<void>;
}

export async function startDemoReceiver(): Promise<DemoReceiver> {
  const secret = randomBytes(24).toString('hex');
  const seen = new Set<string>();
  const state: DemoReceiver = {
    env: {},
    received: [],
    refused: 0,
    duplicates: 0,
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signed = verifyBodySignature(
        secret,
        {
          signature: req.headers[SIGNATURE_HEADER] as string | undefined,
          timestamp: req.headers[TIMESTAMP_HEADER] as string | undefined,
        },
        body,
      );
      let event: StackEvent | undefined;
      try {
        const parsed = StackEvent.safeParse(JSON.parse(body));
        event = parsed.success ? parsed.data : undefined;
      } catch {
        event = undefined;
      }
      if (!signed || !event) {
        state.refused += 1;
        res.writeHead(signed ? 400 : 401).end();
        return;
      }
      const id = (req.headers[DELIVERY_HEADER] as string | undefined) ?? event.id;
      if (seen.has(id)) state.duplicates += 1;
      else {
        seen.add(id);
        state.received.push({ receivedAt: Date.now(), event });
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.env = { [DEMO_URL_ENV]: `http://127.0.0.1:${port}/stackswap`, [DEMO_SECRET_ENV]: secret };
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** A copy of the example config whose stacks all notify the demo receiver of every event. */
export function withDemoNotifications(sourceDir: string): Promise<ExampleCopy> {
  return exampleSourceWith(sourceDir, (doc, stacks) => {
    for (const name of stacks) {
      doc.setIn(
        ['stacks', name, 'notifications'],
        doc.createNode([
          {
            name: 'demo-receiver',
            webhook: { urlEnv: DEMO_URL_ENV, secretEnv: DEMO_SECRET_ENV },
            on: ['*'],
          },
        ]),
      );
    }
  });
}

/** One line per notification: time, event type, what happened, who, commit. */
export function notificationLines(received: readonly ReceivedNotification[]): string[] {
  return received.map(({ receivedAt, event }) => {
    const time = new Date(receivedAt).toISOString().slice(11, 23);
    const commit = event.commit ? ` @${event.commit.sha.slice(0, 8)}` : '';
    const why = event.reason ? ` (${event.reason.slice(0, 120)})` : '';
    return `  ${time}  ${event.type.padEnd(19)} ${headline(event)}${why}; by ${event.actor}${commit}`;
  });
}
