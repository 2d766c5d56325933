/**
 * Where operations are kept, behind one interface for the manager:
 *
 * - `JournalWriter`: the durable record (start, events, end). The file journal (journal.ts) is
 *   the embedded default for one replica; PostgreSQL (store/postgres.ts) for several.
 * - `SharedOperations`: what replicas must agree on, only with PostgreSQL: the one-operation-per-
 *   stack guard (an advisory lock held on a dedicated connection for the operation's duration,
 *   so it dies with its holder), idempotency keys, and reads of operations any replica ran.
 *   Without it (the file journal), the manager's memory is the whole truth, as before.
 */
import type { JournalEntry, JournaledOperation } from './journal.ts';
import type { OperationState } from '../schemas.ts';

export interface JournalWriter {
  /** Resolves once the entry is durable. */
  append(entry: JournalEntry): Promise<void>;
  close(): Promise<void>;
}

/** A held stack guard. `lost` fires when the guard can no longer be vouched for. */
export interface StackClaim {
  readonly lost: AbortSignal;
  /** Operations recorded as running on the stack when it was claimed: their holder is gone. */
  readonly orphans: JournaledOperation[];
  release(): Promise<void>;
}

export interface SharedOperations {
  /** Claims the stack, or names the operation holding it (undefined: not recorded yet). */
  claim(stack: string): Promise<StackClaim | { busy: string | undefined }>;
  byIdempotency(scope: string, key: string): Promise<JournaledOperation | undefined>;
  get(id: string): Promise<JournaledOperation | undefined>;
  /** Newest first. */
  list(filter: {
    stack?: string;
    state?: OperationState;
    limit: number;
  }): Promise<JournaledOperation[]>;
  /**
   * Stacks with an operation recorded as running (by any replica): stack -> its id, and whether
   * the stack's guard is held now (false: its holder is gone, the operation is an orphan).
   */
  running(): Promise<Map<string, { id: string; held: boolean }>>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
}

/** An append of a start whose idempotency key another request recorded first. */
export class IdempotencyConflict extends Error {
  constructor() {
    super('idempotency key already recorded');
    this.name = 'IdempotencyConflict';
  }
}
