/**
 * One process at a time in a cache repo. The lock is a file that names its holder (pid, host,
 * boot and process start time), and it appears atomically: the holder is written to a private
 * temporary file first, which is then hard-linked to the lock's name (link fails if the name
 * exists). A lock file is therefore never empty or half-written, whenever its writer is
 * killed. A holder that died (kill -9, OOM, a reboot) leaves a lock that the next process
 * recognises as stale at once (same host: its pid is gone, or now belongs to a process that
 * started later) and removes, so a crash never blocks later runs.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TimeoutError } from '../../shared/errors.ts';

export interface CacheLockOptions {
  /** Give up waiting for another process after this long. */
  timeoutMs: number;
  /** A lock older than this is stale whoever holds it (a hung process, another host). */
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
  /** Linux: the boot the holder ran in, and its start time in clock ticks since that boot. */
  boot?: string;
  start?: string;
}

/**
 * A lock file that is not a holder record (not written by this version: no writer of ours
 * leaves one) is stale once this old.
 */
const UNREADABLE_STALE_MS = 2_000;

/** Leftovers of a stale-lock breaker that was killed mid-way are removed once this old. */
const ASIDE_STALE_MS = 60_000;

export async function withCacheLock<T>(
  file: string,
  options: CacheLockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const me: Holder = {
    pid: process.pid,
    host: os.hostname(),
    id: randomUUID(),
    at: options.now(),
    ...processIdentity(process.pid),
  };
  const content = JSON.stringify(me);
  const started = options.now();
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}-${me.id}`;
  await writeFile(temp, content, { mode: 0o600 });
  try {
    for (let round = 0; ; round++) {
      try {
        await link(temp, file);
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
  } finally {
    await rm(temp, { force: true });
  }
  try {
    await removeLeftovers(file, options);
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
    if (
      typeof parsed.pid === 'number' &&
      Number.isInteger(parsed.pid) &&
      parsed.pid > 0 &&
      typeof parsed.host === 'string'
    ) {
      return parsed as Holder;
    }
  } catch {
    // Not a holder record: judged by age below.
  }
  return undefined;
}

async function isStale(
  file: string,
  holder: Holder | undefined,
  options: CacheLockOptions,
): Promise<boolean> {
  if (holder && holder.host === os.hostname() && !holderAlive(holder)) return true;
  const info = await stat(file).catch(() => undefined);
  if (!info) return false;
  const age = options.now() - info.mtimeMs;
  return age > (holder ? options.staleAfterMs : UNREADABLE_STALE_MS);
}

/** Whether the process that wrote `holder` (on this host) still runs. */
function holderAlive(holder: Holder): boolean {
  if (!processAlive(holder.pid)) return false;
  if (holder.boot === undefined || holder.start === undefined) return true;
  const now = processIdentity(holder.pid);
  // The pid runs, but in another boot or as a process started at another time: reused.
  if (now.boot !== undefined && now.boot !== holder.boot) return false;
  if (now.start !== undefined && now.start !== holder.start) return false;
  return true;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Linux only (/proc): the boot id and the process's start time; empty elsewhere. */
function processIdentity(pid: number): { boot?: string; start?: string } {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, starttime field 22.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start ? { boot, start } : {};
  } catch {
    return {};
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

/** Temporary files of killed lockers (dead pid) and old set-aside locks, next to the lock. */
async function removeLeftovers(file: string, options: CacheLockOptions): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    const temp = /^tmp-(\d+)-/.exec(rest);
    if (temp) {
      if (Number(temp[1]) !== process.pid && !processAlive(Number(temp[1]))) {
        await rm(path.join(dir, name), { force: true });
      }
    } else if (rest.startsWith('stale-')) {
      const info = await stat(path.join(dir, name)).catch(() => undefined);
      if (info && options.now() - info.mtimeMs > ASIDE_STALE_MS) {
        await rm(path.join(dir, name), { force: true });
      }
    }
  }
}
