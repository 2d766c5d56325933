/** Terminal push and remote failures: hooks, branch protection, unreachable remotes. */
import { afterAll, describe, expect, it } from 'vitest';
import { renameSync } from 'node:fs';
import type { StackswapError } from '../../../src/shared/errors.ts';
import type { ConfigRepo } from '../../../src/gitops/git/repo.ts';
import {
  cleanupFixtures,
  closedPort,
  commitCount,
  createBareRepo,
  git,
  installHook,
  protectedBranchHook,
  rejectEverythingHook,
  remoteTip,
  tempDir,
} from '../../helpers/git-fixtures.ts';
import { openRepo, SEED_FILES, trailers } from './support.ts';

afterAll(cleanupFixtures);

function swapAttempt(counter: { calls: number }) {
  return async () => {
    counter.calls++;
    return {
      kind: 'commit' as const,
      files: { 'apps/ingress/values.yaml': 'global:\n  shopLive: green\n' },
      message: { subject: 'swap shop', trailers: trailers('swap', 'op-hook') },
      result: undefined,
    };
  };
}

function expectCleanAtRemote(repo: ConfigRepo, tip: string) {
  expect(git(repo.workdir, 'rev-parse', '--is-bare-repository')).toBe('true');
  expect(git(repo.workdir, 'rev-parse', 'HEAD')).toBe(tip);
}

describe('push rejected by the remote', () => {
  it('a pre-receive hook rejection is terminal and carries the hook message', async () => {
    const origin = createBareRepo(SEED_FILES);
    installHook(
      origin,
      'pre-receive',
      rejectEverythingHook('GL-HOOK-ERR: commits to this repo must reference a change ticket'),
    );
    const repo = await openRepo(origin);
    const counter = { calls: 0 };
    const error = (await repo
      .transact(swapAttempt(counter))
      .catch((e: unknown) => e)) as StackswapError;
    expect(error.code).toBe('push-rejected');
    expect(error.exitCode).toBe(7);
    expect(error.message).toContain(
      'GL-HOOK-ERR: commits to this repo must reference a change ticket',
    );
    expect(error.message).toContain('pre-receive hook declined');
    expect(error.details?.remoteMessages).toEqual([
      'GL-HOOK-ERR: commits to this repo must reference a change ticket',
    ]);
    expect(counter.calls).toBe(1); // never retried
    expect(commitCount(origin)).toBe(1);
    expectCleanAtRemote(repo, remoteTip(origin));
  });

  it('a protected branch is reported as such, without retrying', async () => {
    const origin = createBareRepo(SEED_FILES, { branch: 'production' });
    installHook(origin, 'pre-receive', protectedBranchHook('production'));
    const repo = await openRepo(origin);
    const counter = { calls: 0 };
    const error = (await repo
      .transact(swapAttempt(counter))
      .catch((e: unknown) => e)) as StackswapError;
    expect(error.code).toBe('push-rejected');
    expect(error.message).toMatch(/^push refused by branch protection on production: /);
    expect(error.message).toContain('You are not allowed to push code to protected branches');
    expect(error.hint).toMatch(/token allowed to push/);
    expect(counter.calls).toBe(1);
    expectCleanAtRemote(repo, remoteTip(origin, 'production'));
  });

  it('the next operation after a rejection starts clean and can succeed', async () => {
    const origin = createBareRepo(SEED_FILES);
    installHook(origin, 'pre-receive', rejectEverythingHook('maintenance window'));
    const repo = await openRepo(origin);
    await expect(repo.transact(swapAttempt({ calls: 0 }))).rejects.toMatchObject({
      code: 'push-rejected',
    });
    installHook(origin, 'pre-receive', '#!/bin/sh\nexit 0\n');
    const result = await repo.transact(swapAttempt({ calls: 0 }));
    expect(result).toMatchObject({ committed: true, attempts: 1 });
    expect(commitCount(origin)).toBe(2);
  });
});

describe('unreachable remotes', () => {
  it('an https remote refusing connections -> remote-unreachable', async () => {
    const port = await closedPort();
    const url = `https://127.0.0.1:${port}/group/config.git`;
    const error = (await openRepo(createBareRepo(SEED_FILES), {
      url,
      allowFileProtocol: false,
    }).catch((e: unknown) => e)) as StackswapError;
    expect(error.code).toBe('remote-unreachable');
    expect(error.exitCode).toBe(7);
    expect(error.message).toContain(url);
    expect(error.message).toMatch(/Failed to connect|Connection refused/);
  });

  it('a local path without a repository -> remote-unreachable naming it', async () => {
    const missing = `${tempDir()}/nothing-here.git`;
    const origin = createBareRepo(SEED_FILES);
    const error = (await openRepo(origin, { url: missing }).catch(
      (e: unknown) => e,
    )) as StackswapError;
    expect(error.code).toBe('remote-unreachable');
    expect(error.message).toContain(missing);
  });

  it('a branch missing on the remote -> not-found', async () => {
    const origin = createBareRepo(SEED_FILES);
    const error = (await openRepo(origin, { branch: 'release/next' }).catch(
      (e: unknown) => e,
    )) as StackswapError;
    expect(error.code).toBe('not-found');
    expect(error.message).toBe(`branch release/next does not exist in ${origin.bare}`);
  });

  it('a remote that disappears after the clone fails sync with remote-unreachable, keeping the cache', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const moved = `${origin.bare}.moved`;
    renameSync(origin.bare, moved);
    await expect(repo.sync()).rejects.toMatchObject({ code: 'remote-unreachable' });
    renameSync(moved, origin.bare);
    expect(await repo.sync()).toBe(remoteTip(origin));
  });
});
