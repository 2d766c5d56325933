/**
 * Access to the GitOps config repo: a cached bare, shallow, partial clone per (remote, branch),
 * reads pinned to one commit, and `transact()`, a compare-and-swap commit built with plumbing
 * (no working tree, no checkout, no reset). Correctness under concurrency comes from git
 * itself: a push without force succeeds only if the remote branch is still at the commit the
 * change was computed on. On a lost race the attempt runs again from a fresh fetch, so
 * preconditions are re-checked against the new state instead of rebasing blindly.
 * `plan()` runs one such attempt on the synced head and returns its plan without committing:
 * the seam dry runs use.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ConflictError,
  StackswapError,
  ValidationError,
  isStackswapError,
} from '../../shared/errors.ts';
import type { RepoReader } from '../../shared/repo-files.ts';
import type { Redactor } from '../../shared/redact.ts';
import { backoffDelay } from './backoff.ts';
import { CacheClone, cancelled, type RepoLogger } from './cache-clone.ts';
import { formatCommitMessage, type CommitInfo, type CommitMessage } from './commit-message.ts';
import { assertAskpassHelperUsable, buildGitEnv, preparePrivateHome } from './git-factory.ts';
import { allowedProtocols, parseRemoteUrl } from './remote-url.ts';
import { DEFAULT_MAX_READ_BYTES, Snapshot, type LogOptions } from './snapshot.ts';
import { writeFiles } from './tree-writer.ts';
import { assertBranchName, assertIdentity, assertRepoPath } from './validate.ts';

export type { CommitInfo, CommitMessage } from './commit-message.ts';
export type { LogOptions } from './snapshot.ts';
export type { RepoLogger } from './cache-clone.ts';

/** https credentials. Never put into a URL, argv, `.git/config` or a file. */
export interface GitAuth {
  token?: string;
  /** Username sent with the token; default "oauth2" (GitLab and GitHub accept any for a PAT). */
  username?: string;
}

export interface RetryOptions {
  /**
   * Compare-and-swap attempts in total; default 30. With full jitter 20 writers racing on one
   * branch need up to about 15 (the time budget bounds the whole loop either way).
   */
  attempts?: number;
  /** Ceiling of the first wait after a lost race; default 100 ms, doubling up to `maxDelayMs`. */
  minDelayMs?: number;
  /** Default 3 s. */
  maxDelayMs?: number;
  /** Give up when the next wait would end later than this after the start; default 120 s. */
  budgetMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

export interface RepoOptions {
  /** Local path, file://, ssh://, [user@]host:path, https:// (validated; no credentials). */
  url: string;
  branch: string;
  /** Working clones live under `<cacheDir>/git/<hash of url and branch>/`. */
  cacheDir: string;
  auth?: GitAuth;
  /** Author and committer of every commit; default "stackswap <stackswap@localhost>". */
  author?: { name: string; email: string };
  /** The token is registered with it; every git message passes through it. */
  redactor: Redactor;
  /** Local paths and file:// remotes: the sandbox and tests. Production allows https and ssh. */
  allowFileProtocol?: boolean;
  /** Plaintext http:// remotes. For tests against a local smart-HTTP server only. */
  allowInsecureHttp?: boolean;
  /** A git command producing no output for this long is killed; default 60 s. */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** How long to wait for another process using the same cache clone; default 120 s. */
  lockTimeoutMs?: number;
  logger?: RepoLogger;
}

/** One attempt of a compare-and-swap: reads are pinned to `headSha`. */
export interface Transaction {
  readonly headSha: string;
  /** 1 for the first attempt, 2 after the first lost race, … */
  readonly attempt: number;
  readFile(path: string, options?: { maxBytes?: number }): Promise<string>;
  fileExists(path: string): Promise<boolean>;
  log(options?: LogOptions): Promise<CommitInfo[]>;
}

export type Plan<T> =
  /** Already in the desired state: no commit, never an empty one. */
  | { kind: 'noop'; result: T }
  /** Write these files (repo path -> full new content) and commit them. */
  | { kind: 'commit'; files: Record<string, string>; message: CommitMessage; result: T };

/** The plan one attempt made on `baseSha`; nothing was committed or pushed. */
export interface PlanOutcome<T> {
  plan: Plan<T>;
  baseSha: string;
  /** For a commit plan: each planned file as it is at `baseSha` (null: the plan creates it). */
  previous: Record<string, string | null>;
}

export interface TransactResult<T> {
  /** The commit carrying the change, or the head the attempt found already in the desired state. */
  sha: string;
  committed: boolean;
  attempts: number;
  result: T;
}

/** What `prepareCommit` made: a commit on `baseSha`, pushed nowhere yet, or nothing to do. */
export type PreparedCommit<T> =
  | { kind: 'noop'; sha: string; result: T }
  | { kind: 'commit'; sha: string; baseSha: string; message: CommitMessage; result: T };

const DEFAULTS = {
  author: { name: 'stackswap', email: 'stackswap@localhost' },
  username: 'oauth2',
  timeoutMs: 60_000,
  lockTimeoutMs: 120_000,
  attempts: 30,
  minDelayMs: 100,
  maxDelayMs: 3_000,
  budgetMs: 120_000,
} as const;

const noopLogger: RepoLogger = { debug() {}, info() {}, warn() {} };

type AttemptOutcome<T> =
  { kind: 'done'; value: TransactResult<T> } | { kind: 'retry'; unpushed: Unpushed<T> };

/** A commit whose push failed. `uncertain`: the failure does not prove it did not land. */
interface Unpushed<T> {
  sha: string;
  result: T;
  uncertain: boolean;
  /** For an uncertain push: the transfer failure, reported if the pushes keep failing. */
  failure?: StackswapError;
}

/**
 * Pushes failing in transfer (unreachable, 5xx) this many times in a row end the transaction
 * as `remote-unreachable`: the remote is down, not busy, and waiting out the whole
 * compare-and-swap budget would only delay the report.
 */
const MAX_TRANSFER_FAILURES = 3;

/** A head seen as the remote tip this recently needs no fetch before a first attempt. */
const FRESH_HEAD_MS = 1_000;

export class ConfigRepo {
  private head = '';
  /** When `head` was last seen as the remote tip (a fetch or our push), by `retry.now`. */
  private headSeenAt = Number.NEGATIVE_INFINITY;

  private constructor(
    private readonly clone: CacheClone,
    private readonly options: RepoOptions,
    private readonly logger: RepoLogger,
  ) {}

  /** Validates the options, clones into the cache (or reuses the clone there), then syncs. */
  static async open(options: RepoOptions): Promise<ConfigRepo> {
    const remote = parseRemoteUrl(options.url, options);
    const branch = assertBranchName(options.branch);
    const author = assertIdentity(options.author ?? DEFAULTS.author);
    const credentials = validateAuth(options.auth);
    if (credentials) options.redactor.add(credentials.password, { username: credentials.username });
    if (
      typeof options.cacheDir !== 'string' ||
      !options.cacheDir ||
      /[\0-\x1f]/.test(options.cacheDir)
    ) {
      throw new ValidationError('cache directory: not a valid path', {
        where: { key: 'cacheDir' },
      });
    }
    for (const [key, value] of [
      ['timeoutMs', options.timeoutMs],
      ['lockTimeoutMs', options.lockTimeoutMs],
    ] as const) {
      if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
        throw new ValidationError(`${key} must be a positive integer`, { where: { key } });
      }
    }

    const cacheDir = path.resolve(options.cacheDir);
    const key = createHash('sha256').update(`${remote.url}\n${branch}`).digest('hex').slice(0, 20);
    const base = path.join(cacheDir, 'git', key);
    const home = path.join(base, 'home');
    await mkdir(base, { recursive: true, mode: 0o700 });
    await preparePrivateHome(home, { ssh: remote.protocol === 'ssh' });
    if (credentials) await assertAskpassHelperUsable();

    const logger = options.logger ?? noopLogger;
    const clone = new CacheClone({
      remote,
      branch,
      base,
      env: buildGitEnv({
        home,
        // Git never looks for a repository above the cache: an outer repo is never touched.
        ceiling: path.dirname(base),
        protocols: allowedProtocols(options),
        author,
        ...(credentials ? { credentials } : {}),
        ...(credentials && (remote.protocol === 'https' || remote.protocol === 'http')
          ? { preemptiveAuthUrl: remote.url }
          : {}),
      }),
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
      lockTimeoutMs: options.lockTimeoutMs ?? DEFAULTS.lockTimeoutMs,
      redactor: options.redactor,
      logger,
    });
    const repo = new ConfigRepo(clone, options, logger);
    await repo.sync();
    return repo;
  }

  get branch(): string {
    return this.clone.branch;
  }

  /** The remote as configured (never carries credentials: parseRemoteUrl refuses them). */
  get remoteUrl(): string {
    return this.options.url;
  }

  private now(): number {
    return (this.options.retry?.now ?? Date.now)();
  }

  /** The cache repository (a bare git directory). Stackswap owns it. */
  get workdir(): string {
    return this.clone.workdir;
  }

  /** Ends the git child that serves reads (it is started again by the next read). */
  close(): void {
    this.clone.close();
  }

  /** The remote branch tip as of the last sync or push; every read is pinned to it. */
  get headSha(): string {
    return this.head;
  }

  /**
   * Fetches the remote branch tip into the cache. A cache that is corrupt, half-written or
   * tampered with is wiped and cloned again. Returns the new head.
   */
  async sync(): Promise<string> {
    this.head = await this.clone.exclusive(() => this.clone.sync());
    this.headSeenAt = this.now();
    return this.head;
  }

  readFile(file: string, options?: { maxBytes?: number }): Promise<string> {
    return this.snapshot(this.head).readFile(file, options);
  }

  fileExists(file: string): Promise<boolean> {
    return this.snapshot(this.head).fileExists(file);
  }

  /** Commits reachable from the head, newest first, with their trailers parsed. */
  log(options?: LogOptions): Promise<CommitInfo[]> {
    return this.snapshot(this.head).log(options);
  }

  /**
   * Compare-and-swap commit. Each attempt: fetch the remote tip, let `attempt` read the state
   * there and decide (it may throw ConflictError / PreconditionError / ValidationError to stop:
   * nothing is pushed), write blobs, trees and a commit on that tip, push it without force. A
   * lost race waits (exponential backoff with jitter) and runs the next attempt on the new
   * remote state; every other failure is terminal. An unpushed commit is only a loose object:
   * there is nothing to reset.
   */
  async transact<T>(
    attempt: (tx: Transaction) => Promise<Plan<T>>,
    options: { signal?: AbortSignal } = {},
  ): Promise<TransactResult<T>> {
    const { signal } = options;
    const retry = this.options.retry ?? {};
    const maxAttempts = retry.attempts ?? DEFAULTS.attempts;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new ValidationError('retry.attempts must be a positive integer');
    }
    const now = retry.now ?? Date.now;
    const sleep = retry.sleep ?? ((ms: number) => delay(ms));
    const random = retry.random ?? Math.random;
    const policy = {
      minDelayMs: retry.minDelayMs ?? DEFAULTS.minDelayMs,
      maxDelayMs: retry.maxDelayMs ?? DEFAULTS.maxDelayMs,
    };
    const budgetMs = retry.budgetMs ?? DEFAULTS.budgetMs;
    const started = now();
    // Commits of earlier attempts that may be on the remote after all: a push cut off after the
    // ref update (git may even re-send it and then report a race against itself).
    let unpushed: Unpushed<T>[] = [];
    let transferFailures = 0;

    for (let n = 1; ; n++) {
      throwIfAborted(signal, unpushed);
      const outcome = await this.clone.exclusive(() =>
        this.attemptOnce(attempt, n, unpushed, signal),
      );
      if (outcome.kind === 'done') return outcome.value;
      unpushed = [...unpushed.filter((u) => u.uncertain), outcome.unpushed];
      transferFailures = outcome.unpushed.failure ? transferFailures + 1 : 0;

      const wait = backoffDelay(n, policy, random);
      if (
        n >= maxAttempts ||
        transferFailures >= MAX_TRANSFER_FAILURES ||
        now() - started + wait > budgetMs
      ) {
        return this.giveUp(n, unpushed);
      }
      this.logger.info(
        { attempt: n, waitMs: wait, branch: this.branch },
        'push did not go through; retrying from a fresh fetch',
      );
      await abortableSleep(sleep, wait, signal, unpushed);
    }
  }

  /**
   * What `transact` would do, without doing it: runs `attempt` once on the current head (as of
   * the caller's last sync; no fetch here) through the same read-only, attempt-scoped
   * Transaction, and checks the plan as `transact` would. Writes nothing: no object, no commit,
   * no push; the head stays as it is. Needs no hold on the cache (reads come from objects). A commit plan whose files equal the current content would commit
   * nothing in `transact`; comparing is the caller's business.
   */
  async plan<T>(
    attempt: (tx: Transaction) => Promise<Plan<T>>,
    options: { signal?: AbortSignal } = {},
  ): Promise<PlanOutcome<T>> {
    const { signal } = options;
    const baseSha = this.head;
    try {
      const snapshot = this.snapshot(baseSha, signal);
      const plan = await this.runAttempt(attempt, snapshot, 1, signal);
      checkPlan(plan);
      // Read at the same commit as the attempt, so a diff against it is exact.
      const previous: Record<string, string | null> = {};
      if (plan.kind === 'commit') {
        for (const file of Object.keys(plan.files)) {
          previous[file] = (await snapshot.fileExists(file)) ? await snapshot.readFile(file) : null;
        }
      }
      return { plan, baseSha, previous };
    } catch (e) {
      throw this.clone.publicError(e, signal);
    }
  }

  /**
   * The first half of a change that lands through a merge request: fetches the branch tip,
   * runs `attempt` there and writes its commit on that tip, without pushing it anywhere (the
   * branch is protected or the stack asks for reviews). A noop (already in the desired state)
   * writes nothing. The commit is a loose object in the cache until `pushBranch` sends it.
   */
  async prepareCommit<T>(
    attempt: (tx: Transaction) => Promise<Plan<T>>,
    options: { signal?: AbortSignal } = {},
  ): Promise<PreparedCommit<T>> {
    const { signal } = options;
    return this.clone.exclusive(async () => {
      const head = await this.clone.sync(signal);
      this.head = head;
      this.headSeenAt = this.now();
      try {
        const base = this.snapshot(head, signal);
        const plan = await this.runAttempt(attempt, base, 1, signal);
        const checked = checkPlan(plan);
        if (checked.kind === 'noop' || plan.kind === 'noop') {
          return { kind: 'noop', sha: head, result: plan.result };
        }
        const { tree, changed } = await writeFiles(base, checked.files, this.clone, signal);
        if (!changed) return { kind: 'noop', sha: head, result: plan.result };
        const sha = await this.clone.commitTree(tree, head, checked.message, signal);
        return { kind: 'commit', sha, baseSha: head, message: plan.message, result: plan.result };
      } catch (e) {
        throw this.clone.publicError(e, signal);
      }
    });
  }

  /**
   * Puts a prepared commit on `branch` of the remote (never the configured branch): a branch
   * stackswap owns, for a merge request. When the branch already holds an equivalent commit
   * (same tree, same parent: an earlier run of the same change), it is left alone and its
   * tip returned, so an open merge request, its approvals and its armed auto-merge stay as
   * they are. Otherwise the branch is replaced, with a lease on what was read there.
   */
  async pushBranch(
    sha: string,
    branch: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ sha: string; pushed: boolean }> {
    const { signal } = options;
    const target = assertBranchName(branch);
    if (target === this.branch) {
      throw new StackswapError('internal', `pushBranch: ${target} is the configured branch`);
    }
    return this.clone.exclusive(async () => {
      try {
        const ours = await this.clone.commitShape(sha, signal);
        for (let attempt = 1; ; attempt++) {
          const existing = await this.clone.fetchOtherBranch(target, signal);
          if (existing === sha) return { sha, pushed: false };
          if (existing) {
            const theirs = await this.clone.commitShape(existing, signal);
            if (theirs.tree === ours.tree && sameList(theirs.parents, ours.parents)) {
              this.logger.info(
                { sha: existing, branch: target },
                'branch already holds the change',
              );
              return { sha: existing, pushed: false };
            }
          }
          const failure = await this.clone.pushOther(sha, target, existing, signal);
          if (!failure) {
            this.logger.info({ sha, branch: target }, 'pushed to the merge-request branch');
            return { sha, pushed: true };
          }
          if (failure.kind === 'terminal') throw failure.error;
          if (attempt >= 3)
            throw failure.kind === 'maybe-landed' ? failure.error : raceLost(target);
        }
      } catch (e) {
        throw this.clone.publicError(e, signal);
      }
    });
  }

  /** Whether `sha` is the head or one of its ancestors (call `sync()` first for the news). */
  async contains(sha: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    if (sha === this.head) return true;
    return this.clone.exclusive(() => this.clone.isAncestor(sha, this.head, options.signal));
  }

  // ---------------------------------------------------------------------------------------
  // Other commits: a merge request's head and its base, for reviews (src/core/review).

  /**
   * Makes a commit the branch may not reach readable from the cache: `what` is a merge
   * request's head ref (`refs/merge-requests/<iid>/head` on GitLab, `refs/pull/<n>/head` on
   * GitHub), a branch ref, or a SHA. A commit already in the cache is not fetched again.
   * Returns its SHA; with `expectSha`, a ref that points elsewhere (the MR moved on) is a
   * ConflictError.
   */
  async fetchCommit(
    what: string,
    options: { expectSha?: string; signal?: AbortSignal } = {},
  ): Promise<string> {
    const isSha = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(what);
    if (
      !isSha &&
      !/^refs\/(?:merge-requests\/\d+\/head|pull\/\d+\/head|heads\/[A-Za-z0-9._/-]+)$/.test(what)
    ) {
      throw new ValidationError(
        `cannot fetch ${JSON.stringify(what)}: expected a commit SHA, refs/merge-requests/<iid>/head, refs/pull/<n>/head or refs/heads/<branch>`,
      );
    }
    const known = async (sha: string) =>
      (
        await this.clone
          .objects()
          .info(sha)
          .catch(() => undefined)
      )?.type === 'commit';
    if (isSha && (await known(what))) return what;
    if (!isSha && options.expectSha && (await known(options.expectSha))) {
      // The head is here already (e.g. pushed to a branch we fetched); no round trip.
      return options.expectSha;
    }
    const localRef = isSha
      ? `refs/stackswap/fetched/${what}`
      : `refs/stackswap/fetched/${what.slice('refs/'.length)}`;
    const sha = await this.clone.exclusive(() =>
      this.clone.fetchCommit(what, localRef, options.signal),
    );
    if (isSha && sha !== what) {
      throw new StackswapError('internal', `fetched ${what} but the cache has ${sha}`);
    }
    if (options.expectSha && sha !== options.expectSha) {
      throw new ConflictError(
        `${what} points at ${sha.slice(0, 12)}, not ${options.expectSha.slice(0, 12)}: the merge request moved on`,
        { hint: 'review the new head' },
      );
    }
    return sha;
  }

  /** A reader pinned to `sha` (in the cache: the branch head, or fetched with fetchCommit). */
  readerAt(sha: string): RepoReader {
    const snapshot = this.snapshot(sha);
    return {
      headSha: sha,
      readFile: (file) => snapshot.readFile(file),
      fileExists: (file) => snapshot.fileExists(file),
    };
  }

  /**
   * Writes the tree of `sha` into `dir` as plain files, for tools that need a directory (helm
   * template). Symlinks and submodules are left out (and listed), never followed; so are files
   * over `maxBytes` (default 4 MiB). `under` limits it to some directories.
   */
  async exportTree(
    sha: string,
    dir: string,
    options: { under?: readonly string[]; maxBytes?: number } = {},
  ): Promise<{ files: number; skipped: string[] }> {
    const snapshot = this.snapshot(sha);
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_READ_BYTES;
    const skipped: string[] = [];
    let files = 0;
    const walk = async (tree: string, prefix: string): Promise<void> => {
      for (const entry of await snapshot.readTree(tree)) {
        const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
        if (
          options.under &&
          !options.under.some(
            (u) => rel === u || rel.startsWith(`${u}/`) || u.startsWith(`${rel}/`),
          )
        ) {
          continue;
        }
        if (entry.type === 'tree') {
          await walk(entry.oid, rel);
        } else if (entry.type === 'blob' && (entry.mode === '100644' || entry.mode === '100755')) {
          const object = await this.clone.objects().contents(entry.oid);
          if (!object)
            throw new StackswapError('internal', `the cache repo lacks ${rel} at ${sha}`);
          if (object.body.length > maxBytes) {
            skipped.push(rel);
            continue;
          }
          const target = path.join(dir, ...rel.split('/'));
          await mkdir(path.dirname(target), { recursive: true });
          await writeFile(target, object.body, { mode: entry.mode === '100755' ? 0o755 : 0o644 });
          files++;
        } else {
          skipped.push(rel);
        }
      }
    };
    try {
      await walk(await snapshot.tree(), '');
    } catch (e) {
      throw this.clone.publicError(e);
    }
    return { files, skipped };
  }

  /** Repo paths that differ between two commits in the cache (renames as both paths). */
  async changedPaths(from: string, to: string): Promise<string[]> {
    const out = await this.clone.gitRun()('diff-tree', [
      'diff-tree',
      '-r',
      '-z',
      '--name-only',
      '--no-renames',
      from,
      to,
    ]);
    return out.split('\0').filter(Boolean);
  }

  // ---------------------------------------------------------------------------------------

  /**
   * Runs the caller's attempt on one snapshot; the transaction it gets is closed when the
   * attempt ends, so a read that escapes it (a stray promise) fails instead of reading stale
   * state.
   */
  private async runAttempt<T>(
    attemptFn: (tx: Transaction) => Promise<Plan<T>>,
    snapshot: Snapshot,
    attempt: number,
    signal: AbortSignal | undefined,
  ): Promise<Plan<T>> {
    const tx = new AttemptTransaction(snapshot, attempt);
    let plan: Plan<T>;
    try {
      plan = await attemptFn(tx);
    } finally {
      tx.close();
    }
    if (signal?.aborted) throw cancelled(signal);
    return plan;
  }

  /** One compare-and-swap attempt; runs holding the clone. */
  private async attemptOnce<T>(
    attemptFn: (tx: Transaction) => Promise<Plan<T>>,
    attempt: number,
    unpushed: readonly Unpushed<T>[],
    signal: AbortSignal | undefined,
  ): Promise<AttemptOutcome<T>> {
    // The first attempt right after a sync (the CLI opens the repo, reads its config, then
    // commits) builds on that head instead of fetching again, if the cache is intact and still
    // there (no other user of the cache moved it). The push is the compare-and-swap, so a
    // remote that moved meanwhile only costs a lost race and a second attempt, which fetches.
    const fresh =
      attempt === 1 &&
      unpushed.length === 0 &&
      this.head !== '' &&
      this.now() - this.headSeenAt < FRESH_HEAD_MS &&
      (await this.clone.localTip(signal)) === this.head;
    const head = fresh ? this.head : await this.syncForAttempt(unpushed, signal);
    if (!fresh) this.headSeenAt = this.now();
    this.head = head;
    // A push that failed mid-transfer may have landed: then the fetched branch contains it.
    for (const earlier of unpushed) {
      if (await this.clone.isAncestor(earlier.sha, head, signal)) {
        this.logger.info({ sha: earlier.sha }, 'an earlier push did land; not committing again');
        return done(earlier.sha, true, attempt, earlier.result);
      }
    }

    try {
      const base = this.snapshot(head, signal);
      const plan = await this.runAttempt(attemptFn, base, attempt, signal);
      const checked = checkPlan(plan);
      if (checked.kind === 'noop') return done(head, false, attempt, plan.result);
      const { message, files } = checked;

      const { tree, changed } = await writeFiles(base, files, this.clone, signal);
      // The "new" content equals the old: no commit (never an empty one).
      if (!changed) return done(head, false, attempt, plan.result);
      const sha = await this.clone.commitTree(tree, head, message, signal);

      const failure = await this.clone.push(sha, signal);
      if (!failure) {
        await this.clone.setTip(sha, head);
        this.head = sha;
        this.headSeenAt = this.now();
        this.logger.info({ sha, attempt, branch: this.branch }, 'pushed');
        return done(sha, true, attempt, plan.result);
      }
      if (failure.kind === 'terminal') throw failure.error;
      if (failure.kind === 'maybe-landed') {
        this.logger.warn(
          { sha, reason: failure.reason },
          'push failed mid-transfer; checking on the next fetch whether it landed',
        );
      }
      const unpushedCommit: Unpushed<T> =
        failure.kind === 'maybe-landed'
          ? { sha, result: plan.result, uncertain: true, failure: failure.error }
          : { sha, result: plan.result, uncertain: false };
      return { kind: 'retry', unpushed: unpushedCommit };
    } catch (e) {
      throw this.clone.publicError(e, signal);
    }
  }

  /** The attempt's sync; if it fails after an unconfirmed push, the error says so. */
  private async syncForAttempt(
    unpushed: readonly Unpushed<unknown>[],
    signal: AbortSignal | undefined,
  ): Promise<string> {
    try {
      return await this.clone.sync(signal);
    } catch (e) {
      const uncertain = unconfirmed(unpushed);
      if (uncertain.length === 0 || !isStackswapError(e) || e.code === 'operation-failed') throw e;
      throw new StackswapError(
        e.code,
        `${e.message}; commit ${uncertain.join(', ')} may or may not have landed`,
        {
          ...(e.hint ? { hint: e.hint } : {}),
          details: { ...e.details, unconfirmedCommits: uncertain },
        },
      );
    }
  }

  /**
   * Out of attempts or time: unless a push that was cut off turns out to have landed, throw
   * 'retries-exhausted' naming the remote tip.
   */
  private async giveUp<T>(
    attempts: number,
    unpushed: readonly Unpushed<T>[],
  ): Promise<TransactResult<T>> {
    let remoteSha = this.head;
    try {
      remoteSha = await this.sync();
      for (const earlier of unpushed.filter((u) => u.uncertain)) {
        if (await this.clone.isAncestor(earlier.sha, remoteSha)) {
          return { sha: earlier.sha, committed: true, attempts, result: earlier.result };
        }
      }
    } catch {
      // Keep the last known tip: the failure to report is the exhausted retries.
    }
    const uncertain = unconfirmed(unpushed);
    // The last push failed in transfer: the remote is the problem, not another writer.
    const transfer = unpushed.at(-1)?.failure;
    if (transfer) {
      throw new StackswapError(transfer.code, `${transfer.message} (push, ${attempts} attempts)`, {
        ...(transfer.hint ? { hint: transfer.hint } : {}),
        details: {
          ...transfer.details,
          attempts,
          remoteSha,
          branch: this.branch,
          ...(uncertain.length > 0 ? { unconfirmedCommits: uncertain } : {}),
        },
      });
    }
    throw new StackswapError(
      'retries-exhausted',
      `gave up after ${attempts} attempts; remote ${this.branch} at ${remoteSha}`,
      {
        hint: 'another writer keeps moving the branch; run the operation again later',
        details: {
          attempts,
          remoteSha,
          branch: this.branch,
          ...(uncertain.length > 0 ? { unconfirmedCommits: uncertain } : {}),
        },
      },
    );
  }

  private snapshot(sha: string, signal?: AbortSignal): Snapshot {
    if (!sha) throw new StackswapError('internal', 'the config repo has not been synced');
    const run = this.clone.gitRun(signal);
    return new Snapshot(
      () => this.clone.objects(),
      run,
      {
        isShallow: () => this.clone.isShallow(),
        // More history is fetched holding the cache (a fetch writes the shallow file).
        deepen: (how, options) =>
          this.clone.exclusive(() => this.clone.deepen(how, options, signal)),
      },
      sha,
    );
  }
}

/**
 * Checks a plan before anything is written: noop, or a commit with a valid message and valid
 * paths and contents. For a commit, returns the message text and the files to write.
 */
function checkPlan(
  plan: Plan<unknown>,
): { kind: 'noop' } | { kind: 'commit'; message: string; files: [string, string][] } {
  // Optional chaining: an attempt written in plain JS may return nothing at all.
  if (plan?.kind === 'noop') return { kind: 'noop' };
  if (plan?.kind !== 'commit') {
    throw new ValidationError('transact: the plan must be noop or commit');
  }
  const message = formatCommitMessage(plan.message);
  const files = Object.entries(plan.files ?? {});
  for (const [file, content] of files) {
    assertRepoPath(file);
    if (typeof content !== 'string') {
      throw new ValidationError(`${file}: new content must be a string`, { where: { file } });
    }
  }
  return { kind: 'commit', message, files };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function raceLost(branch: string): StackswapError {
  return new StackswapError(
    'retries-exhausted',
    `the branch ${branch} kept moving while stackswap replaced it`,
    { hint: 'another process is pushing to it; run the operation again' },
  );
}

function done<T>(sha: string, committed: boolean, attempts: number, result: T): AttemptOutcome<T> {
  return { kind: 'done', value: { sha, committed, attempts, result } };
}

class AttemptTransaction implements Transaction {
  private open = true;

  constructor(
    private readonly snapshot: Snapshot,
    readonly attempt: number,
  ) {}

  get headSha(): string {
    return this.snapshot.sha;
  }

  readFile(file: string, options?: { maxBytes?: number }): Promise<string> {
    this.assertOpen();
    return this.snapshot.readFile(file, options);
  }

  fileExists(file: string): Promise<boolean> {
    this.assertOpen();
    return this.snapshot.fileExists(file);
  }

  log(options?: LogOptions): Promise<CommitInfo[]> {
    this.assertOpen();
    return this.snapshot.log(options);
  }

  close(): void {
    this.open = false;
  }

  private assertOpen(): void {
    if (!this.open) {
      throw new StackswapError('internal', 'a transaction was used after its attempt ended');
    }
  }
}

function validateAuth(
  auth: GitAuth | undefined,
): { username: string; password: string } | undefined {
  if (!auth?.token) return undefined;
  const username = auth.username ?? DEFAULTS.username;
  // Never echo the values: the message must not carry the secret.
  if (typeof auth.token !== 'string' || /[\0-\x1f\x7f]/.test(auth.token)) {
    throw new ValidationError('git token: contains a control character or newline', {
      where: { key: 'auth.token' },
    });
  }
  if (!username || /[\0-\x1f\x7f:]/.test(username)) {
    throw new ValidationError('git username: must be non-empty, single-line and without ":"', {
      where: { key: 'auth.username' },
    });
  }
  return { username, password: auth.token };
}

/** Shas of commits whose push failed in a way that does not prove they did not land. */
function unconfirmed(unpushed: readonly { sha: string; uncertain: boolean }[]): string[] {
  // An attempt can re-create the very same commit (same tree, parent and second): list it once.
  return [...new Set(unpushed.filter((u) => u.uncertain).map((u) => u.sha))];
}

function throwIfAborted(
  signal: AbortSignal | undefined,
  unpushed: readonly { sha: string; uncertain: boolean }[],
): void {
  if (!signal?.aborted) return;
  const uncertain = unconfirmed(unpushed);
  throw cancelled(
    signal,
    uncertain.length > 0
      ? `commit ${uncertain.join(', ')} may or may not have landed; run the operation again`
      : undefined,
  );
}

async function abortableSleep(
  sleep: (ms: number) => Promise<void>,
  ms: number,
  signal: AbortSignal | undefined,
  unpushed: readonly { sha: string; uncertain: boolean }[],
): Promise<void> {
  if (!signal) return sleep(ms);
  let onAbort: () => void = () => {};
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([sleep(ms), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  throwIfAborted(signal, unpushed);
}
