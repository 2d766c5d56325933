/**
 * The pending-hook store of a single replica: `<data dir>/hook-callbacks.jsonl`, one JSON
 * record per line, the latest line of an id wins. Each write is `datasync`ed before it
 * counts (as the journal's), and a torn last line (a crash mid-write) is ignored on load.
 * Records older than a week past their deadline are dropped when the file is opened.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  decideRecord,
  type DecideOutcome,
  type PendingHookStore,
  type PendingRecord,
} from './pending.ts';

export const HOOK_CALLBACKS_FILE = 'hook-callbacks.jsonl';
const KEEP_AFTER_EXPIRY_MS = 7 * 24 * 3_600_000;

const Record = z.object({
  id: z.string(),
  operationId: z.string(),
  gate: z.string(),
  tokenSha256: z.string(),
  state: z.enum(['pending', 'pass', 'fail', 'expired']),
  createdAt: z.number(),
  expiresAt: z.number(),
  answeredAt: z.number().optional(),
  message: z.string().optional(),
  decidedBy: z.enum(['callback', 'answer', 'timeout']).optional(),
  consumed: z.boolean().optional(),
});

export class FileHookStore implements PendingHookStore {
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: FileHandle,
    private readonly records: Map<string, PendingRecord>,
  ) {}

  static async open(dir: string, now: number = Date.now()): Promise<FileHookStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, HOOK_CALLBACKS_FILE);
    const handle = await open(file, 'a+', 0o600);
    const records = new Map<string, PendingRecord>();
    const text = await handle.readFile('utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const parsed = Record.safeParse(JSON.parse(line));
        if (parsed.success) records.set(parsed.data.id, parsed.data as PendingRecord);
      } catch {
        // a torn line: the write it belonged to never counted
      }
    }
    if (text.length > 0 && !text.endsWith('\n')) await handle.write('\n');
    for (const [id, r] of records) {
      if (r.expiresAt + KEEP_AFTER_EXPIRY_MS < now) records.delete(id);
    }
    return new FileHookStore(handle, records);
  }

  async create(record: PendingRecord): Promise<void> {
    await this.write(record);
  }

  async get(id: string): Promise<PendingRecord | undefined> {
    const r = this.records.get(id);
    return r ? { ...r } : undefined;
  }

  decide(
    id: string,
    verdict: Parameters<PendingHookStore['decide']>[1],
    options: Parameters<PendingHookStore['decide']>[2],
  ): Promise<DecideOutcome> {
    // Serialised with the writes, so two callbacks for one id cannot both win.
    const run = this.chain.then(async () => {
      const outcome = decideRecord(this.records.get(id), verdict, options);
      if (outcome.ok || (outcome.why === 'expired' && outcome.record)) {
        await this.persist(outcome.record!);
      }
      return outcome;
    });
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async openFor(gate: string): Promise<PendingRecord | undefined> {
    let newest: PendingRecord | undefined;
    for (const r of this.records.values()) {
      if (r.gate === gate && !r.consumed && (!newest || r.createdAt >= newest.createdAt))
        newest = r;
    }
    return newest ? { ...newest } : undefined;
  }

  async consume(id: string): Promise<void> {
    const r = this.records.get(id);
    if (r && !r.consumed) await this.write({ ...r, consumed: true });
  }

  async close(): Promise<void> {
    await this.chain;
    await this.file.close();
  }

  private write(record: PendingRecord): Promise<void> {
    const run = this.chain.then(() => this.persist(record));
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async persist(record: PendingRecord): Promise<void> {
    await this.file.write(`${JSON.stringify(record)}\n`);
    await this.file.datasync();
    this.records.set(record.id, record);
  }
}
