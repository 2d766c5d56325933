/**
 * Seeds the sandbox's local bare config repo from the example layout: one commit holding
 * `stackswap.yaml`, `charts/`, `apps/`, `argo/` and `releases/` of `sourceDir` (built subchart
 * archives, `.git` and `node_modules` left out), made with plain git in a hermetic environment
 * (no user or system config, fixed author `stackswap-sandbox`).
 */
import { copyFile, lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StackswapError, UsageError } from '../shared/errors.ts';
import { git } from './argocd/git.ts';

export interface SeedOptions {
  /** A folder holding the example config (normally the project root). */
  sourceDir: string;
  /** Where to create the bare repo; must not exist yet, or be an empty folder. */
  bareRepoPath: string;
  /** Default `main`. */
  branch?: string;
  /** Default "Seed the sandbox config repo". */
  message?: string;
}

export interface SeedResult {
  bareRepoPath: string;
  branch: string;
  /** The SHA of the seed commit. */
  commit: string;
  /** Files committed, relative to the repo root, sorted. */
  files: string[];
}

/** What the config repo consists of; everything else in `sourceDir` is ignored. */
export const SEEDED_ENTRIES = ['stackswap.yaml', 'charts', 'apps', 'argo', 'releases'] as const;

const SKIPPED_NAMES = new Set(['.git', 'node_modules']);

const AUTHOR = {
  GIT_AUTHOR_NAME: 'stackswap-sandbox',
  GIT_AUTHOR_EMAIL: 'stackswap-sandbox@example.invalid',
  GIT_COMMITTER_NAME: 'stackswap-sandbox',
  GIT_COMMITTER_EMAIL: 'stackswap-sandbox@example.invalid',
};

export async function seedSandboxRepo(options: SeedOptions): Promise<SeedResult> {
  const branch = options.branch ?? 'main';
  const sourceDir = path.resolve(options.sourceDir);
  const bareRepoPath = path.resolve(options.bareRepoPath);
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(branch) || branch.includes('..')) {
    throw new UsageError(`invalid branch name: ${branch}`);
  }
  await assertEmptyOrMissing(bareRepoPath);

  const files: string[] = [];
  for (const entry of SEEDED_ENTRIES) {
    await collect(sourceDir, entry, files);
  }
  if (files.length === 0) {
    throw new UsageError(`nothing to seed: ${sourceDir} has none of ${SEEDED_ENTRIES.join(', ')}`, {
      hint: 'point sourceDir at a folder with the example config repo layout',
    });
  }
  files.sort();

  const work = await mkdtemp(path.join(os.tmpdir(), 'stackswap-seed-'));
  try {
    for (const file of files) {
      await mkdir(path.dirname(path.join(work, file)), { recursive: true });
      await copyFile(path.join(sourceDir, file), path.join(work, file));
    }
    await git(['init', '-q', '-b', branch, work]);
    await git(['add', '-A'], { cwd: work });
    await git(['commit', '-q', '-m', options.message ?? 'Seed the sandbox config repo'], {
      cwd: work,
      env: AUTHOR,
    });
    await mkdir(bareRepoPath, { recursive: true });
    await git(['init', '-q', '--bare', '-b', branch, bareRepoPath]);
    await git(['push', '-q', bareRepoPath, `${branch}:refs/heads/${branch}`], { cwd: work });
    const commit = await git(['--git-dir', bareRepoPath, 'rev-parse', `refs/heads/${branch}`]);
    return { bareRepoPath, branch, commit, files };
  } catch (error) {
    if (error instanceof StackswapError) throw error;
    throw new StackswapError(
      'internal',
      `seeding ${bareRepoPath} failed: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function assertEmptyOrMissing(dir: string): Promise<void> {
  try {
    const entries = await readdir(dir);
    if (entries.length > 0) {
      throw new UsageError(`${dir} already exists and is not empty`, {
        hint: 'remove it, or choose another path for the sandbox repo',
      });
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
}

/** Adds regular files under `relative` to `files`; refuses symlinks (they could point outside). */
async function collect(root: string, relative: string, files: string[]): Promise<void> {
  const full = path.join(root, relative);
  let stat;
  try {
    stat = await lstat(full);
  } catch {
    return; // an entry the example does not have
  }
  if (stat.isSymbolicLink()) {
    throw new UsageError(`refusing to follow symlink ${relative}`, {
      where: { file: relative },
    });
  }
  if (stat.isFile()) {
    if (!isBuiltSubchart(relative)) files.push(relative.split(path.sep).join('/'));
    return;
  }
  if (!stat.isDirectory()) return;
  for (const name of (await readdir(full)).sort()) {
    if (SKIPPED_NAMES.has(name)) continue;
    await collect(root, path.join(relative, name), files);
  }
}

/** `apps/<x>/charts/*.tgz` (and `charts/<x>/charts/*.tgz`): output of `helm dependency build`. */
function isBuiltSubchart(relative: string): boolean {
  const parts = relative.split(path.sep);
  return (
    parts.length === 4 &&
    (parts[0] === 'apps' || parts[0] === 'charts') &&
    parts[2] === 'charts' &&
    relative.endsWith('.tgz')
  );
}
