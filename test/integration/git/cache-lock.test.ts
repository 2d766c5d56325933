/**
 * The cache lock after crashes: a holder killed right after its lock appeared, a lock naming a
 * process that is gone or whose pid was reused, an empty or garbage lock file, the temporary
 * files of a killed locker. None of them blocks the next run for longer than a moment; a live
 * holder still does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TimeoutError } from '../../../src/shared/errors.ts';
import { withCacheLock, type CacheLockOptions } from '../../../src/gitops/git/cache-lock.ts';
import { cleanupFixtures, tempDir } from '../../helpers/git-fixtures.ts';
import { projectRoot } from '../../helpers/cli.ts';

afterAll(cleanupFixtures);

/** Real time, counted sleeps: "promptly" means without waiting rounds, not by the clock. */
function lockOptions(overrides: Partial<CacheLockOptions> = {}) {
  const waits: number[] = [];
  const options: CacheLockOptions = {
    timeoutMs: 60_000,
    staleAfterMs: 30 * 60_000,
    sleep: async (ms) => {
      waits.push(ms);
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
    now: Date.now,
    what: 'the test cache',
    ...overrides,
  };
  return { options, waits };
}

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

function linuxStartTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

const onLinux = existsSync('/proc/self/stat');

describe('cache lock after a crash', () => {
  it('a holder SIGKILLed right after its lock appeared: the next run takes the lock at once', async () => {
    const dir = tempDir();
    const lock = path.join(dir, 'lock');
    const script = `
      import { register } from 'tsx/esm/api';
      register();
      const { withCacheLock } = await import(${JSON.stringify(path.join(projectRoot, 'src/gitops/git/cache-lock.ts'))});
      await withCacheLock(${JSON.stringify(lock)}, {
        timeoutMs: 1000, staleAfterMs: 1800000, sleep: async () => {}, now: Date.now, what: 'x',
      }, async () => { process.kill(process.pid, 'SIGKILL'); await new Promise(() => {}); });
    `;
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        cwd: projectRoot,
        stdio: 'ignore',
      });
      const signal = await new Promise((resolve) => child.on('exit', (_c, s) => resolve(s)));
      expect(signal).toBe('SIGKILL');
      // The lock it left is complete: it names the dead holder.
      const holder = JSON.parse(readFileSync(lock, 'utf8')) as { pid: number; host: string };
      expect(holder).toMatchObject({ pid: child.pid, host: os.hostname() });

      const { options, waits } = lockOptions({ timeoutMs: 5_000 });
      expect(await withCacheLock(lock, options, async () => 'ran')).toBe('ran');
      expect(waits).toEqual([]);
      expect(existsSync(lock)).toBe(false);
    }
    expect(readdirSync(dir).filter((n) => n.startsWith('lock'))).toEqual([]);
  });

  it('a lock naming a pid that is gone, on this host, is stale at once', async () => {
    const lock = path.join(tempDir(), 'lock');
    writeFileSync(
      lock,
      JSON.stringify({ pid: await deadPid(), host: os.hostname(), id: 'x', at: 0 }),
    );
    const { options, waits } = lockOptions({ timeoutMs: 5_000 });
    await withCacheLock(lock, options, async () => undefined);
    expect(waits).toEqual([]);
  });

  it.runIf(onLinux)(
    'a lock whose pid now belongs to a later process (pid reused) is stale at once',
    async () => {
      const lock = path.join(tempDir(), 'lock');
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const start = String(Number(linuxStartTime(process.pid)) - 1);
      writeFileSync(
        lock,
        JSON.stringify({ pid: process.pid, host: os.hostname(), id: 'old', at: 0, boot, start }),
      );
      const { options, waits } = lockOptions({ timeoutMs: 5_000 });
      await withCacheLock(lock, options, async () => undefined);
      expect(waits).toEqual([]);
    },
  );

  it('an empty lock file (a writer killed between create and write, older versions) is stale within seconds, not 30 minutes', async () => {
    const lock = path.join(tempDir(), 'lock');
    writeFileSync(lock, '');
    const old = new Date(Date.now() - 10_000);
    utimesSync(lock, old, old);
    const { options, waits } = lockOptions({ timeoutMs: 5_000 });
    await withCacheLock(lock, options, async () => undefined);
    expect(waits).toEqual([]);

    // Just written: the lock is respected for a moment, then taken over (well before the timeout).
    writeFileSync(lock, 'garbage');
    const second = lockOptions({ timeoutMs: 20_000 });
    await withCacheLock(lock, second.options, async () => undefined);
    expect(second.waits.length).toBeGreaterThan(0);
  });

  it('a live holder keeps the lock: the waiter times out naming it', async () => {
    const lock = path.join(tempDir(), 'lock');
    const held = lockOptions();
    let release: () => void = () => {};
    const holding = withCacheLock(
      lock,
      held.options,
      () => new Promise<void>((r) => (release = r)),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { options } = lockOptions({ timeoutMs: 300 });
    const error = await withCacheLock(lock, options, async () => undefined).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).message).toContain(`process ${process.pid} on ${os.hostname()}`);
    release();
    await holding;
    expect(existsSync(lock)).toBe(false);
  });

  it('removes the temporary files of killed lockers, never those of live ones', async () => {
    const dir = tempDir();
    const lock = path.join(dir, 'lock');
    const dead = path.join(dir, `lock.tmp-${await deadPid()}-abc`);
    const live = path.join(dir, `lock.tmp-${process.ppid}-def`);
    writeFileSync(dead, '{}');
    writeFileSync(live, '{}');
    const { options } = lockOptions();
    await withCacheLock(lock, options, async () => undefined);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });
});
