/**
 * The cache repository of the config repo that stackswap keeps under its cache directory, one
 * per (remote, branch): a bare, shallow, partial clone (`--depth=1 --filter=blob:none`). It has
 * no working tree: files are read from objects (`git cat-file --batch-command`) and commits are
 * written with plumbing (hash-object, mktree, commit-tree), so nothing is ever checked out or
 * reset. Blobs arrive on demand from the promisor remote, through the same hermetic environment
 * (askpass included). The cache is disposable: one that is corrupt, half-written or tampered with
 * is thrown away and cloned again.
 *
 * Local ref `refs/heads/<branch>` (HEAD) is the remote tip as of the last fetch or push. Every
 * method except `exclusive()`, `objects()` and `gitRun()` assumes the caller holds the cache
 * through `exclusive()`: one writer at a time, in this process and across processes.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { lstat, open, readFile, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { StackswapError, TimeoutError, isStackswapError } from '../../shared/errors.ts';
import type { Redactor } from '../../shared/redact.ts';
import { withCacheLock } from './cache-lock.ts';
import {
  classifyPushFailure,
  classifyRemoteFailure,
  gitLines,
  type GitFailureContext,
  type PushFailure,
} from './classify.ts';
import { CatFileBatch, GitProcessError, runGit } from './git-process.ts';
import { writeLooseObject, type LooseObjectType } from './loose-objects.ts';
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
  /** `<cacheDir>/git/<key>`: holds `repo/` (the bare clone), `home/` (private HOME) and `lock`. */
  base: string;
  env: Record<string, string>;
  timeoutMs: number;
  lockTimeoutMs: number;
  redactor: Redactor;
  logger: RepoLogger;
}

/** Local configuration keys a clone made by `freshClone` may have; anything else: re-clone. */
const EXPECTED_CONFIG_KEY =
  /^(?:core\.(?:repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode|symlinks)|extensions\.(?:partialclone|objectformat)|remote\.origin\.(?:url|fetch|tagopt|promisor|partialclonefilter))$/;

/** A full object id (SHA-1 or SHA-256), as git prints it. */
const OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Lock files git leaves behind when killed; stale by definition while we hold the cache. */
const GIT_LOCK_FILES = ['HEAD.lock', 'config.lock', 'packed-refs.lock', 'shallow.lock'];

/** Blobs up to this size come with a warm fetch; larger ones are fetched when read. */
const WARM_FETCH_BLOB_LIMIT = '256k';

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
  /** The bare repository (its git directory). */
  readonly workdir: string;
  readonly branch: string;
  private queue: Promise<unknown> = Promise.resolve();
  private batch: CatFileBatch | undefined;
  /** The bytes of the last cache config `isUsable` accepted. */
  private checkedConfig: Buffer | undefined;
  /** Set inside `exclusive()`: work started there already holds the cache. */
  private readonly holding = new AsyncLocalStorage<true>();

  constructor(private readonly options: CacheCloneOptions) {
    this.workdir = path.join(options.base, 'repo');
    this.branch = options.branch;
  }

  /** The environment of commands in the cache repo: GIT_DIR names it. */
  private get repoEnv(): Record<string, string> {
    return { ...this.options.env, GIT_DIR: this.workdir };
  }

  private get localRef(): string {
    return `refs/heads/${this.branch}`;
  }

  /**
   * Runs `fn` holding the cache: queued in this process, a lock file across processes. Called
   * from work that holds the cache already, runs `fn` at once.
   */
  exclusive<R>(fn: () => Promise<R>): Promise<R> {
    if (this.holding.getStore()) return fn();
    const run = this.queue.then(() =>
      withCacheLock(
        path.join(this.options.base, 'lock'),
        {
          timeoutMs: this.options.lockTimeoutMs,
          staleAfterMs: STALE_LOCK_MS,
          sleep: (ms) => delay(ms),
          now: Date.now,
          what: `the cache repo ${this.workdir}`,
        },
        async () => {
          // We hold the cache: whatever a killed run left behind is stale now.
          await this.removeLeftovers();
          return this.holding.run(true, fn);
        },
      ).catch((e: unknown) => {
        throw this.publicError(e);
      }),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Fetches the branch tip into the cache (cloning when the cache is missing, corrupt or
   * tampered with) and returns it. Remote failures (auth, unreachable, no such branch) are
   * thrown classified and do not cost the cache.
   */
  async sync(signal?: AbortSignal): Promise<string> {
    if (await this.isUsable(signal)) {
      try {
        await this.fetch(signal);
        return await this.tip(signal);
      } catch (e) {
        if (isStackswapError(e)) throw e;
        this.options.logger.warn(
          {
            workdir: this.workdir,
            reason: e instanceof GitCommandFailed ? gitLines(e.text)[0] : String(e),
          },
          'cache repo unusable; cloning again',
        );
      }
    }
    await this.freshClone(signal);
    return this.tip(signal);
  }

  /**
   * The local branch tip if the cache is intact (as `sync` checks it), without a fetch;
   * undefined when it is not (then `sync`).
   */
  async localTip(signal?: AbortSignal): Promise<string | undefined> {
    if (!(await this.isUsable(signal))) return undefined;
    return this.tip(signal).catch(() => undefined);
  }

  /**
   * Stores a blob or tree as a loose object, in-process (as `hash-object -w` and `mktree`
   * would; a tree's entries need not be local). Needs the exclusive hold, as every write.
   */
  async writeObject(
    type: LooseObjectType,
    body: Buffer,
    idLength: number,
    signal?: AbortSignal,
  ): Promise<string> {
    if (signal?.aborted) throw cancelled(signal);
    return writeLooseObject(this.workdir, type, body, idLength);
  }

  /** `git commit-tree`, the message verbatim on stdin (never in argv or a file). */
  async commitTree(
    tree: string,
    parent: string,
    message: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const out = await this.git(
      'commit-tree',
      ['commit-tree', '--no-gpg-sign', '-p', parent, tree],
      signal,
      message,
    );
    return out.trim();
  }

  /** Pushes `sha` to the branch; undefined on success, else how it failed. */
  async push(sha: string, signal?: AbortSignal): Promise<PushFailure | undefined> {
    try {
      // No --force, no lease: a non-fast-forward push fails, and that is the compare-and-swap.
      await this.git(
        'push',
        ['push', '--porcelain', '--no-verify', 'origin', `${sha}:refs/heads/${this.branch}`],
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

  /**
   * Fetches another branch of the remote (a merge-request branch) into `refs/stackswap/<branch>`
   * and returns its tip, or undefined when the remote has no such branch. Only commits and
   * trees come (blob:none): enough to compare a commit with one we would make.
   */
  async fetchOtherBranch(branch: string, signal?: AbortSignal): Promise<string | undefined> {
    const ref = `refs/stackswap/${branch}`;
    try {
      await this.git(
        'fetch',
        [
          'fetch',
          '--no-tags',
          '--no-recurse-submodules',
          '--no-write-fetch-head',
          '--filter=blob:none',
          'origin',
          `+refs/heads/${branch}:${ref}`,
        ],
        signal,
      );
    } catch (e) {
      if (e instanceof GitCommandFailed && !e.aborted && /couldn't find remote ref/i.test(e.text)) {
        await this.git('update-ref', ['update-ref', '-d', ref]).catch(() => undefined);
        return undefined;
      }
      throw this.remoteFailureOr(e, 'fetch', signal);
    }
    return (
      await this.git('rev-parse', ['rev-parse', '--verify', `${ref}^{commit}`], signal)
    ).trim();
  }

  /** A local commit's tree and parents. */
  async commitShape(
    sha: string,
    signal?: AbortSignal,
  ): Promise<{ tree: string; parents: string[] }> {
    const out = await this.git('log', ['log', '-1', '--format=%T %P', sha, '--'], signal);
    const [tree = '', ...parents] = out.trim().split(/\s+/);
    return { tree, parents };
  }

  /**
   * Pushes `sha` to another branch of the remote (one stackswap owns, a merge-request branch),
   * replacing what is there only if it is still `expected` (undefined: the branch must not
   * exist). Undefined on success, else how it failed (a lost lease is a race).
   */
  async pushOther(
    sha: string,
    branch: string,
    expected: string | undefined,
    signal?: AbortSignal,
  ): Promise<PushFailure | undefined> {
    try {
      await this.git(
        'push',
        [
          'push',
          '--porcelain',
          '--no-verify',
          `--force-with-lease=refs/heads/${branch}:${expected ?? ''}`,
          'origin',
          `${sha}:refs/heads/${branch}`,
        ],
        signal,
      );
      return undefined;
    } catch (e) {
      if (!(e instanceof GitCommandFailed)) throw e;
      if (e.aborted) {
        throw cancelled(signal, 'the push may or may not have landed; run the operation again');
      }
      return classifyPushFailure(e.text, { ...this.failureContext('push'), branch });
    }
  }

  /**
   * After a push: the local branch is the remote tip now (saves the next fetch a round).
   * Written in-process as `git update-ref <ref> <sha> <previous>` would for the loose ref a
   * fetch leaves (lock file created exclusively, old value checked, renamed into place; a bare
   * repo keeps no reflog): one git process fewer per deploy. A packed ref (right after a
   * clone) is left to git. Best effort: when it does not happen, the next fetch moves the ref.
   */
  async setTip(sha: string, previous: string): Promise<void> {
    if (!OBJECT_ID.test(sha) || !OBJECT_ID.test(previous)) return;
    const ref = path.join(this.workdir, 'refs', 'heads', ...this.branch.split('/'));
    const lock = `${ref}.lock`;
    let handle: FileHandle;
    try {
      handle = await open(lock, 'wx', 0o644);
    } catch {
      return; // a lock a killed git left (removed at the next hold): the next fetch moves it
    }
    let written = false;
    try {
      const current = await readFile(ref, 'utf8').catch(() => undefined);
      if (current === `${previous}\n`) {
        await handle.writeFile(`${sha}\n`);
        await handle.close();
        await rename(lock, ref);
        written = true;
      } else {
        await handle.close();
      }
      if (current === undefined) {
        await rm(lock, { force: true });
        await this.git('update-ref', ['update-ref', this.localRef, sha, previous]);
        written = true;
      }
    } catch {
      // best effort, as above
    } finally {
      if (!written) await rm(lock, { force: true }).catch(() => undefined);
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

  /**
   * Fetches one commit the branch does not reach into `localRef`: a ref such as a merge
   * request's head (`refs/merge-requests/<iid>/head`, `refs/pull/<n>/head`) or a SHA (servers
   * allow fetching a reachable SHA with protocol v2). Depth 1, small blobs along. Returns it.
   */
  async fetchCommit(what: string, localRef: string, signal?: AbortSignal): Promise<string> {
    try {
      await this.git(
        'fetch',
        [
          'fetch',
          '--no-tags',
          '--no-recurse-submodules',
          '--no-write-fetch-head',
          '--depth=1',
          `--filter=blob:limit=${WARM_FETCH_BLOB_LIMIT}`,
          'origin',
          `+${what}:${localRef}`,
        ],
        signal,
      );
    } catch (e) {
      const error = this.remoteFailureOr(e, 'fetch', signal);
      throw isStackswapError(error) ? error : this.internal('fetch', error);
    }
    return (
      await this.git('rev-parse', ['rev-parse', '--verify', `${localRef}^{commit}`], signal)
    ).trim();
  }

  /** Whether the clone's history stops somewhere (a `shallow` file lists the boundary). */
  async isShallow(): Promise<boolean> {
    const text = await readFile(path.join(this.workdir, 'shallow'), 'utf8').catch(() => '');
    return text.trim().length > 0;
  }

  /**
   * Fetches more history below the shallow boundary: `depth` more commits, or all of it.
   * `commitsOnly`: commits without their trees (enough for a log without paths).
   */
  async deepen(
    how: { depth: number } | 'all',
    options: { commitsOnly: boolean },
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.git(
        'fetch',
        [
          'fetch',
          '--no-tags',
          '--no-recurse-submodules',
          '--no-write-fetch-head',
          ...(options.commitsOnly ? ['--filter=tree:0'] : []),
          how === 'all' ? '--unshallow' : `--deepen=${how.depth}`,
          'origin',
          this.localRef,
        ],
        signal,
      );
    } catch (e) {
      const error = this.remoteFailureOr(e, 'fetch', signal);
      throw isStackswapError(error) ? error : this.internal('fetch', error);
    }
  }

  /**
   * The object reader (one long-lived cat-file child). Needs no exclusive hold: objects are
   * never removed by other operations (gc is off).
   */
  objects(): CatFileBatch {
    this.batch ??= new CatFileBatch(
      this.workdir,
      this.repoEnv,
      (output) => {
        const text = this.options.redactor.redact(output);
        return (
          classifyRemoteFailure(text, this.failureContext('cat-file')) ??
          this.internal('cat-file', new GitCommandFailed('cat-file', text, false))
        );
      },
      this.options.timeoutMs,
    );
    return this.batch;
  }

  /**
   * A runner for read-only commands on objects (Snapshot). Needs no exclusive hold. Failures
   * come out classified.
   */
  gitRun(signal?: AbortSignal): GitRun {
    return async (operation, args) => {
      try {
        return await this.git(operation, args, signal);
      } catch (e) {
        if (!(e instanceof GitCommandFailed)) throw e;
        if (e.aborted) throw cancelled(signal);
        throw (
          classifyRemoteFailure(e.text, this.failureContext(operation)) ??
          this.internal(operation, e)
        );
      }
    };
  }

  /** Ends the long-lived git child, if any. */
  close(): void {
    this.batch?.close();
  }

  /** An error fit to leave the git layer: internal failure objects become classified errors. */
  publicError(e: unknown, signal?: AbortSignal): unknown {
    if (!(e instanceof GitCommandFailed)) return e;
    return e.aborted ? cancelled(signal) : this.internal(e.operation, e);
  }

  // ---------------------------------------------------------------------------------------

  /**
   * The local branch tip, a commit. Read from the loose ref (fetch and update-ref write one)
   * and checked to be a commit through the object reader; anything else (a packed ref after
   * a clone, a symbolic or odd ref) is left to `git rev-parse --verify`, with its failures.
   */
  private async tip(signal?: AbortSignal): Promise<string> {
    const loose = await readFile(
      path.join(this.workdir, 'refs', 'heads', ...this.branch.split('/')),
      'utf8',
    ).catch(() => '');
    const sha = /^([0-9a-f]{40}|[0-9a-f]{64})\n$/.exec(loose)?.[1];
    if (sha && !signal?.aborted) {
      const info = await this.objects()
        .info(sha)
        .catch(() => undefined);
      if (info?.type === 'commit' && info.oid === sha) return sha;
    }
    return (
      await this.git('rev-parse', ['rev-parse', '--verify', `${this.localRef}^{commit}`], signal)
    ).trim();
  }

  /** Fetches the branch into the local branch: only the commits (and trees) that are new. */
  private async fetch(signal?: AbortSignal): Promise<void> {
    try {
      await this.git(
        'fetch',
        [
          'fetch',
          '--no-tags',
          '--no-recurse-submodules',
          '--no-write-fetch-head',
          '--update-head-ok',
          // The blobs of the new commits come along (config files are small): a read of a
          // file that changed since the last run then needs no round trip of its own.
          `--filter=blob:limit=${WARM_FETCH_BLOB_LIMIT}`,
          'origin',
          `+${this.localRef}:${this.localRef}`,
        ],
        signal,
      );
    } catch (e) {
      throw this.remoteFailureOr(e, 'fetch', signal);
    }
  }

  private async freshClone(signal?: AbortSignal): Promise<void> {
    const { base, remote } = this.options;
    // Leftovers of interrupted clones (we hold the cache: nobody else is cloning).
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
          '--bare',
          '--depth=1',
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
        undefined,
        base,
      );
    } catch (e) {
      await rm(target, { recursive: true, force: true });
      const error = this.remoteFailureOr(e, 'clone', signal);
      if (isStackswapError(error)) throw error;
      throw this.internal('clone', error);
    }
    // A clone appears under its final name only once complete.
    this.batch?.close();
    await rm(this.workdir, { recursive: true, force: true });
    await rename(target, this.workdir);
    this.options.logger.info({ workdir: this.workdir }, 'cloned the config repo into the cache');
  }

  /**
   * Is the cache repo ours and intact? It must be a bare repository at `workdir` whose HEAD is
   * our branch, with no hooks and only the configuration `git clone` writes (a tampered config
   * could set core.fsmonitor, core.hooksPath, filters or another remote).
   */
  private async isUsable(signal?: AbortSignal): Promise<boolean> {
    const gitDir = this.workdir;
    if (!(await lstat(path.join(gitDir, 'objects')).catch(() => undefined))?.isDirectory()) {
      return false;
    }
    // A clone's hooks directory holds only git's *.sample templates; anything else would run
    // (reference-transaction hooks run on fetch and update-ref).
    const hooks = await readdir(path.join(gitDir, 'hooks')).catch(() => [] as string[]);
    if (hooks.some((name) => !name.endsWith('.sample'))) return false;
    const head = await readFile(path.join(gitDir, 'HEAD'), 'utf8').catch(() => '');
    if (head !== `ref: ${this.localRef}\n`) return false;
    // The same bytes as a config this process checked already: the same verdict, without
    // another git process (attempts and the fresh-head check run this again).
    const configFile = path.join(gitDir, 'config');
    const bytes = await readFile(configFile).catch(() => undefined);
    if (!bytes) return false;
    if (this.checkedConfig?.equals(bytes)) return true;
    let config: string;
    try {
      config = await this.git('config', ['config', `--file=${configFile}`, '--list', '-z'], signal);
    } catch (e) {
      if (e instanceof GitCommandFailed && e.aborted) throw cancelled(signal);
      return false;
    }
    let bare = false;
    for (const entry of config.split('\0').filter(Boolean)) {
      const [key = '', value = ''] = entry.split('\n', 2);
      const name = key.toLowerCase();
      if (!EXPECTED_CONFIG_KEY.test(name)) return false;
      if (name === 'remote.origin.url' && value !== this.options.remote.url) return false;
      if (name === 'core.bare') bare = value === 'true';
    }
    // Remembered only if git read the bytes we did (nobody rewrote the file in between).
    if (bare && (await readFile(configFile).catch(() => undefined))?.equals(bytes)) {
      this.checkedConfig = bytes;
    }
    return bare;
  }

  /** What a killed run may leave: git lock files, temporary files in the private HOME. */
  private async removeLeftovers(): Promise<void> {
    const gitDir = this.workdir;
    for (const name of GIT_LOCK_FILES) await rm(path.join(gitDir, name), { force: true });
    const refs = await readdir(path.join(gitDir, 'refs'), { recursive: true }).catch(
      () => [] as string[],
    );
    for (const name of refs) {
      if (name.endsWith('.lock')) await rm(path.join(gitDir, 'refs', name), { force: true });
    }
    // Commit-message files of earlier versions (messages go through stdin now).
    const home = path.join(this.options.base, 'home');
    for (const name of await readdir(home).catch(() => [] as string[])) {
      // A .gitconfig being replaced (outside the lock) by a live process is left alone.
      const writer = /^\.gitconfig\.(\d+)\.\d+\.tmp$/.exec(name);
      if (name.startsWith('commit-message-') || (writer && !processAlive(Number(writer[1])))) {
        await rm(path.join(home, name), { force: true });
      }
    }
  }

  /** Runs git in the cache repo (or `cwd`) with the hermetic environment; failures redacted. */
  private async git(
    operation: string,
    args: string[],
    signal?: AbortSignal,
    input?: string,
    cwd?: string,
  ): Promise<string> {
    const started = performance.now();
    try {
      const out = await runGit({
        cwd: cwd ?? this.workdir,
        // The repository is named, never discovered (safe.bareRepository=explicit).
        env: cwd ? this.options.env : this.repoEnv,
        args,
        timeoutMs: this.options.timeoutMs,
        ...(input !== undefined ? { input } : {}),
        ...(signal ? { signal } : {}),
      });
      this.options.logger.debug(
        { git: operation, ms: Math.round(performance.now() - started) },
        `git ${operation}`,
      );
      return out.toString('utf8');
    } catch (e) {
      const raw = e instanceof Error ? e.message : String(e);
      const aborted = (e instanceof GitProcessError && e.aborted) || (signal?.aborted ?? false);
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
    return {
      operation,
      remote: this.options.remote.url,
      branch: this.branch,
      ...(this.options.env.GIT_CONFIG_COUNT ? { sentCredentials: true } : {}),
    };
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

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
