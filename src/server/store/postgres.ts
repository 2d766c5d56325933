/**
 * Operations in PostgreSQL, shared by every replica (STACKSWAP_DATABASE_URL):
 *
 * - the journal: one row per operation (its start and, once it ended, its end) and one row per
 *   progress event. Appends of one operation are written in order; events and ends are retried
 *   while the database is away (a restart loses nothing: they land once it is back), a start
 *   is tried once, so the caller learns at once (503) that nothing was accepted;
 * - idempotency keys: a unique index on (scope, key), so two replicas cannot both record one;
 * - the per-stack guard: a session advisory lock taken on a connection of its own, held for the
 *   operation's whole run and released with it. A replica that dies (kill -9, node lost) drops
 *   its connection, and PostgreSQL frees the lock with it. The holder checks its connection
 *   every lease/3 (TCP keepalives too); when it cannot, the claim's `lost` signal fires and the
 *   operation stops at its next safe point (another replica may claim the stack by then).
 *
 * - stack changes: a replica that ended an operation tells the others (NOTIFY on
 *   `stackswap_stack_changed`, the payload naming the replica and the stack), so each drops its
 *   cached status of that stack at once; each listens on a connection of its own, reconnects
 *   with a bounded backoff when it drops (a database restart), and then drops every cached
 *   status, since what was sent while it was away is lost.
 *
 * Migrations run at open under their own advisory lock (migrations.ts). When the database is
 * not reachable at start, the service starts not-ready, and the next use migrates.
 */
import pg from 'pg';
import { z } from 'zod';
import { EndEntry, JournalEvent, StartEntry } from '../operations/journal.ts';
import type { JournalEntry, JournaledOperation } from '../operations/journal.ts';
import {
  IdempotencyConflict,
  type JournalWriter,
  type SharedOperations,
  type StackClaim,
} from '../operations/store.ts';
import type { OperationState } from '../schemas.ts';
import { migrate, type MigrationRun } from './migrations.ts';
import type { DeliveryTable } from '../webhooks/deliveries.ts';

/** Advisory lock class of stack guards ('stkl'); the object key is hashtext(stack). */
const STACK_LOCK_CLASS = 0x73746b6c;

/** The NOTIFY channel of "an operation on this stack ended" (payload: StackChange as JSON). */
export const STACK_CHANGED_CHANNEL = 'stackswap_stack_changed';
/** Extra keys are ignored (a newer release may add some). */
const StackChange = z.object({ replica: z.string(), stack: z.string().min(1) });

interface Listener {
  stopped: boolean;
  client?: pg.Client;
  heartbeat?: NodeJS.Timeout;
  retry?: NodeJS.Timeout;
  /** Failed attempts since the last connection that listened. */
  failures: number;
  /** Notifications may have been missed (a drop, or a failed first attempt). */
  gap: boolean;
}

export interface PostgresStoreOptions {
  url: string;
  /** This process, recorded on the operations it starts. */
  replica: string;
  /** How long a lost holder may keep a stack before its claim is given up; default 15 s. */
  leaseMs?: number;
  /** How long event and end appends are retried while the database is away; default 10 min. */
  retryForMs?: number;
  poolSize?: number;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

const Row = z.object({
  id: z.string(),
  stack: z.string(),
  kind: z.string(),
  requested_by: z.string(),
  created_at: z.date(),
  request: z.unknown(),
  idempotency_scope: z.string().nullable(),
  idempotency_key: z.string().nullable(),
  idempotency_fingerprint: z.string().nullable(),
  state: z.string(),
  finished_at: z.date().nullable(),
  result: z.unknown().nullable(),
  error: z.unknown().nullable(),
  interrupted: z.unknown().nullable(),
});
type Row = z.infer<typeof Row>;

const EventRow = z.object({
  seq: z.number(),
  type: z.string(),
  data: z.unknown(),
});

const COLUMNS =
  'id, stack, kind, requested_by, created_at, request, idempotency_scope, idempotency_key, idempotency_fingerprint, state, finished_at, result, error, interrupted';

export class PostgresStore implements JournalWriter, SharedOperations, DeliveryTable {
  private readonly pool: pg.Pool;
  private migrated: Promise<MigrationRun> | undefined;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly claims = new Set<pg.Client>();
  private closed = false;
  private readonly leaseMs: number;
  private listener: Listener | undefined;

  constructor(private readonly options: PostgresStoreOptions) {
    this.leaseMs = options.leaseMs ?? 15_000;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      query_timeout: 10_000,
      // The server gives up too (query_timeout only stops waiting): no query or transaction
      // outlives its caller and holds a pooled connection or a row lock behind it.
      statement_timeout: 10_000,
      idle_in_transaction_session_timeout: 30_000,
      keepAlive: true,
    });
    // An idle pooled connection cut by a database restart: the pool drops it; nothing to do.
    this.pool.on('error', (e) =>
      options.logger.warn({ error: e.message }, 'database connection lost (pooled)'),
    );
  }

  /** Runs the migrations now; a database that cannot be reached is returned, not thrown. */
  async openAtStart(): Promise<{ run?: MigrationRun; failure?: unknown }> {
    try {
      return { run: await this.ensureMigrated() };
    } catch (failure) {
      return { failure };
    }
  }

  private ensureMigrated(): Promise<MigrationRun> {
    this.migrated ??= (async () => {
      const client = await this.pool.connect();
      let broken = false;
      try {
        // A migration (an index on a big table) may take longer than a request's query.
        await client.query('SET statement_timeout = 0');
        const run = await migrate(client);
        if (run.applied.length > 0) {
          this.options.logger.info({ applied: run.applied }, 'database schema migrated');
        }
        if (run.newer.length > 0) {
          this.options.logger.warn(
            { newer: run.newer },
            'the database has schema migrations this release does not know (a newer release ran); they only add, so this one carries on',
          );
        }
        return run;
      } finally {
        await client.query('RESET statement_timeout').catch(() => (broken = true));
        client.release(broken);
      }
    })().catch((e: unknown) => {
      this.migrated = undefined;
      throw e;
    });
    return this.migrated;
  }

  async ping(): Promise<void> {
    await this.ensureMigrated();
    await this.pool.query('SELECT 1');
  }

  // --- journal --------------------------------------------------------------------------

  append(entry: JournalEntry): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the journal is closed'));
    const previous = this.chains.get(entry.id) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => (entry.t === 'start' ? this.writeStart(entry) : this.retried(entry)));
    const tail = next.catch(() => undefined);
    this.chains.set(entry.id, tail);
    void tail.then(() => {
      if (this.chains.get(entry.id) === tail) this.chains.delete(entry.id);
    });
    return next;
  }

  private async writeStart(entry: StartEntry): Promise<void> {
    await this.ensureMigrated();
    try {
      await this.pool.query(
        `INSERT INTO stackswap_operations (id, stack, kind, requested_by, created_at, request,
           idempotency_scope, idempotency_key, idempotency_fingerprint, replica)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          entry.id,
          entry.stack,
          entry.kind,
          entry.requestedBy,
          entry.createdAt,
          JSON.stringify(entry.request),
          entry.idempotency?.scope ?? null,
          entry.idempotency?.key ?? null,
          entry.idempotency?.fingerprint ?? null,
          this.options.replica,
        ],
      );
    } catch (e) {
      if ((e as { code?: string }).code === '23505' && entry.idempotency) {
        throw new IdempotencyConflict();
      }
      throw e;
    }
  }

  private async retried(entry: JournalEntry): Promise<void> {
    const deadline = Date.now() + (this.options.retryForMs ?? 600_000);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ensureMigrated();
        await this.write(entry);
        if (attempt > 1) {
          this.options.logger.info({ operationId: entry.id, attempt }, 'journal write landed');
        }
        return;
      } catch (e) {
        if (this.closed || Date.now() > deadline) throw e;
        if (attempt === 1) {
          this.options.logger.warn(
            { operationId: entry.id, entry: entry.t, error: (e as Error).message },
            'journal write failed; retrying until the database is back',
          );
        }
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** (attempt - 1))));
      }
    }
  }

  private async write(entry: JournalEntry): Promise<void> {
    if (entry.t === 'event') {
      await this.pool.query(
        `INSERT INTO stackswap_operation_events (operation_id, seq, type, data)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [entry.id, entry.event.seq, entry.event.type, JSON.stringify(entry.event.data)],
      );
    } else if (entry.t === 'end') {
      // The first end recorded wins (another replica may have recorded an orphan's end).
      await this.pool.query(
        `UPDATE stackswap_operations
            SET state = $2, finished_at = $3, result = $4, error = $5, interrupted = $6
          WHERE id = $1 AND state = 'running'`,
        [
          entry.id,
          entry.state,
          entry.finishedAt,
          entry.result ? JSON.stringify(entry.result) : null,
          entry.error ? JSON.stringify(entry.error) : null,
          entry.interrupted ? JSON.stringify(entry.interrupted) : null,
        ],
      );
    } else {
      await this.writeStart(entry);
    }
  }

  // --- webhook deliveries ---------------------------------------------------------------

  /** True when the delivery id is new (now recorded); false when any replica saw it. */
  async recordDelivery(source: string, id: string, event?: unknown): Promise<boolean> {
    await this.ensureMigrated();
    const res = await this.pool.query(
      `INSERT INTO stackswap_webhook_deliveries (source, delivery_id, event) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING`,
      [source, id, event === undefined ? null : JSON.stringify(event)],
    );
    return res.rowCount === 1;
  }

  /** The delivery's work is over. */
  async finishDelivery(source: string, id: string): Promise<void> {
    await this.ensureMigrated();
    await this.pool.query(
      `UPDATE stackswap_webhook_deliveries SET done_at = now()
       WHERE source = $1 AND delivery_id = $2 AND done_at IS NULL`,
      [source, id],
    );
  }

  /** Accepted deliveries (by any replica) whose work never finished, oldest first. */
  async pendingDeliveries(): Promise<Array<{ source: string; id: string; event: unknown }>> {
    await this.ensureMigrated();
    const res = await this.pool.query<{ source: string; delivery_id: string; event: unknown }>(
      `SELECT source, delivery_id, event FROM stackswap_webhook_deliveries
       WHERE event IS NOT NULL AND done_at IS NULL ORDER BY received_at LIMIT 1000`,
    );
    return res.rows.map((r) => ({ source: r.source, id: r.delivery_id, event: r.event }));
  }

  /** Forgets a delivery whose work could not be started, so a redelivery runs it. */
  async forgetDelivery(source: string, id: string): Promise<void> {
    await this.ensureMigrated();
    await this.pool.query(
      'DELETE FROM stackswap_webhook_deliveries WHERE source = $1 AND delivery_id = $2',
      [source, id],
    );
  }

  // --- the stack guard ------------------------------------------------------------------

  async claim(stack: string): Promise<StackClaim | { busy: string | undefined }> {
    await this.ensureMigrated();
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: 5_000,
      query_timeout: Math.max(1_000, Math.floor(this.leaseMs / 2)),
      statement_timeout: Math.max(1_000, Math.floor(this.leaseMs / 2)),
      keepAlive: true,
      keepAliveInitialDelayMillis: Math.floor(this.leaseMs / 3),
    });
    const lost = new AbortController();
    const loseWith = (why: string) => {
      if (!lost.signal.aborted) lost.abort(new Error(why));
    };
    client.on('error', (e) =>
      loseWith(`the database connection holding the lock failed: ${e.message}`),
    );
    client.on('end', () => loseWith('the database connection holding the lock closed'));
    await client.connect();
    let held = false;
    try {
      // The server side notices a vanished client within the lease too.
      const seconds = Math.max(1, Math.floor(this.leaseMs / 3000));
      await client.query(
        `SET tcp_keepalives_idle = ${seconds}; SET tcp_keepalives_interval = ${seconds}; SET tcp_keepalives_count = 3`,
      );
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked',
        [STACK_LOCK_CLASS, stack],
      );
      held = rows[0]?.locked === true;
      if (!held) return { busy: await this.runningId(stack) };
      const orphans = await this.operations(
        `WHERE stack = $1 AND state = 'running' ORDER BY created_at`,
        [stack],
        'all',
      );
      this.claims.add(client);
      const heartbeat = setInterval(
        () => {
          client
            .query('SELECT 1')
            .catch((e: Error) =>
              loseWith(`the database did not answer on the lock's connection: ${e.message}`),
            );
        },
        Math.floor(this.leaseMs / 3),
      );
      heartbeat.unref();
      let released: Promise<void> | undefined;
      return {
        lost: lost.signal,
        orphans,
        release: () =>
          (released ??= (async () => {
            clearInterval(heartbeat);
            this.claims.delete(client);
            if (!lost.signal.aborted) {
              await client
                .query('SELECT pg_advisory_unlock($1, hashtext($2))', [STACK_LOCK_CLASS, stack])
                .catch(() => undefined);
            }
            // Closing the session frees the lock whatever happened above.
            await client.end().catch(() => undefined);
          })()),
      };
    } finally {
      if (!held) await client.end().catch(() => undefined);
    }
  }

  private async runningId(stack: string): Promise<string | undefined> {
    // The holder records its start right after taking the lock: give it a moment.
    for (let i = 0; i < 10; i++) {
      const { rows } = await this.pool.query<{ id: string }>(
        `SELECT id FROM stackswap_operations WHERE stack = $1 AND state = 'running'
          ORDER BY created_at DESC LIMIT 1`,
        [stack],
      );
      if (rows[0]) return rows[0].id;
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  }

  // --- reads ----------------------------------------------------------------------------

  async get(id: string): Promise<JournaledOperation | undefined> {
    if (!z.uuid().safeParse(id).success) return undefined;
    await this.ensureMigrated();
    const [op] = await this.operations('WHERE id = $1', [id], 'all');
    return op;
  }

  async byIdempotency(scope: string, key: string): Promise<JournaledOperation | undefined> {
    await this.ensureMigrated();
    const [op] = await this.operations(
      'WHERE idempotency_scope = $1 AND idempotency_key = $2',
      [scope, key],
      'all',
    );
    return op;
  }

  async list(filter: {
    stack?: string;
    state?: OperationState;
    limit: number;
  }): Promise<JournaledOperation[]> {
    await this.ensureMigrated();
    return this.operations(
      `WHERE ($1::text IS NULL OR stack = $1) AND ($2::text IS NULL OR state = $2)
        ORDER BY created_at DESC, id DESC LIMIT $3`,
      [filter.stack ?? null, filter.state ?? null, filter.limit],
      'steps',
    );
  }

  async running(): Promise<Map<string, { id: string; held: boolean }>> {
    await this.ensureMigrated();
    // `held`: some session holds the stack's lock (pg_locks: classid/objid are the two keys),
    // so its holder is alive; only the others are worth a claim. No connection per stack.
    const { rows } = await this.pool.query<{ stack: string; id: string; held: boolean }>(
      `SELECT DISTINCT ON (o.stack) o.stack, o.id,
              EXISTS (SELECT 1 FROM pg_locks l
                       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                         AND l.classid = $1::oid AND l.objid = hashtext(o.stack)::oid) AS held
         FROM stackswap_operations o
        WHERE o.state = 'running' ORDER BY o.stack, o.created_at DESC`,
      [STACK_LOCK_CLASS],
    );
    return new Map(rows.map((r) => [r.stack, { id: r.id, held: r.held }]));
  }

  /**
   * Rows and their events (`steps`: only step ends, enough for a list's views), in one query:
   * each row carries its events as a JSON array, read in seq order from the events' primary key.
   */
  private async operations(
    where: string,
    params: unknown[],
    events: 'all' | 'steps',
  ): Promise<JournaledOperation[]> {
    const { rows } = await this.pool.query(
      `SELECT ${COLUMNS}, COALESCE(
              (SELECT json_agg(json_build_object('seq', e.seq, 'type', e.type, 'data', e.data)
                               ORDER BY e.seq)
                 FROM stackswap_operation_events e
                WHERE e.operation_id = o.id ${events === 'steps' ? "AND e.type = 'step-end'" : ''}),
              '[]'::json) AS events
         FROM stackswap_operations o ${where}`,
      params,
    );
    return rows.map((raw) => {
      const row = Row.parse(raw);
      const list = z.array(EventRow).parse((raw as { events: unknown }).events);
      return toOperation(
        row,
        list.map((e) => JournalEvent.parse(e)),
      );
    });
  }

  // --- stack changes (LISTEN/NOTIFY) ----------------------------------------------------

  /** Tells the other replicas that an operation on the stack ended (their cached status is old). */
  async notifyStackChanged(stack: string): Promise<void> {
    const payload = JSON.stringify({ replica: this.options.replica, stack });
    await this.pool.query('SELECT pg_notify($1, $2)', [STACK_CHANGED_CHANNEL, payload]);
  }

  /**
   * Calls `onStack` with each stack another replica reports changed (this replica's own are
   * skipped: it invalidated them when they ended), on a connection of its own. When that
   * connection drops (a database restart, a terminated session, a heartbeat unanswered), it is
   * opened again after 250 ms doubling up to 5 s, and once it listens again `onMissed` is
   * called: what was sent meanwhile is lost. Resolves when the first attempt has listened or
   * failed (it never rejects). `close()` stops it.
   */
  listenStackChanges(onStack: (stack: string) => void, onMissed: () => void): Promise<void> {
    if (this.listener) throw new Error('already listening for stack changes');
    const state: Listener = { stopped: false, failures: 0, gap: false };
    this.listener = state;
    const { logger, replica } = this.options;
    const attempt = async (): Promise<void> => {
      state.retry = undefined;
      if (state.stopped) return;
      const client = new pg.Client({
        connectionString: this.options.url,
        connectionTimeoutMillis: 5_000,
        query_timeout: 5_000,
        keepAlive: true,
        application_name: 'stackswap-listener',
      });
      state.client = client;
      let dropped = false;
      const drop = (why: string) => {
        if (dropped) return;
        dropped = true;
        clearInterval(state.heartbeat);
        if (state.client === client) state.client = undefined;
        void client.end().catch(() => undefined);
        if (state.stopped) return;
        if (state.failures === 0) {
          logger.warn(
            { error: why },
            'the stack change listener lost its database connection; reconnecting (cached statuses may be up to the status TTL old meanwhile)',
          );
        }
        state.gap = true;
        const delay = Math.min(5_000, 250 * 2 ** state.failures);
        state.failures++;
        state.retry = setTimeout(() => void attempt(), delay);
        state.retry.unref();
      };
      client.on('error', (e) => drop(e.message));
      client.on('end', () => drop('the connection closed'));
      client.on('notification', (message) => {
        if (message.channel !== STACK_CHANGED_CHANNEL || message.payload === undefined) return;
        let change;
        try {
          change = StackChange.safeParse(JSON.parse(message.payload));
        } catch {
          return;
        }
        if (change.success && change.data.replica !== replica) onStack(change.data.stack);
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${STACK_CHANGED_CHANNEL}`);
      } catch (e) {
        drop((e as Error).message);
        return;
      }
      if (dropped || state.stopped) return;
      state.heartbeat = setInterval(
        () => {
          client
            .query('SELECT 1')
            .catch((e: Error) => drop(`the database did not answer: ${e.message}`));
        },
        Math.max(1_000, Math.floor(this.leaseMs / 3)),
      );
      state.heartbeat.unref();
      if (state.failures > 0) logger.info({}, 'the stack change listener listens again');
      state.failures = 0;
      if (state.gap) {
        state.gap = false;
        onMissed();
      }
    };
    return attempt();
  }

  private async stopListening(): Promise<void> {
    const state = this.listener;
    if (!state) return;
    state.stopped = true;
    clearTimeout(state.retry);
    clearInterval(state.heartbeat);
    await state.client?.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.stopListening();
    // Appends still under way (an end retried while the database is away) get a moment.
    await Promise.race([
      Promise.all([...this.chains.values()]),
      new Promise((r) => setTimeout(r, 5_000).unref()),
    ]);
    this.closed = true;
    await Promise.all([...this.claims].map((c) => c.end().catch(() => undefined)));
    await this.pool.end().catch(() => undefined);
  }
}

function toOperation(row: Row, events: JournalEvent[]): JournaledOperation {
  const start = StartEntry.parse({
    t: 'start',
    id: row.id,
    stack: row.stack,
    kind: row.kind,
    requestedBy: row.requested_by,
    createdAt: row.created_at.toISOString(),
    request: row.request,
    ...(row.idempotency_key !== null
      ? {
          idempotency: {
            scope: row.idempotency_scope,
            key: row.idempotency_key,
            fingerprint: row.idempotency_fingerprint,
          },
        }
      : {}),
  });
  const end =
    row.state === 'running'
      ? undefined
      : EndEntry.parse({
          t: 'end',
          id: row.id,
          state: row.state,
          finishedAt: (row.finished_at ?? row.created_at).toISOString(),
          ...(row.result !== null ? { result: row.result } : {}),
          ...(row.error !== null ? { error: row.error } : {}),
          ...(row.interrupted !== null ? { interrupted: row.interrupted } : {}),
        });
  return { start, events, end };
}
