/**
 * Pending lifecycle hooks in PostgreSQL (`stackswap_hook_callbacks`, migration 2), shared by
 * every replica: a callback may reach any replica, and the replica whose operation waits sees
 * it on its next read. A decision takes the row's lock (`SELECT ... FOR UPDATE`) and applies
 * the same rules as the file store (src/hooks/pending.ts `decideRecord`), so two callbacks
 * racing on two replicas cannot both win.
 *
 * Columns: `hook` holds the gate (`<stack>/<point>/<hook>@<commit>`); `answer` holds the
 * message, who decided and whether an operation has acted on it (`consumed`).
 */
import pg from 'pg';
import {
  decideRecord,
  type DecideOutcome,
  type PendingHookStore,
  type PendingRecord,
} from '../../hooks/pending.ts';

interface Row {
  id: string;
  operation_id: string;
  hook: string;
  token_sha256: string;
  state: PendingRecord['state'];
  created_at: Date;
  expires_at: Date;
  answered_at: Date | null;
  answer: { message?: string; decidedBy?: PendingRecord['decidedBy']; consumed?: boolean } | null;
}

const COLUMNS =
  'id, operation_id, hook, token_sha256, state, created_at, expires_at, answered_at, answer';

function fromRow(row: Row): PendingRecord {
  return {
    id: row.id,
    operationId: row.operation_id,
    gate: row.hook,
    tokenSha256: row.token_sha256,
    state: row.state,
    createdAt: row.created_at.getTime(),
    expiresAt: row.expires_at.getTime(),
    ...(row.answered_at ? { answeredAt: row.answered_at.getTime() } : {}),
    ...(row.answer?.message ? { message: row.answer.message } : {}),
    ...(row.answer?.decidedBy ? { decidedBy: row.answer.decidedBy } : {}),
    ...(row.answer?.consumed ? { consumed: true } : {}),
  };
}

function answerOf(r: PendingRecord): string {
  return JSON.stringify({
    ...(r.message ? { message: r.message } : {}),
    ...(r.decidedBy ? { decidedBy: r.decidedBy } : {}),
    ...(r.consumed ? { consumed: true } : {}),
  });
}

export class PgHookStore implements PendingHookStore {
  private readonly pool: pg.Pool;

  /** A small pool of its own (the operations store keeps its pool to itself). */
  constructor(url: string) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: 3,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      query_timeout: 10_000,
    });
    this.pool.on('error', () => undefined); // an idle connection cut: the pool drops it
  }

  async create(r: PendingRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO stackswap_hook_callbacks (id, operation_id, hook, token_sha256, state, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        r.id,
        r.operationId,
        r.gate,
        r.tokenSha256,
        r.state,
        new Date(r.createdAt),
        new Date(r.expiresAt),
      ],
    );
  }

  async get(id: string): Promise<PendingRecord | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM stackswap_hook_callbacks WHERE id = $1`,
      [id],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async decide(
    id: string,
    verdict: Parameters<PendingHookStore['decide']>[1],
    options: Parameters<PendingHookStore['decide']>[2],
  ): Promise<DecideOutcome> {
    if (!isUuid(id)) return { ok: false, why: 'unknown' };
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<Row>(
        `SELECT ${COLUMNS} FROM stackswap_hook_callbacks WHERE id = $1 FOR UPDATE`,
        [id],
      );
      const outcome = decideRecord(rows[0] ? fromRow(rows[0]) : undefined, verdict, options);
      const changed = outcome.ok
        ? outcome.record
        : outcome.why === 'expired'
          ? outcome.record
          : undefined;
      if (changed) {
        await client.query(
          'UPDATE stackswap_hook_callbacks SET state = $2, answered_at = $3, answer = $4 WHERE id = $1',
          [id, changed.state, new Date(changed.answeredAt ?? options.now), answerOf(changed)],
        );
      }
      await client.query('COMMIT');
      return outcome;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async openFor(gate: string): Promise<PendingRecord | undefined> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM stackswap_hook_callbacks
        WHERE hook = $1 AND COALESCE((answer->>'consumed')::boolean, false) = false
        ORDER BY created_at DESC LIMIT 1`,
      [gate],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async consume(id: string): Promise<void> {
    if (!isUuid(id)) return;
    await this.pool.query(
      `UPDATE stackswap_hook_callbacks
          SET answer = COALESCE(answer, '{}'::jsonb) || '{"consumed": true}'::jsonb
        WHERE id = $1`,
      [id],
    );
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function isUuid(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
}
