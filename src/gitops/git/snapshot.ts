/**
 * Reads the config repo at one commit, from git's object store through the long-lived
 * `cat-file --batch-command` child: what is read is exactly the commit an operation builds on,
 * and nothing on the filesystem is followed. Paths are walked tree by tree; a symlink or
 * submodule anywhere on the way is refused outright (Argo CD CVE-2022-24348 / CVE-2022-31036
 * class). In the partial cache clone a blob is fetched from the remote the first time it is read.
 */
import { StackswapError, ValidationError } from '../../shared/errors.ts';
import { LOG_FORMAT, parseLog, type CommitInfo } from './commit-message.ts';
import type { CatFileBatch } from './git-process.ts';
import { assertRepoPath } from './validate.ts';

/** Runs one git command in the cache repo and returns its stdout. */
export type GitRun = (operation: string, args: string[]) => Promise<string>;

export interface LogOptions {
  /** Newest first; default 100, at most 10 000. */
  maxCount?: number;
  /** Only commits touching these repo paths. */
  paths?: string[];
}

/** How a snapshot gets more history when a log reaches the shallow boundary. */
export interface History {
  isShallow(): Promise<boolean>;
  deepen(how: { depth: number } | 'all', options: { commitsOnly: boolean }): Promise<void>;
}

export const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;

export interface TreeEntry {
  mode: string;
  type: 'blob' | 'tree' | 'commit';
  oid: string;
  name: string;
}

/** Where a path leads in a snapshot's tree. */
export type PathLookup =
  | { kind: 'file'; entry: TreeEntry }
  | { kind: 'directory'; entry: TreeEntry }
  /** Nothing there; `blockedBy` names a leading path that is a file, not a directory. */
  | { kind: 'missing'; blockedBy?: string };

export class Snapshot {
  private rootTree: Promise<string> | undefined;
  /** Trees read so far (an id names one content forever). */
  private readonly trees = new Map<string, Promise<TreeEntry[]>>();

  constructor(
    private readonly objects: () => CatFileBatch,
    private readonly run: GitRun,
    private readonly history: History,
    readonly sha: string,
  ) {}

  async readFile(file: string, options: { maxBytes?: number } = {}): Promise<string> {
    const found = await this.lookup(file);
    if (found.kind === 'missing') {
      throw new ValidationError(
        `${file} not found in the config repo at ${this.sha.slice(0, 12)}`,
        { where: { file } },
      );
    }
    if (found.kind === 'directory') {
      throw new ValidationError(`${file} is a directory, not a file`, { where: { file } });
    }
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_READ_BYTES;
    const info = await this.objects().info(found.entry.oid);
    if (info && info.size > maxBytes) {
      throw new ValidationError(`${file} is ${info.size} bytes; the limit is ${maxBytes}`, {
        where: { file },
      });
    }
    const object = await this.objects().contents(found.entry.oid);
    if (!object) throw this.missing(`blob ${found.entry.oid} of ${file}`);
    return object.body.toString('utf8');
  }

  async fileExists(file: string): Promise<boolean> {
    return (await this.lookup(file)).kind === 'file';
  }

  /**
   * Newest first. When the walk reaches the shallow boundary of the cache before `maxCount`
   * commits, the history is deepened (once by a step, then entirely) and the log read again.
   */
  async log(options: LogOptions = {}): Promise<CommitInfo[]> {
    const maxCount = options.maxCount ?? 100;
    if (!Number.isInteger(maxCount) || maxCount < 1 || maxCount > 10_000) {
      throw new ValidationError('log: maxCount must be an integer from 1 to 10000');
    }
    const paths = (options.paths ?? []).map(assertRepoPath);
    for (let round = 0; ; round++) {
      const output = await this.run('log', [
        'log',
        `--format=${LOG_FORMAT}`,
        `--max-count=${maxCount}`,
        this.sha,
        '--',
        ...paths,
      ]);
      const commits = parseLog(output);
      if (commits.length >= maxCount || round >= 2 || !(await this.history.isShallow())) {
        return commits;
      }
      // A log without paths needs commits only; with paths it compares trees.
      const commitsOnly = paths.length === 0;
      await this.history.deepen(
        round === 0 && commitsOnly ? { depth: maxCount - commits.length + 1 } : 'all',
        { commitsOnly },
      );
    }
  }

  /** The entries of a tree object, in tree order. */
  readTree(oid: string): Promise<TreeEntry[]> {
    let entries = this.trees.get(oid);
    if (!entries) {
      entries = this.objects()
        .contents(oid)
        .then((object) => {
          if (!object || object.info.type !== 'tree') throw this.missing(`tree ${oid}`);
          return parseTree(object.body, oid.length / 2);
        });
      entries.catch(() => this.trees.delete(oid));
      this.trees.set(oid, entries);
    }
    return entries;
  }

  /** The root tree of the snapshot's commit. */
  tree(): Promise<string> {
    this.rootTree ??= this.objects()
      .contents(this.sha)
      .then((object) => {
        if (!object || object.info.type !== 'commit') throw this.missing(`commit ${this.sha}`);
        const m = /^tree ([0-9a-f]{40,64})\n/.exec(object.body.toString('utf8'));
        if (!m) throw this.missing(`the tree of ${this.sha}`);
        return m[1]!;
      });
    return this.rootTree;
  }

  /**
   * Where `file` leads, checking every leading directory: a symlink or submodule anywhere on
   * the way is refused, so a path can never resolve outside the repo.
   */
  async lookup(file: string): Promise<PathLookup> {
    assertRepoPath(file);
    const parts = file.split('/');
    let tree = await this.tree();
    for (let i = 0; i < parts.length; i++) {
      const prefix = parts.slice(0, i + 1).join('/');
      const entry = (await this.readTree(tree)).find((e) => e.name === parts[i]);
      if (!entry) return { kind: 'missing' };
      if (entry.mode === '120000') {
        throw new ValidationError(`refusing to follow symlink ${prefix}`, {
          where: { file },
          hint: 'stackswap only reads regular files inside the config repo',
        });
      }
      if (entry.mode === '160000') {
        throw new ValidationError(`refusing to read into submodule ${prefix}`, { where: { file } });
      }
      if (i === parts.length - 1) {
        return entry.type === 'tree' ? { kind: 'directory', entry } : { kind: 'file', entry };
      }
      if (entry.type !== 'tree') return { kind: 'missing', blockedBy: prefix };
      tree = entry.oid;
    }
    return { kind: 'missing' };
  }

  private missing(what: string): StackswapError {
    return new StackswapError('internal', `the cache repo lacks ${what} (at ${this.sha})`);
  }
}

/** Parses a raw tree object: `<mode> <name>\0<raw id>` entries. */
export function parseTree(body: Buffer, idBytes: number): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const nul = body.indexOf(0, space + 1);
    if (space < 0 || nul < 0 || nul + 1 + idBytes > body.length) {
      throw new StackswapError('internal', 'the cache repo holds a malformed tree object');
    }
    const mode = body.subarray(at, space).toString('latin1').padStart(6, '0');
    const name = body.subarray(space + 1, nul).toString('utf8');
    const oid = body.subarray(nul + 1, nul + 1 + idBytes).toString('hex');
    const type = mode === '040000' ? 'tree' : mode === '160000' ? 'commit' : 'blob';
    entries.push({ mode, type, oid, name });
    at = nul + 1 + idBytes;
  }
  return entries;
}
