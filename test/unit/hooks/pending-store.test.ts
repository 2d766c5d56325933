/** The pending-hook rules and the file store that keeps them across restarts. */
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileHookStore, HOOK_CALLBACKS_FILE } from '../../../src/hooks/file-store.ts';
import { tokenDigest, type PendingRecord } from '../../../src/hooks/pending.ts';

const T0 = 1_800_000_000_000;
const record = (over: Partial<PendingRecord> = {}): PendingRecord => ({
  id: 'e1',
  operationId: 'op1',
  gate: 'shop/beforeSwap/approve@abc',
  tokenSha256: tokenDigest('the-one-time-token-123'),
  state: 'pending',
  createdAt: T0,
  expiresAt: T0 + 60_000,
  ...over,
});

const dir = () => mkdtempSync(path.join(os.tmpdir(), 'stackswap-hookstore-'));

describe('FileHookStore', () => {
  it('decides once, with the right token, before the deadline', async () => {
    const store = await FileHookStore.open(dir(), T0);
    await store.create(record());
    const verdict = { state: 'pass' as const, by: 'callback' as const };
    expect(await store.decide('nope', verdict, { token: 'x', now: T0 })).toEqual({
      ok: false,
      why: 'unknown',
    });
    expect(await store.decide('e1', verdict, { token: 'wrong-token-value-xx', now: T0 })).toEqual({
      ok: false,
      why: 'bad-token',
    });
    const ok = await store.decide(
      'e1',
      { ...verdict, message: 'fine' },
      { token: 'the-one-time-token-123', now: T0 + 1 },
    );
    expect(ok).toMatchObject({
      ok: true,
      record: { state: 'pass', message: 'fine', decidedBy: 'callback' },
    });
    expect(
      await store.decide('e1', verdict, { token: 'the-one-time-token-123', now: T0 + 2 }),
    ).toMatchObject({
      ok: false,
      why: 'already-decided',
    });
    await store.close();
  });

  it('refuses a callback past the deadline and records the expiry', async () => {
    const d = dir();
    const store = await FileHookStore.open(d, T0);
    await store.create(record());
    const late = await store.decide(
      'e1',
      { state: 'pass', by: 'callback' },
      { token: 'the-one-time-token-123', now: T0 + 60_001 },
    );
    expect(late).toMatchObject({ ok: false, why: 'expired' });
    expect((await store.get('e1'))?.state).toBe('expired');
    await store.close();
  });

  it('keeps records across a reopen, ignores a torn last line, and finds the open one of a gate', async () => {
    const d = dir();
    const store = await FileHookStore.open(d, T0);
    await store.create(record());
    await store.create(record({ id: 'e2', createdAt: T0 + 5 }));
    await store.consume('e2');
    await store.close();
    appendFileSync(path.join(d, HOOK_CALLBACKS_FILE), '{"id":"e3","operat');
    const reopened = await FileHookStore.open(d, T0 + 10);
    expect((await reopened.openFor('shop/beforeSwap/approve@abc'))?.id).toBe('e1');
    expect(await reopened.get('e3')).toBeUndefined();
    await reopened.decide(
      'e1',
      { state: 'fail', by: 'callback' },
      { token: 'the-one-time-token-123', now: T0 + 11 },
    );
    await reopened.close();
    // The torn fragment was closed off: the next record starts on a line of its own.
    const lines = readFileSync(path.join(d, HOOK_CALLBACKS_FILE), 'utf8')
      .split('\n')
      .filter(Boolean);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ id: 'e1', state: 'fail' });
    const third = await FileHookStore.open(d, T0 + 12);
    expect((await third.get('e1'))?.state).toBe('fail');
    await third.close();
  });

  it('two callbacks at once: one wins', async () => {
    const store = await FileHookStore.open(dir(), T0);
    await store.create(record());
    const token = { token: 'the-one-time-token-123', now: T0 };
    const [a, b] = await Promise.all([
      store.decide('e1', { state: 'pass', by: 'callback' }, token),
      store.decide('e1', { state: 'fail', by: 'callback' }, token),
    ]);
    expect([a.ok, b.ok].filter(Boolean)).toHaveLength(1);
    await store.close();
  });
});
