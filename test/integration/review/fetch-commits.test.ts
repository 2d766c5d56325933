/**
 * ConfigRepo's reads of other commits, for reviews: an MR head fetched by its merge-request
 * ref (pinned to the SHA the event named), a SHA, a tree written out as plain files.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigRepo } from '../../../src/gitops/git/repo.ts';
import { ConflictError, ValidationError } from '../../../src/shared/errors.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import { cleanupFixtures, createBareRepo, git, OtherWriter } from '../../helpers/git-fixtures.ts';

afterAll(() => cleanupFixtures());

async function setup() {
  const repo = createBareRepo(
    { 'stackswap.yaml': 'version: 1\n', 'charts/a/Chart.yaml': 'name: a\n' },
    { symlinks: { 'charts/a/evil.yaml': '/etc/passwd' } },
  );
  const w = new OtherWriter(repo);
  git(w.dir, 'checkout', '-q', '-b', 'mr');
  git(w.dir, 'rm', '-q', 'stackswap.yaml');
  git(w.dir, 'commit', '-q', '-m', 'drop config');
  const head = git(w.dir, 'rev-parse', 'HEAD');
  // Only the merge-request ref holds the head (as for a fork).
  git(w.dir, 'push', '-q', 'origin', `HEAD:refs/merge-requests/3/head`);
  const config = await ConfigRepo.open({
    url: repo.bare,
    branch: 'main',
    cacheDir: mkdtempSync(path.join(os.tmpdir(), 'stackswap-fetch-cache-')),
    redactor: new Redactor(),
    allowFileProtocol: true,
  });
  return { repo, config, head };
}

describe('ConfigRepo.fetchCommit, readerAt, exportTree, changedPaths', () => {
  it('fetches an MR head by its ref, pinned; reads and exports it', async () => {
    const { config, head } = await setup();
    try {
      expect(await config.fetchCommit('refs/merge-requests/3/head', { expectSha: head })).toBe(
        head,
      );
      const reader = config.readerAt(head);
      expect(await reader.fileExists('stackswap.yaml')).toBe(false);
      expect(await reader.readFile('charts/a/Chart.yaml')).toBe('name: a\n');
      expect(await config.changedPaths(config.headSha, head)).toEqual(['stackswap.yaml']);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'stackswap-export-'));
      const r = await config.exportTree(config.headSha, dir);
      expect(r).toEqual({ files: 2, skipped: ['charts/a/evil.yaml'] });
      expect(readFileSync(path.join(dir, 'stackswap.yaml'), 'utf8')).toBe('version: 1\n');
      // The symlink is not written: nothing can read outside the tree through it.
      expect(existsSync(path.join(dir, 'charts/a/evil.yaml'))).toBe(false);
    } finally {
      config.close();
    }
  });

  it('a ref that moved past the expected SHA is a conflict; odd refs are refused', async () => {
    const { config } = await setup();
    try {
      await expect(
        config.fetchCommit('refs/merge-requests/3/head', { expectSha: 'a'.repeat(40) }),
      ).rejects.toBeInstanceOf(ConflictError);
      for (const bad of [
        'HEAD',
        'refs/tags/x',
        '--upload-pack=evil',
        'refs/merge-requests/x/head',
      ]) {
        await expect(config.fetchCommit(bad)).rejects.toBeInstanceOf(ValidationError);
      }
    } finally {
      config.close();
    }
  });
});
