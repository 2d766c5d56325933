/**
 * Reads a checkout of the config repo straight from a directory, without git: for validating a
 * merge request's files in the CI job's own checkout (`plan validate --dir .`), where cloning
 * that checkout as a repository would need the file protocol (allowed in sandbox mode only).
 * The same rules as reading from git: repo-relative paths only, symlinks refused anywhere on the
 * path (a symlinked stackswap.yaml must not make CI print /etc/passwd), a size cap per file.
 */
import type { Stats } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../shared/errors.ts';
import type { RepoReader } from '../shared/repo-files.ts';
import { assertRepoPath } from './git/validate.ts';
import { DEFAULT_MAX_READ_BYTES } from './git/snapshot.ts';

export class WorktreeReader implements RepoReader {
  /** Not a commit: what the files were read from, for messages. */
  readonly headSha: string;

  constructor(
    private readonly root: string,
    private readonly maxBytes = DEFAULT_MAX_READ_BYTES,
  ) {
    this.headSha = `worktree:${root}`;
  }

  async fileExists(file: string): Promise<boolean> {
    return (await this.lookup(file))?.isFile() ?? false;
  }

  async readFile(file: string): Promise<string> {
    const stat = await this.lookup(file);
    if (stat === undefined) {
      throw new ValidationError(`${file} not found in ${this.root}`, { where: { file } });
    }
    if (stat.isDirectory()) {
      throw new ValidationError(`${file} is a directory, not a file`, { where: { file } });
    }
    if (stat.size > this.maxBytes) {
      throw new ValidationError(`${file} is ${stat.size} bytes; the limit is ${this.maxBytes}`, {
        where: { file },
      });
    }
    return readFile(path.join(this.root, file), 'utf8');
  }

  /**
   * The file or directory at `file` (undefined: none, or something else), checking each leading
   * directory: a symlink anywhere on the path is refused.
   */
  private async lookup(file: string): Promise<Stats | undefined> {
    assertRepoPath(file);
    const parts = file.split('/');
    let stat: Stats | undefined;
    for (let i = 1; i <= parts.length; i++) {
      if (stat && !stat.isDirectory()) return undefined;
      const prefix = parts.slice(0, i).join('/');
      stat = await lstat(path.join(this.root, prefix)).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
        throw e;
      });
      if (!stat) return undefined;
      if (stat.isSymbolicLink()) {
        throw new ValidationError(`refusing to follow symlink ${prefix}`, {
          where: { file },
          hint: 'the config repo must hold plain files and directories',
        });
      }
    }
    return stat && (stat.isFile() || stat.isDirectory()) ? stat : undefined;
  }
}
