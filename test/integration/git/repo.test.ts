import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../../../src/shared/errors.ts';
import {
  cleanupFixtures,
  commitCount,
  createBareRepo,
  git,
  OtherWriter,
  remoteTip,
  showAtTip,
} from '../../helpers/git-fixtures.ts';
import { expectCacheAt, openRepo, SEED_FILES, trailers } from './support.ts';

afterAll(cleanupFixtures);

describe('ConfigRepo: clone, sync, read', () => {
  it('clones into the cache, reads files at the head and follows the remote on sync', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    expect(repo.headSha).toBe(remoteTip(origin));
    expect(await repo.readFile('apps/ingress/values.yaml')).toBe('global:\n  shopLive: blue\n');
    expect(await repo.fileExists('apps/shop/values-blue.yaml')).toBe(true);
    expect(await repo.fileExists('apps/shop/values-purple.yaml')).toBe(false);
    expect(await repo.fileExists('apps/shop')).toBe(false);

    const other = new OtherWriter(origin);
    const tip = other.commitAndPush({ 'apps/ingress/values.yaml': 'global:\n  shopLive: green\n' });
    // Reads stay pinned to the synced head until the next sync.
    expect(await repo.readFile('apps/ingress/values.yaml')).toContain('blue');
    expect(await repo.sync()).toBe(tip);
    expect(await repo.readFile('apps/ingress/values.yaml')).toContain('green');
  });

  it('reports a missing file as a ValidationError naming the path', async () => {
    const repo = await openRepo(createBareRepo(SEED_FILES));
    const error = await repo.readFile('apps/nope/values.yaml').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(/apps\/nope\/values\.yaml not found/);
    expect((error as ValidationError).where).toEqual({ file: 'apps/nope/values.yaml' });
  });

  it('reuses the cached clone on the next open, and puts a moved local branch back on sync', async () => {
    const origin = createBareRepo(SEED_FILES);
    const first = await openRepo(origin);
    const tip = remoteTip(origin);
    const tree = git(first.workdir, 'mktree', '--missing');
    git(
      first.workdir,
      'update-ref',
      'refs/heads/main',
      git(first.workdir, 'commit-tree', '-m', 'junk', tree),
    );
    const cacheDir = path.dirname(path.dirname(path.dirname(first.workdir)));
    const marker = path.join(first.workdir, 'reuse-marker');
    writeFileSync(marker, '');

    const second = await openRepo(origin, { cacheDir });
    expect(second.workdir).toBe(first.workdir);
    expect(existsSync(marker)).toBe(true); // not re-cloned
    expect(second.headSha).toBe(tip);
    expectCacheAt(second.workdir, tip);
    expect(await second.readFile('apps/ingress/values.yaml')).toContain('blue');
    // Bare: no file of the repo is ever checked out in the cache.
    expect(existsSync(path.join(second.workdir, 'apps'))).toBe(false);
  });

  it('reads history newest first with parsed trailers, optionally limited to paths', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    await repo.transact(async () => ({
      kind: 'commit',
      files: { 'apps/ingress/values.yaml': 'global:\n  shopLive: green\n' },
      message: {
        subject: 'swap shop: live blue -> green',
        body: 'Because of a release.',
        trailers: trailers('swap', 'op-1'),
      },
      result: undefined,
    }));
    await repo.transact(async () => ({
      kind: 'commit',
      files: { 'apps/shop/values-blue.yaml': 'global:\n  colour: blue\n  replicas: 0\n' },
      message: { subject: 'scale-down shop blue', trailers: trailers('scale-down', 'op-2') },
      result: undefined,
    }));
    const log = await repo.log({ maxCount: 10 });
    expect(log.map((c) => c.subject)).toEqual([
      'scale-down shop blue',
      'swap shop: live blue -> green',
      'seed',
    ]);
    expect(log[1]).toMatchObject({
      body: 'Because of a release.',
      authorName: 'stackswap',
      authorEmail: 'stackswap@localhost',
      trailers: {
        'Stackswap-Operation': ['swap'],
        'Stackswap-Stack': ['shop'],
        'Stackswap-Operation-Id': ['op-1'],
      },
    });
    expect(log[0]!.body).toBe('');
    expect(log[2]!.trailers).toEqual({});
    const onlyIngress = await repo.log({ paths: ['apps/ingress/values.yaml'] });
    expect(onlyIngress.map((c) => c.subject)).toEqual(['swap shop: live blue -> green', 'seed']);
  });
});

describe('ConfigRepo.transact', () => {
  it('commits with the configured identity and trailers in git trailer format, then pushes', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin, {
      author: { name: 'Promo Bot', email: 'bot@example.invalid' },
    });
    const result = await repo.transact(async (tx) => {
      expect(tx.attempt).toBe(1);
      expect(await tx.readFile('apps/ingress/values.yaml')).toContain('blue');
      return {
        kind: 'commit',
        files: {
          'apps/ingress/values.yaml': 'global:\n  shopLive: green\n',
          'releases/new/plan.yaml': 'x: 1\n',
        },
        message: {
          subject: 'swap shop: live blue -> green',
          body: 'Requested in chat.',
          trailers: { ...trailers('swap', 'op-7'), 'Stackswap-Requested-By': 'alice smith' },
        },
        result: 'swapped',
      };
    });
    expect(result).toMatchObject({ committed: true, attempts: 1, result: 'swapped' });
    expect(result.sha).toBe(remoteTip(origin));
    expect(repo.headSha).toBe(result.sha);
    expect(showAtTip(origin, 'apps/ingress/values.yaml')).toContain('green');
    expect(showAtTip(origin, 'releases/new/plan.yaml')).toBe('x: 1');
    expect(git(origin.bare, 'log', '-1', '--format=%B', 'main')).toBe(
      'swap shop: live blue -> green\n\nRequested in chat.\n\n' +
        'Stackswap-Operation: swap\nStackswap-Stack: shop\nStackswap-Operation-Id: op-7\nStackswap-Requested-By: alice smith',
    );
    expect(git(origin.bare, 'log', '-1', '--format=%an <%ae> / %cn <%ce>', 'main')).toBe(
      'Promo Bot <bot@example.invalid> / Promo Bot <bot@example.invalid>',
    );
    // git's own trailer parser agrees.
    expect(
      git(
        origin.bare,
        'log',
        '-1',
        '--format=%(trailers:key=Stackswap-Operation-Id,valueonly)',
        'main',
      ),
    ).toBe('op-7');
    expect(git(origin.bare, 'log', '-1', '--format=%G?', 'main')).toBe('N');
  });

  it('makes no commit for a noop plan, nor for a commit plan that changes nothing', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const before = remoteTip(origin);
    const noop = await repo.transact(async () => ({ kind: 'noop', result: 'already' }));
    expect(noop).toEqual({ sha: before, committed: false, attempts: 1, result: 'already' });
    const same = await repo.transact(async () => ({
      kind: 'commit',
      files: { 'apps/ingress/values.yaml': SEED_FILES['apps/ingress/values.yaml'] },
      message: { subject: 'no change', trailers: trailers('swap', 'op-8') },
      result: 'same',
    }));
    expect(same).toEqual({ sha: before, committed: false, attempts: 1, result: 'same' });
    expect(commitCount(origin)).toBe(1);
    expect(git(repo.workdir, 'rev-parse', '--is-bare-repository')).toBe('true');
  });

  it('rejects forged trailers and invalid trailer keys before anything is committed', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const plan = (t: Record<string, string>, body?: string) => async () => ({
      kind: 'commit' as const,
      files: { 'apps/ingress/values.yaml': 'global:\n  shopLive: green\n' },
      message: { subject: 'swap', ...(body ? { body } : {}), trailers: t },
      result: undefined,
    });
    await expect(
      repo.transact(plan({ 'Stackswap-Requested-By': 'eve\nStackswap-Stack: other' })),
    ).rejects.toThrow(ValidationError);
    await expect(repo.transact(plan({ 'stackswap-stack': 'shop' }))).rejects.toThrow(/trailer key/);
    await expect(repo.transact(plan({}, 'Stackswap-Stack: other'))).rejects.toThrow(
      /read as trailers/,
    );
    expect(commitCount(origin)).toBe(1);
    expect(git(repo.workdir, 'rev-parse', '--is-bare-repository')).toBe('true');

    // A body imitating trailers is not mistaken for them when the real block follows.
    await repo.transact(plan(trailers('swap', 'op-9'), 'Stackswap-Stack: other'));
    const [latest] = await repo.log({ maxCount: 1 });
    expect(latest!.trailers['Stackswap-Stack']).toEqual(['shop']);
  });

  it('does not run hooks planted in the cache clone (it is cloned afresh)', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    const marker = path.join(path.dirname(repo.workdir), 'hook-ran');
    for (const hook of [
      'pre-commit',
      'commit-msg',
      'pre-push',
      'post-commit',
      'reference-transaction',
    ]) {
      const file = path.join(repo.workdir, 'hooks', hook);
      writeFileSync(file, `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
    }
    await repo.transact(async () => ({
      kind: 'commit',
      files: { 'a.txt': 'a\n' },
      message: { subject: 'a', trailers: trailers('values-set', 'op-10') },
      result: undefined,
    }));
    expect(existsSync(marker)).toBe(false);
  });
});
