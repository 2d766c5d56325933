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
import { expectCacheAt, openRepo, SEED_FILES, trailers } from './support.ts';

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
    writeFileSync(path.join(gitDir, 'shallow.lock'), '');
    writeFileSync(path.join(gitDir, 'packed-refs.lock'), '');
    mkdirSync(path.join(gitDir, 'refs', 'heads'), { recursive: true });
    writeFileSync(path.join(gitDir, 'refs', 'heads', 'main.lock'), '');
    const result = await repo.transact(edit('apps/a.yaml', 'a: 1\n', 'op-lock'));
    expect(result.committed).toBe(true);
    expect(existsSync(path.join(gitDir, 'shallow.lock'))).toBe(false);
    expect(existsSync(path.join(gitDir, 'refs', 'heads', 'main.lock'))).toBe(false);
    expect(commitCount(origin)).toBe(2);
    expectCacheAt(repo.workdir, remoteTip(origin));
  });

  it('objects of an attempt killed before its push (blob, tree, commit) change nothing; the edit lands once', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    // What hash-object, mktree and commit-tree had written when the process died.
    const blob = git(repo.workdir, 'hash-object', '-w', '--stdin', '--path=x', '-t', 'blob');
    const tree = git(repo.workdir, 'mktree', '--missing');
    const orphan = git(repo.workdir, 'commit-tree', '-m', 'never pushed', tree);
    expect(blob).toMatch(/^[0-9a-f]{40}$/);
    const home = path.join(path.dirname(repo.workdir), 'home');
    writeFileSync(path.join(home, 'commit-message-dead'), 'x');
    // A .gitconfig replacement left by a dead process goes; one of a live process stays.
    writeFileSync(path.join(home, '.gitconfig.999999999.1.tmp'), 'x');
    writeFileSync(path.join(home, `.gitconfig.${process.pid}.1.tmp`), 'x');

    const reopened = await openRepo(origin, { cacheDir: cacheDirOf(repo.workdir) });
    const result = await reopened.transact(
      edit('apps/ingress/values.yaml', 'global:\n  shopLive: green\n', 'op-once'),
    );
    expect(result.committed).toBe(true);
    expect(commitCount(origin)).toBe(2);
    expect(showAtTip(origin, 'apps/ingress/values.yaml')).toBe('global:\n  shopLive: green');
    expect(git(origin.bare, 'rev-list', 'main')).not.toContain(orphan);
    // A killed run's commit-message file (written by earlier versions) is cleaned up.
    expect(existsSync(path.join(home, 'commit-message-dead'))).toBe(false);
    expect(existsSync(path.join(home, '.gitconfig.999999999.1.tmp'))).toBe(false);
    expect(existsSync(path.join(home, `.gitconfig.${process.pid}.1.tmp`))).toBe(true);
  });

  it('a local branch moved to a commit that was never pushed is put back on sync', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const tree = git(repo.workdir, 'rev-parse', 'HEAD^{tree}');
    const orphan = git(repo.workdir, 'commit-tree', '-p', 'HEAD', '-m', 'never pushed', tree);
    git(repo.workdir, 'update-ref', 'refs/heads/main', orphan);
    expect(await repo.sync()).toBe(remoteTip(origin));
    expectCacheAt(repo.workdir, remoteTip(origin));
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
    mkdirSync(path.join(base, 'clone-interrupted', 'objects'), { recursive: true });
    expect(await repo.sync()).toBe(remoteTip(origin));
    expect(existsSync(path.join(base, 'clone-interrupted'))).toBe(false);
  });

  it('a tampered config (core.fsmonitor) is never executed: the clone is replaced', async () => {
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
