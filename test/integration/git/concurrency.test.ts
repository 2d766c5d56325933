/**
 * transact() as a compare-and-swap against real racing writers: another clone pushing between
 * our fetch and our push, a hostile server hook that moves the branch on every push, and many
 * ConfigRepo instances (separate caches, like separate processes) pushing to one bare repo.
 */
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ConflictError, type StackswapError } from '../../../src/shared/errors.ts';
import type { Plan, Transaction } from '../../../src/gitops/git/repo.ts';
import {
  cleanupFixtures,
  commitCount,
  createBareRepo,
  git,
  hostileWriterHook,
  installHook,
  isAncestor,
  OtherWriter,
  recordingSleep,
  remoteTip,
  showAtTip,
} from '../../helpers/git-fixtures.ts';
import { openRepo, SEED_FILES, trailers } from './support.ts';

afterAll(cleanupFixtures);

const INGRESS = 'apps/ingress/values.yaml';

/**
 * "Set the live colour to green unless it already is": an idempotent operation. Each caller has
 * its own operation id, as real operations do (two byte-identical commits would be one commit).
 */
const swapToGreen =
  (operationId: string) =>
  async (tx: Transaction): Promise<Plan<string>> => {
    const text = await tx.readFile(INGRESS);
    if (text.includes('shopLive: green')) return { kind: 'noop', result: 'already green' };
    return {
      kind: 'commit',
      files: { [INGRESS]: text.replace('shopLive: blue', 'shopLive: green') },
      message: {
        subject: 'swap shop: live blue -> green',
        trailers: trailers('swap', operationId),
      },
      result: 'swapped',
    };
  };

describe('transact under concurrency', () => {
  it('loses a race to a foreign commit, re-reads the new state and lands both changes without force', async () => {
    const origin = createBareRepo(SEED_FILES);
    const other = new OtherWriter(origin);
    const { sleep, delays } = recordingSleep();
    const repo = await openRepo(origin, { retry: { sleep, random: () => 0.5, minDelayMs: 100 } });
    let foreign = '';
    const seen: string[] = [];

    const result = await repo.transact(async (tx) => {
      const blue = await tx.readFile('apps/shop/values-blue.yaml');
      seen.push(blue);
      if (tx.attempt === 1) {
        // Someone else pushes between our fetch and our push.
        foreign = other.commitAndPush({
          'apps/shop/values-blue.yaml': 'global:\n  colour: blue\n  replicas: 3\n',
        });
      }
      return {
        kind: 'commit',
        files: { 'apps/shop/values-blue.yaml': `${blue}  image: "2.0.0"\n` },
        message: { subject: 'deploy shop blue 2.0.0', trailers: trailers('deploy', 'op-race') },
        result: tx.headSha,
      };
    });

    expect(result.committed).toBe(true);
    expect(result.attempts).toBe(2);
    expect(result.result).toBe(foreign); // the second attempt built on the foreign commit
    expect(seen[1]).toContain('replicas: 3');
    expect(delays).toEqual([50]);
    expect(isAncestor(origin, foreign)).toBe(true); // the foreign commit survived
    expect(showAtTip(origin, 'apps/shop/values-blue.yaml')).toBe(
      'global:\n  colour: blue\n  replicas: 3\n  image: "2.0.0"',
    );
    expect(remoteTip(origin)).toBe(result.sha);
    expect(commitCount(origin)).toBe(3);
  });

  it('stops at once when the attempt finds its precondition broken on retry: nothing pushed', async () => {
    const origin = createBareRepo(SEED_FILES);
    const other = new OtherWriter(origin);
    const repo = await openRepo(origin);
    let calls = 0;
    const error = await repo
      .transact(async (tx) => {
        calls++;
        if (tx.attempt === 1) {
          other.commitAndPush({ [INGRESS]: 'global:\n  shopLive: green\n' }, 'someone swapped');
        } else if ((await tx.readFile(INGRESS)).includes('green')) {
          throw new ConflictError('precondition changed: green is now live');
        }
        return {
          kind: 'commit',
          files: { 'apps/shop/values-green.yaml': 'global:\n  colour: green\n  image: "2.0.0"\n' },
          message: { subject: 'deploy shop green', trailers: trailers('deploy', 'op-conflict') },
          result: undefined,
        };
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(calls).toBe(2);
    expect(git(origin.bare, 'log', '--format=%s', 'main').split('\n')).toEqual([
      'someone swapped',
      'seed',
    ]);
    expect(git(repo.workdir, 'rev-parse', '--is-bare-repository')).toBe('true');
    expect(git(repo.workdir, 'rev-parse', 'HEAD')).toBe(remoteTip(origin));
  });

  it('gives up after the configured attempts against a writer that always wins, waiting longer each time', async () => {
    const origin = createBareRepo(SEED_FILES);
    installHook(origin, 'pre-receive', hostileWriterHook('main'));
    const { sleep, delays } = recordingSleep();
    const repo = await openRepo(origin, {
      retry: { attempts: 4, minDelayMs: 100, maxDelayMs: 10_000, sleep, random: () => 0.5 },
    });
    let calls = 0;
    const error = (await repo
      .transact(async (tx) => {
        calls++;
        return {
          kind: 'commit',
          files: { [INGRESS]: `global:\n  shopLive: green # ${tx.attempt}\n` },
          message: { subject: 'swap', trailers: trailers('swap', 'op-hostile') },
          result: undefined,
        };
      })
      .catch((e: unknown) => e)) as StackswapError;

    expect(error.code).toBe('retries-exhausted');
    expect(calls).toBe(4);
    expect(delays).toEqual([50, 100, 200]);
    expect(error.message).toBe(`gave up after 4 attempts; remote main at ${remoteTip(origin)}`);
    expect(error.exitCode).toBe(3);
    // Nothing of ours reached the remote; the clone is clean at the remote tip.
    expect(git(origin.bare, 'log', '--format=%s', 'main')).not.toMatch(/^swap$/m);
    expect(git(origin.bare, 'show', `main:${INGRESS}`)).toContain('shopLive: blue');
    expect(git(repo.workdir, 'rev-parse', '--is-bare-repository')).toBe('true');
    expect(repo.headSha).toBe(remoteTip(origin));
  });

  it('also gives up when the time budget would be exceeded', async () => {
    const origin = createBareRepo(SEED_FILES);
    installHook(origin, 'pre-receive', hostileWriterHook('main'));
    let clock = 0;
    const delays: number[] = [];
    const repo = await openRepo(origin, {
      retry: {
        attempts: 50,
        minDelayMs: 1000,
        maxDelayMs: 60_000,
        budgetMs: 5_000,
        random: () => 1,
        now: () => clock,
        sleep: async (ms) => {
          delays.push(ms);
          clock += ms;
        },
      },
    });
    const error = (await repo
      .transact(swapToGreen('op-budget'))
      .catch((e: unknown) => e)) as StackswapError;
    expect(error.code).toBe('retries-exhausted');
    expect(delays).toEqual([1000, 2000]); // the next wait (4000) would end after 5 s
    expect(error.message).toMatch(/^gave up after 3 attempts; remote main at [0-9a-f]{40}$/);
  });

  it('lands 10 concurrent transacts from separate caches on one branch: no lost update', async () => {
    const origin = createBareRepo(SEED_FILES);
    const writers = Array.from({ length: 10 }, (_, i) => i);
    const results = await Promise.all(
      writers.map(async (i) => {
        const repo = await openRepo(origin, {
          retry: { attempts: 15, minDelayMs: 10, maxDelayMs: 200, sleep: (ms) => delay(ms) },
        });
        return repo.transact(async (tx) => ({
          kind: 'commit',
          files: { [`apps/stack-${i}/values.yaml`]: `stack: ${i}\nbase: ${tx.headSha}\n` },
          message: { subject: `deploy stack-${i}`, trailers: trailers('deploy', `op-${i}`) },
          result: i,
        }));
      }),
    );
    expect(results.every((r) => r.committed)).toBe(true);
    expect(results.map((r) => r.result)).toEqual(writers);
    expect(Math.max(...results.map((r) => r.attempts))).toBeLessThanOrEqual(15);
    expect(commitCount(origin)).toBe(11);
    for (const i of writers) {
      expect(showAtTip(origin, `apps/stack-${i}/values.yaml`)).toMatch(
        new RegExp(`^stack: ${i}\\n`),
      );
      expect(isAncestor(origin, results[i]!.sha)).toBe(true);
    }
    // Every commit is a fast-forward of the one before: a straight line, nothing overwritten.
    expect(git(origin.bare, 'rev-list', '--merges', '--count', 'main')).toBe('0');
  });

  it('two concurrent "swap to green unless already green": exactly one commit', async () => {
    const origin = createBareRepo(SEED_FILES);
    const [a, b] = await Promise.all([openRepo(origin), openRepo(origin)]);
    const results = await Promise.all([
      a!.transact(swapToGreen('op-a')),
      b!.transact(swapToGreen('op-b')),
    ]);
    expect(results.filter((r) => r.committed)).toHaveLength(1);
    expect(results.map((r) => r.result).sort()).toEqual(['already green', 'swapped']);
    expect(commitCount(origin)).toBe(2);
    expect(showAtTip(origin, INGRESS)).toContain('shopLive: green');
  });

  it('serialises transacts of one instance and of instances sharing a cache directory', async () => {
    const origin = createBareRepo(SEED_FILES);
    const first = await openRepo(origin);
    const cacheDir = path.resolve(first.workdir, '../../..'); // <cacheDir>/git/<key>/repo
    const second = await openRepo(origin, { cacheDir });
    expect(second.workdir).toBe(first.workdir);
    const edit = (i: number) => async (): Promise<Plan<number>> => ({
      kind: 'commit',
      files: { [`apps/shared-${i}.yaml`]: `n: ${i}\n` },
      message: { subject: `edit ${i}`, trailers: trailers('values-set', `op-${i}`) },
      result: i,
    });
    const results = await Promise.all([
      first.transact(edit(1)),
      first.transact(edit(2)),
      second.transact(edit(3)),
      second.transact(edit(4)),
    ]);
    expect(results.every((r) => r.committed && r.attempts === 1)).toBe(true);
    expect(commitCount(origin)).toBe(5);
  });
});
