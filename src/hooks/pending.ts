/**
 * Hook executions that answered "pending" and report later through the service's callback
 * route. The record is written before the hook is called (a fast hook may call back before
 * its own answer arrives) and outlives the process: a service restarted while a hook waits
 * finds it again. Two stores implement it: a file next to the journal (one replica,
 * file-store.ts) and PostgreSQL's `stackswap_hook_callbacks` (several replicas).
 *
 * `gate` names what the verdict is about: `<stack>/<point>/<hook>@<commit>`. A re-run of the
 * interrupted operation at the same commit waits for (or uses) the same execution instead of
 * asking the hook again; once an operation has acted on a verdict it is `consumed`, so a later
 * run asks afresh.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type PendingState = 'pending' | 'pass' | 'fail' | 'expired';

export interface PendingRecord {
  id: string;
  operationId: string;
  gate: string;
  tokenSha256: string;
  state: PendingState;
  /** Epoch ms. */
  createdAt: number;
  expiresAt: number;
  answeredAt?: number;
  message?: string;
  /** Who decided it: the callback route, the hook's own answer, the deadline. */
  decidedBy?: 'callback' | 'answer' | 'timeout';
  consumed?: boolean;
}

export type DecideOutcome =
  | { ok: true; record: PendingRecord }
  | {
      ok: false;
      why: 'unknown' | 'bad-token' | 'already-decided' | 'expired';
      record?: PendingRecord;
    };

export interface PendingHookStore {
  create(record: PendingRecord): Promise<void>;
  get(id: string): Promise<PendingRecord | undefined>;
  /**
   * Decides a pending execution. With `token`, it must match (the callback route); an
   * execution past its deadline is refused (`expired`) and marked so.
   */
  decide(
    id: string,
    verdict: {
      state: 'pass' | 'fail' | 'expired';
      message?: string;
      by: PendingRecord['decidedBy'];
    },
    options: { token?: string; now: number },
  ): Promise<DecideOutcome>;
  /** The newest unconsumed execution of a gate (resume after a restart). */
  openFor(gate: string): Promise<PendingRecord | undefined>;
  consume(id: string): Promise<void>;
  close(): Promise<void>;
}

/** What a verdict is about (see the module comment). */
export function gateKey(stack: string, point: string, hook: string, sha: string): string {
  return `${stack}/${point}/${hook}@${sha}`;
}

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function tokenMatches(record: PendingRecord, token: string): boolean {
  const given = Buffer.from(tokenDigest(token), 'hex');
  const expected = Buffer.from(record.tokenSha256, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The decision rules every store applies (one place, so both stores answer alike). */
export function decideRecord(
  record: PendingRecord | undefined,
  verdict: { state: 'pass' | 'fail' | 'expired'; message?: string; by: PendingRecord['decidedBy'] },
  options: { token?: string; now: number },
): DecideOutcome {
  if (!record) return { ok: false, why: 'unknown' };
  if (options.token !== undefined && !tokenMatches(record, options.token)) {
    return { ok: false, why: 'bad-token' };
  }
  if (record.state !== 'pending') return { ok: false, why: 'already-decided', record };
  if (verdict.state !== 'expired' && verdict.by === 'callback' && options.now > record.expiresAt) {
    return {
      ok: false,
      why: 'expired',
      record: { ...record, state: 'expired', answeredAt: options.now, decidedBy: 'timeout' },
    };
  }
  return {
    ok: true,
    record: {
      ...record,
      state: verdict.state,
      answeredAt: options.now,
      decidedBy: verdict.by,
      ...(verdict.message ? { message: verdict.message } : {}),
    },
  };
}
