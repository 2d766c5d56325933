/**
 * Reads the config repo at one commit, from git's object store rather than the working tree:
 * what is read is exactly the commit an operation builds on, even while the working tree is
 * being reset, and nothing on the filesystem is followed. Symlinks and submodules in the path
 * are refused outright (Argo CD CVE-2022-24348 / CVE-2022-31036 class).
 */
import { ValidationError } from '../../shared/errors.ts';
import { LOG_FORMAT, parseLog, type CommitInfo } from './commit-message.ts';
import { assertRepoPath } from './validate.ts';

/** Runs one git command in the cache clone and returns its stdout. */
export type GitRun = (operation: string, args: string[]) => Promise<string>;

export interface LogOptions {
  /** Newest first; default 100, at most 10 000. */
  maxCount?: number;
  /** Only commits touching these repo paths. */
  paths?: string[];
}

export const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;

interface TreeEntry {
  mode: string;
  type: string;
  oid: string;
  size: number | undefined;
}

export class Snapshot {
  constructor(
    private readonly run: GitRun,
    readonly sha: string,
  ) {}

  async readFile(file: string, options: { maxBytes?: number } = {}): Promise<string> {
    const entry = await this.lookup(file);
    if (!entry) {
      throw new ValidationError(
        `${file} not found in the config repo at ${this.sha.slice(0, 12)}`,
        {
          where: { file },
        },
      );
    }
    if (entry.type !== 'blob') {
      throw new ValidationError(`${file} is a directory, not a file`, { where: { file } });
    }
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_READ_BYTES;
    if (entry.size !== undefined && entry.size > maxBytes) {
      throw new ValidationError(`${file} is ${entry.size} bytes; the limit is ${maxBytes}`, {
        where: { file },
      });
    }
    return this.run('cat-file', ['cat-file', 'blob', entry.oid]);
  }

  async fileExists(file: string): Promise<boolean> {
    return (await this.lookup(file))?.type === 'blob';
  }

  async log(options: LogOptions = {}): Promise<CommitInfo[]> {
    const maxCount = options.maxCount ?? 100;
    if (!Number.isInteger(maxCount) || maxCount < 1 || maxCount > 10_000) {
      throw new ValidationError('log: maxCount must be an integer from 1 to 10000');
    }
    const paths = (options.paths ?? []).map(assertRepoPath);
    const output = await this.run('log', [
      'log',
      `--format=${LOG_FORMAT}`,
      `--max-count=${maxCount}`,
      this.sha,
      '--',
      ...paths,
    ]);
    return parseLog(output);
  }

  /**
   * The tree entry at `file`, checking every leading directory: a symlink or submodule anywhere
   * on the way is refused, so a path can never resolve outside the repo.
   */
  private async lookup(file: string): Promise<TreeEntry | undefined> {
    assertRepoPath(file);
    const parts = file.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    const output = await this.run('ls-tree', [
      'ls-tree',
      '-l',
      '-t',
      '-z',
      this.sha,
      '--',
      ...prefixes,
    ]);
    const entries = new Map<string, TreeEntry>();
    for (const record of output.split('\0')) {
      const m = /^(\d{6}) (\w+) ([0-9a-f]{40,64}) +(-|\d+)\t(.*)$/s.exec(record);
      if (!m) continue;
      entries.set(m[5]!, {
        mode: m[1]!,
        type: m[2]!,
        oid: m[3]!,
        size: m[4] === '-' ? undefined : Number(m[4]),
      });
    }
    for (const prefix of prefixes) {
      const entry = entries.get(prefix);
      if (!entry) return undefined;
      if (entry.mode === '120000') {
        throw new ValidationError(`refusing to follow symlink ${prefix}`, {
          where: { file },
          hint: 'stackswap only reads regular files inside the config repo',
        });
      }
      if (entry.mode === '160000') {
        throw new ValidationError(`refusing to read into submodule ${prefix}`, { where: { file } });
      }
      if (prefix !== file && entry.type !== 'tree') return undefined;
    }
    return entries.get(file);
  }
}
