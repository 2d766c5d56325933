/**
 * The PostgreSQL store on a real server: migrations applied once when several replicas start
 * together, the stack guard (one holder; freed when the holder's session ends, which the holder
 * learns through `lost`; what it left running is handed to the next claimant), idempotency keys
 * unique across replicas, and a database URL whose password never reaches a log or an answer.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationResult } from '../../../src/core/operations/context.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import { ApiError } from '../../../src/server/errors.ts';
import { ServerMetrics } from '../../../src/server/metrics.ts';
import { OperationManager, type ExecuteInput } from '../../../src/server/operations/manager.ts';
import { IdempotencyConflict, type StackClaim } from '../../../src/server/operations/store.ts';
import type { StartEntry } from '../../../src/server/operations/journal.ts';
import { MIGRATIONS } from '../../../src/server/store/migrations.ts';
import { PostgresStore } from '../../../src/server/store/postgres.ts';
import { gitOnlyService } from './helpers.ts';
import { startPostgres, type PostgresServer } from './postgres.ts';

let server: PostgresServer;
const stores: PostgresStore[] = [];
const quiet = { warn() {}, info() {} };

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await server?.stop();
});

function store(replica: string, leaseMs = 3_000): PostgresStore {
  const s = new PostgresStore({ url: server.url, replica, leaseMs, logger: quiet });
  stores.push(s);
  return s;
}

const start = (stack: string, key?: string): StartEntry => ({
  t: 'start',
  id: randomUUID(),
  stack,
  kind: 'deploy',
  requestedBy: 'test',
  createdAt: new Date().toISOString(),
  request: { method: 'POST', path: `/v1/stacks/${stack}/deploy`, body: {} },
  ...(key ? { idempotency: { scope: 'token:test', key, fingerprint: 'f' } } : {}),
});

describe('PostgreSQL store', () => {
  it('replicas starting together apply each migration once', async () => {
    const runs = await Promise.all(['a', 'b', 'c', 'd'].map((r) => store(r).openAtStart()));
    for (const run of runs) expect(run.failure).toBeUndefined();
    const applied = runs.flatMap((r) => r.run!.applied).sort();
    expect(applied).toEqual(MIGRATIONS.map((m) => m.version).sort());
    const client = new pg.Client(server.url);
    await client.connect();
    try {
      const { rows } = await client.query(
        'SELECT version FROM stackswap_schema_migrations ORDER BY version',
      );
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      const tables = await client.query(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE 'stackswap_%' ORDER BY tablename",
      );
      expect(tables.rows.map((r) => r.tablename)).toEqual([
        'stackswap_hook_callbacks',
        'stackswap_notification_outbox',
        'stackswap_operation_events',
        'stackswap_operations',
        'stackswap_schema_migrations',
        'stackswap_webhook_deliveries',
      ]);
    } finally {
      await client.end();
    }
  });

  it('one holder per stack; a holder whose session ends loses the claim, and the next claimant gets what it left running', async () => {
    const a = store('a');
    const b = store('b');
    const claim = (await a.claim('shop')) as StackClaim;
    expect('busy' in claim).toBe(false);
    const entry = start('shop');
    await a.append(entry);
    expect(await b.claim('shop')).toEqual({ busy: entry.id });
    expect((await b.running()).get('shop')).toEqual({ id: entry.id, held: true });
    // Another stack is free.
    const other = (await b.claim('cart')) as StackClaim;
    expect('busy' in other).toBe(false);
    await other.release();

    // The holder's session is cut (as a replica's death or a network loss would).
    const admin = new pg.Client(server.url);
    await admin.connect();
    try {
      const lost = new Promise((resolve) => claim.lost.addEventListener('abort', resolve));
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()",
      );
      await lost;
    } finally {
      await admin.end();
    }
    // The sweep's view: recorded as running, its guard free (an orphan).
    for (let i = 0; (await b.running()).get('shop')?.held !== false; i++) {
      if (i > 100) throw new Error('the lock stayed held');
      await new Promise((r) => setTimeout(r, 50));
    }
    const next = (await b.claim('shop')) as StackClaim;
    expect('busy' in next).toBe(false);
    expect(next.orphans.map((o) => o.start.id)).toEqual([entry.id]);
    await next.release();
    await claim.release();
  });

  it('an idempotency key is recorded once across replicas', async () => {
    const a = store('a');
    const b = store('b');
    const key = randomUUID();
    const first = start('shop', key);
    await a.append(first);
    await expect(b.append(start('shop', key))).rejects.toBeInstanceOf(IdempotencyConflict);
    expect((await b.byIdempotency('token:test', key))?.start.id).toBe(first.id);
    // An event and the end, read back from the other replica.
    await a.append({
      t: 'event',
      id: first.id,
      event: { seq: 1, type: 'step-end', data: { step: 'commit', ok: true } },
    });
    await a.append({
      t: 'end',
      id: first.id,
      state: 'failed',
      finishedAt: new Date().toISOString(),
      error: { code: 'validation', message: 'no' },
    });
    const read = await b.get(first.id);
    expect(read?.events).toHaveLength(1);
    expect(read?.end).toMatchObject({ state: 'failed', error: { code: 'validation' } });
  });
});

describe('managers on one database (replicas)', () => {
  /** A replica's manager whose operations run until `finish` is called. */
  function replica(name: string) {
    const s = store(name);
    const finish = new Map<string, () => void>();
    const execute = async (input: ExecuteInput): Promise<OperationResult> => {
      await new Promise<void>((resolve) => finish.set(input.id, resolve));
      return {
        operation: input.kind,
        stack: input.stack,
        operationId: input.id,
        committed: false,
        sha: 'a'.repeat(40),
        attempts: 1,
        summary: 'done',
        live: 'blue',
        preview: 'green',
        apps: [],
        steps: [],
      };
    };
    const manager = new OperationManager({
      journal: s,
      shared: s,
      execute,
      redactor: new Redactor(),
      metrics: new ServerMetrics({ defaultMetrics: false }),
      logger: { info() {}, warn() {}, error() {} },
    });
    return { manager, finish };
  }
  const input = (stack: string) => ({
    stack,
    kind: 'deploy' as const,
    requestedBy: 'test',
    request: { method: 'POST' as const, path: `/v1/stacks/${stack}/deploy`, body: {} },
  });
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('accepted, expected a 409');
      },
      (e: unknown) => {
        expect(e).toBeInstanceOf(ApiError);
        expect((e as ApiError).statusCode).toBe(409);
        return (e as ApiError).extra as { operationId?: string };
      },
    );

  // The bench's hang (issue 14): a request on replica B arriving while another request on B
  // was still claiming a stack that replica A held got a 409 naming the claimant's id, an
  // operation that was never recorded. Clients following it polled a 404 until they gave up.
  it('a 409 names an operation every replica can read, also while a claim is under way', async () => {
    const a = replica('a');
    const b = replica('b');
    const stack = `busy-${randomUUID().slice(0, 8)}`;
    const { operation: running } = await a.manager.start(input(stack));
    // Both start before either claim is decided (no await in between).
    const refusals = await Promise.all([
      refusal(b.manager.start(input(stack))),
      refusal(b.manager.start(input(stack))),
      refusal(b.manager.start(input(stack))),
    ]);
    for (const details of refusals) {
      expect(details.operationId).toBe(running.id);
      for (const m of [a.manager, b.manager]) {
        expect((await m.get(details.operationId!))?.state).toBe('running');
      }
    }
    expect(b.manager.runningOn(stack)).toBeUndefined(); // not a phantom id of B's own
    a.finish.get(running.id)!();
    for (let i = 0; (await b.manager.get(running.id))?.state !== 'succeeded'; i++) {
      if (i > 100) throw new Error('the operation did not end');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Free again: B's next request is accepted, and one waiting behind its claim gets its id.
    const [accepted, waiting] = await Promise.allSettled([
      b.manager.start(input(stack)),
      refusal(b.manager.start(input(stack))),
    ]);
    expect(accepted.status).toBe('fulfilled');
    const id = (accepted as PromiseFulfilledResult<{ operation: { id: string } }>).value.operation
      .id;
    expect(waiting).toEqual({
      status: 'fulfilled',
      value: expect.objectContaining({ operationId: id }),
    });
    expect((await a.manager.get(id))?.state).toBe('running');
    b.finish.get(id)!();
  });
});

describe('the database URL', () => {
  it('is a secret: not in logs, not in /readyz; an unreachable database starts the service not-ready', async () => {
    const password = 'db-password-5f4dcc3b5aa765d61d83';
    const s = await gitOnlyService({
      env: { STACKSWAP_DATABASE_URL: `postgres://stackswap:${password}@127.0.0.1:1/stackswap` },
    });
    try {
      const res = await s.app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      const body = res.json() as { checks: { database: { ok: boolean; reason?: string } } };
      expect(body.checks.database.ok).toBe(false);
      const op = await s.app.inject({
        method: 'POST',
        url: '/v1/stacks/shop/deploy',
        headers: { authorization: 'Bearer tok-deploy-0123456789abcdef' },
        payload: {},
      });
      expect(op.statusCode).toBe(503);
      expect(op.json().error.code).toBe('database-unavailable');
      for (const text of [res.body, op.body, s.logs.text]) expect(text).not.toContain(password);
      expect(s.logs.text).toContain('the database cannot be reached');
    } finally {
      await s.close();
    }
  });
});
