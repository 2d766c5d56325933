import { mkdtempSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  Journal,
  JOURNAL_FILE,
  parseJournal,
  type EndEntry,
  type StartEntry,
} from '../../../src/server/operations/journal.ts';

const dir = () => mkdtempSync(path.join(os.tmpdir(), 'stackswap-journal-'));

const start = (id: string): StartEntry => ({
  t: 'start',
  id,
  stack: 'shop',
  kind: 'deploy',
  requestedBy: 'ci',
  createdAt: '2024-01-01T00:00:00.000Z',
  request: { method: 'POST', path: '/v1/stacks/shop/deploy', body: {} },
});
const end = (id: string): EndEntry => ({
  t: 'end',
  id,
  state: 'failed',
  finishedAt: '2024-01-01T00:00:01.000Z',
  error: { code: 'precondition', message: 'no' },
});
const step = (id: string, seq: number) => ({
  t: 'event' as const,
  id,
  event: { seq, type: 'step-start' as const, data: { step: 'commit', title: 'c', at: 1 } },
});

describe('Journal', () => {
  it('appends lines that read back after reopening, in order', async () => {
    const d = dir();
    const { journal, load } = await Journal.open(d);
    expect(load.operations).toEqual([]);
    await Promise.all([journal.append(start('a')), journal.append(step('a', 1))]);
    await journal.append(end('a'));
    await journal.append(start('b'));
    await journal.close();

    const reopened = await Journal.open(d);
    expect(
      reopened.load.operations.map((o) => [o.start.id, o.events.length, o.end?.state]),
    ).toEqual([
      ['a', 1, 'failed'],
      ['b', 0, undefined],
    ]);
    await reopened.journal.close();
  });

  it('drops a torn last line and cuts it off, so the next append starts a line of its own', async () => {
    const d = dir();
    const file = path.join(d, JOURNAL_FILE);
    writeFileSync(file, `${JSON.stringify(start('a'))}\n{"t":"event","id":"a","ev`);
    const { journal, load } = await Journal.open(d);
    expect(load.tornTail).toBe(true);
    expect(load.operations).toHaveLength(1);
    await journal.append(end('a'));
    await journal.close();
    const text = readFileSync(file, 'utf8');
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).t),
    ).toEqual(['start', 'end']);
  });

  it('keeps a complete last line that only lacks its newline, and terminates it', async () => {
    const d = dir();
    const file = path.join(d, JOURNAL_FILE);
    writeFileSync(file, `${JSON.stringify(start('a'))}\n${JSON.stringify(end('a'))}`);
    const { journal, load } = await Journal.open(d);
    expect(load.tornTail).toBe(false);
    expect(load.operations[0]!.end?.state).toBe('failed');
    await journal.append(start('b'));
    await journal.close();
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('skips damaged lines in the middle and events of unknown operations', () => {
    const text = [
      JSON.stringify(start('a')),
      'garbage',
      JSON.stringify({ t: 'start', id: 'x' }),
      JSON.stringify(step('ghost', 1)),
      JSON.stringify(end('a')),
      '',
    ].join('\n');
    const load = parseJournal(text);
    expect(load.skippedLines).toBe(3);
    expect(load.operations.map((o) => o.end?.state)).toEqual(['failed']);
  });

  it('compacts to the newest operations when over the limit', async () => {
    const d = dir();
    const file = path.join(d, JOURNAL_FILE);
    for (let i = 0; i < 10; i++) {
      appendFileSync(
        file,
        `${JSON.stringify(start(`op${i}`))}\n${JSON.stringify(end(`op${i}`))}\n`,
      );
    }
    const { journal, load } = await Journal.open(d, { maxOperations: 3 });
    expect(load.compacted).toBe(true);
    expect(load.operations.map((o) => o.start.id)).toEqual(['op7', 'op8', 'op9']);
    await journal.append(start('new'));
    await journal.close();
    const reread = parseJournal(readFileSync(file, 'utf8'));
    expect(reread.operations.map((o) => o.start.id)).toEqual(['op7', 'op8', 'op9', 'new']);
  });
});
