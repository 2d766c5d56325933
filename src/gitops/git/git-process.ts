/**
 * Runs git children: `runGit` for one command (argv only, never a shell; optional stdin) and
 * `CatFileBatch`, one long-lived `git cat-file --batch-command` per cache repo that answers
 * object reads over a pipe. Both take the environment `buildGitEnv` made, verbatim.
 *
 * A command is finished when git has exited *and* its stdout and stderr are closed, so its
 * output is always read completely (a push's rejection lines arrive after nothing else). If a
 * grandchild keeps the pipes open after git exited (an ssh ControlPersist master), the streams
 * are cut `CLOSE_GRACE_MS` later. Every timer here is cleared when its command ends: a finished
 * command leaves nothing that keeps the process alive.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/** After git exited, how long its pipes may stay open (held by a grandchild) before we cut them. */
const CLOSE_GRACE_MS = 2_000;

/** The git executable found on each PATH (the environment's, as the child would search it). */
const gitOnPath = new Map<string, string>();

/**
 * The absolute path of `git` on the environment's PATH, looked up once per PATH instead of by
 * every spawn (execvp tries each directory in turn). A PATH with a relative directory before
 * the hit, or none, is left to the OS: plain "git".
 */
export function gitExecutable(env: Record<string, string>): string {
  const search = env.PATH ?? '';
  let found = gitOnPath.get(search);
  if (found === undefined) {
    found = 'git';
    for (const dir of search.split(path.delimiter)) {
      if (!path.isAbsolute(dir)) break;
      const candidate = path.join(dir, 'git');
      try {
        accessSync(candidate, constants.X_OK);
        if (!statSync(candidate).isFile()) continue;
        found = candidate;
        break;
      } catch {
        // not here
      }
    }
    gitOnPath.set(search, found);
  }
  return found;
}

export interface RunGitOptions {
  cwd: string;
  env: Record<string, string>;
  args: readonly string[];
  /** Written to git's stdin, which is then closed; stdin is empty otherwise. */
  input?: string | Buffer;
  /** Kill git when it produced no output for this long. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A git command that failed: non-zero exit, a kill, a spawn error. `output` is not redacted. */
export class GitProcessError extends Error {
  constructor(
    readonly output: string,
    readonly exitCode: number | null,
    readonly aborted: boolean,
    readonly timedOut: boolean,
  ) {
    super(output);
    this.name = 'GitProcessError';
  }
}

export function runGit(options: RunGitOptions): Promise<Buffer> {
  const { signal } = options;
  if (signal?.aborted) {
    return Promise.reject(new GitProcessError('aborted before start', null, true, false));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const child = spawn(gitExecutable(options.env), options.args, {
      argv0: 'git',
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let inactivity: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    let aborted = false;
    let timedOut = false;
    let spawnError: Error | undefined;
    let exitCode: number | null = null;
    let settled = false;

    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const armInactivity = () => {
      clearTimeout(inactivity);
      inactivity = setTimeout(() => {
        timedOut = true;
        kill();
      }, options.timeoutMs);
    };
    const onAbort = () => {
      aborted = true;
      kill();
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(inactivity);
      clearTimeout(grace);
      signal?.removeEventListener('abort', onAbort);
      const out = Buffer.concat(stdout);
      if (!aborted && !timedOut && !spawnError && exitCode === 0) {
        resolve(out);
        return;
      }
      const text = [
        out.toString('utf8'),
        Buffer.concat(stderr).toString('utf8'),
        spawnError ? `\n(could not run git: ${spawnError.message})` : '',
        timedOut
          ? `\n(block timeout reached: no output for ${options.timeoutMs} ms; git was killed)`
          : '',
        exitCode !== null && exitCode !== 0 ? `\n(git exited with code ${exitCode})` : '',
      ].join('');
      reject(new GitProcessError(text, exitCode, aborted, timedOut));
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    armInactivity();
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      armInactivity();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      armInactivity();
    });
    child.on('error', (e) => {
      spawnError = e;
      finish();
    });
    child.on('exit', (code) => {
      exitCode = code;
      clearTimeout(inactivity);
      // Normally 'close' follows at once; if a grandchild holds the pipes, stop waiting.
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, CLOSE_GRACE_MS);
    });
    child.on('close', (code) => {
      exitCode ??= code;
      finish();
    });
    // EPIPE when git exits without reading its stdin is not an error of ours.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** One object as `cat-file --batch-command` reports it. */
export interface GitObject {
  oid: string;
  type: string;
  size: number;
}

interface Pending {
  /** `contents`: the object body follows its header. */
  withBody: boolean;
  resolve: (value: { info: GitObject; body?: Buffer } | undefined) => void;
  reject: (error: Error) => void;
}

/**
 * A long-lived `git cat-file --batch-command` (git >= 2.36). Requests are queued and answered
 * in order; a missing object answers `undefined`. In a partial clone git fetches a missing
 * object from the promisor remote on the way, with the same environment (askpass included).
 * The child keeps the process alive only while a request is pending, and `close()` ends it.
 */
export class CatFileBatch {
  private child: ChildProcessWithoutNullStreams | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: Pending[] = [];

  constructor(
    private readonly cwd: string,
    private readonly env: Record<string, string>,
    private readonly describe: (output: string) => Error,
    /** A request unanswered for this long (a lazy fetch that hangs) kills the child. */
    private readonly timeoutMs: number,
  ) {}

  /** Size and type of an object, without its body. */
  info(object: string): Promise<GitObject | undefined> {
    return this.request(`info ${object}`, false).then((r) => r?.info);
  }

  /** An object with its body. */
  contents(object: string): Promise<{ info: GitObject; body: Buffer } | undefined> {
    return this.request(`contents ${object}`, true) as Promise<
      { info: GitObject; body: Buffer } | undefined
    >;
  }

  /** Ends the child (its stdin closes; git exits). Idempotent; a later request starts another. */
  close(): void {
    const child = this.child;
    if (!child) return;
    this.fail(new Error('git cat-file was closed'), child);
    child.stdin.end();
  }

  private request(
    line: string,
    withBody: boolean,
  ): Promise<{ info: GitObject; body?: Buffer } | undefined> {
    if (/[\n\0]/.test(line)) return Promise.reject(new Error('cat-file: invalid object name'));
    const child = this.start();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.child !== child) return;
        this.fail(
          this.describe(`block timeout reached: no answer for ${this.timeoutMs} ms (cat-file)`),
          child,
        );
        child.kill('SIGKILL');
      }, this.timeoutMs);
      const settle =
        <A extends unknown[]>(fn: (...args: A) => void) =>
        (...args: A) => {
          clearTimeout(timer);
          fn(...args);
        };
      this.pending.push({ withBody, resolve: settle(resolve), reject: settle(reject) });
      this.ref(child, true);
      child.stdin.write(`${line}\n`);
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    this.buffer = Buffer.alloc(0);
    const child = spawn(gitExecutable(this.env), ['cat-file', '--batch-command'], {
      argv0: 'git',
      cwd: this.cwd,
      env: this.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      if (this.child !== child) return;
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.drain(child);
    });
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => {
      if (this.child === child) this.fail(this.describe(`could not run git: ${e.message}`), child);
    });
    child.on('close', (code) => {
      if (this.child !== child) return;
      const text = Buffer.concat(stderr).toString('utf8');
      this.fail(this.describe(`${text}\n(git cat-file exited with code ${code})`), child);
    });
    this.child = child;
    this.ref(child, false);
    return child;
  }

  /** Parses as many complete answers as the buffer holds. */
  private drain(child: ChildProcessWithoutNullStreams): void {
    for (;;) {
      const next = this.pending[0];
      if (!next) break;
      const eol = this.buffer.indexOf(10);
      if (eol < 0) break;
      const header = this.buffer.subarray(0, eol).toString('utf8');
      const m = /^([0-9a-f]{40,64}) (\w+) (\d+)$/.exec(header);
      if (!m) {
        // "<name> missing" / "<name> ambiguous": no body follows.
        this.buffer = this.buffer.subarray(eol + 1);
        this.pending.shift();
        next.resolve(undefined);
        continue;
      }
      const info = { oid: m[1]!, type: m[2]!, size: Number(m[3]) };
      if (!next.withBody) {
        this.buffer = this.buffer.subarray(eol + 1);
        this.pending.shift();
        next.resolve({ info });
        continue;
      }
      const end = eol + 1 + info.size;
      if (this.buffer.length < end + 1) break;
      const body = Buffer.from(this.buffer.subarray(eol + 1, end));
      this.buffer = this.buffer.subarray(end + 1);
      this.pending.shift();
      next.resolve({ info, body });
    }
    if (this.pending.length === 0) this.ref(child, false);
  }

  /** Rejects what is waiting on `child` (the current one) and forgets it. */
  private fail(error: Error, child: ChildProcessWithoutNullStreams): void {
    this.child = undefined;
    for (const p of this.pending.splice(0)) p.reject(error);
    this.ref(child, false);
  }

  /** Keeps the event loop alive for the child only while a request is waiting for its answer. */
  private ref(child: ChildProcessWithoutNullStreams, on: boolean): void {
    for (const handle of [child, child.stdin, child.stdout, child.stderr] as unknown as {
      ref?: () => void;
      unref?: () => void;
    }[]) {
      if (on) handle.ref?.();
      else handle.unref?.();
    }
  }
}
