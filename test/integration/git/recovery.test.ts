/**
 * Crash and tamper safety of the cache clone: leftovers of a killed process (git lock files, a
 * staged but uncommitted change, our own cache lock), a corrupt or tampered clone, cancellation.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TimeoutError, type StackswapError } from '../../../src/shared/errors.ts';
import {
  cleanupFixtures,
  commitCount,
  createBareRepo,
  git,
  remoteTip,
  showAtTip,
  tempDir,
} from '../../helpers/git-fixtures.ts';
import { openRepo, SEED_FILES, trailers } from './support.ts';

afterAll(cleanupFixtures);

const edit = (file: string, text: string, id: string) => async () => ({
  kind: 'commit' as const,
  files: { [file]: text },
  message: { subject: `edit ${file}`, trailers: trailers('values-set', id) },
  result: undefined,
});

/** The cache root a repo was opened with (workdir = <cacheDir>/git/<key>/repo). */
const cacheDirOf = (workdir: string) => path.resolve(workdir, '..', '..', '..');

describe('leftovers of a killed process', () => {
  it('stale git lock files (kill -9 mid-command) do not block the next operation', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const gitDir = repo.workdir;
    writeFileSync(path.join(gitDir, 'index.lock'), '');
    mkdirSync(path.join(gitDir, 'refs', 'heads'), { recursive: true });
    writeFileSync(path.join(gitDir, 'refs', 'heads', 'main.lock'), '');
    const result = await repo.transact(edit('apps/a.yaml', 'a: 1\n', 'op-lock'));
    expect(result.committed).toBe(true);
    expect(existsSync(path.join(gitDir, 'index.lock'))).toBe(false);
    expect(commitCount(origin)).toBe(2);
  });

  it('a change staged but never committed (killed between add and commit) is discarded; the edit lands once', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    writeFileSync(path.join(repo.workdir, 'apps/ingress/values.yaml'), 'half-done\n');
    git(repo.workdir, 'add', 'apps/ingress/values.yaml');
    writeFileSync(path.join(repo.workdir, 'index.lock'), '');
    writeFileSync(path.join(repo.workdir, 'stray.tmp'), 'x');

    const reopened = await openRepo(origin, { cacheDir: cacheDirOf(repo.workdir) });
    const result = await reopened.transact(
      edit('apps/ingress/values.yaml', 'global:\n  shopLive: green\n', 'op-once'),
    );
    expect(result.committed).toBe(true);
    expect(commitCount(origin)).toBe(2);
    expect(showAtTip(origin, 'apps/ingress/values.yaml')).toBe('global:\n  shopLive: green');
    expect(git(origin.bare, 'ls-tree', '--name-only', 'main')).not.toContain('stray.tmp');
  });

  it('a local commit that was never pushed (killed between commit and push) is dropped on sync', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    writeFileSync(path.join(repo.workdir, 'orphan.yaml'), 'x\n');
    git(repo.workdir, 'add', 'orphan.yaml');
    git(repo.workdir, 'commit', '-q', '-m', 'never pushed');
    expect(await repo.sync()).toBe(remoteTip(origin));
    expect(git(repo.workdir, 'rev-parse', 'HEAD')).toBe(remoteTip(origin));
    expect(existsSync(path.join(repo.workdir, 'orphan.yaml'))).toBe(false);
  });

  it('a cache lock left by a dead process is taken over', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const lock = path.join(path.dirname(repo.workdir), 'lock');
    writeFileSync(
      lock,
      JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), id: 'dead', at: 0 }),
    );
    expect(await repo.sync()).toBe(remoteTip(origin));
    expect(existsSync(lock)).toBe(false);
  });

  it('a cache lock held by a live process makes us wait, then time out with a clear error', async () => {
    const origin = createBareRepo(SEED_FILES);
    const first = await openRepo(origin);
    const lock = path.join(path.dirname(first.workdir), 'lock');
    writeFileSync(
      lock,
      JSON.stringify({ pid: process.pid, host: os.hostname(), id: 'live', at: Date.now() }),
    );
    const second = openRepo(origin, { cacheDir: cacheDirOf(first.workdir), lockTimeoutMs: 300 });
    const error = (await second.catch((e: unknown) => e)) as StackswapError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toMatch(new RegExp(`is in use by process ${process.pid} on `));
    rmSync(lock);
    expect((await openRepo(origin, { cacheDir: cacheDirOf(first.workdir) })).headSha).toBe(
      remoteTip(origin),
    );
  });
});

describe('corrupt or tampered cache clone', () => {
  it('a corrupt clone is wiped and cloned again', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    writeFileSync(path.join(repo.workdir, 'HEAD'), 'garbage\n');
    expect(await repo.sync()).toBe(remoteTip(origin));
    expect(await repo.readFile('stackswap.yaml')).toBe('version: 1\n');

    rmSync(path.join(repo.workdir, 'objects'), { recursive: true });
    const result = await repo.transact(edit('apps/b.yaml', 'b: 1\n', 'op-corrupt'));
    expect(result.committed).toBe(true);
  });

  it('a half-written clone directory (killed during clone) is ignored and replaced', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const base = path.dirname(repo.workdir);
    rmSync(repo.workdir, { recursive: true });
    mkdirSync(path.join(base, 'clone-interrupted', '.git'), { recursive: true });
    expect(await repo.sync()).toBe(remoteTip(origin));
    expect(existsSync(path.join(base, 'clone-interrupted'))).toBe(false);
  });

  it('a tampered .git/config (core.fsmonitor) is never executed: the clone is replaced', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const marker = path.join(tempDir(), 'fsmonitor-ran');
    git(repo.workdir, 'config', 'core.fsmonitor', `touch ${marker}; false`);
    git(repo.workdir, 'config', 'remote.origin.url', '/somewhere/else.git');
    await repo.transact(edit('apps/c.yaml', 'c: 1\n', 'op-tamper'));
    expect(existsSync(marker)).toBe(false);
    expect(git(repo.workdir, 'config', '--local', '--list')).not.toMatch(/fsmonitor|somewhere/);
    expect(git(repo.workdir, 'remote', 'get-url', 'origin')).toBe(origin.bare);
  });
});

describe('cancellation', () => {
  it('an aborted signal stops the transaction before anything is pushed', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const controller = new AbortController();
    const error = (await repo
      .transact(
        async () => {
          controller.abort();
          return edit('apps/d.yaml', 'd: 1\n', 'op-abort')();
        },
        { signal: controller.signal },
      )
      .catch((e: unknown) => e)) as StackswapError;
    expect(error.code).toBe('operation-failed');
    expect(error.message).toMatch(/cancelled/);
    expect(commitCount(origin)).toBe(1);
    expect(git(repo.workdir, 'rev-parse', '--is-bare-repository')).toBe('true');
  });
});
