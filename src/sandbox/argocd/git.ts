/**
 * Read-only access to the stand-in's local bare config repo with plain git and a hermetic
 * environment: resolve a revision (branch, tag, HEAD or SHA) to a commit, and materialise the
 * tree of a commit into a private checkout directory (one per commit, reused, never written by
 * git again). The bare repo itself is never modified: checkouts use their own index file.
 */
import { execFile } from 'node:child_process';
import { mkdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The only environment git children get: no user or system config, no prompts, C locale. */
export function hermeticGitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: os.tmpdir(),
    LANG: 'C',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

export async function git(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const { stdout } = await run('git', args, {
    cwd: options.cwd,
    env: hermeticGitEnv(options.env),
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.trim();
}

const FULL_SHA = /^[0-9a-f]{40}$/;
/** Conservative ref-name check: no option-looking, relative or odd names reach git. */
const SAFE_REF = /^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]{1,200}$/;

export const isCommitSha = (revision: string) => FULL_SHA.test(revision);

export class RevisionNotFoundError extends Error {
  constructor(revision: string) {
    // repo-server's wording (util/git/client.go).
    super(`unable to resolve '${revision}' to a commit SHA: revision not found`);
    this.name = 'RevisionNotFoundError';
  }
}

export class RepoReader {
  private readonly checkouts = new Map<string, Promise<string>>();

  constructor(
    private readonly gitDir: string,
    private readonly workDir: string,
  ) {}

  /** Resolves like repo-server `ResolveRevision` (no cache): HEAD, branch, tag, or a full SHA. */
  async resolve(revision: string): Promise<string> {
    const wanted = revision === '' ? 'HEAD' : revision;
    if (isCommitSha(wanted)) {
      if (await this.exists(`${wanted}^{commit}`)) return wanted;
      throw new RevisionNotFoundError(wanted);
    }
    if (!SAFE_REF.test(wanted)) throw new RevisionNotFoundError(wanted);
    const candidates =
      wanted === 'HEAD'
        ? ['HEAD']
        : wanted.startsWith('refs/')
          ? [wanted]
          : [`refs/heads/${wanted}`, `refs/tags/${wanted}`];
    for (const candidate of candidates) {
      const sha = await this.revParse(`${candidate}^{commit}`);
      if (sha) return sha;
    }
    throw new RevisionNotFoundError(wanted);
  }

  /** A directory holding the tree of `sha` (created once per commit). */
  checkout(sha: string): Promise<string> {
    if (!isCommitSha(sha)) return Promise.reject(new RevisionNotFoundError(sha));
    let pending = this.checkouts.get(sha);
    if (!pending) {
      pending = this.materialise(sha);
      pending.catch(() => this.checkouts.delete(sha));
      this.checkouts.set(sha, pending);
    }
    return pending;
  }

  /** Reads one file at a commit, or undefined when it does not exist there. */
  async readFile(sha: string, file: string): Promise<string | undefined> {
    try {
      return await git(['--git-dir', this.gitDir, 'show', `${sha}:${file}`]);
    } catch {
      return undefined;
    }
  }

  private async materialise(sha: string): Promise<string> {
    const target = path.join(this.workDir, 'checkouts', sha);
    const staging = `${target}.${process.pid}.${Date.now()}.tmp`;
    await mkdir(staging, { recursive: true });
    const env = { GIT_INDEX_FILE: `${staging}.index` };
    try {
      await git(['--git-dir', this.gitDir, 'read-tree', sha], { env });
      await git(['--git-dir', this.gitDir, '--work-tree', staging, 'checkout-index', '-a', '-f'], {
        env,
      });
      await rm(target, { recursive: true, force: true });
      await rename(staging, target);
      return target;
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    } finally {
      await rm(`${staging}.index`, { force: true });
    }
  }

  private async exists(spec: string): Promise<boolean> {
    try {
      await git(['--git-dir', this.gitDir, 'cat-file', '-e', spec]);
      return true;
    } catch {
      return false;
    }
  }

  private async revParse(spec: string): Promise<string | undefined> {
    try {
      const sha = await git(['--git-dir', this.gitDir, 'rev-parse', '--verify', '--quiet', spec]);
      return isCommitSha(sha) ? sha : undefined;
    } catch {
      return undefined;
    }
  }
}
