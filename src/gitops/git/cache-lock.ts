/**
 * One process at a time in a cached working clone. The lock is a file created with O_EXCL that
 * names its holder (pid, host); a holder that died (kill -9, OOM, a reboot) leaves a lock that
 * the next process recognises as stale and removes, so a crash never blocks later runs.
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TimeoutError } from '../../shared/errors.ts';

export interface CacheLockOptions {
  /** Give up waiting for another process after this long. */
  timeoutMs: number;
  /** A lock older than this is stale whoever holds it (a hung process). */
  staleAfterMs: number;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  /** Describes the locked thing in the timeout message. */
  what: string;
}

interface Holder {
  pid: number;
  host: string;
  id: string;
  at: number;
}

export async function withCacheLock<T>(
  file: string,
  options: CacheLockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const me: Holder = { pid: process.pid, host: os.hostname(), id: randomUUID(), at: options.now() };
  const content = JSON.stringify(me);
  const started = options.now();
  await mkdir(path.dirname(file), { recursive: true });
  for (let round = 0; ; round++) {
    try {
      await writeFile(file, content, { flag: 'wx', mode: 0o600 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await readHolder(file);
    if (holder === 'gone') continue;
    if (await isStale(file, holder, options)) {
      await removeStaleLock(file, holder);
      continue;
    }
    if (options.now() - started >= options.timeoutMs) {
      const who = holder ? `process ${holder.pid} on ${holder.host}` : 'another process';
      throw new TimeoutError(
        `${options.what} is in use by ${who}; waited ${Math.round(options.timeoutMs / 1000)} s`,
        { hint: 'wait for the other stackswap run to finish, or use a separate --cache-dir' },
      );
    }
    await options.sleep(Math.min(25 * 2 ** Math.min(round, 3), 200));
  }
  try {
    return await fn();
  } finally {
    // Remove the lock only if it is still ours (a stale-lock breaker may have taken it).
    if ((await readFile(file, 'utf8').catch(() => undefined)) === content) {
      await rm(file, { force: true });
    }
  }
}

async function readHolder(file: string): Promise<Holder | undefined | 'gone'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return 'gone';
  }
  try {
    const parsed = JSON.parse(text) as Partial<Holder>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') return parsed as Holder;
  } catch {
    // Half-written (its writer is between create and write) or garbage: judged by age below.
  }
  return undefined;
}

async function isStale(
  file: string,
  holder: Holder | undefined,
  options: CacheLockOptions,
): Promise<boolean> {
  if (holder && holder.host === os.hostname() && !processAlive(holder.pid)) return true;
  const info = await stat(file).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > options.staleAfterMs;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Moves the stale lock aside atomically; if what was moved is not the lock judged stale (another
 * process replaced it meanwhile), puts it back, unless a third one took the name already.
 */
async function removeStaleLock(file: string, judged: Holder | undefined): Promise<void> {
  const aside = `${file}.stale-${randomUUID()}`;
  try {
    await rename(file, aside);
  } catch {
    return;
  }
  const moved = await readHolder(aside);
  const same =
    moved === undefined ||
    moved === 'gone' ||
    (judged !== undefined && moved.id === judged.id && moved.pid === judged.pid);
  if (!same) await link(aside, file).catch(() => undefined);
  await rm(aside, { force: true });
}
