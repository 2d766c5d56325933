/**
 * Blobs and trees written in-process must be exactly what `git hash-object -w` and
 * `git mktree` write: the same ids, objects git reads back and fsck accepts, in sha1 and
 * sha256 repositories alike.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { treeBody, writeLooseObject } from '../../../src/gitops/git/loose-objects.ts';
import { cleanupFixtures, git, tempDir } from '../../helpers/git-fixtures.ts';

afterAll(cleanupFixtures);

function gitInput(cwd: string, input: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, input, encoding: 'utf8' }).trim();
}

describe.each([
  ['sha1', 40],
  ['sha256', 64],
] as const)('loose objects (%s)', (format, idLength) => {
  it('a blob and a nested tree get the ids git gives them, and git reads them back', async () => {
    const repo = tempDir('stackswap-loose-');
    git(repo, 'init', '--bare', '-q', `--object-format=${format}`);
    const content = 'image:\n  tag: "1.2.3" # ünïcode\n';
    const blob = await writeLooseObject(repo, 'blob', Buffer.from(content), idLength);
    expect(blob).toBe(gitInput(repo, content, 'hash-object', '-t', 'blob', '--stdin'));
    expect(gitInput(repo, '', 'cat-file', 'blob', blob) + '\n').toBe(content);

    // Entries in an order git would not use: "a-b" sorts before the directory "a" ("a/"),
    // which sorts before "a0"; modes as the snapshot reports them (040000 with its zero).
    const entries = [
      { mode: '100644', name: 'a0', oid: blob },
      { mode: '100755', name: 'run.sh', oid: blob },
      { mode: '100644', name: 'a-b', oid: blob },
    ];
    const sub = await writeLooseObject(repo, 'tree', treeBody(entries, idLength), idLength);
    const root = await writeLooseObject(
      repo,
      'tree',
      treeBody([{ mode: '040000', name: 'a', oid: sub }, ...entries], idLength),
      idLength,
    );
    const mktree = (list: { mode: string; name: string; oid: string }[]) =>
      list
        .map((e) => `${e.mode} ${e.mode === '040000' ? 'tree' : 'blob'} ${e.oid}\t${e.name}\n`)
        .join('');
    expect(sub).toBe(gitInput(repo, mktree(entries), 'mktree'));
    expect(root).toBe(
      gitInput(repo, mktree([{ mode: '040000', name: 'a', oid: sub }, ...entries]), 'mktree'),
    );
    expect(git(repo, 'ls-tree', '-r', '--name-only', root).split('\n')).toEqual([
      'a-b',
      'a/a-b',
      'a/a0',
      'a/run.sh',
      'a0',
      'run.sh',
    ]);
    git(repo, 'fsck', '--strict', '--no-dangling');
    // Writing an object that is there already keeps it and leaves no temporary file.
    expect(await writeLooseObject(repo, 'blob', Buffer.from(content), idLength)).toBe(blob);
    const fanout = path.join(repo, 'objects', blob.slice(0, 2));
    expect(readdirSync(fanout).filter((n) => n.startsWith('tmp_obj_'))).toEqual([]);
  });

  it('refuses tree entries git would refuse', () => {
    const oid = '0'.repeat(idLength);
    for (const bad of [
      { mode: '100644', name: 'a/b', oid },
      { mode: '100644', name: '', oid },
      { mode: '100644', name: '..', oid },
      { mode: '100600', name: 'x', oid },
      { mode: '100644', name: 'x', oid: '0'.repeat(idLength - 1) },
    ]) {
      expect(() => treeBody([bad], idLength), JSON.stringify(bad)).toThrow(/tree entry/);
    }
    expect(() =>
      treeBody(
        [
          { mode: '100644', name: 'x', oid },
          { mode: '100644', name: 'x', oid },
        ],
        idLength,
      ),
    ).toThrow(/duplicate/);
  });
});
