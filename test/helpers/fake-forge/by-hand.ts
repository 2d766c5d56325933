/**
 * What a person does on the GitHub fake that its public methods do not cover (mergeByHand
 * always makes a merge commit): a squash merge from the web UI, bypassing the checks that
 * block the PR, as an admin can. Uses the fake's own merge so the squash is real git in its
 * bare repository. Kept apart from the fakes (another helper owns them).
 */
import type { FakeGithub, GithubPullState } from './index.ts';

interface Merges {
  doMerge(pr: GithubPullState, method: string, message?: string): Promise<{ sha: string } | object>;
}

export async function squashByHand(github: FakeGithub, number: number): Promise<string> {
  const pr = github.pull(number);
  const r = await (github as unknown as Merges).doMerge(pr, 'squash');
  if (!('sha' in r)) throw new Error(`fake github: cannot squash #${number}: ${JSON.stringify(r)}`);
  return r.sha;
}
