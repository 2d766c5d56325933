/**
 * Push/remote failure classification, fed with output captured from real git runs (this
 * repo's tests, the team's notes §E.2) and the server wordings documented by Kargo, Argo CD,
 * argo-watcher and GitLab/GitHub (reliability notes §3, test case 18/19).
 */
import { describe, expect, it } from 'vitest';
import {
  classifyPushFailure,
  classifyRemoteFailure,
  remoteMessages,
} from '../../../src/gitops/git/classify.ts';

const ctx = {
  operation: 'push',
  remote: 'https://gitlab.example.com/g/config.git',
  branch: 'main',
};

const races = {
  'fetch first (git, no fetch)': `To /tmp/o.git\n!\tHEAD:refs/heads/main\t[rejected] (fetch first)\nDone\nerror: failed to push some refs to '/tmp/o.git'\nhint: Updates were rejected because the remote contains work that you do\n`,
  'non-fast-forward (git, after fetch)': `To /tmp/o.git\n!\tHEAD:refs/heads/main\t[rejected] (non-fast-forward)\nDone\n`,
  'stale info (lease)': `!\tHEAD:refs/heads/main\t[rejected] (stale info)\n`,
  'server-side ref race (git receive-pack)': `To http://127.0.0.1:1/origin.git\n!\tHEAD:refs/heads/main\t[remote rejected] (failed to update ref)\nDone\nremote: error: cannot lock ref 'refs/heads/main': is at fc1373ad6c38ed599b11a9e0f88d790926bbbf7a but expected 1ab94dd37830b7fe111af88f95cc52d8a12b00ad\n`,
  'cannot lock ref in the status (Kargo #3071)': ` ! [remote rejected] main -> main (cannot lock ref 'refs/heads/main': is at 1f2e but expected 9a8b)\n`,
  'GitLab (Kargo #5286)': ` ! [remote rejected] main -> main (incorrect old value provided)\nerror: failed to push some refs\n`,
  'reference already exists (Argo CD notes push)': ` ! [remote rejected] refs/notes/x -> refs/notes/x (reference already exists)\n`,
  // go-git based servers (Gitea/Forgejo builds, soft-serve) report a lost race as "object not
  // found" (flux image-automation-controller PR #1090 log), in the ref status or the unpack status.
  'go-git server, ref status (object not found)': `To https://gitea.example.com/g/config.git\n ! [remote rejected] main -> main (object not found)\nerror: failed to push some refs to 'https://gitea.example.com/g/config.git'\n`,
  'go-git server, porcelain ref status': `To https://gitea.example.com/g/config.git\n!\tHEAD:refs/heads/main\t[remote rejected] (object not found)\nDone\n`,
  'go-git server, unpack status': `error: remote unpack failed: object not found\nTo https://gitea.example.com/g/config.git\n ! [remote failure] main -> main (remote failed to report status)\nerror: failed to push some refs to 'https://gitea.example.com/g/config.git'\n`,
};

describe('classifyPushFailure', () => {
  it.each(Object.entries(races))('%s -> race (retry from a fresh fetch)', (_name, text) => {
    expect(classifyPushFailure(text, ctx)).toEqual({ kind: 'race' });
  });

  it.each([
    // a hook that prints the words is still a hook refusal
    [
      `remote: object not found\n ! [remote rejected] main -> main (pre-receive hook declined)\n`,
      'push-rejected',
    ],
    // not a ref-update race: the repository itself is missing
    [
      "remote: Repository not found.\nfatal: repository 'https://gitea.example.com/g/config.git/' not found\n",
      'remote-unreachable',
    ],
    // outside a rejection or an unpack status, "object not found" is not a race
    [
      'error: object not found: 9a8b7c6d\nfatal: the receiving end does not support this\n',
      'push-rejected',
    ],
    [' ! [remote rejected] main -> main (missing necessary objects)\n', 'push-rejected'],
  ])('other "not found" push failures stay terminal: %#', (text, code) => {
    const failure = classifyPushFailure(text, ctx);
    expect(failure.kind).toBe('terminal');
    if (failure.kind === 'terminal') expect(failure.error.code).toBe(code);
  });

  it('a pre-receive hook rejection is terminal and keeps the hook lines', () => {
    const text = `To /tmp/o.git\n!\tHEAD:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone\nremote: GL-HOOK-ERR: commits must reference a ticket        \nerror: failed to push some refs to '/tmp/o.git'\n`;
    const failure = classifyPushFailure(text, ctx);
    expect(failure.kind).toBe('terminal');
    if (failure.kind !== 'terminal') return;
    expect(failure.error.code).toBe('push-rejected');
    expect(failure.error.message).toBe(
      'push to main refused by the remote (pre-receive hook declined): GL-HOOK-ERR: commits must reference a ticket',
    );
  });

  it.each([
    `remote: error: GH006: Protected branch update failed for refs/heads/main.\nremote: error: At least 1 approving review is required\n ! [remote rejected] main -> main (protected branch hook declined)\n`,
    `remote: GitLab: You are not allowed to push code to protected branches on this project.\n ! [remote rejected] main -> main (pre-receive hook declined)\n`,
    `remote: error: GH013: Repository rule violations found for refs/heads/main.\nremote: - Changes must be made through a pull request.\n ! [remote rejected] main -> main (push declined due to repository rule violations)\n`,
    // a ruleset rejection mixed with a lock message is still a policy refusal (Kargo #3071)
    `remote: error: GH013: Repository rule violations found for refs/heads/main.\n ! [remote rejected] main -> main (cannot lock ref 'refs/heads/main': is at 1f2e but expected 9a8b)\n`,
  ])('branch protection is terminal: %#', (text) => {
    const failure = classifyPushFailure(text, ctx);
    expect(failure.kind).toBe('terminal');
    if (failure.kind !== 'terminal') return;
    expect(failure.error.code).toBe('push-rejected');
    expect(failure.error.message).toMatch(/^push refused by branch protection on main: /);
  });

  it.each([
    [
      "remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'https://gitlab.example.com/g/config.git/'\n",
      'auth',
    ],
    [
      "fatal: could not read Username for 'https://gitlab.example.com': terminal prompts disabled\n",
      'auth',
    ],
    [
      "remote: Permission to o/r.git denied to bot.\nfatal: unable to access 'https://github.com/o/r.git/': The requested URL returned error: 403\n",
      'forbidden',
    ],
    [
      'git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.\n',
      'auth',
    ],
  ])('credential failures are terminal and never retried: %#', (text, code) => {
    const failure = classifyPushFailure(text, ctx);
    expect(failure.kind).toBe('terminal');
    if (failure.kind === 'terminal') expect(failure.error.code).toBe(code);
  });

  it.each([
    'error: RPC failed; curl 52 Empty reply from server\nsend-pack: unexpected disconnect while reading sideband packet\nfatal: the remote end hung up unexpectedly\n',
    'error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502\nfatal: the remote end hung up unexpectedly\n',
    'block timeout reached',
  ])('a transfer cut off mid-push may have landed: %#', (text) => {
    expect(classifyPushFailure(text, ctx).kind).toBe('maybe-landed');
  });
});

describe('classifyRemoteFailure (clone/fetch)', () => {
  const fetchCtx = { ...ctx, operation: 'fetch' };
  it.each([
    [
      "fatal: unable to access 'https://gitlab.example.com/g/config.git/': Could not resolve host: gitlab.example.com\n",
      'remote-unreachable',
    ],
    [
      "fatal: unable to access 'https://127.0.0.1:1/x.git/': Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server\n",
      'remote-unreachable',
    ],
    ["fatal: repository '/tmp/nothing.git' does not exist\n", 'remote-unreachable'],
    ['fatal: Remote branch release not found in upstream origin\n', 'not-found'],
    ["fatal: couldn't find remote ref refs/heads/release\n", 'not-found'],
    ["fatal: Authentication failed for 'https://gitlab.example.com/g/config.git/'\n", 'auth'],
  ])('%j -> %s', (text, code) => {
    expect(classifyRemoteFailure(text, fetchCtx)?.code).toBe(code);
  });

  it('a local problem (corrupt clone) is left to the caller, which re-clones', () => {
    expect(classifyRemoteFailure('fatal: bad object HEAD\n', fetchCtx)).toBeUndefined();
    expect(
      classifyRemoteFailure(
        "fatal: Unable to create '/x/.git/index.lock': File exists.\n",
        fetchCtx,
      ),
    ).toBeUndefined();
  });
});

it('remoteMessages strips progress noise and terminal padding', () => {
  expect(
    remoteMessages(
      'remote: Counting objects: 3\nremote: \x1b[1mhello\x1b[m   \r\nremote:\nremote: world\nTo x\n',
    ),
  ).toEqual(['hello', 'world']);
});
