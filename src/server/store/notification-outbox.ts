/**
 * The notification outbox in PostgreSQL (several replicas; src/notify/outbox.ts has the
 * contract). The row's primary key is the dedup key, so an event offered twice, by any
 * replica, is kept once (`ON CONFLICT DO NOTHING`).
 *
 * Ownership: a replica delivers the rows it added, and holds a lease on them (renewed by each
 * update and by `renew()`, which the service calls periodically). `pending()` (at start and on
 * each sweep) takes over the rows whose lease has expired: their replica died with deliveries
 * pending. A row is delivered by one replica at a time; a replica that stalls past its lease
 * may cause one duplicate, which the receivers dedupe by X-Stackswap-Delivery (the event id).
 */
import pg from 'pg';
import { z } from 'zod';
import { OutboxEntry, type OutboxStore, type OutboxUpdate } from '../../notify/outbox.ts';
import { migrate } from './migrations.ts';

export interface PostgresOutboxOptions {
  url: string;
  replica: string;
  /** How long a replica's hold on its rows lasts without renewal; default 2 min. */
  leaseMs?: number;
}

const Row = z.object({
  key: z.string(),
  stack: z.string(),
  operation_id: z.string(),
  target: z.unknown(),
  event: z.unknown(),
  state: z.string(),
  attempts: z.number(),
  next_attempt_at: z.union([z.string(), z.number()]),
  last_error: z.string().nullable(),
  created_at: z.union([z.string(), z.number()]),
  settled_at: z.union([z.string(), z.number()]).nullable(),
});

const COLUMNS =
  'key, stack, operation_id, target, event, state, attempts, next_attempt_at, last_error, created_at, settled_at';

export class PostgresOutbox implements OutboxStore {
  private readonly pool: pg.Pool;
  private migrated: Promise<unknown> | undefined;
  private readonly leaseSeconds: number;

  constructor(private readonly options: PostgresOutboxOptions) {
    this.leaseSeconds = Math.ceil((options.leaseMs ?? 120_000) / 1000);
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: 2,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      query_timeout: 10_000,
    });
    this.pool.on('error', () => undefined);
  }

  private ready(): Promise<unknown> {
    this.migrated ??= (async () => {
      const client = await this.pool.connect();
      try {
        return await migrate(client);
      } finally {
        client.release();
      }
    })().catch((e: unknown) => {
      this.migrated = undefined;
      throw e;
    });
    return this.migrated;
  }

  async add(entries: readonly OutboxEntry[]): Promise<OutboxEntry[]> {
    await this.ready();
    const added: OutboxEntry[] = [];
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      for (const e of entries) {
        const result = await client.query(
          `INSERT INTO stackswap_notification_outbox
             (key, stack, operation_id, target, event, state, attempts, next_attempt_at, created_at,
              owner, lease_until)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(secs => $11))
           ON CONFLICT (key) DO NOTHING`,
          [
            e.key,
            e.stack,
            e.operationId,
            JSON.stringify(e.target),
            JSON.stringify(e.event),
            e.state,
            e.attempts,
            e.nextAttemptAt,
            e.createdAt,
            this.options.replica,
            this.leaseSeconds,
          ],
        );
        if (result.rowCount === 1) added.push(e);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    return added;
  }

  async update(key: string, u: OutboxUpdate): Promise<void> {
    await this.ready();
    await this.pool.query(
      `UPDATE stackswap_notification_outbox
          SET state = $2, attempts = $3, next_attempt_at = $4, last_error = $5, settled_at = $6,
              lease_until = now() + make_interval(secs => $7)
        WHERE key = $1`,
      [
        key,
        u.state,
        u.attempts,
        u.nextAttemptAt,
        u.lastError ?? null,
        u.settledAt ?? null,
        this.leaseSeconds,
      ],
    );
  }

  /** Pending rows this replica owns, or whose owner's lease ran out (taken over), in order. */
  async pending(): Promise<OutboxEntry[]> {
    await this.ready();
    const result = await this.pool.query(
      `UPDATE stackswap_notification_outbox
          SET owner = $1, lease_until = now() + make_interval(secs => $2)
        WHERE state = 'pending' AND (owner = $1 OR lease_until < now())
        RETURNING seq, ${COLUMNS}`,
      [this.options.replica, this.leaseSeconds],
    );
    return result.rows
      .sort((a: { seq: string }, b: { seq: string }) => Number(a.seq) - Number(b.seq))
      .map(toEntry);
  }

  /** Extends this replica's hold on its pending rows. */
  async renew(): Promise<void> {
    await this.ready();
    await this.pool.query(
      `UPDATE stackswap_notification_outbox SET lease_until = now() + make_interval(secs => $2)
        WHERE owner = $1 AND state = 'pending'`,
      [this.options.replica, this.leaseSeconds],
    );
  }

  async byOperation(operationId: string): Promise<OutboxEntry[]> {
    await this.ready();
    const result = await this.pool.query(
      `SELECT ${COLUMNS} FROM stackswap_notification_outbox WHERE operation_id = $1 ORDER BY seq`,
      [operationId],
    );
    return result.rows.map(toEntry);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function toEntry(raw: unknown): OutboxEntry {
  const row = Row.parse(raw);
  return OutboxEntry.parse({
    key: row.key,
    stack: row.stack,
    operationId: row.operation_id,
    target: row.target,
    event: row.event,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: Number(row.next_attempt_at),
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
    createdAt: Number(row.created_at),
    ...(row.settled_at !== null ? { settledAt: Number(row.settled_at) } : {}),
  });
}
