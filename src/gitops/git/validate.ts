/**
 * Input checks for everything the git layer hands to git: branch names, repo paths and the
 * commit identity. They run before any git process is spawned, so a value like `-h`,
 * `--upload-pack=…` or `:(glob)*` can never be read as an option or as pathspec magic.
 */
import { BranchName, repoPathProblem } from '../../config/names.ts';
import { ValidationError } from '../../shared/errors.ts';

export function assertBranchName(branch: string): string {
  if (typeof branch !== 'string' || /[\0-\x1f\x7f]/.test(branch)) {
    throw new ValidationError('branch: not a valid branch name', { where: { key: 'repo.branch' } });
  }
  const parsed = BranchName.safeParse(branch);
  if (!parsed.success) {
    throw new ValidationError(`branch "${branch}": ${parsed.error.issues[0]!.message}`, {
      where: { key: 'repo.branch' },
    });
  }
  // The rules of `git check-ref-format --branch` the allow-list above leaves open, checked here
  // instead of in a git process: no component starts with "." or ends with ".lock", and the
  // branch is not "HEAD".
  if (
    branch === 'HEAD' ||
    branch.split('/').some((c) => c.startsWith('.') || c.endsWith('.lock'))
  ) {
    throw new ValidationError(`branch "${branch}": not a valid branch name`, {
      where: { key: 'repo.branch' },
    });
  }
  return parsed.data;
}

export function assertRepoPath(file: string): string {
  const problem = typeof file === 'string' ? repoPathProblem(file) : 'path is not a string';
  if (problem) {
    throw new ValidationError(`${JSON.stringify(String(file))}: ${problem}`, {
      where: { file: typeof file === 'string' ? file : undefined },
    });
  }
  return file;
}

/** A commit author/committer: git cannot represent "<", ">" or newlines in either part. */
export function assertIdentity(identity: { name: string; email: string }): {
  name: string;
  email: string;
} {
  const bad = (v: unknown) =>
    typeof v !== 'string' || v.trim().length === 0 || v.length > 200 || /[<>\0-\x1f\x7f]/.test(v);
  if (bad(identity.name) || bad(identity.email) || /\s/.test(identity.email)) {
    throw new ValidationError(
      'commit author: name and email must be non-empty single-line text without "<" or ">"',
      { where: { key: 'git.author' } },
    );
  }
  return { name: identity.name.trim(), email: identity.email };
}
