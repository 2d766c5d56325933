/**
 * The durable record of operations: one JSON object per line in `<data dir>/journal.jsonl`,
 * each append written and `datasync`ed before it counts (appends queued meanwhile share one
 * sync). Loading tolerates a torn last line (a crash mid-write): it is dropped and the file cut
 * back to the last complete line, so later appends start on a line of their own. A bad line in
 * the middle (disk damage, a hand edit) is skipped and counted, never fatal.
 *
 * At open the journal is compacted when it holds more than `maxOperations` operations: the
 * newest are rewritten to a temporary file, synced, and renamed over the old one.
 */
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  ErrorJson,
  Interruption,
  OperationKind,
  OperationOutcome,
  OperationRequest,
  OperationState,
} from '../schemas.ts';

export const JOURNAL_FILE = 'journal.jsonl';

const Idempotency = z.object({ scope: z.string(), key: z.string(), fingerprint: z.string() });

export const StartEntry = z.object({
  t: z.literal('start'),
  id: z.string(),
  stack: z.string(),
  kind: OperationKind,
  requestedBy: z.string(),
  createdAt: z.string(),
  request: OperationRequest,
  idempotency: Idempotency.optional(),
});
export type StartEntry = z.infer<typeof StartEntry>;

export const JournalEvent = z.object({
  seq: z.number().int(),
  type: z.enum(['step-start', 'step-end', 'info', 'event']),
  data: z.record(z.string(), z.unknown()),
});
export type JournalEvent = z.infer<typeof JournalEvent>;

export const EventEntry = z.object({ t: z.literal('event'), id: z.string(), event: JournalEvent });
export type EventEntry = z.infer<typeof EventEntry>;

export const EndEntry = z.object({
  t: z.literal('end'),
  id: z.string(),
  state: OperationState.exclude(['running']),
  finishedAt: z.string(),
  result: OperationOutcome.optional(),
  error: ErrorJson.optional(),
  interrupted: Interruption.optional(),
});
export type EndEntry = z.infer<typeof EndEntry>;

export const JournalEntry = z.discriminatedUnion('t', [StartEntry, EventEntry, EndEntry]);
export type JournalEntry = z.infer<typeof JournalEntry>;

/** One operation as read back: its start, its events in order, and its end if it ended. */
export interface JournaledOperation {
  start: StartEntry;
  events: JournalEvent[];
  end: EndEntry | undefined;
}

export interface JournalLoad {
  operations: JournaledOperation[];
  /** A torn last line was dropped. */
  tornTail: boolean;
  /** The last line is complete but lacks its newline (the crash came just before it). */
  unterminatedTail: boolean;
  /** Lines in the middle that could not be read. */
  skippedLines: number;
  compacted: boolean;
}

export class Journal {
  private queue: { line: string; done: (error?: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly file: FileHandle,
    readonly path: string,
  ) {}

  /** Opens (creating) the journal in `dir` and reads it back. */
  static async open(
    dir: string,
    options: { maxOperations?: number } = {},
  ): Promise<{ journal: Journal; load: JournalLoad }> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, JOURNAL_FILE);
    const handle = await open(file, 'a+', 0o600);
    let load: JournalLoad;
    try {
      const text = await handle.readFile('utf8');
      load = parseJournal(text);
      if (load.tornTail) {
        // Cut the fragment so the next append does not glue onto it.
        await handle.truncate(Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
        await handle.sync();
      } else if (load.unterminatedTail) {
        await handle.write('\n');
        await handle.sync();
      }
      const max = options.maxOperations ?? 1000;
      if (load.operations.length > max) {
        load.operations = load.operations.slice(-max);
        await handle.close();
        await rewrite(dir, file, load.operations);
        load.compacted = true;
        return { journal: new Journal(await open(file, 'a', 0o600), file), load };
      }
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e;
    }
    return { journal: new Journal(handle, file), load };
  }

  /** Appends one entry; resolves once it is on disk. */
  append(entry: JournalEntry): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the journal is closed'));
    const line = `${JSON.stringify(entry)}\n`;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, done: (error) => (error ? reject(error) : resolve()) });
      this.flushing ??= this.flush();
    });
  }

  /** Waits for queued appends, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.file.close();
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.file.write(batch.map((b) => b.line).join(''));
          await this.file.datasync();
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

/** Reads journal text: complete lines only; a last line without its newline is torn. */
export function parseJournal(text: string): JournalLoad {
  const operations = new Map<string, JournaledOperation>();
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  // A last line cut short does not parse; one that parses was written whole.
  const tailEntry = tail.trim() === '' ? undefined : parseLine(tail);
  const tornTail = tail.length > 0 && !tailEntry;
  let skippedLines = 0;
  for (const line of tailEntry ? [...lines, tail] : lines) {
    if (line.trim() === '') continue;
    const entry = parseLine(line);
    if (!entry) {
      skippedLines++;
      continue;
    }
    if (entry.t === 'start') {
      operations.set(entry.id, { start: entry, events: [], end: undefined });
      continue;
    }
    const op = operations.get(entry.id);
    if (!op) {
      skippedLines++;
      continue;
    }
    if (entry.t === 'event') op.events.push(entry.event);
    else op.end = entry;
  }
  return {
    operations: [...operations.values()],
    tornTail,
    unterminatedTail: tailEntry !== undefined,
    skippedLines,
    compacted: false,
  };
}

function parseLine(line: string): JournalEntry | undefined {
  try {
    const parsed = JournalEntry.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function rewrite(dir: string, file: string, operations: readonly JournaledOperation[]) {
  const temp = `${file}.compact-${process.pid}`;
  const lines = operations.flatMap((op) => [
    op.start,
    ...op.events.map((event): EventEntry => ({ t: 'event', id: op.start.id, event })),
    ...(op.end ? [op.end] : []),
  ]);
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  // The rename itself is durable only once the directory is synced.
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
