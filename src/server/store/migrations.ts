/**
 * The PostgreSQL schema, as numbered migrations applied in order at start-up. Each migration
 * runs in a transaction of its own and is recorded in `stackswap_schema_migrations`; the whole
 * run holds a session advisory lock, so replicas starting together apply each migration once
 * (the others wait, then find nothing left to do). Migrations only add: a replica of the
 * previous release keeps working on a newer schema during a rolling upgrade.
 */
import type pg from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'operations journal, events and idempotency keys',
    sql: `
      CREATE TABLE stackswap_operations (
        id uuid PRIMARY KEY,
        stack text NOT NULL,
        kind text NOT NULL,
        requested_by text NOT NULL,
        created_at timestamptz NOT NULL,
        request jsonb NOT NULL,
        idempotency_scope text,
        idempotency_key text,
        idempotency_fingerprint text,
        state text NOT NULL DEFAULT 'running',
        finished_at timestamptz,
        result jsonb,
        error jsonb,
        interrupted jsonb,
        replica text NOT NULL
      );
      CREATE UNIQUE INDEX stackswap_operations_idempotency
        ON stackswap_operations (idempotency_scope, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
      CREATE INDEX stackswap_operations_running ON stackswap_operations (stack) WHERE state = 'running';
      CREATE INDEX stackswap_operations_created ON stackswap_operations (created_at DESC, id);
      CREATE TABLE stackswap_operation_events (
        operation_id uuid NOT NULL REFERENCES stackswap_operations (id) ON DELETE CASCADE,
        seq integer NOT NULL,
        type text NOT NULL,
        data jsonb NOT NULL,
        PRIMARY KEY (operation_id, seq)
      );
    `,
  },
  {
    version: 2,
    name: 'webhook delivery ids and pending hook callbacks',
    sql: `
      -- A forge's delivery id seen once (GitLab X-Gitlab-Event-UUID, GitHub X-GitHub-Delivery):
      -- a redelivery to another replica is recognised.
      CREATE TABLE stackswap_webhook_deliveries (
        source text NOT NULL,
        delivery_id text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (source, delivery_id)
      );
      -- A hook that answers later: its callback may reach any replica.
      CREATE TABLE stackswap_hook_callbacks (
        id uuid PRIMARY KEY,
        operation_id uuid NOT NULL REFERENCES stackswap_operations (id) ON DELETE CASCADE,
        hook text NOT NULL,
        token_sha256 text NOT NULL,
        state text NOT NULL DEFAULT 'pending',
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        answered_at timestamptz,
        answer jsonb
      );
      CREATE INDEX stackswap_hook_callbacks_pending ON stackswap_hook_callbacks (operation_id)
        WHERE state = 'pending';
    `,
  },
  {
    version: 3,
    name: 'notification outbox',
    sql: `
      -- One row per (event, destination): the dedup key. Env var names only, never a URL or a
      -- secret. owner/lease_until: the replica delivering it; an expired lease (its replica
      -- died) lets another replica take the row over.
      CREATE TABLE stackswap_notification_outbox (
        key text PRIMARY KEY,
        seq bigserial NOT NULL,
        stack text NOT NULL,
        operation_id text NOT NULL,
        target jsonb NOT NULL,
        event jsonb NOT NULL,
        state text NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at bigint NOT NULL,
        last_error text,
        created_at bigint NOT NULL,
        settled_at bigint,
        owner text NOT NULL,
        lease_until timestamptz NOT NULL
      );
      CREATE INDEX stackswap_notification_outbox_operation
        ON stackswap_notification_outbox (operation_id, seq);
      CREATE INDEX stackswap_notification_outbox_pending
        ON stackswap_notification_outbox (seq) WHERE state = 'pending';
    `,
  },
  {
    version: 4,
    name: 'webhook deliveries keep their event until their work is done',
    sql: `
      -- An accepted delivery's event, until its work is over (done_at): a restart takes the
      -- pending ones up again (their operations are idempotent on the delivery).
      ALTER TABLE stackswap_webhook_deliveries ADD COLUMN event jsonb;
      ALTER TABLE stackswap_webhook_deliveries ADD COLUMN done_at timestamptz;
      CREATE INDEX stackswap_webhook_deliveries_pending ON stackswap_webhook_deliveries (received_at)
        WHERE event IS NOT NULL AND done_at IS NULL;
    `,
  },
  {
    version: 5,
    name: 'operations of one stack, newest first',
    sql: `
      -- GET /v1/operations?stack=: the list of one stack without a scan of every operation.
      CREATE INDEX stackswap_operations_stack_created
        ON stackswap_operations (stack, created_at DESC, id DESC);
    `,
  },
];

/** Advisory lock key (two int4) of the migration run: 'stks' and 0. */
export const MIGRATION_LOCK: readonly [number, number] = [0x73746b73, 0];

export interface MigrationRun {
  applied: number[];
  /** The database has migrations this release does not know (a newer release ran). */
  newer: number[];
}

/** Applies the missing migrations on `client` (a connection of its own), under the lock. */
export async function migrate(
  client: pg.ClientBase,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationRun> {
  await client.query('SELECT pg_advisory_lock($1, $2)', [...MIGRATION_LOCK]);
  try {
    await client.query(`
      CREATE TABLE IF NOT EXISTS stackswap_schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const done = new Set(
      (
        await client.query<{ version: number }>('SELECT version FROM stackswap_schema_migrations')
      ).rows.map((r) => r.version),
    );
    const known = new Set(migrations.map((m) => m.version));
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query(
          'INSERT INTO stackswap_schema_migrations (version, name) VALUES ($1, $2)',
          [migration.version, migration.name],
        );
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
      applied.push(migration.version);
    }
    return { applied, newer: [...done].filter((v) => !known.has(v)).sort((a, b) => a - b) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK]);
  }
}
