/**
 * The pending-hook store in PostgreSQL (several replicas): the same rules as the file store,
 * and two replicas deciding one execution at once: exactly one wins.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../../src/server/store/migrations.ts';
import { PgHookStore } from '../../../src/server/store/hook-callbacks.ts';
import { tokenDigest, type PendingRecord } from '../../../src/hooks/pending.ts';
import { startPostgres, type PostgresServer } from '../server/postgres.ts';

let server: PostgresServer;
let operationId: string;

beforeAll(async () => {
  server = await startPostgres();
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  await migrate(client);
  operationId = randomUUID();
  await client.query(
    `INSERT INTO stackswap_operations (id, stack, kind, requested_by, created_at, request, replica)
     VALUES ($1, 'shop', 'swap', 'test', now(), '{}'::jsonb, 'r1')`,
    [operationId],
  );
  await client.end();
}, 120_000);
afterAll(async () => server?.stop());

const TOKEN = 'the-one-time-token-123';
const T0 = Date.now();
const record = (id: string, gate = 'shop/beforeSwap/cab@abc'): PendingRecord => ({
  id,
  operationId,
  gate,
  tokenSha256: tokenDigest(TOKEN),
  state: 'pending',
  createdAt: T0,
  expiresAt: T0 + 60_000,
});

describe('PgHookStore', () => {
  it('creates, refuses bad tokens and unknown ids, decides once, consumes', async () => {
    const store = new PgHookStore(server.url);
    const id = randomUUID();
    await store.create(record(id));
    expect(
      await store.decide(
        randomUUID(),
        { state: 'pass', by: 'callback' },
        { token: TOKEN, now: T0 },
      ),
    ).toEqual({ ok: false, why: 'unknown' });
    expect(
      await store.decide(
        'not-a-uuid',
        { state: 'pass', by: 'callback' },
        { token: TOKEN, now: T0 },
      ),
    ).toEqual({ ok: false, why: 'unknown' });
    expect(
      (
        await store.decide(
          id,
          { state: 'pass', by: 'callback' },
          { token: 'wrong-token-xxxxxxxx', now: T0 },
        )
      ).ok,
    ).toBe(false);
    const ok = await store.decide(
      id,
      { state: 'fail', message: 'no', by: 'callback' },
      { token: TOKEN, now: T0 + 5 },
    );
    expect(ok).toMatchObject({ ok: true, record: { state: 'fail', message: 'no' } });
    expect(await store.get(id)).toMatchObject({
      state: 'fail',
      message: 'no',
      decidedBy: 'callback',
    });
    expect((await store.openFor('shop/beforeSwap/cab@abc'))?.id).toBe(id);
    await store.consume(id);
    expect(await store.openFor('shop/beforeSwap/cab@abc')).toBeUndefined();
    expect(
      await store.decide(id, { state: 'pass', by: 'callback' }, { token: TOKEN, now: T0 }),
    ).toMatchObject({ ok: false, why: 'already-decided' });
    await store.close();
  });

  it('a late callback is refused and the expiry recorded', async () => {
    const store = new PgHookStore(server.url);
    const id = randomUUID();
    await store.create(record(id, 'shop/afterSwap/smoke@def'));
    const late = await store.decide(
      id,
      { state: 'pass', by: 'callback' },
      { token: TOKEN, now: T0 + 60_001 },
    );
    expect(late).toMatchObject({ ok: false, why: 'expired' });
    expect((await store.get(id))?.state).toBe('expired');
    await store.close();
  });

  it('two replicas deciding at once: one wins', async () => {
    const a = new PgHookStore(server.url);
    const b = new PgHookStore(server.url);
    const id = randomUUID();
    await a.create(record(id, 'shop/beforeDeploy/x@1'));
    const results = await Promise.all([
      a.decide(id, { state: 'pass', by: 'callback' }, { token: TOKEN, now: T0 }),
      b.decide(id, { state: 'fail', by: 'callback' }, { token: TOKEN, now: T0 }),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    const winner = results.find((r) => r.ok)!;
    expect((await b.get(id))?.state).toBe(winner.ok ? winner.record.state : 'none');
    await Promise.all([a.close(), b.close()]);
  });
});
