/**
 * ConfigRepo.plan: one attempt on the synced head through the same read-only transaction as
 * transact, the plan checked as transact checks it, and nothing written anywhere.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { StackswapError, ValidationError } from '../../../src/shared/errors.ts';
import type { ConfigRepo, Plan, Transaction } from '../../../src/gitops/git/repo.ts';
import {
  cleanupFixtures,
  commitCount,
  createBareRepo,
  OtherWriter,
  remoteTip,
  type BareRepo,
} from '../../helpers/git-fixtures.ts';
import { cacheState, openRepo, SEED_FILES, trailers } from './support.ts';

afterAll(cleanupFixtures);

const swapToGreen: Plan<string> = {
  kind: 'commit',
  files: { 'apps/ingress/values.yaml': 'global:\n  shopLive: green\n' },
  message: { subject: 'swap shop: live blue -> green', trailers: trailers('swap', 'op-plan') },
  result: 'swapped',
};

/** The remote tip, the repo's head and the cache's refs and written objects: nothing moved. */
function state(origin: BareRepo, repo: ConfigRepo) {
  return {
    remote: remoteTip(origin),
    commits: commitCount(origin),
    head: repo.headSha,
    cache: cacheState(repo.workdir),
  };
}

describe('ConfigRepo.plan', () => {
  it('returns the plan and the base sha, and commits, pushes and changes nothing', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const before = state(origin, repo);

    const outcome = await repo.plan(async (tx) => {
      expect(tx.attempt).toBe(1);
      expect(tx.headSha).toBe(before.remote);
      expect(await tx.readFile('apps/ingress/values.yaml')).toContain('shopLive: blue');
      expect(await tx.fileExists('apps/shop/values-blue.yaml')).toBe(true);
      expect((await tx.log()).map((c) => c.subject)).toEqual(['seed']);
      return swapToGreen;
    });

    expect(outcome).toEqual({
      plan: swapToGreen,
      baseSha: before.remote,
      previous: { 'apps/ingress/values.yaml': SEED_FILES['apps/ingress/values.yaml'] },
    });
    expect(state(origin, repo)).toEqual(before);
    expect(before.cache.bare).toBe('true');
  });

  it('gives each planned file as it is at the base commit; null for a file the plan creates', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const outcome = await repo.plan(async () => ({
      ...swapToGreen,
      files: { ...swapToGreen.files, 'releases/new.yaml': 'stack: new\n' },
    }));
    expect(outcome.previous).toEqual({
      'apps/ingress/values.yaml': SEED_FILES['apps/ingress/values.yaml'],
      'releases/new.yaml': null,
    });
  });

  it('plans on the head of the last sync, without fetching', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const synced = repo.headSha;
    const tip = new OtherWriter(origin).commitAndPush({
      'apps/ingress/values.yaml': 'global:\n  shopLive: green\n',
    });

    const stale = await repo.plan(async (tx) => ({
      kind: 'noop',
      result: await tx.readFile('apps/ingress/values.yaml'),
    }));
    expect(stale).toEqual({
      plan: { kind: 'noop', result: expect.stringContaining('blue') },
      baseSha: synced,
      previous: {},
    });
    expect(repo.headSha).toBe(synced);

    await repo.sync();
    const fresh = await repo.plan(async (tx) => ({
      kind: 'noop',
      result: await tx.readFile('apps/ingress/values.yaml'),
    }));
    expect(fresh.baseSha).toBe(tip);
    expect(fresh.plan.result).toContain('green');
  });

  it('returns a noop plan as noop', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const before = state(origin, repo);
    const outcome = await repo.plan(async () => ({ kind: 'noop', result: 42 }));
    expect(outcome).toEqual({
      plan: { kind: 'noop', result: 42 },
      baseSha: before.remote,
      previous: {},
    });
    expect(state(origin, repo)).toEqual(before);
  });

  it('closes the transaction when the attempt ends', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    let escaped: Transaction | undefined;
    await repo.plan(async (tx) => {
      escaped = tx;
      return { kind: 'noop', result: undefined };
    });
    for (const use of [
      () => escaped!.readFile('stackswap.yaml'),
      () => escaped!.fileExists('stackswap.yaml'),
      () => escaped!.log(),
    ]) {
      expect(use).toThrow(/used after its attempt ended/);
    }
    // Also when the attempt fails.
    let failed: Transaction | undefined;
    await expect(
      repo.plan(async (tx) => {
        failed = tx;
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(() => failed!.readFile('stackswap.yaml')).toThrow(StackswapError);
  });

  it('refuses an invalid plan exactly as transact does, writing nothing', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const before = state(origin, repo);
    const invalid: unknown[] = [
      { kind: 'rewrite', result: undefined },
      undefined,
      { ...swapToGreen, files: { '../outside.yaml': 'x\n' } },
      { ...swapToGreen, files: { 'apps/ingress/values.yaml': 42 } },
      {
        ...swapToGreen,
        message: { subject: 'swap', trailers: { 'Stackswap-Stack': 'shop\nStackswap-Stack: x' } },
      },
    ];
    for (const plan of invalid) {
      const attempt = async () => plan as Plan<undefined>;
      const planned = await repo.plan(attempt).catch((e: unknown) => e);
      const transacted = await repo.transact(attempt).catch((e: unknown) => e);
      expect(planned, JSON.stringify(plan)).toBeInstanceOf(ValidationError);
      expect((planned as Error).message).toBe((transacted as Error).message);
    }
    expect(state(origin, repo)).toEqual(before);
  });

  it('stops when the signal is aborted during the attempt', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const controller = new AbortController();
    const error = await repo
      .plan(
        async () => {
          controller.abort();
          return swapToGreen;
        },
        { signal: controller.signal },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StackswapError);
    expect((error as StackswapError).message).toMatch(/cancelled/);
    expect(remoteTip(origin)).toBe(repo.headSha);
  });
});
