/**
 * The outbox of one replica: `<data dir>/notifications.jsonl`, next to the operations journal,
 * with the same discipline: each line is appended and `datasync`ed before the call resolves
 * (appends queued meanwhile share one sync), a torn last line (a crash mid-write) is cut off at
 * open, a bad line elsewhere is skipped. Lines are `{"t":"add","entry":...}` and
 * `{"t":"update","key":...,...}`; reading them back in order gives every entry's last state, so
 * a restart resumes exactly the deliveries that were not settled.
 *
 * At open the file is rewritten (temp file, sync, rename) when it holds many superseded lines:
 * every pending entry is kept, and the newest `keepSettled` settled ones (what
 * `GET /v1/operations/:id` shows of older operations).
 */
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { OutboxEntry, MemoryOutbox, type OutboxStore, type OutboxUpdate } from './outbox.ts';

export const OUTBOX_FILE = 'notifications.jsonl';

const Line = z.discriminatedUnion('t', [
  z.object({ t: z.literal('add'), entry: OutboxEntry }),
  z.object({
    t: z.literal('update'),
    key: z.string(),
    state: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    nextAttemptAt: z.number(),
    lastError: z.string().optional(),
    settledAt: z.number().optional(),
  }),
]);

export interface FileOutboxLoad {
  entries: number;
  pending: number;
  skippedLines: number;
  tornTail: boolean;
  compacted: boolean;
}

export class FileOutbox extends MemoryOutbox implements OutboxStore {
  private queue: { line: string; done: (error?: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private handle: FileHandle | undefined;
  private closed = false;
  private settledSinceTrim = 0;

  private constructor(
    readonly path: string,
    private readonly keepSettled: number,
  ) {
    super();
  }

  static async open(
    dir: string,
    options: { keepSettled?: number } = {},
  ): Promise<{ outbox: FileOutbox; load: FileOutboxLoad }> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, OUTBOX_FILE);
    const keep = options.keepSettled ?? 5000;
    const outbox = new FileOutbox(file, keep);
    const handle = await open(file, 'a+', 0o600);
    let text: string;
    try {
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
    const load = outbox.replay(text);
    const lines = text.split('\n').filter((l) => l.trim() !== '').length;
    const settled = [...outbox.entries.values()].filter((e) => e.state !== 'pending');
    if (settled.length > keep) {
      for (const e of settled.slice(0, settled.length - keep)) outbox.entries.delete(e.key);
    }
    const unterminated = text.length > 0 && !text.endsWith('\n');
    if (unterminated || lines > outbox.entries.size * 2 + 100 || settled.length > keep) {
      await outbox.rewrite(dir);
      load.compacted = true;
    }
    outbox.handle = await open(file, 'a', 0o600);
    return { outbox, load };
  }

  override async add(entries: readonly OutboxEntry[]): Promise<OutboxEntry[]> {
    const added = await super.add(entries);
    if (added.length > 0) {
      await this.write(added.map((entry) => JSON.stringify({ t: 'add', entry })));
    }
    return added;
  }

  /** Durable first: a reader never sees a state the file does not hold. */
  override async update(key: string, update: OutboxUpdate): Promise<void> {
    await this.write([JSON.stringify({ t: 'update', key, ...update })]);
    await super.update(key, update);
    if (update.state !== 'pending' && ++this.settledSinceTrim > this.keepSettled) this.trim();
  }

  /** A long-running service keeps the newest `keepSettled` settled entries in memory. */
  private trim(): void {
    this.settledSinceTrim = 0;
    let settled = [...this.entries.values()].filter((e) => e.state !== 'pending').length;
    for (const [key, entry] of this.entries) {
      if (settled <= this.keepSettled) break;
      if (entry.state === 'pending') continue;
      this.entries.delete(key);
      settled--;
    }
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.handle?.close();
  }

  private replay(text: string): FileOutboxLoad {
    const lines = text.split('\n');
    const tail = lines.pop() ?? '';
    let skippedLines = 0;
    let tornTail = false;
    const apply = (line: string, last: boolean) => {
      if (line.trim() === '') return;
      let parsed: z.infer<typeof Line> | undefined;
      try {
        const result = Line.safeParse(JSON.parse(line));
        parsed = result.success ? result.data : undefined;
      } catch {
        parsed = undefined;
      }
      if (!parsed) {
        if (last) tornTail = true;
        else skippedLines++;
        return;
      }
      if (parsed.t === 'add') {
        if (!this.entries.has(parsed.entry.key)) this.entries.set(parsed.entry.key, parsed.entry);
        return;
      }
      const { t: _t, key, ...update } = parsed;
      const entry = this.entries.get(key);
      if (entry) Object.assign(entry, update);
      else skippedLines++;
    };
    lines.forEach((l) => apply(l, false));
    apply(tail, true);
    const all = [...this.entries.values()];
    return {
      entries: all.length,
      pending: all.filter((e) => e.state === 'pending').length,
      skippedLines,
      tornTail,
      compacted: false,
    };
  }

  private async rewrite(dir: string): Promise<void> {
    const temp = `${this.path}.compact-${process.pid}`;
    const handle = await open(temp, 'w', 0o600);
    try {
      const body = [...this.entries.values()]
        .map((entry) => `${JSON.stringify({ t: 'add', entry })}\n`)
        .join('');
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.path);
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }

  private write(lines: string[]): Promise<void> {
    if (this.closed || !this.handle) return Promise.reject(new Error('the outbox is closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        line: lines.map((l) => `${l}\n`).join(''),
        done: (error) => (error ? reject(error) : resolve()),
      });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.handle!.write(batch.map((b) => b.line).join(''));
          await this.handle!.datasync();
          for (const b of batch) b.done();
        } catch (e) {
          for (const b of batch) b.done(e);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }
}
