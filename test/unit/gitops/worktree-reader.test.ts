/**
 * WorktreeReader: a checkout read as a directory (plan validate --dir), with the rules of the
 * git reader: repo-relative paths, no symlinks anywhere on the path, a size cap.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { WorktreeReader } from '../../../src/gitops/worktree-reader.ts';

let root: string;
let outside: string;

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'stackswap-worktree-'));
  outside = mkdtempSync(path.join(os.tmpdir(), 'stackswap-outside-'));
  writeFileSync(path.join(outside, 'secret.txt'), 'root:x:0:0\n');
  mkdirSync(path.join(root, 'releases'));
  writeFileSync(path.join(root, 'stackswap.yaml'), 'version: 1\n');
  writeFileSync(path.join(root, 'releases/shop.yaml'), 'stack: shop\n');
});

describe('WorktreeReader', () => {
  it('reads plain files and tells files from directories and missing paths', async () => {
    const reader = new WorktreeReader(root);
    expect(await reader.readFile('releases/shop.yaml')).toBe('stack: shop\n');
    expect(await reader.fileExists('stackswap.yaml')).toBe(true);
    expect(await reader.fileExists('releases')).toBe(false);
    expect(await reader.fileExists('releases/cart.yaml')).toBe(false);
    expect(await reader.fileExists('stackswap.yaml/x')).toBe(false);
    await expect(reader.readFile('releases')).rejects.toThrow('releases is a directory');
    await expect(reader.readFile('releases/cart.yaml')).rejects.toThrow(
      `releases/cart.yaml not found in ${root}`,
    );
  });

  it('refuses a symlinked file or directory, wherever it points', async () => {
    symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'releases/evil.yaml'));
    symlinkSync(outside, path.join(root, 'linked'));
    symlinkSync('shop.yaml', path.join(root, 'releases/inside.yaml'));
    const reader = new WorktreeReader(root);
    for (const [file, link] of [
      ['releases/evil.yaml', 'releases/evil.yaml'],
      ['linked/secret.txt', 'linked'],
      ['releases/inside.yaml', 'releases/inside.yaml'],
    ]) {
      await expect(reader.readFile(file!), file).rejects.toMatchObject({
        code: 'validation',
        message: `refusing to follow symlink ${link}`,
        where: { file },
      });
      await expect(reader.fileExists(file!)).rejects.toThrow('refusing to follow symlink');
    }
  });

  it('refuses paths that leave the checkout, before touching the filesystem', async () => {
    const reader = new WorktreeReader(root);
    for (const file of ['../secret.txt', '/etc/passwd', 'releases/../../x', '']) {
      await expect(reader.readFile(file), file).rejects.toMatchObject({ code: 'validation' });
    }
  });

  it('refuses files over the size cap', async () => {
    writeFileSync(path.join(root, 'big.yaml'), 'x'.repeat(101));
    await expect(new WorktreeReader(root, 100).readFile('big.yaml')).rejects.toThrow(
      'big.yaml is 101 bytes; the limit is 100',
    );
  });
});
