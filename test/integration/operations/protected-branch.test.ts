/**
 * Issue 12 item 5, protected branches, end to end: the sandbox's bare config repo gets a
 * pre-receive hook refusing every direct push to main (what GitLab and GitHub print), a local
 * fake forge (test/helpers/fake-forge) merges for real into that bare repo, and the Argo CD
 * stand-in must end Synced and Healthy at the commit the merge put on main: a merge commit,
 * never the proposed commit. The CLI runs in-process; the waits that need a poll build the
 * operation context themselves (a 50 ms poll instead of 5 s).
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { ConfigRepo } from '../../../src/gitops/git/repo.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import { Progress } from '../../../src/shared/progress.ts';
import { createArgoDeployer } from '../../../src/argocd/deployer.ts';
import { GitlabForge } from '../../../src/forges/gitlab.ts';
import { GithubForge } from '../../../src/forges/github.ts';
import { deploy } from '../../../src/core/operations/deploy.ts';
import type { OperationContext } from '../../../src/core/operations/context.ts';
import { isStackswapError } from '../../../src/shared/errors.ts';
import { runCli } from '../../helpers/cli.ts';
import { git } from '../../helpers/config-repo.ts';
import { expectLiveAt } from '../../helpers/sandbox-state.ts';
import { FakeGithub, FakeGitlab } from '../../helpers/fake-forge/index.ts';
import { squashByHand } from '../../helpers/fake-forge/by-hand.ts';

const TOKEN = 'test-token';
const BRANCH = 'stackswap/my-app/deploy';

/** What GitLab prints for a protected branch; the hook also records each refusal. */
const HOOK = `#!/bin/sh
while read old new ref; do
  if [ "$ref" = "refs/heads/main" ]; then
    echo "$new" >> "$GIT_DIR/refused-pushes"
    echo "GitLab: You are not allowed to push code to protected branches on this project." >&2
    exit 1
  fi
done
exit 0
`;

let sandbox: Sandbox;
let clock = Date.now();

beforeAll(async () => {
  sandbox = await startSandbox({ argocd: { progressingMs: 100, pollIntervalMs: 0 } });
});
afterAll(async () => sandbox?.close());

const head = (ref = 'main') => git(sandbox.repoPath, 'rev-parse', ref);
const parents = (sha: string) =>
  git(sandbox.repoPath, 'rev-list', '--parents', '-n', '1', sha).split(' ').slice(1);
const branchExists = (branch: string) => {
  try {
    git(sandbox.repoPath, 'rev-parse', '--verify', `refs/heads/${branch}`);
    return true;
  } catch {
    return false;
  }
};
const refusedPushes = () => {
  try {
    return readFileSync(path.join(sandbox.repoPath, 'refused-pushes'), 'utf8')
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
};

/** Sets my-app's promotion.viaMergeRequest with a direct push (the hook is off meanwhile). */
function setPromotion(mode: 'never' | 'fallback' | 'always' | undefined): void {
  protect(false);
  const work = mkdtempSync(path.join(os.tmpdir(), 'stackswap-promotion-'));
  git(work, 'clone', '-q', sandbox.repoPath, 'w');
  const dir = path.join(work, 'w');
  const file = path.join(dir, 'stackswap.yaml');
  const doc = parseDocument(readFileSync(file, 'utf8'));
  if (mode) doc.setIn(['stacks', 'my-app', 'promotion', 'viaMergeRequest'], mode);
  else doc.deleteIn(['stacks', 'my-app', 'promotion']);
  const text = doc.toString();
  writeFileSync(file, text);
  git(dir, 'commit', '-q', '-am', `test: promotion ${mode ?? 'unset'}`, '--allow-empty');
  git(dir, 'push', '-q', 'origin', 'main');
  protect(true);
}

function protect(on: boolean): void {
  const hook = path.join(sandbox.repoPath, 'hooks', 'pre-receive');
  writeFileSync(hook, on ? HOOK : '#!/bin/sh\nexit 0\n');
  chmodSync(hook, 0o755);
}

/** Ends an open MR branch left by a test, so each test starts without one. */
function dropBranch(branch: string): void {
  git(sandbox.repoPath, 'update-ref', '-d', `refs/heads/${branch}`);
}

let version = 1;
/** A version never deployed before, so every deploy commits. */
const nextVersion = () => `2.${version++}.0`;

describe('protected main, GitLab fake (merge commits)', () => {
  let gitlab: FakeGitlab;
  beforeEach(async () => {
    clock = Date.now();
    gitlab = await new FakeGitlab({
      tokens: [TOKEN],
      gitDir: sandbox.repoPath,
      project: 'group/config',
      mergeMethod: 'merge',
    }).start();
  });
  afterEach(async () => {
    await gitlab.stop();
    if (branchExists(BRANCH)) dropBranch(BRANCH);
  });

  const cli = (...args: string[]) =>
    runCli(['--timeout', '60', '--requested-by', 'e2e', ...args], {
      env: {
        ...sandbox.env,
        STACKSWAP_FORGE: 'gitlab',
        STACKSWAP_FORGE_PROJECT: 'group/config',
        STACKSWAP_GITLAB_URL: gitlab.url,
        STACKSWAP_GITLAB_TOKEN: TOKEN,
      },
      now: () => clock,
    });

  it('without promotion.viaMergeRequest the refused push is exit 7, as before, and no MR', async () => {
    setPromotion(undefined);
    const before = head();
    const r = await cli('deploy', '--set', `my-frontend=${nextVersion()}`);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/push refused by branch protection on main/);
    expect(head()).toBe(before);
    expect(gitlab.callsTo('POST', /merge_requests$/)).toHaveLength(0);
    expect(branchExists(BRANCH)).toBe(false);
  });

  it('fallback: the refused deploy lands through an MR, and Argo CD syncs at the merge commit', async () => {
    setPromotion('fallback');
    const before = head();
    const refusedBefore = refusedPushes().length;
    const v = nextVersion();
    const r = await cli('--output', 'json', 'deploy', '--set', `my-frontend=${v}`);
    expect(r.code, r.stderr).toBe(0);

    // The direct push was tried and refused by the hook.
    expect(refusedPushes().length).toBe(refusedBefore + 1);
    // One MR from the deterministic branch into main, merged by the forge as a merge commit.
    const opened = gitlab.callsTo('POST', '/api/v4/projects/group/config/merge_requests');
    expect(opened).toHaveLength(1);
    expect(opened[0]!.body).toMatchObject({ source_branch: BRANCH, target_branch: 'main' });
    const mr = gitlab.mr(1);
    expect(mr.state).toBe('merged');
    const merged = head();
    expect(merged).not.toBe(before);
    const [first, second] = parents(merged);
    expect(first).toBe(before);
    // The proposed commit (the MR head) carries the trailers and is the merge's second parent.
    expect(second).toBe(mr.sha);
    const message = git(sandbox.repoPath, 'log', '-1', '--format=%B', mr.sha);
    expect(message).toContain('Stackswap-Operation: deploy');
    expect(message).toContain('Stackswap-Stack: my-app');
    expect(message).toContain('Stackswap-Requested-By: e2e');
    // The MR text says what the operation is and carries the same trailers.
    expect(mr.description).toContain('**stackswap deploy** of stack `my-app`');
    expect(mr.description).toContain('`main` is protected');
    for (const line of message.split('\n').filter((l) => l.startsWith('Stackswap-'))) {
      expect(mr.description).toContain(line);
    }
    // The pinned merge named the proposed commit.
    const merges = gitlab.callsTo('PUT', /merge_requests\/1\/merge$/);
    expect(merges.length).toBeGreaterThan(0);
    expect(merges.every((c) => (c.body as { sha?: string }).sha === mr.sha)).toBe(true);

    // Argo CD waited at what landed on main: the merge commit, not the proposed commit.
    expectLiveAt(sandbox, 'my-app-green', merged);
    const out = JSON.parse(r.stdout).result;
    expect(out.sha).toBe(merged);
    expect(out.details.mergeRequest).toMatchObject({
      number: 1,
      branch: BRANCH,
      headSha: mr.sha,
      mergedSha: merged,
      created: true,
    });
    expect(git(sandbox.repoPath, 'show', `${merged}:apps/my-app/values-green.yaml`)).toContain(v);
  });

  it('a fast-forward merge (GitLab ff: merge_commit_sha null) syncs at the head that landed', async () => {
    await gitlab.stop();
    gitlab = await new FakeGitlab({
      tokens: [TOKEN],
      gitDir: sandbox.repoPath,
      project: 'group/config',
      mergeMethod: 'ff',
    }).start();
    setPromotion('fallback');
    const before = head();
    const r = await cli('deploy', '--set', `my-frontend=${nextVersion()}`);
    expect(r.code, r.stderr).toBe(0);
    const landed = head();
    expect(gitlab.mr(1).mergeCommitSha).toBeNull();
    expect(landed).toBe(gitlab.mr(1).sha);
    expect(parents(landed)).toEqual([before]);
    expectLiveAt(sandbox, 'my-app-green', landed);
  });

  it('fallback is only for branch protection: another hook refusal stays exit 7, and no MR', async () => {
    setPromotion('fallback');
    const hook = path.join(sandbox.repoPath, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "policy: commit messages need a ticket id" >&2\nexit 1\n');
    chmodSync(hook, 0o755);
    try {
      const before = head();
      const r = await cli('deploy', '--set', `my-frontend=${nextVersion()}`);
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toContain('policy: commit messages need a ticket id');
      expect(head()).toBe(before);
      expect(gitlab.callsTo('POST', /merge_requests$/)).toHaveLength(0);
      expect(branchExists(BRANCH)).toBe(false);
    } finally {
      protect(true);
    }
  });

  it('always: no direct push is tried at all', async () => {
    setPromotion('always');
    const refusedBefore = refusedPushes().length;
    const r = await cli('deploy', '--set', `my-frontend=${nextVersion()}`);
    expect(r.code, r.stderr).toBe(0);
    expect(refusedPushes().length).toBe(refusedBefore);
    expect(gitlab.mr(1).state).toBe('merged');
    expectLiveAt(sandbox, 'my-app-green', head());
  });

  it('a re-run once merged is a no-op that verifies at the head', async () => {
    setPromotion('fallback');
    const v = nextVersion();
    expect((await cli('deploy', '--set', `my-frontend=${v}`)).code).toBe(0);
    const merged = head();
    const again = await cli('deploy', '--set', `my-frontend=${v}`);
    expect(again.code, again.stderr).toBe(0);
    expect(head()).toBe(merged);
    expect(gitlab.callsTo('POST', /merge_requests$/)).toHaveLength(1);
  });

  it('no forge configured: the protected push fails with exit 2 naming STACKSWAP_FORGE; nothing changes', async () => {
    setPromotion('fallback');
    const before = head();
    const r = await runCli(['--timeout', '60', 'deploy', '--set', `my-frontend=${nextVersion()}`], {
      env: sandbox.env,
      now: () => clock,
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/no forge is configured/);
    expect(r.stderr).toContain('STACKSWAP_FORGE');
    expect(head()).toBe(before);
    expect(branchExists(BRANCH)).toBe(false);
  });
});

describe('waiting for the merge (in-process context, 50 ms polls)', () => {
  const redactor = new Redactor();
  let repo: ConfigRepo;
  beforeAll(async () => {
    repo = await ConfigRepo.open({
      url: sandbox.repoPath,
      branch: 'main',
      cacheDir: mkdtempSync(path.join(os.tmpdir(), 'stackswap-cache-')),
      redactor,
      allowFileProtocol: true,
    });
  });
  afterAll(() => repo?.close());
  afterEach(() => {
    if (branchExists(BRANCH)) dropBranch(BRANCH);
  });

  function context(
    forge: OperationContext['forge'],
    options: { timeoutMs?: number; infos?: string[] } = {},
  ): OperationContext {
    const progress = new Progress((e) => {
      if (e.type === 'info') options.infos?.push(e.message);
    });
    return {
      repo,
      actor: { requestedBy: 'e2e', operationId: `op-${Math.random().toString(16).slice(2)}` },
      progress,
      deployer: createArgoDeployer(sandbox.env, redactor, { appNamespace: 'argocd' }),
      wait: true,
      timeoutMs: options.timeoutMs ?? 30_000,
      now: () => Date.now(),
      ...(forge ? { forge } : {}),
    };
  }
  const deployVersion = (ctx: OperationContext, v: string) =>
    deploy(ctx, {
      stack: 'my-app',
      plan: { source: 'repo' },
      overrides: { 'my-frontend': v },
    });
  /** Resolves once `check` holds (polled), or fails the test after 20 s. */
  async function until(check: () => boolean): Promise<void> {
    const end = Date.now() + 20_000;
    while (!check()) {
      if (Date.now() > end) throw new Error('condition not reached');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('GitLab auto-merge armed by a pipeline: waits, then syncs at the merge commit', async () => {
    setPromotion('fallback');
    const gitlab = await new FakeGitlab({
      tokens: [TOKEN],
      gitDir: sandbox.repoPath,
      project: 'group/config',
      autoMerge: 'arm',
    }).start();
    try {
      const infos: string[] = [];
      const ctx = context(
        {
          forge: new GitlabForge({ url: gitlab.url, token: TOKEN }),
          project: 'group/config',
          pollMs: 50,
        },
        { infos },
      );
      const before = head();
      const running = deployVersion(ctx, nextVersion());
      running.catch(() => {});
      await until(() => gitlab.mergeRequests.get(1)?.mergeWhenPipelineSucceeds === true);
      // Nothing landed while the pipeline runs.
      expect(head()).toBe(before);
      await gitlab.releaseAutoMerge(1);
      const result = await running;
      const merged = head();
      expect(parents(merged)).toEqual([before, gitlab.mr(1).sha]);
      expect(result.sha).toBe(merged);
      expectLiveAt(sandbox, 'my-app-green', merged);
      expect(infos.some((l) => /auto-merge enabled on merge request !1/.test(l))).toBe(true);
    } finally {
      await gitlab.stop();
    }
  });

  it('GitHub without auto-merge: waits for a person to merge; a squash SHA is what Argo CD gets', async () => {
    setPromotion('always');
    const github = await new FakeGithub({
      tokens: [TOKEN],
      gitDir: sandbox.repoPath,
      repo: 'acme/config',
      autoMerge: 'unavailable',
    }).start();
    try {
      const ctx = context({
        forge: new GithubForge({ apiUrl: github.apiUrl, token: TOKEN }),
        project: 'acme/config',
        pollMs: 50,
      });
      const before = head();
      const running = deployVersion(ctx, nextVersion());
      running.catch(() => {});
      await until(() => github.pulls.get(1) !== undefined);
      await new Promise((r) => setTimeout(r, 200));
      expect(head()).toBe(before);
      await squashByHand(github, 1);
      const result = await running;
      const merged = head();
      // A squash: one parent, a new SHA that is not the proposed commit.
      expect(parents(merged)).toEqual([before]);
      expect(merged).not.toBe(github.pull(1).sha);
      expect(result.sha).toBe(merged);
      expectLiveAt(sandbox, 'my-app-green', merged);
    } finally {
      await github.stop();
    }
  });

  it('times out with exit 4, keeps the MR and its branch, and a retry reuses both', async () => {
    setPromotion('fallback');
    const gitlab = await new FakeGitlab({
      tokens: [TOKEN],
      gitDir: sandbox.repoPath,
      project: 'group/config',
      autoMerge: 'arm',
    }).start();
    try {
      const target = {
        forge: new GitlabForge({ url: gitlab.url, token: TOKEN }),
        project: 'group/config',
        pollMs: 50,
      };
      const before = head();
      const v = nextVersion();
      const error = await deployVersion(context(target, { timeoutMs: 600 }), v).catch((e) => e);
      expect(isStackswapError(error) && error.exitCode).toBe(4);
      expect(error.message).toMatch(
        /timed out after \d+s waiting for merge request !1 to be merged/,
      );
      expect(error.hint).toContain(BRANCH);
      // Nothing half-done: main untouched, the branch and the open MR kept for the retry.
      expect(head()).toBe(before);
      expect(branchExists(BRANCH)).toBe(true);
      const proposed = head(BRANCH);
      expect(gitlab.mr(1).state).toBe('opened');

      const infos: string[] = [];
      const retry = deployVersion(context(target, { infos }), v);
      retry.catch(() => {});
      await until(() => infos.some((l) => l.startsWith('waiting for merge request !1')));
      expect(infos).toContain(
        `${BRANCH} already holds this change at ${proposed.slice(0, 12)}; reusing it`,
      );
      expect(infos.some((l) => l.startsWith('reusing the open merge request !1'))).toBe(true);
      await gitlab.releaseAutoMerge(1);
      const result = await retry;
      // The same MR and the same commit: no second MR, no new push to the branch.
      expect(gitlab.callsTo('POST', /merge_requests$/)).toHaveLength(1);
      // The reused MR says what its branch holds now, not what the first change was.
      expect(gitlab.mr(1).title).toContain(v);
      expect(gitlab.mr(1).description).toContain(v);
      expect(gitlab.mr(1).sha).toBe(proposed);
      expect(result.details?.mergeRequest).toMatchObject({ number: 1, created: false });
      expectLiveAt(sandbox, 'my-app-green', head());
    } finally {
      await gitlab.stop();
    }
  });

  it('an MR closed without merging: exit 6, nothing deployed, main untouched', async () => {
    setPromotion('fallback');
    const gitlab = await new FakeGitlab({
      tokens: [TOKEN],
      gitDir: sandbox.repoPath,
      project: 'group/config',
      autoMerge: 'arm',
    }).start();
    try {
      const ctx = context({
        forge: new GitlabForge({ url: gitlab.url, token: TOKEN }),
        project: 'group/config',
        pollMs: 50,
      });
      const before = head();
      const green = sandbox.argocd.app('my-app-green')?.status?.sync?.revision;
      const running = deployVersion(ctx, nextVersion()).catch((e) => e);
      await until(() => gitlab.mergeRequests.get(1)?.mergeWhenPipelineSucceeds === true);
      gitlab.closeMergeRequest(1);
      const error = await running;
      expect(isStackswapError(error) && error.exitCode).toBe(6);
      expect(error.message).toMatch(/merge request !1 was closed without being merged/);
      expect(head()).toBe(before);
      expect(sandbox.argocd.app('my-app-green')?.status?.sync?.revision).toBe(green);
    } finally {
      await gitlab.stop();
    }
  });
  const gitlabTarget = (gitlab: FakeGitlab) => ({
    forge: new GitlabForge({ url: gitlab.url, token: TOKEN }),
    project: 'group/config',
    pollMs: 50,
  });

  it('a merge the forge keeps refusing: exit 6 naming the MR; main untouched, branch kept', async () => {
    setPromotion('fallback');
    const gitlab = await new FakeGitlab({
      tokens: [TOKEN],
      gitDir: sandbox.repoPath,
      project: 'group/config',
    }).start();
    try {
      gitlab.fail({
        method: 'PUT',
        path: /merge_requests\/1\/merge$/,
        response: { status: 405, body: { message: '405 Method Not Allowed' } },
        times: 10,
      });
      const before = head();
      const error = await deployVersion(context(gitlabTarget(gitlab)), nextVersion()).catch(
        (e) => e,
      );
      expect(isStackswapError(error) && error.exitCode, String(error)).toBe(6);
      expect(error.message).toMatch(/merge request !1: the forge refused the merge/);
      expect(error.details).toMatchObject({ number: 1, branch: BRANCH });
      expect(head()).toBe(before);
      expect(branchExists(BRANCH)).toBe(true);
    } finally {
      await gitlab.stop();
    }
  });

  it('an MR that conflicts with main: exit 3 with a hint to re-run', async () => {
    setPromotion('fallback');
    const gitlab = await new FakeGitlab({
      tokens: [TOKEN],
      gitDir: sandbox.repoPath,
      project: 'group/config',
      autoMerge: 'arm',
    }).start();
    try {
      const running = deployVersion(context(gitlabTarget(gitlab)), nextVersion()).catch((e) => e);
      await until(() => gitlab.mergeRequests.get(1)?.mergeWhenPipelineSucceeds === true);
      gitlab.mr(1).mergeStatus = 'conflict';
      const error = await running;
      expect(isStackswapError(error) && error.exitCode, String(error)).toBe(3);
      expect(error.message).toMatch(/merge request !1 cannot be merged: it conflicts with main/);
      expect(error.hint).toMatch(/re-run the operation/);
    } finally {
      await gitlab.stop();
    }
  });

  it('another change while the MR is open replaces its branch (lease) and reuses the MR', async () => {
    setPromotion('fallback');
    const gitlab = await new FakeGitlab({
      tokens: [TOKEN],
      gitDir: sandbox.repoPath,
      project: 'group/config',
      autoMerge: 'arm',
    }).start();
    try {
      const first = await deployVersion(
        context(gitlabTarget(gitlab), { timeoutMs: 300 }),
        nextVersion(),
      ).catch((e) => e);
      expect(isStackswapError(first) && first.exitCode).toBe(4);
      const firstHead = head(BRANCH);
      const v = nextVersion();
      const infos: string[] = [];
      const second = deployVersion(context(gitlabTarget(gitlab), { infos }), v);
      second.catch(() => {});
      await until(() => infos.some((l) => l.startsWith('waiting for merge request !1')));
      expect(head(BRANCH)).not.toBe(firstHead);
      expect(infos).toContain(`pushed ${head(BRANCH).slice(0, 12)} to ${BRANCH}`);
      await gitlab.releaseAutoMerge(1);
      const result = await second;
      expect(gitlab.callsTo('POST', /merge_requests$/)).toHaveLength(1);
      expect(
        git(sandbox.repoPath, 'show', `${result.sha}:apps/my-app/values-green.yaml`),
      ).toContain(v);
      expectLiveAt(sandbox, 'my-app-green', result.sha);
    } finally {
      await gitlab.stop();
    }
  });
});
