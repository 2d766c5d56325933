/**
 * The cache is a shallow clone (the tip commit only): a log that asks for more history than is
 * there deepens it on demand, and reads exactly what a full clone would. Cold reads fetch only
 * the blobs they read (a partial clone).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  cleanupFixtures,
  createBareRepo,
  git,
  OtherWriter,
  remoteTip,
} from '../../helpers/git-fixtures.ts';
import { openRepo, SEED_FILES, trailers } from './support.ts';

afterAll(cleanupFixtures);

/** The full log of the remote, as `%H %s`, newest first. */
const remoteLog = (bare: string, ...paths: string[]) =>
  git(bare, 'log', '--format=%H %s', 'main', '--', ...paths)
    .split('\n')
    .filter(Boolean);

describe('history on a shallow, partial cache', () => {
  it('a cold cache holds the tip commit only, and no blob it has not read', async () => {
    const origin = createBareRepo(SEED_FILES);
    new OtherWriter(origin).commitAndPush({ 'apps/shop/values-blue.yaml': 'global: {}\n' }, 'two');
    const repo = await openRepo(origin);
    const shallow = readFileSync(path.join(repo.workdir, 'shallow'), 'utf8').trim();
    expect(shallow).toBe(remoteTip(origin));
    // Blobs are not local until read (--filter=blob:none), then they are.
    const blob = git(origin.bare, 'rev-parse', 'main:apps/ingress/values.yaml');
    const local = () =>
      git(repo.workdir, 'cat-file', '--batch-check', '--batch-all-objects').includes(blob);
    expect(local()).toBe(false);
    expect(await repo.readFile('apps/ingress/values.yaml')).toBe(
      SEED_FILES['apps/ingress/values.yaml'],
    );
    expect(local()).toBe(true);
  });

  it('log deepens on demand: the same commits as the remote, with and without paths', async () => {
    const origin = createBareRepo(SEED_FILES);
    const other = new OtherWriter(origin);
    for (let i = 0; i < 12; i++) {
      const file = i % 3 === 0 ? 'apps/ingress/values.yaml' : 'apps/shop/values-blue.yaml';
      other.commitAndPush({ [file]: `global:\n  n: ${i}\n` }, `change ${i}`);
    }
    const repo = await openRepo(origin);
    const all = remoteLog(origin.bare);
    expect(all).toHaveLength(13);

    const five = await repo.log({ maxCount: 5 });
    expect(five.map((c) => `${c.sha} ${c.subject}`)).toEqual(all.slice(0, 5));
    const everything = await repo.log({ maxCount: 100 });
    expect(everything.map((c) => `${c.sha} ${c.subject}`)).toEqual(all);
    expect(existsSync(path.join(repo.workdir, 'shallow'))).toBe(false);

    const fresh = await openRepo(origin);
    const ingress = await fresh.log({ maxCount: 50, paths: ['apps/ingress/values.yaml'] });
    expect(ingress.map((c) => `${c.sha} ${c.subject}`)).toEqual(
      remoteLog(origin.bare, 'apps/ingress/values.yaml'),
    );
  });

  it('inside a transaction (revert reads the log under the cache lock) deepening does not deadlock', async () => {
    const origin = createBareRepo(SEED_FILES);
    const other = new OtherWriter(origin);
    for (let i = 0; i < 4; i++) other.commitAndPush({ 'x.yaml': `n: ${i}\n` }, `x ${i}`);
    const repo = await openRepo(origin);
    const result = await repo.transact(async (tx) => {
      const log = await tx.log({ maxCount: 3 });
      return {
        kind: 'commit',
        files: { 'seen.yaml': `${log.map((c) => c.subject).join(',')}\n` },
        message: { subject: 'seen', trailers: trailers('values-set', 'op-h') },
        result: log.length,
      };
    });
    expect(result.result).toBe(3);
    expect(git(origin.bare, 'show', 'main:seen.yaml')).toBe('x 3,x 2,x 1');
  });
});
