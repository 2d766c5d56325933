/** Shared set-up for the config-repo tests: open a ConfigRepo on a fixture remote. */
import path from 'node:path';
import { expect } from 'vitest';
import { Redactor } from '../../../src/shared/redact.ts';
import { ConfigRepo, type RepoOptions } from '../../../src/gitops/git/repo.ts';
import { git, tempDir, type BareRepo } from '../../helpers/git-fixtures.ts';

export const SEED_FILES = {
  'stackswap.yaml': 'version: 1\n',
  'apps/shop/values-blue.yaml': 'global:\n  colour: blue\n',
  'apps/shop/values-green.yaml': 'global:\n  colour: green\n',
  'apps/ingress/values.yaml': 'global:\n  shopLive: blue\n',
};

export function openRepo(
  repo: BareRepo,
  overrides: Partial<RepoOptions> = {},
): Promise<ConfigRepo> {
  return ConfigRepo.open({
    url: repo.bare,
    branch: repo.branch,
    cacheDir: path.join(tempDir('stackswap-cache-'), 'cache'),
    redactor: new Redactor(),
    allowFileProtocol: true,
    timeoutMs: 20_000,
    retry: { sleep: async () => {}, random: () => 0.5 },
    ...overrides,
  });
}

export const trailers = (operation: string, id: string) => ({
  'Stackswap-Operation': operation,
  'Stackswap-Stack': 'shop',
  'Stackswap-Operation-Id': id,
});

/**
 * What a cache repo holds that an operation could change: its refs and its loose objects (what
 * hash-object, mktree and commit-tree write; blobs fetched on demand arrive as packs). The cache
 * is bare: there is no working tree to be dirty.
 */
export function cacheState(workdir: string): { bare: string; refs: string; looseObjects: string } {
  return {
    bare: git(workdir, 'rev-parse', '--is-bare-repository'),
    refs: git(workdir, 'for-each-ref', '--format=%(refname) %(objectname)'),
    looseObjects: git(workdir, 'count-objects').split(' ')[0]!,
  };
}

/** The cache repo is bare and its branch (HEAD) is `tip`. */
export function expectCacheAt(workdir: string, tip: string): void {
  expect(git(workdir, 'rev-parse', '--is-bare-repository')).toBe('true');
  expect(git(workdir, 'rev-parse', 'HEAD')).toBe(tip);
}
