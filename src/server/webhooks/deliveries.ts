/**
 * Webhook delivery ids seen (GitLab `Idempotency-Key` / `X-Gitlab-Event-UUID`, GitHub
 * `X-GitHub-Delivery`): a redelivery of one already accepted does nothing new.
 *
 * - One replica (the file journal): `<data dir>/webhook-deliveries.jsonl`, one line per id,
 *   `datasync`ed before the answer, read back at start, compacted to the newest 10,000 ids.
 * - Several replicas (PostgreSQL): the `stackswap_webhook_deliveries` table, whose primary key
 *   makes the claim atomic across replicas.
 *
 * `release` forgets an id again when its work could not even be started (the forge did not
 * answer, the service is stopping): a manual redelivery from the forge then runs it.
 *
 * An accepted delivery is kept with its event until its work is `done`: a service that stops
 * in between (its queue waited behind a long swap, the process died) takes the `pending` ones
 * up again at start. The work is idempotent on the delivery (its operations' keys), so what
 * had already run is only followed and reported again, never run twice.
 */
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

export interface DeliveryStore {
  /**
   * True when this is the first time `id` is seen from `source` (it is now recorded, with the
   * event to act on when there is one: it stays pending until `done`).
   */
  claim(source: string, id: string, event?: unknown): Promise<boolean>;
  release(source: string, id: string): Promise<void>;
  /** The delivery's work is over (whatever its outcome): it is no longer pending. */
  done(source: string, id: string): Promise<void>;
  /** Accepted deliveries whose work never finished, oldest first. */
  pending(): Promise<PendingDelivery[]>;
  close(): Promise<void>;
}

export interface PendingDelivery {
  source: string;
  id: string;
  event: unknown;
}

export const DELIVERIES_FILE = 'webhook-deliveries.jsonl';
const MAX_KEPT = 10_000;

const Line = z.object({
  t: z.enum(['seen', 'released', 'done']),
  source: z.string(),
  id: z.string(),
  at: z.string(),
  event: z.unknown().optional(),
});
type Line = z.infer<typeof Line>;

const keyOf = (source: string, id: string) => `${source}\n${id}`;

export class FileDeliveryStore implements DeliveryStore {
  /** Insertion-ordered: the oldest are dropped first. */
  private readonly seen = new Set<string>();
  /** Accepted and not done: their events. */
  private readonly open = new Map<string, PendingDelivery>();
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: FileHandle,
    private readonly now: () => number,
  ) {}

  static async open(dir: string, now: () => number = Date.now): Promise<FileDeliveryStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, DELIVERIES_FILE);
    const handle = await open(file, 'a+', 0o600);
    const text = await handle.readFile('utf8');
    const store = new FileDeliveryStore(handle, now);
    let lines = 0;
    for (const raw of text.split('\n')) {
      if (raw.trim() === '') continue;
      lines++;
      let parsed: Line;
      try {
        parsed = Line.parse(JSON.parse(raw));
      } catch {
        continue; // a torn last line or a damaged one: skipped
      }
      const key = keyOf(parsed.source, parsed.id);
      if (parsed.t === 'done') {
        store.open.delete(key);
        continue;
      }
      store.seen.delete(key);
      store.open.delete(key);
      if (parsed.t === 'seen') {
        store.seen.add(key);
        if (parsed.event !== undefined) {
          store.open.set(key, { source: parsed.source, id: parsed.id, event: parsed.event });
        }
      }
    }
    store.trim();
    if (lines > 2 * MAX_KEPT || (text.length > 0 && !text.endsWith('\n'))) {
      await handle.close();
      const temp = `${file}.compact-${process.pid}`;
      const at = new Date(now()).toISOString();
      const body = [...store.seen]
        .map((k) => {
          const [source, id] = k.split('\n') as [string, string];
          const event = store.open.get(k)?.event;
          return `${JSON.stringify({ t: 'seen', source, id, at, ...(event !== undefined ? { event } : {}) })}\n`;
        })
        .join('');
      const out = await open(temp, 'w', 0o600);
      try {
        await out.writeFile(body);
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(temp, file);
      return new FileDeliveryStore(await open(file, 'a', 0o600), now).adopt(store);
    }
    return store;
  }

  private adopt(from: FileDeliveryStore): this {
    for (const k of from.seen) this.seen.add(k);
    for (const [k, v] of from.open) this.open.set(k, v);
    return this;
  }

  private trim(): void {
    while (this.seen.size > MAX_KEPT) {
      const oldest = this.seen.values().next().value as string;
      this.seen.delete(oldest);
    }
  }

  claim(source: string, id: string, event?: unknown): Promise<boolean> {
    const key = keyOf(source, id);
    if (this.seen.has(key)) return Promise.resolve(false);
    // Recorded in memory before the first await: a concurrent redelivery is a duplicate.
    this.seen.add(key);
    if (event !== undefined) this.open.set(key, { source, id, event });
    this.trim();
    const at = new Date(this.now()).toISOString();
    return this.write({
      t: 'seen',
      source,
      id,
      at,
      ...(event !== undefined ? { event } : {}),
    }).then(
      () => true,
      (e: unknown) => {
        this.seen.delete(key);
        this.open.delete(key);
        throw e;
      },
    );
  }

  async release(source: string, id: string): Promise<void> {
    this.seen.delete(keyOf(source, id));
    this.open.delete(keyOf(source, id));
    await this.write({ t: 'released', source, id, at: new Date(this.now()).toISOString() });
  }

  async done(source: string, id: string): Promise<void> {
    if (!this.open.delete(keyOf(source, id))) return;
    await this.write({ t: 'done', source, id, at: new Date(this.now()).toISOString() });
  }

  async pending(): Promise<PendingDelivery[]> {
    return [...this.open.values()];
  }

  private write(line: Line): Promise<void> {
    const next = this.chain.then(async () => {
      await this.file.write(`${JSON.stringify(line)}\n`);
      await this.file.datasync();
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.file.close();
  }
}

/** What the PostgreSQL store offers for deliveries (store/postgres.ts). */
export interface DeliveryTable {
  recordDelivery(source: string, id: string, event?: unknown): Promise<boolean>;
  forgetDelivery(source: string, id: string): Promise<void>;
  finishDelivery(source: string, id: string): Promise<void>;
  pendingDeliveries(): Promise<PendingDelivery[]>;
}

export class SharedDeliveryStore implements DeliveryStore {
  constructor(private readonly table: DeliveryTable) {}
  claim(source: string, id: string, event?: unknown): Promise<boolean> {
    return this.table.recordDelivery(source, id, event);
  }
  release(source: string, id: string): Promise<void> {
    return this.table.forgetDelivery(source, id);
  }
  done(source: string, id: string): Promise<void> {
    return this.table.finishDelivery(source, id);
  }
  pending(): Promise<PendingDelivery[]> {
    return this.table.pendingDeliveries();
  }
  async close(): Promise<void> {}
}
