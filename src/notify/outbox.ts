/**
 * The notification outbox: one entry per (event, destination), written before any attempt, so
 * a delivery survives the process that queued it. Its key `<event id>><target name>` is the
 * deduplication: the same event offered twice (a replay, a retry of the emitter) is kept once.
 *
 * Three stores, one interface: in memory (the CLI: it waits a bounded time at exit and says
 * what it could not deliver), a file next to the service's journal (`notifications.jsonl`,
 * one replica), and PostgreSQL (src/server/store/notification-outbox.ts, several replicas).
 * The entry holds the target's env var names, never its URL or secret.
 */
import { z } from 'zod';
import { StackEvent } from '../shared/events.ts';
import type { NotificationTarget } from '../config/notifications-config.ts';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export const OutboxTarget = z.object({
  name: z.string(),
  kind: z.enum(['slack', 'webhook']),
  urlEnv: z.string(),
  secretEnv: z.string().optional(),
  on: z.array(z.string()),
});

export const OutboxEntry = z.object({
  key: z.string(),
  stack: z.string(),
  operationId: z.string(),
  target: OutboxTarget,
  event: StackEvent,
  state: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int().min(0),
  /** Epoch ms: not before. */
  nextAttemptAt: z.number(),
  lastError: z.string().optional(),
  createdAt: z.number(),
  /** When it was delivered or given up. */
  settledAt: z.number().optional(),
});
export type OutboxEntry = z.infer<typeof OutboxEntry>;

export type OutboxUpdate = Pick<OutboxEntry, 'state' | 'attempts' | 'nextAttemptAt'> &
  Partial<Pick<OutboxEntry, 'lastError' | 'settledAt'>>;

export interface OutboxStore {
  /** Adds the entries whose key is new; returns those it added, in order. */
  add(entries: readonly OutboxEntry[]): Promise<OutboxEntry[]>;
  update(key: string, update: OutboxUpdate): Promise<void>;
  /** Entries still to deliver, in the order they were added (for a restart). */
  pending(): Promise<OutboxEntry[]>;
  /** Every delivery of one operation's events, in order. */
  byOperation(operationId: string): Promise<OutboxEntry[]>;
  close(): Promise<void>;
}

export function outboxKey(eventId: string, targetName: string): string {
  return `${eventId}>${targetName}`;
}

export function newEntry(event: StackEvent, target: NotificationTarget, now: number): OutboxEntry {
  return {
    key: outboxKey(event.id, target.name),
    stack: event.stack,
    operationId: event.operationId,
    target: {
      name: target.name,
      kind: target.kind,
      urlEnv: target.urlEnv,
      ...(target.secretEnv ? { secretEnv: target.secretEnv } : {}),
      on: [...target.on],
    },
    event,
    state: 'pending',
    attempts: 0,
    nextAttemptAt: now,
    createdAt: now,
  };
}

/** What `GET /v1/operations/:id` and the CLI show of a delivery. */
export interface DeliveryView {
  eventId: string;
  eventType: string;
  target: string;
  kind: 'slack' | 'webhook';
  state: DeliveryState;
  attempts: number;
  lastError?: string;
}

export function deliveryView(entry: OutboxEntry): DeliveryView {
  return {
    eventId: entry.event.id,
    eventType: entry.event.type,
    target: entry.target.name,
    kind: entry.target.kind,
    state: entry.state,
    attempts: entry.attempts,
    ...(entry.lastError ? { lastError: entry.lastError } : {}),
  };
}

/** The CLI's outbox: the process is the whole life of its deliveries. */
export class MemoryOutbox implements OutboxStore {
  protected readonly entries = new Map<string, OutboxEntry>();

  async add(entries: readonly OutboxEntry[]): Promise<OutboxEntry[]> {
    const added: OutboxEntry[] = [];
    for (const entry of entries) {
      if (this.entries.has(entry.key)) continue;
      this.entries.set(entry.key, { ...entry });
      added.push(entry);
    }
    return added;
  }

  async update(key: string, update: OutboxUpdate): Promise<void> {
    const entry = this.entries.get(key);
    if (entry) Object.assign(entry, update);
  }

  async pending(): Promise<OutboxEntry[]> {
    return [...this.entries.values()].filter((e) => e.state === 'pending').map((e) => ({ ...e }));
  }

  async byOperation(operationId: string): Promise<OutboxEntry[]> {
    return [...this.entries.values()]
      .filter((e) => e.operationId === operationId)
      .map((e) => ({ ...e }));
  }

  async close(): Promise<void> {}
}
