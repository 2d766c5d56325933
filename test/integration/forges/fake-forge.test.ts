/**
 * The forge adapters against the local fakes (test/helpers/fake-forge): the fakes speak what
 * GitlabForge and GithubForge expect, merges really land in the bare repo, webhooks go out.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isForgeError } from '../../../src/forges/errors.ts';
import type { Forge } from '../../../src/forges/forge.ts';
import { GithubForge } from '../../../src/forges/github.ts';
import { GitlabForge } from '../../../src/forges/gitlab.ts';
import {
  parseGithubWebhook,
  parseGitlabWebhook,
  verifyGithubSignature,
  verifyGitlabToken,
} from '../../../src/forges/webhooks.ts';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeGithub, FakeGitlab, type WebhookDelivery } from '../../helpers/fake-forge/index.ts';
import {
  cleanupFixtures,
  createBareRepo,
  git,
  isAncestor,
  OtherWriter,
  remoteTip,
  type BareRepo,
} from '../../helpers/git-fixtures.ts';

const TOKEN = 'glpat-fake-0123456789';
const KEY = 'stackswap:plan:shop';
const started: Array<{ stop(): Promise<void> }> = [];

afterEach(async () => {
  for (const f of started.splice(0)) await f.stop();
});
afterAll(() => cleanupFixtures());

/** A bare repo with main and a branch `bump` one commit ahead (releases/shop.yaml changed). */
function bareWithBranch(): { repo: BareRepo; head: string; base: string } {
  const repo = createBareRepo({ 'releases/shop.yaml': 'version: 1\n', 'README.md': 'hi\n' });
  const base = remoteTip(repo);
  const work = new OtherWriter(repo).dir;
  git(work, 'checkout', '-q', '-b', 'bump');
  git(work, 'config', 'user.name', 'dev');
  git(work, 'config', 'user.email', 'dev@example.invalid');
  writeFileSync(path.join(work, 'releases/shop.yaml'), 'version: 2\n');
  git(work, 'commit', '-q', '-am', 'bump shop');
  git(work, 'push', '-q', 'origin', 'bump');
  return { repo, head: git(work, 'rev-parse', 'HEAD'), base };
}

async function lifecycle(
  fake: FakeGitlab | FakeGithub,
  forge: Forge,
  project: string,
  repo: BareRepo,
  head: string,
  base: string,
  open: () => Promise<number>,
) {
  const n = await open();
  const mr = await forge.getMergeRequest(project, n);
  expect(mr).toMatchObject({ number: n, state: 'open', sourceBranch: 'bump', headSha: head });
  expect(mr.targetBranch).toBe('main');
  expect((await forge.findOpenMergeRequest(project, { sourceBranch: 'bump' }))?.number).toBe(n);
  expect(await forge.findOpenMergeRequest(project, { sourceBranch: 'other' })).toBeUndefined();
  expect(await forge.listChangedFiles(project, n)).toEqual(['releases/shop.yaml']);

  // The sticky comment: created once, then edited in place.
  const first = await forge.syncComments(project, n, KEY, ['plan v1']);
  const second = await forge.syncComments(project, n, KEY, ['plan v2']);
  expect(first.created).toBe(1);
  expect(second).toMatchObject({ created: 0, updated: 1, ids: first.ids });

  await forge.setCommitStatus(project, {
    sha: head,
    context: 'stackswap/shop',
    state: 'pending',
    description: 'computing',
  });
  // Twice the same state: GitLab's 400 "Cannot transition" is absorbed by the adapter.
  await forge.setCommitStatus(project, {
    sha: head,
    context: 'stackswap/shop',
    state: 'pending',
    description: 'computing',
  });
  await forge.setCommitStatus(project, {
    sha: head,
    context: 'stackswap/shop',
    state: 'success',
    description: 'plan valid',
    targetUrl: 'http://stackswap.example/op/1',
  });

  expect(await forge.readFile(project, 'releases/shop.yaml', head)).toBe('version: 2\n');
  expect(await forge.readFile(project, 'releases/shop.yaml', 'main')).toBe('version: 1\n');
  expect(await forge.readFile(project, 'releases/none.yaml', head)).toBeUndefined();

  // A merge pinned to a stale SHA is refused with 409; the right one merges in git.
  const stale = await forge.merge(project, n, { sha: base }).catch((e: unknown) => e);
  expect(isForgeError(stale, 'conflict')).toBe(true);
  expect(remoteTip(repo)).toBe(base);
  const merged = await forge.merge(project, n, { sha: head });
  expect(merged.outcome).toBe('merged');
  const tip = remoteTip(repo);
  expect(tip).not.toBe(base);
  expect(isAncestor(repo, head)).toBe(true);
  expect(merged.outcome === 'merged' && merged.mergedSha).toBe(tip);
  expect((await forge.getMergeRequest(project, n)).state).toBe('merged');
  await fake.idle();
  return { n, tip };
}

describe('FakeGitlab with GitlabForge', () => {
  it('finds, comments, sets statuses, reads files and merges for real, with webhooks', async () => {
    const { repo, head, base } = bareWithBranch();
    const hooks: WebhookDelivery[] = [];
    const fake = await new FakeGitlab({
      tokens: [TOKEN],
      gitDir: repo.bare,
      webhook: { secret: 's3cret', callback: (d) => void hooks.push(d) },
    }).start();
    started.push(fake);
    const forge = new GitlabForge({ url: fake.url, token: TOKEN });
    const { n, tip } = await lifecycle(fake, forge, 'group/config', repo, head, base, async () => {
      return (await fake.addMergeRequest({ sourceBranch: 'bump', title: 'Bump shop' })).iid;
    });

    expect(fake.notesOf(n)).toHaveLength(1);
    expect(fake.notesOf(n)[0]!.body).toBe(`<!-- ${KEY} -->\nplan v2`);
    expect(fake.statusesOf(head, 'stackswap/shop').map((s) => s.status)).toEqual([
      'pending',
      'success',
    ]);
    expect(fake.statusesOf(head).at(-1)?.targetUrl).toBe('http://stackswap.example/op/1');
    expect(fake.callsTo('PUT', /\/merge_requests\/1\/merge$/).map((c) => c.status)).toEqual([
      409, 200,
    ]);
    expect(git(repo.bare, 'rev-parse', 'refs/merge-requests/1/head')).toBe(head);
    // A merge commit: two parents.
    expect(git(repo.bare, 'rev-list', '--parents', '-n', '1', tip).split(' ')).toHaveLength(3);

    const events = hooks.map((d) => parseGitlabWebhook(d.headers, d.body));
    expect(events.map((e) => e.kind)).toEqual(['opened', 'push', 'merged']);
    expect(events.at(-1)).toMatchObject({ number: n, headSha: head, mergedSha: remoteTip(repo) });
    expect(hooks[0]!.headers['x-gitlab-token']).toBe('s3cret');
  });

  it('fast-forward projects leave merge_commit_sha null; the adapter reports the head', async () => {
    const { repo, head } = bareWithBranch();
    const fake = await new FakeGitlab({ gitDir: repo.bare, mergeMethod: 'ff' }).start();
    started.push(fake);
    const forge = new GitlabForge({ url: fake.url, token: 'test-token' });
    const mr = await fake.addMergeRequest({ sourceBranch: 'bump' });
    const r = await forge.merge('group/config', mr.iid, { sha: head });
    expect(r).toEqual({ outcome: 'merged', mergedSha: head });
    expect(fake.mr(mr.iid).mergeCommitSha).toBeNull();
    expect(remoteTip(repo)).toBe(head);
  });

  it('opens an MR once, and auto-merge waits for the pipeline', async () => {
    const { repo, head } = bareWithBranch();
    const fake = await new FakeGitlab({ gitDir: repo.bare, autoMerge: 'arm' }).start();
    started.push(fake);
    const forge = new GitlabForge({ url: fake.url, token: 'test-token' });
    const input = { sourceBranch: 'bump', targetBranch: 'main', title: 't', description: 'd' };
    const a = await forge.openMergeRequest('group/config', input);
    const b = await forge.openMergeRequest('1', input);
    expect([a.created, b.created]).toEqual([true, false]);
    expect(b.mergeRequest.number).toBe(a.mergeRequest.number);
    const armed = await forge.enableAutoMerge('group/config', a.mergeRequest.number, { sha: head });
    expect(armed).toEqual({ outcome: 'auto-merge-enabled' });
    expect(remoteTip(repo)).not.toBe(head);
    await fake.releaseAutoMerge(a.mergeRequest.number);
    expect(isAncestor(repo, head)).toBe(true);
    expect((await forge.getMergeRequest('group/config', 1)).state).toBe('merged');
  });

  it('a wrong token is 401 (auth); a read_api token is 403 naming the api scope', async () => {
    const fake = await new FakeGitlab({ limitedTokens: { ro: ['read_api'] } }).start();
    started.push(fake);
    fake.setFile('main', 'stackswap.yaml', 'a: 1\n');
    const wrong = new GitlabForge({
      url: fake.url,
      token: 'nope',
      http: { policy: { maxAttempts: 1 } },
    });
    const e1 = await wrong
      .readFile('group/config', 'stackswap.yaml', 'main')
      .catch((e: unknown) => e);
    expect(isForgeError(e1, 'auth')).toBe(true);
    const ro = new GitlabForge({ url: fake.url, token: 'ro' });
    expect(await ro.readFile('group/config', 'stackswap.yaml', 'main')).toBe('a: 1\n');
    const e2 = await ro
      .setCommitStatus('group/config', {
        sha: 'a'.repeat(40),
        context: 'c',
        state: 'pending',
        description: 'd',
      })
      .catch((e: unknown) => e);
    expect(isForgeError(e2, 'forbidden') && e2.neededScope).toBe('api');
  });
});

describe('FakeGithub with GithubForge', () => {
  it('finds, comments, sets statuses, reads files and merges for real, with webhooks', async () => {
    const { repo, head, base } = bareWithBranch();
    const hooks: WebhookDelivery[] = [];
    const fake = await new FakeGithub({
      tokens: [TOKEN],
      gitDir: repo.bare,
      webhook: { secret: 's3cret', callback: (d) => void hooks.push(d) },
    }).start();
    started.push(fake);
    const forge = new GithubForge({ apiUrl: fake.apiUrl, token: TOKEN });
    const { n } = await lifecycle(fake, forge, 'acme/config', repo, head, base, async () => {
      return (await fake.addPullRequest({ head: 'bump', title: 'Bump shop' })).number;
    });
    expect(fake.commentsOf(n)).toHaveLength(1);
    expect(fake.statusesOf(head, 'stackswap/shop').map((s) => s.state)).toEqual([
      'pending',
      'pending',
      'success',
    ]);
    expect(git(repo.bare, 'rev-parse', 'refs/pull/1/head')).toBe(head);
    const events = hooks.map((d) => parseGithubWebhook(d.headers, d.body));
    expect(events.map((e) => e.kind)).toEqual(['opened', 'push', 'merged']);
    expect(events.at(-1)).toMatchObject({ number: n, headSha: head, mergedSha: remoteTip(repo) });
  });

  it('auto-merge: arms through GraphQL when blocked, merges directly when clean', async () => {
    const { repo, head } = bareWithBranch();
    const fake = await new FakeGithub({ gitDir: repo.bare, autoMerge: 'arm' }).start();
    started.push(fake);
    const forge = new GithubForge({ apiUrl: fake.apiUrl, token: 'test-token' });
    const { mergeRequest } = await forge.openMergeRequest('acme/config', {
      sourceBranch: 'bump',
      targetBranch: 'main',
      title: 't',
      description: 'd',
    });
    expect(await forge.enableAutoMerge('acme/config', mergeRequest.number, { sha: head })).toEqual({
      outcome: 'auto-merge-enabled',
    });
    expect(fake.callsTo('POST', '/graphql')).toHaveLength(1);
    await fake.releaseAutoMerge(mergeRequest.number);
    const after = await forge.getMergeRequest('acme/config', mergeRequest.number);
    expect(after.state).toBe('merged');
    expect(after.mergedSha).toBe(remoteTip(repo));
  });

  it('a wrong token is 401; a token without repo is 403 naming the scope', async () => {
    const fake = await new FakeGithub({ limitedTokens: { weak: ['read:user'] } }).start();
    started.push(fake);
    const wrong = new GithubForge({ apiUrl: fake.apiUrl, token: 'nope' });
    const e1 = await wrong.getMergeRequest('acme/config', 1).catch((e: unknown) => e);
    expect(isForgeError(e1, 'auth')).toBe(true);
    const weak = new GithubForge({ apiUrl: fake.apiUrl, token: 'weak' });
    const e2 = await weak.getMergeRequest('acme/config', 1).catch((e: unknown) => e);
    expect(isForgeError(e2, 'forbidden') && e2.neededScope).toBe('repo');
  });

  it('faults: a 502 then success is retried by the adapter', async () => {
    const fake = await new FakeGithub().start();
    started.push(fake);
    const pr = await fake.addPullRequest({ head: 'x', headSha: 'b'.repeat(40) });
    fake.fail({ method: 'GET', path: /\/pulls\/1$/, response: { status: 502 } });
    const forge = new GithubForge({
      apiUrl: fake.apiUrl,
      token: 'test-token',
      http: { policy: { baseDelayMs: 1, maxDelayMs: 5 } },
    });
    expect((await forge.getMergeRequest('acme/config', pr.number)).headSha).toBe('b'.repeat(40));
    expect(fake.callsTo('GET', /\/pulls\/1$/).map((c) => c.status)).toEqual([502, 200]);
  });
});

describe('webhooks to a URL', () => {
  it('POSTs deliveries a receiver can verify (GitLab token, GitHub HMAC), in order', async () => {
    const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const gitlab = await new FakeGitlab({ webhook: { url, secret: 'gl-secret' } }).start();
      const github = await new FakeGithub({ webhook: { url, secret: 'gh-secret' } }).start();
      started.push(gitlab, github);
      const mr = await gitlab.addMergeRequest({ sourceBranch: 'b', headSha: 'a'.repeat(40) });
      await gitlab.pushToMergeRequest(mr.iid, 'b'.repeat(40));
      await gitlab.idle();
      const pr = await github.addPullRequest({ head: 'b', headSha: 'c'.repeat(40) });
      await github.mergeByHand(pr.number);
      await github.idle();
      expect(received).toHaveLength(4);
      const [open, update, opened, merged] = received;
      expect(verifyGitlabToken(open!.headers, 'gl-secret')).toEqual({ ok: true });
      expect(verifyGitlabToken(open!.headers, 'other')).toMatchObject({ ok: false });
      expect(parseGitlabWebhook(update!.headers, update!.body)).toMatchObject({
        kind: 'updated',
        headSha: 'b'.repeat(40),
      });
      expect(open!.headers['x-gitlab-event-uuid']).not.toBe(update!.headers['x-gitlab-event-uuid']);
      expect(verifyGithubSignature(merged!.headers, merged!.body, 'gh-secret')).toEqual({
        ok: true,
      });
      expect(verifyGithubSignature(merged!.headers, merged!.body, 'other')).toMatchObject({
        ok: false,
      });
      expect(parseGithubWebhook(opened!.headers, opened!.body)).toMatchObject({ kind: 'opened' });
      expect(parseGithubWebhook(merged!.headers, merged!.body)).toMatchObject({
        kind: 'merged',
        headSha: 'c'.repeat(40),
      });
      expect(github.deliveries.map((d) => d.status)).toEqual([202, 202]);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
