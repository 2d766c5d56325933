import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  defaultOwnedPath,
  ignoreUnowned,
  parseGithubWebhook,
  parseGitlabWebhook,
  scopeEvent,
  verifyGithubSignature,
  verifyGitlabToken,
  type ForgeEvent,
  type IgnoredEvent,
  type MergeRequestEvent,
  type PushEvent,
} from '../../../src/forges/webhooks.ts';

type EventOf<K> = K extends 'ignored'
  ? IgnoredEvent
  : K extends 'push'
    ? PushEvent
    : MergeRequestEvent;

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/webhooks');
const raw = (name: string) => readFileSync(path.join(FIXTURES, name));

const gitlabMr = (name: string, extra: Record<string, string> = {}) =>
  parseGitlabWebhook(
    { 'X-Gitlab-Event': 'Merge Request Hook', 'X-Gitlab-Event-UUID': 'uuid-1', ...extra },
    raw(name),
  );
const githubPr = (name: string) =>
  parseGithubWebhook(
    { 'X-GitHub-Event': 'pull_request', 'X-GitHub-Delivery': 'guid-1' },
    raw(name),
  );

function expectKind<K extends ForgeEvent['kind']>(e: ForgeEvent, kind: K): asserts e is EventOf<K> {
  expect(e.kind, e.kind === 'ignored' ? e.reason : '').toBe(kind);
}

describe('verifyGitlabToken', () => {
  const secret = 'gitlab-hook-secret-1';
  it('accepts the configured token, case-insensitive header name', () => {
    expect(verifyGitlabToken({ 'x-gitlab-token': secret }, secret)).toEqual({ ok: true });
    expect(verifyGitlabToken({ 'X-Gitlab-Token': secret }, secret)).toEqual({ ok: true });
  });
  it.each([
    ['missing', {}, 'X-Gitlab-Token missing'],
    ['empty', { 'x-gitlab-token': '' }, 'X-Gitlab-Token missing'],
    ['wrong, same length', { 'x-gitlab-token': 'gitlab-hook-secret-2' }, 'X-Gitlab-Token wrong'],
    [
      'wrong, other length (no timingSafeEqual throw)',
      { 'x-gitlab-token': 'x' },
      'X-Gitlab-Token wrong',
    ],
    ['a prefix of the secret', { 'x-gitlab-token': 'gitlab-hook' }, 'X-Gitlab-Token wrong'],
  ])('rejects a token that is %s', (_name, headers, reason) => {
    expect(verifyGitlabToken(headers, secret)).toEqual({ ok: false, reason });
  });
  it('rejects everything when no secret is configured', () => {
    expect(verifyGitlabToken({ 'x-gitlab-token': '' }, undefined).ok).toBe(false);
    expect(verifyGitlabToken({ 'x-gitlab-token': 'anything' }, '').ok).toBe(false);
  });
});

describe('verifyGithubSignature', () => {
  // docs.github.com "Validating webhook deliveries": the official test vector.
  const secret = "It's a Secret to Everybody";
  const vector = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

  it('accepts the official test vector (string and Buffer bodies)', () => {
    const headers = { 'X-Hub-Signature-256': vector };
    expect(verifyGithubSignature(headers, 'Hello, World!', secret)).toEqual({ ok: true });
    expect(verifyGithubSignature(headers, Buffer.from('Hello, World!'), secret)).toEqual({
      ok: true,
    });
  });

  it('signs the raw bytes: a re-serialised body does not verify', () => {
    const body = Buffer.from('{ "action" : "opened",\n  "x": "\\u00e9" }');
    const signature = `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`;
    const headers = { 'x-hub-signature-256': signature };
    expect(verifyGithubSignature(headers, body, 's3cret').ok).toBe(true);
    const reserialised = JSON.stringify(JSON.parse(body.toString()));
    expect(verifyGithubSignature(headers, reserialised, 's3cret').ok).toBe(false);
  });

  it.each([
    ['missing', {}, 'X-Hub-Signature-256 missing'],
    [
      'only SHA-1',
      { 'x-hub-signature': 'sha1=0000000000000000000000000000000000000000' },
      'only the SHA-1 X-Hub-Signature was sent; X-Hub-Signature-256 is required',
    ],
    [
      'without the sha256= prefix',
      { 'x-hub-signature-256': vector.slice(7) },
      'X-Hub-Signature-256 is not "sha256=<64 hex digits>"',
    ],
    [
      'truncated',
      { 'x-hub-signature-256': vector.slice(0, -2) },
      'X-Hub-Signature-256 is not "sha256=<64 hex digits>"',
    ],
    [
      'for another body',
      { 'x-hub-signature-256': vector.replace(/7$/, '8') },
      'X-Hub-Signature-256 does not match the body',
    ],
  ])('rejects a signature %s', (_name, headers, reason) => {
    expect(verifyGithubSignature(headers, 'Hello, World!', secret)).toEqual({ ok: false, reason });
  });

  it('rejects everything when no secret is configured', () => {
    expect(
      verifyGithubSignature({ 'x-hub-signature-256': vector }, 'Hello, World!', undefined).ok,
    ).toBe(false);
  });
});

describe('parseGitlabWebhook: the fixtures', () => {
  it('open (doc example): opened, with head, branches, project, delivery id', () => {
    const e = gitlabMr('gitlab-merge-request.json');
    expectKind(e, 'opened');
    expect(e).toMatchObject({
      forge: 'gitlab',
      deliveryId: 'uuid-1',
      project: 'gitlabhq/gitlab-test',
      number: 1,
      sourceBranch: 'ms-viewport',
      targetBranch: 'master',
      headSha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      mergedSha: undefined,
      fork: false,
      changedFiles: undefined,
    });
  });

  it('open (captured): opened', () => {
    const e = gitlabMr('gitlab-merge-request.open.json');
    expectKind(e, 'opened');
    expect(e).toMatchObject({
      project: 'lkysow/atlantis-example',
      number: 12,
      targetBranch: 'main',
    });
  });

  it('update with oldrev: updated, head is last_commit', () => {
    const e = gitlabMr('gitlab-merge-request.update.json');
    expectKind(e, 'updated');
    expect(e.headSha).toBe('5ff66a1f7404deee915b50998c340e96d995f048');
  });

  it('update without oldrev: ignored with the reason', () => {
    const body = JSON.parse(raw('gitlab-merge-request.update.json').toString());
    delete body.object_attributes.oldrev;
    const e = parseGitlabWebhook({ 'x-gitlab-event': 'Merge Request Hook' }, JSON.stringify(body));
    expectKind(e, 'ignored');
    expect(e.reason).toMatch(/without new commits/);
  });

  it('update that changes the target branch: updated, though no oldrev', () => {
    const body = JSON.parse(raw('gitlab-merge-request.update.json').toString());
    delete body.object_attributes.oldrev;
    body.changes.target_branch = { previous: 'develop', current: 'main' };
    const e = parseGitlabWebhook({ 'x-gitlab-event': 'Merge Request Hook' }, JSON.stringify(body));
    expectKind(e, 'updated');
  });

  it('merge: merged, mergedSha from merge_commit_sha', () => {
    const e = gitlabMr('gitlab-merge-request.merge.json');
    expectKind(e, 'merged');
    expect(e).toMatchObject({
      mergedSha: '78a76ee6b4992a6baf64c59fc4c44c7323d60438',
      mergedShaSource: 'merge_commit_sha',
      defaultBranch: 'master',
    });
  });

  it('merge with merge_commit_sha empty (fast-forward): the head, said so', () => {
    const body = JSON.parse(raw('gitlab-merge-request.merge.json').toString());
    body.object_attributes.merge_commit_sha = null;
    const e = parseGitlabWebhook({ 'x-gitlab-event': 'Merge Request Hook' }, JSON.stringify(body));
    expectKind(e, 'merged');
    expect(e.mergedSha).toBe('c4c79227ed610f1151f05bbc5be33b4f340d39c8');
    expect(e.mergedShaSource).toBe('head (fast-forward)');
  });

  it('merge with only squash_commit_sha: that one', () => {
    const body = JSON.parse(raw('gitlab-merge-request.merge.json').toString());
    body.object_attributes.merge_commit_sha = '';
    body.object_attributes.squash_commit_sha = 'abcdef1234567890abcdef1234567890abcdef12';
    const e = parseGitlabWebhook({ 'x-gitlab-event': 'Merge Request Hook' }, JSON.stringify(body));
    expectKind(e, 'merged');
    expect(e).toMatchObject({
      mergedSha: body.object_attributes.squash_commit_sha,
      mergedShaSource: 'squash_commit_sha',
    });
  });

  it('a fork: source_project_id differs from target_project_id', () => {
    const body = JSON.parse(raw('gitlab-merge-request.merge.json').toString());
    body.object_attributes.source_project_id = 999;
    const e = parseGitlabWebhook({ 'x-gitlab-event': 'Merge Request Hook' }, JSON.stringify(body));
    expectKind(e, 'merged');
    expect(e.fork).toBe(true);
  });

  it('prefers Idempotency-Key (the same on retries) over X-Gitlab-Event-UUID', () => {
    const e = gitlabMr('gitlab-merge-request.json', { 'Idempotency-Key': 'idem-9' });
    expect(e.deliveryId).toBe('idem-9');
  });

  it('push: branch, head, changed files when the payload lists every commit', () => {
    const e = parseGitlabWebhook(
      { 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': 'u2' },
      raw('gitlab-push.json'),
    );
    expectKind(e, 'push');
    expect(e).toMatchObject({
      project: 'mike/diaspora',
      branch: 'master',
      headSha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      // total_commits_count 4, only 2 listed: the list is not complete.
      changedFiles: undefined,
    });
  });

  it('push with every commit listed: the union of added/modified/removed', () => {
    const body = JSON.parse(raw('gitlab-push.json').toString());
    body.total_commits_count = 2;
    const e = parseGitlabWebhook({ 'x-gitlab-event': 'Push Hook' }, JSON.stringify(body));
    expectKind(e, 'push');
    expect(e.changedFiles).toEqual(['CHANGELOG', 'app/controller/application.rb']);
  });

  it.each([
    [
      'a wrong event header',
      { 'x-gitlab-event': 'Note Hook' },
      raw('gitlab-merge-request.json'),
      /"Note Hook" is not one/,
    ],
    ['no event header', {}, raw('gitlab-merge-request.json'), /X-Gitlab-Event missing/],
    [
      'a body that is not JSON',
      { 'x-gitlab-event': 'Push Hook' },
      Buffer.from('<html>'),
      /not JSON/,
    ],
    [
      'a push body under the MR header',
      { 'x-gitlab-event': 'Merge Request Hook' },
      raw('gitlab-push.json'),
      /object_kind/,
    ],
    [
      'an MR body under the push header',
      { 'x-gitlab-event': 'Push Hook' },
      raw('gitlab-merge-request.json'),
      /object_kind/,
    ],
  ])('ignores %s, saying why', (_name, headers, body, reason) => {
    const e = parseGitlabWebhook(headers, body);
    expectKind(e, 'ignored');
    expect(e.reason).toMatch(reason);
  });

  it('ignores approvals and branch deletions', () => {
    const body = JSON.parse(raw('gitlab-merge-request.json').toString());
    body.object_attributes.action = 'approved';
    const approved = parseGitlabWebhook(
      { 'x-gitlab-event': 'Merge Request Hook' },
      JSON.stringify(body),
    );
    expectKind(approved, 'ignored');
    expect(approved.reason).toMatch(/"approved"/);
    const push = JSON.parse(raw('gitlab-push.json').toString());
    push.after = '0000000000000000000000000000000000000000';
    const deleted = parseGitlabWebhook({ 'x-gitlab-event': 'Push Hook' }, JSON.stringify(push));
    expectKind(deleted, 'ignored');
    expect(deleted.reason).toMatch(/deleted/);
  });
});

describe('parseGithubWebhook: the fixtures', () => {
  it('opened', () => {
    const e = githubPr('github-pull_request.opened.json');
    expectKind(e, 'opened');
    expect(e).toMatchObject({
      forge: 'github',
      deliveryId: 'guid-1',
      project: 'Codertocat/Hello-World',
      number: 2,
      sourceBranch: 'changes',
      targetBranch: 'master',
      headSha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
      mergedSha: undefined,
      fork: false,
    });
  });

  it('synchronize: updated', () => {
    expectKind(githubPr('github-pull_request.synchronize.json'), 'updated');
  });

  it('closed with merged: true: merged, with merge_commit_sha', () => {
    const e = githubPr('github-pull_request.closed.json');
    expectKind(e, 'merged');
    expect(e.mergedSha).toBe('c522312f0f9d416a8de7e8dc6130725aecb2b6c4');
  });

  it('closed unmerged: closed, and the test-merge SHA is not taken for a merge', () => {
    const e = githubPr('github-pull_request.closed-unmerged.json');
    expectKind(e, 'closed');
    expect(e.mergedSha).toBeUndefined();
  });

  it('a fork, and a deleted fork (head.repo null)', () => {
    const body = JSON.parse(raw('github-pull_request.opened.json').toString());
    body.pull_request.head.repo.full_name = 'someone/Hello-World';
    const e = parseGithubWebhook({ 'x-github-event': 'pull_request' }, JSON.stringify(body));
    expectKind(e, 'opened');
    expect(e.fork).toBe(true);
    body.pull_request.head.repo = null;
    const gone = parseGithubWebhook({ 'x-github-event': 'pull_request' }, JSON.stringify(body));
    expectKind(gone, 'opened');
    expect(gone.fork).toBe(true);
  });

  it('push: branch, head, changed files', () => {
    const e = parseGithubWebhook(
      { 'x-github-event': 'push', 'x-github-delivery': 'g2' },
      raw('github-push.json'),
    );
    expectKind(e, 'push');
    expect(e).toMatchObject({
      deliveryId: 'g2',
      branch: 'master',
      headSha: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      changedFiles: ['README.md'],
    });
  });

  it.each([
    ['ping', { 'x-github-event': 'ping' }, raw('github-push.json'), /ping/],
    [
      'another event',
      { 'x-github-event': 'issues' },
      raw('github-push.json'),
      /"issues" is not one/,
    ],
    [
      'a body that is not JSON',
      { 'x-github-event': 'push' },
      Buffer.from('payload=%7B%7D'),
      /not JSON/,
    ],
    [
      'a push body under pull_request',
      { 'x-github-event': 'pull_request' },
      raw('github-push.json'),
      /pull_request/,
    ],
    [
      'labeled',
      { 'x-github-event': 'pull_request' },
      Buffer.from(
        raw('github-pull_request.opened.json')
          .toString()
          .replace('"action": "opened"', '"action": "labeled"'),
      ),
      /"labeled"/,
    ],
  ])('ignores %s, saying why', (_name, headers, body, reason) => {
    const e = parseGithubWebhook(headers, body);
    expectKind(e, 'ignored');
    expect(e.reason).toMatch(reason);
  });
});

describe('scopeEvent and ignoreUnowned', () => {
  const scope = { project: 'codertocat/hello-world', branch: 'master' };

  it('keeps an MR into the watched branch of the watched repo (case-insensitive path)', () => {
    expectKind(scopeEvent(githubPr('github-pull_request.opened.json'), scope), 'opened');
  });

  it('ignores another repository, another target branch, a fork merge', () => {
    const other = scopeEvent(githubPr('github-pull_request.opened.json'), {
      ...scope,
      project: 'a/b',
    });
    expectKind(other, 'ignored');
    expect(other.reason).toBe('event for Codertocat/Hello-World; this service watches a/b');
    const branch = scopeEvent(githubPr('github-pull_request.opened.json'), {
      ...scope,
      branch: 'main',
    });
    expectKind(branch, 'ignored');
    expect(branch.reason).toBe('MR !2 targets master, not main');

    const body = JSON.parse(raw('github-pull_request.closed.json').toString());
    body.pull_request.head.repo.full_name = 'fork/branch-bookkeeper';
    const merged = parseGithubWebhook({ 'x-github-event': 'pull_request' }, JSON.stringify(body));
    const forkScope = { project: 'branch-bookkeeper/branch-bookkeeper', branch: 'master' };
    const e = scopeEvent(merged, forkScope);
    expectKind(e, 'ignored');
    expect(e.reason).toMatch(/merged from a fork/);
    expectKind(scopeEvent(merged, { ...forkScope, deployForks: true }), 'merged');
  });

  it('ignores a push to another branch, or one touching no owned file', () => {
    const push = parseGithubWebhook({ 'x-github-event': 'push' }, raw('github-push.json'));
    const e = scopeEvent(push, scope);
    expectKind(e, 'ignored');
    expect(e.reason).toBe('touches no file stackswap owns (README.md)');
    const e2 = scopeEvent(push, { ...scope, branch: 'main' });
    expectKind(e2, 'ignored');
    expect(e2.reason).toBe('push to master, not main');
    expectKind(scopeEvent(push, { ...scope, owns: (p) => p === 'README.md' }), 'push');
  });

  it('the default owned paths', () => {
    expect(defaultOwnedPath('releases/shop.yaml')).toBe(true);
    expect(defaultOwnedPath('releases/shop.yml')).toBe(true);
    expect(defaultOwnedPath('stackswap.yaml')).toBe(true);
    expect(defaultOwnedPath('releases/sub/shop.yaml')).toBe(false);
    expect(defaultOwnedPath('apps/shop/values.yaml')).toBe(false);
    const e = githubPr('github-pull_request.opened.json');
    expectKind(ignoreUnowned(e, ['releases/shop.yaml', 'README.md']), 'opened');
    expectKind(ignoreUnowned(e, ['README.md']), 'ignored');
  });
});
