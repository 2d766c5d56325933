/**
 * A `git` on PATH that records how it was run, for CLI runs in a child process (`spawnCli`).
 * The wrapper is a small POSIX sh script: per invocation it appends one record to a log file
 * (its argv, its working directory, the names of its environment variables, and which of the
 * given markers occur in which variable's value; never the values themselves), then execs the
 * real git, whose absolute path is resolved when the spy is created, before PATH changes.
 *
 * Only commands spawned through PATH are seen: git's own subprocesses (remote-http, index-pack,
 * hooks) run from its exec-path and are not recorded.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface GitInvocation {
  /** The arguments after `git`, exactly as received. */
  argv: string[];
  /** The physical working directory git was started in. */
  cwd: string;
  /** Names of the environment variables git was started with, sorted (sh adds PWD). */
  envNames: string[];
  /** For each marker found in some variable's value: the variables holding it. */
  markersInEnv: Record<string, string[]>;
}

export interface GitSpy {
  /** The directory holding the wrapper; first on PATH in `env()`. */
  readonly binDir: string;
  readonly logFile: string;
  /** The real git the wrapper execs. */
  readonly realGit: string;
  /** PATH with the wrapper first, for the child process's env. */
  readonly path: string;
  /** `extra` plus PATH pointing at the wrapper (pass to `spawnCli`). */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Every invocation recorded so far, in order. */
  invocations(): GitInvocation[];
  /** Forgets the recorded invocations. */
  reset(): void;
  /** Removes the wrapper and its log. */
  dispose(): void;
}

export interface GitSpyOptions {
  /** name → text: a record notes which variables' values contain each text. */
  markers?: Record<string, string>;
  /** Where to put the wrapper (a fresh temp dir by default; removed by `dispose`). */
  dir?: string;
}

/** The git that PATH resolves to right now, as an absolute path. */
export function resolveRealGit(searchPath = process.env.PATH ?? ''): string {
  const found = execFileSync('/bin/sh', ['-c', 'command -v git'], {
    env: { PATH: searchPath },
    encoding: 'utf8',
  }).trim();
  if (!path.isAbsolute(found)) throw new Error(`git-spy: no git binary on PATH (got "${found}")`);
  return found;
}

function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The wrapper. A record is a run of NUL-terminated fields, tag then value: `cwd`, `arg` (one
 * per argument), `env` (a variable name), `marker` ("<index> <name>"), ending with `end`. It is
 * built in a private file and appended with one `cat`, so concurrent gits do not interleave.
 * Variable names and marker matches come from awk's ENVIRON (POSIX); markers are passed as
 * awk operands, which awk does not interpret when its program ends in BEGIN.
 */
function wrapperScript(realGit: string, logFile: string, markers: string[]): string {
  const markerArgs = markers.map(shQuote).join(' ');
  return `#!/bin/sh
# git-spy: records this invocation, then runs the real git.
spy_log=${shQuote(logFile)}
spy_rec="$spy_log.$$.rec"
{
  printf 'cwd\\000%s\\000' "$(pwd -P)"
  for spy_arg in "$@"; do printf 'arg\\000%s\\000' "$spy_arg"; done
  awk 'BEGIN {
    for (name in ENVIRON) {
      print "env"; print name
      for (i = 1; i < ARGC; i++) {
        if (ARGV[i] != "" && index(ENVIRON[name], ARGV[i]) > 0) { print "marker"; print (i - 1) " " name }
      }
    }
    exit 0
  }' ${markerArgs} | tr '\\n' '\\000'
  printf 'end\\000'
} > "$spy_rec"
cat "$spy_rec" >> "$spy_log"
rm -f "$spy_rec"
unset spy_log spy_rec spy_arg
exec ${shQuote(realGit)} "$@"
`;
}

export function createGitSpy(options: GitSpyOptions = {}): GitSpy {
  const realGit = resolveRealGit();
  const ownDir = options.dir === undefined;
  const binDir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'stackswap-git-spy-'));
  const logFile = path.join(binDir, 'git-invocations.log');
  const markerEntries = Object.entries(options.markers ?? {});
  writeFileSync(
    path.join(binDir, 'git'),
    wrapperScript(
      realGit,
      logFile,
      markerEntries.map(([, text]) => text),
    ),
  );
  chmodSync(path.join(binDir, 'git'), 0o755);
  const spyPath = `${binDir}${path.delimiter}${process.env.PATH ?? ''}`;

  return {
    binDir,
    logFile,
    realGit,
    path: spyPath,
    env: (extra = {}) => ({ ...extra, PATH: spyPath }),
    invocations: () =>
      existsSync(logFile)
        ? parseLog(
            readFileSync(logFile, 'utf8'),
            markerEntries.map(([name]) => name),
          )
        : [],
    reset: () => rmSync(logFile, { force: true }),
    dispose: () => {
      if (ownDir) rmSync(binDir, { recursive: true, force: true });
      else rmSync(logFile, { force: true });
    },
  };
}

function parseLog(text: string, markerNames: string[]): GitInvocation[] {
  const fields = text.split('\0');
  const out: GitInvocation[] = [];
  let current: GitInvocation | undefined;
  const fresh = (): GitInvocation => ({ argv: [], cwd: '', envNames: [], markersInEnv: {} });
  for (let i = 0; i < fields.length; i++) {
    const tag = fields[i];
    if (tag === '' && i === fields.length - 1) break;
    current ??= fresh();
    if (tag === 'end') {
      current.envNames.sort();
      out.push(current);
      current = undefined;
      continue;
    }
    const value = fields[++i];
    if (value === undefined) throw new Error('git-spy: truncated log record');
    if (tag === 'cwd') current.cwd = value;
    else if (tag === 'arg') current.argv.push(value);
    else if (tag === 'env') current.envNames.push(value);
    else if (tag === 'marker') {
      const space = value.indexOf(' ');
      const marker = markerNames[Number(value.slice(0, space))];
      if (marker === undefined) throw new Error(`git-spy: unknown marker in "${value}"`);
      (current.markersInEnv[marker] ??= []).push(value.slice(space + 1));
    } else throw new Error(`git-spy: unknown log field "${tag}"`);
  }
  if (current) throw new Error('git-spy: unterminated log record');
  return out;
}
