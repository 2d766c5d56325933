/**
 * The working clone of the config repo that stackswap keeps under its cache directory, one per
 * (remote, branch). It is disposable: every sync fetches and hard-resets it, and a clone that is
 * corrupt, half-written or tampered with is thrown away and cloned again. All git commands run
 * here, through the hermetic factory, with their output redacted before anyone sees it.
 *
 * Every method except `exclusive()` and `gitRun()` assumes the caller holds the clone through
 * `exclusive()`: one operation at a time, in this process and across processes.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  StackswapError,
  TimeoutError,
  ValidationError,
  isStackswapError,
} from '../../shared/errors.ts';
import type { Redactor } from '../../shared/redact.ts';
import { withCacheLock } from './cache-lock.ts';
import {
  classifyPushFailure,
  classifyRemoteFailure,
  gitLines,
  type GitFailureContext,
  type PushFailure,
} from './classify.ts';
import { createGit } from './git-factory.ts';
import type { RemoteUrl } from './remote-url.ts';
import type { GitRun } from './snapshot.ts';

/** The subset of a pino logger the git layer uses. Messages never carry secrets. */
export interface RepoLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface CacheCloneOptions {
  remote: RemoteUrl;
  branch: string;
  /** `<cacheDir>/git/<key>`: holds `repo/` (the clone), `home/` (private HOME) and `lock`. */
  base: string;
  env: Record<string, string>;
  timeoutMs: number;
  lockTimeoutMs: number;
  redactor: Redactor;
  logger: RepoLogger;
}

/** Local configuration keys a clone made by `freshClone` may have; anything else: re-clone. */
const EXPECTED_CONFIG_KEY =
  /^(?:core\.(?:repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode|symlinks)|extensions\.partialclone|remote\.origin\.(?:url|fetch|tagopt|promisor|partialclonefilter)|branch\.[^\n]+\.(?:remote|merge))$/;

/** Lock files git leaves behind when killed; stale by definition while we hold the clone. */
const GIT_LOCK_FILES = [
  'index.lock',
  'HEAD.lock',
  'ORIG_HEAD.lock',
  'config.lock',
  'packed-refs.lock',
  'shallow.lock',
];

/** A lock older than this is stale whoever holds it (no operation runs this long). */
const STALE_LOCK_MS = 30 * 60_000;

/** A failed git command; `text` is already redacted. Converted by `publicError`. */
export class GitCommandFailed extends Error {
  constructor(
    readonly operation: string,
    readonly text: string,
    readonly aborted: boolean,
  ) {
    super(`git ${operation} failed`);
  }
}

export class CacheClone {
  readonly workdir: string;
  readonly branch: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: CacheCloneOptions) {
    this.workdir = path.join(options.base, 'repo');
    this.branch = options.branch;
  }

  private get remoteRef(): string {
    return `refs/remotes/origin/${this.branch}`;
  }

  /** Runs `fn` holding the clone: queued in this process, a lock file across processes. */
  exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.queue.then(() =>
      withCacheLock(
        path.join(this.options.base, 'lock'),
        {
          timeoutMs: this.options.lockTimeoutMs,
          staleAfterMs: STALE_LOCK_MS,
          sleep: (ms) => delay(ms),
          now: Date.now,
          what: `the cache clone ${this.workdir}`,
        },
        fn,
      ).catch((e: unknown) => {
        throw this.publicError(e);
      }),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Fetch, hard reset and clean; (re-)clone when the clone is missing, corrupt or tampered
   * with. Returns the remote branch tip. Remote failures (auth, unreachable, no such branch)
   * are thrown classified and do not cost the clone.
   */
  async sync(signal?: AbortSignal): Promise<string> {
    let head: string | undefined;
    if (await this.isUsable(signal)) {
      try {
        head = await this.refresh(signal);
      } catch (e) {
        if (isStackswapError(e)) throw e;
        this.options.logger.warn(
          {
            workdir: this.workdir,
            reason: e instanceof GitCommandFailed ? gitLines(e.text)[0] : String(e),
          },
          'cache clone unusable; cloning again',
        );
        await this.freshClone(signal);
      }
    } else {
      await this.freshClone(signal);
    }
    head ??= (
      await this.git('rev-parse', ['rev-parse', '--verify', `${this.remoteRef}^{commit}`], signal)
    ).trim();
    return head;
  }

  /** Back to the remote-tracking tip with no local changes; if even that fails, drop the clone. */
  async resetToRemote(): Promise<void> {
    try {
      await this.removeStaleGitLocks();
      await this.resetWorkTree();
    } catch {
      this.options.logger.warn(
        { workdir: this.workdir },
        'could not reset the cache clone; it will be cloned again',
      );
      await rm(this.workdir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Writes a repo file in the work tree, refusing to go through symlinks or non-directories. */
  async writeFile(file: string, content: string): Promise<void> {
    let dir = this.workdir;
    for (const segment of file.split('/').slice(0, -1)) {
      dir = path.join(dir, segment);
      const info = await lstat(dir).catch(() => undefined);
      if (!info) await mkdir(dir);
      else if (info.isSymbolicLink() || !info.isDirectory()) {
        const where = path.relative(this.workdir, dir);
        throw new ValidationError(`refusing to write ${file}: ${where} is not a directory`, {
          where: { file },
        });
      }
    }
    const target = path.join(this.workdir, file);
    const info = await lstat(target).catch(() => undefined);
    if (info && !info.isFile()) {
      throw new ValidationError(
        info.isSymbolicLink()
          ? `refusing to follow symlink ${file}`
          : `refusing to write ${file}: not a regular file`,
        { where: { file } },
      );
    }
    await writeFile(target, content);
  }

  /** `git add -- paths`; whether anything differs from HEAD now. */
  async stage(paths: readonly string[], signal?: AbortSignal): Promise<boolean> {
    if (paths.length === 0) return false;
    await this.git('add', ['add', '--verbose', '--', ...paths], signal);
    const staged = await this.git('diff', ['diff', '--cached', '--name-only', '-z'], signal);
    return staged.length > 0;
  }

  /** Commits the index with `message` used verbatim; returns the new commit. */
  async commit(message: string, signal?: AbortSignal): Promise<string> {
    // The message goes through a file in the private HOME: not argv, not the work tree.
    const messageFile = path.join(this.options.base, 'home', `commit-message-${randomUUID()}`);
    await writeFile(messageFile, message, { mode: 0o600 });
    try {
      await this.git(
        'commit',
        ['commit', '--no-verify', '--no-gpg-sign', '--cleanup=verbatim', `--file=${messageFile}`],
        signal,
      );
    } finally {
      await rm(messageFile, { force: true });
    }
    return (await this.git('rev-parse', ['rev-parse', '--verify', 'HEAD^{commit}'], signal)).trim();
  }

  /** Pushes HEAD to the branch; undefined on success, else how it failed. */
  async push(signal?: AbortSignal): Promise<PushFailure | undefined> {
    try {
      // No --force, no lease: a non-fast-forward push fails, and that is the compare-and-swap.
      await this.git(
        'push',
        ['push', '--porcelain', '--no-verify', 'origin', `HEAD:refs/heads/${this.branch}`],
        signal,
      );
      return undefined;
    } catch (e) {
      if (!(e instanceof GitCommandFailed)) throw e;
      if (e.aborted) {
        throw cancelled(signal, 'the push may or may not have landed; run the operation again');
      }
      const failure = classifyPushFailure(e.text, this.failureContext('push'));
      this.options.logger.debug(
        { git: 'push', outcome: failure.kind, output: gitLines(e.text) },
        'push failed',
      );
      return failure;
    }
  }

  async isAncestor(commit: string, tip: string, signal?: AbortSignal): Promise<boolean> {
    try {
      const base = (await this.git('merge-base', ['merge-base', commit, tip], signal)).trim();
      return base === commit;
    } catch (e) {
      if (e instanceof GitCommandFailed && e.aborted) throw cancelled(signal);
      return false;
    }
  }

  /** `git check-ref-format --branch`: git's own verdict, after the allow-list regex. */
  async checkRefFormat(): Promise<void> {
    let normalised = '';
    try {
      normalised = (
        await this.git(
          'check-ref-format',
          ['check-ref-format', '--branch', this.branch],
          undefined,
          this.options.base,
        )
      ).trim();
    } catch {
      // invalid: reported below
    }
    if (normalised !== this.branch) {
      throw new ValidationError(`branch "${this.branch}": not a valid branch name`, {
        where: { key: 'repo.branch' },
      });
    }
  }

  /**
   * A runner for read-only commands on objects (Snapshot). Needs no exclusive hold: objects are
   * never removed by other operations (gc is off). Failures come out classified.
   */
  gitRun(signal?: AbortSignal): GitRun {
    return async (operation, args) => {
      try {
        return await this.git(operation, args, signal);
      } catch (e) {
        if (!(e instanceof GitCommandFailed)) throw e;
        if (e.aborted) throw cancelled(signal);
        // Reading a blob of a blobless clone may fetch it from the remote.
        throw (
          classifyRemoteFailure(e.text, this.failureContext(operation)) ??
          this.internal(operation, e)
        );
      }
    };
  }

  /** An error fit to leave the git layer: internal failure objects become classified errors. */
  publicError(e: unknown, signal?: AbortSignal): unknown {
    if (!(e instanceof GitCommandFailed)) return e;
    return e.aborted ? cancelled(signal) : this.internal(e.operation, e);
  }

  // ---------------------------------------------------------------------------------------

  /**
   * Fetch + hard reset + clean; returns the head when known without another command. Remote
   * failures are classified; local ones are rethrown raw (the caller re-clones).
   */
  private async refresh(signal?: AbortSignal): Promise<string | undefined> {
    // We hold the clone, so any git lock file here was left by a process that died.
    await this.removeStaleGitLocks();
    try {
      await this.git(
        'fetch',
        [
          'fetch',
          '--verbose',
          '--prune',
          '--no-tags',
          '--no-recurse-submodules',
          'origin',
          `+refs/heads/${this.branch}:${this.remoteRef}`,
        ],
        signal,
      );
    } catch (e) {
      throw this.remoteFailureOr(e, 'fetch', signal);
    }
    return this.resetWorkTree(signal);
  }

  /**
   * `reset --hard` to the remote-tracking tip and `clean -ffdx`, each only when needed (status
   * tells). Besides saving work, this keeps every command printing something: simple-git waits
   * an extra 50 ms for a git command that exits without output.
   */
  private async resetWorkTree(signal?: AbortSignal): Promise<string | undefined> {
    const status = await this.git(
      'status',
      ['status', '--porcelain=v2', '--branch', '--ignored=matching', '--untracked-files=all', '-z'],
      signal,
    );
    const entries = status.split('\0');
    const atRemoteTip = entries.includes('# branch.ab +0 -0');
    const reset = !atRemoteTip || entries.some((e) => /^[12u] /.test(e));
    if (reset) await this.git('reset', ['reset', '--hard', this.remoteRef], signal);
    if (entries.some((e) => /^[?!] /.test(e))) await this.git('clean', ['clean', '-ffdx'], signal);
    // When HEAD already was the remote-tracking tip, status named the commit: saves a rev-parse.
    const oid = entries.find((e) => e.startsWith('# branch.oid '))?.slice('# branch.oid '.length);
    return !reset && oid && /^[0-9a-f]{40,64}$/.test(oid) ? oid : undefined;
  }

  private async freshClone(signal?: AbortSignal): Promise<void> {
    const { base, remote } = this.options;
    // Leftovers of interrupted clones (we hold the clone: nobody else is cloning).
    for (const name of await readdir(base).catch(() => [] as string[])) {
      if (name.startsWith('clone-'))
        await rm(path.join(base, name), { recursive: true, force: true });
    }
    const target = path.join(base, `clone-${randomUUID()}`);
    try {
      await this.git(
        'clone',
        [
          'clone',
          '--filter=blob:none',
          '--no-local',
          '--no-tags',
          '--single-branch',
          '--no-recurse-submodules',
          '--origin=origin',
          `--branch=${this.branch}`,
          '--',
          remote.url,
          target,
        ],
        signal,
        base,
      );
    } catch (e) {
      await rm(target, { recursive: true, force: true });
      const error = this.remoteFailureOr(e, 'clone', signal);
      if (isStackswapError(error)) throw error;
      throw this.internal('clone', error);
    }
    // A clone appears under its final name only once complete.
    await rm(this.workdir, { recursive: true, force: true });
    await rename(target, this.workdir);
    this.options.logger.info({ workdir: this.workdir }, 'cloned the config repo into the cache');
  }

  /**
   * Is the cache clone ours and intact? It must be a repository rooted at `workdir`, on our
   * branch, with no hooks and only the configuration `git clone` writes (a tampered
   * `.git/config` could set core.fsmonitor, core.hooksPath, filters or another remote).
   */
  private async isUsable(signal?: AbortSignal): Promise<boolean> {
    const gitDir = path.join(this.workdir, '.git');
    if (!(await lstat(gitDir).catch(() => undefined))?.isDirectory()) return false;
    // A clone's hooks directory holds only git's *.sample templates; anything else would run.
    const hooks = await readdir(path.join(gitDir, 'hooks')).catch(() => [] as string[]);
    if (hooks.some((name) => !name.endsWith('.sample'))) return false;
    // HEAD must be our branch (read directly: one git process less per sync).
    const head = await readFile(path.join(gitDir, 'HEAD'), 'utf8').catch(() => '');
    if (head !== `ref: refs/heads/${this.branch}\n`) return false;
    try {
      const config = await this.git('config', ['config', '--local', '--list', '-z'], signal);
      for (const entry of config.split('\0').filter(Boolean)) {
        const [key = '', value = ''] = entry.split('\n', 2);
        if (!EXPECTED_CONFIG_KEY.test(key.toLowerCase())) return false;
        if (key.toLowerCase() === 'remote.origin.url' && value !== this.options.remote.url) {
          return false;
        }
      }
      return true;
    } catch (e) {
      if (e instanceof GitCommandFailed && e.aborted) throw cancelled(signal);
      return false;
    }
  }

  private async removeStaleGitLocks(): Promise<void> {
    const gitDir = path.join(this.workdir, '.git');
    for (const name of GIT_LOCK_FILES) await rm(path.join(gitDir, name), { force: true });
    const refs = await readdir(path.join(gitDir, 'refs'), { recursive: true }).catch(
      () => [] as string[],
    );
    for (const name of refs) {
      if (name.endsWith('.lock')) await rm(path.join(gitDir, 'refs', name), { force: true });
    }
  }

  /** Runs git in the clone (or `cwd`) with the hermetic environment; failures are redacted. */
  private async git(
    operation: string,
    args: string[],
    signal?: AbortSignal,
    cwd = this.workdir,
  ): Promise<string> {
    this.options.logger.debug({ git: operation }, `git ${operation}`);
    try {
      return await createGit({
        baseDir: cwd,
        env: this.options.env,
        timeoutMs: this.options.timeoutMs,
        ...(signal ? { signal } : {}),
      }).raw(args);
    } catch (e) {
      const raw = e instanceof Error ? e.message : String(e);
      const aborted = (e as { plugin?: string }).plugin === 'abort' || (signal?.aborted ?? false);
      throw new GitCommandFailed(operation, this.options.redactor.redact(raw), aborted);
    }
  }

  /** A classified remote failure, a cancellation, or the raw local failure (for re-clone logic). */
  private remoteFailureOr(e: unknown, operation: string, signal?: AbortSignal): unknown {
    if (!(e instanceof GitCommandFailed)) return e;
    if (e.aborted) return cancelled(signal);
    return classifyRemoteFailure(e.text, this.failureContext(operation)) ?? e;
  }

  private internal(operation: string, e: unknown): StackswapError {
    const lines = e instanceof GitCommandFailed ? gitLines(e.text) : [String(e)];
    return new StackswapError(
      'internal',
      `git ${operation} failed: ${lines[0] ?? 'unknown error'}`,
      {
        details: { git: lines, workdir: this.workdir },
      },
    );
  }

  private failureContext(operation: string): GitFailureContext {
    return { operation, remote: this.options.remote.url, branch: this.branch };
  }
}

/** The error for a cancelled operation: the signal's own reason if it is one of ours. */
export function cancelled(signal: AbortSignal | undefined, detail?: string): StackswapError {
  const reason: unknown = signal?.reason;
  if (isStackswapError(reason)) return reason;
  const suffix = detail ? `; ${detail}` : '';
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new TimeoutError(`timed out while working on the config repo${suffix}`);
  }
  return new StackswapError(
    'operation-failed',
    `cancelled while working on the config repo${suffix}`,
  );
}
