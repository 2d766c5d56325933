import { readFileSync } from 'node:fs';
import path from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import type { ForgeError } from '../../../src/forges/errors.ts';
import { commentMarker } from '../../../src/forges/forge.ts';
import { GithubForge } from '../../../src/forges/github.ts';
import { caught, useStrictNock, virtualClock } from './harness.ts';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/forges-api');
const fixture = (name: string) => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8'));

const API = 'https://api.github.com';
const TOKEN = 'ghp_testtoken0123456789abcdef';
const REPO = 'octo/config';
const R = '/repos/octo/config';
const HEAD = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';
const KEY = 'stackswap:plan:shop';

useStrictNock();

function forge(policy = {}) {
  const clock = virtualClock();
  const f = new GithubForge({
    apiUrl: API,
    token: TOKEN,
    http: { clock, random: () => 1, policy: { timeoutMs: 5_000, ...policy } },
  });
  return { forge: f, clock };
}

/** The pull_request object of a real webhook payload: the same shape as GET /pulls/{n}. */
function pull(overrides: Record<string, unknown> = {}) {
  const base = fixture('github-pull.json');
  return {
    ...base,
    number: 2,
    head: {
      ...base.head,
      ref: 'stackswap/shop/op-1',
      sha: HEAD,
      repo: { ...base.head.repo, full_name: REPO },
    },
    base: { ...base.base, ref: 'main', repo: { ...base.base.repo, full_name: REPO } },
    ...overrides,
  };
}

const api = () => nock(API, { reqheaders: { authorization: `token ${TOKEN}` } });
const comment = (id: number, body: string) => ({
  url: `${API}${R}/issues/comments/${id}`,
  html_url: `https://github.com/octo/config/pull/2#issuecomment-${id}`,
  issue_url: `${API}${R}/issues/2`,
  id,
  node_id: 'MDEyOklzc3VlQ29tbWVudDE=',
  user: { login: 'stackswap-bot', id: 1, type: 'Bot' },
  created_at: '2011-04-14T16:00:49Z',
  updated_at: '2011-04-14T16:00:49Z',
  author_association: 'COLLABORATOR',
  body,
});
const next = (page: number) => ({
  link: `<${API}${R}/issues/2/comments?per_page=100&page=${page}>; rel="next", <${API}${R}/issues/2/comments?per_page=100&page=${page}>; rel="last"`,
});

describe('GitHub: find a PR', () => {
  it('by number, mapped from the real shape (mergeable null: unknown)', async () => {
    api().get(`${R}/pulls/2`).reply(200, pull());
    const got = await forge().forge.getMergeRequest(REPO, 2);
    expect(got).toMatchObject({
      forge: 'github',
      number: 2,
      state: 'open',
      sourceBranch: 'stackswap/shop/op-1',
      targetBranch: 'main',
      headSha: HEAD,
      mergedSha: undefined,
      fork: false,
      mergeable: 'unknown',
      mergeStatus: 'unknown',
      autoMergeEnabled: false,
    });
  });

  it('the open one for a head branch', async () => {
    api()
      .get(`${R}/pulls`)
      .query({ state: 'open', head: 'octo:stackswap/shop/op-1', base: 'main', per_page: '100' })
      .reply(200, [pull()]);
    api().get(`${R}/pulls/2`).reply(200, pull());
    const got = await forge().forge.findOpenMergeRequest(REPO, {
      sourceBranch: 'stackswap/shop/op-1',
      targetBranch: 'main',
    });
    expect(got?.number).toBe(2);
  });
});

describe('GitHub: the sticky comment', () => {
  it('created after paging through every comment', async () => {
    api()
      .get(`${R}/issues/2/comments`)
      .query({ per_page: '100' })
      .reply(200, [comment(1, 'LGTM')], next(2));
    api()
      .get(`${R}/issues/2/comments`)
      .query({ per_page: '100', page: '2' })
      .reply(200, [comment(2, 'nice')]);
    api()
      .post(`${R}/issues/2/comments`, { body: `${commentMarker(KEY)}\nplan v1` })
      .reply(201, comment(10, `${commentMarker(KEY)}\nplan v1`));
    const r = await forge().forge.syncComments(REPO, 2, KEY, ['plan v1']);
    expect(r).toEqual({ ids: ['10'], created: 1, updated: 0, unchanged: 0, deleted: 0 });
  });

  it('then edited in place (PATCH), found on page 2', async () => {
    api()
      .get(`${R}/issues/2/comments`)
      .query({ per_page: '100' })
      .reply(200, [comment(1, 'LGTM')], next(2));
    api()
      .get(`${R}/issues/2/comments`)
      .query({ per_page: '100', page: '2' })
      .reply(200, [comment(10, `${commentMarker(KEY)}\nplan v1`)]);
    api()
      .patch(`${R}/issues/comments/10`, { body: `${commentMarker(KEY)}\nplan v2` })
      .reply(200, comment(10, `${commentMarker(KEY)}\nplan v2`));
    const r = await forge().forge.syncComments(REPO, 2, KEY, ['plan v2']);
    expect(r).toEqual({ ids: ['10'], created: 0, updated: 1, unchanged: 0, deleted: 0 });
  });

  it('two parts: part 1 edited, part 2 created; a human quote of the marker is not ours', async () => {
    api()
      .get(`${R}/issues/2/comments`)
      .query({ per_page: '100' })
      .reply(200, [
        comment(5, `> ${commentMarker(KEY, 2)}`),
        comment(10, `${commentMarker(KEY)}\nold`),
      ]);
    api().patch(`${R}/issues/comments/10`).reply(200, comment(10, 'x'));
    api()
      .post(`${R}/issues/2/comments`, { body: `${commentMarker(KEY, 2)}\nsecond` })
      .reply(201, comment(11, 'x'));
    const r = await forge().forge.syncComments(REPO, 2, KEY, [
      `${commentMarker(KEY)}\nfirst`,
      'second',
    ]);
    expect(r).toMatchObject({ ids: ['10', '11'], updated: 1, created: 1 });
  });
});

describe('GitHub: commit status', () => {
  it('POST /statuses/:sha, failed → failure, description cut to 140', async () => {
    let sent: Record<string, unknown> = {};
    api()
      .post(`${R}/statuses/${HEAD}`, (b) => {
        sent = b;
        return true;
      })
      .reply(201, { id: 1, state: 'failure', context: 'stackswap/shop' });
    await forge().forge.setCommitStatus(REPO, {
      sha: HEAD,
      context: 'stackswap/shop',
      state: 'failed',
      description:
        'releases/shop.yaml:7: components.cart.version: not a valid tag\nsecond line ' +
        'x'.repeat(200),
      targetUrl: 'https://stackswap.example/v1/operations/op-1',
    });
    expect(sent).toMatchObject({
      state: 'failure',
      context: 'stackswap/shop',
      target_url: 'https://stackswap.example/v1/operations/op-1',
    });
    expect([...(sent.description as string)]).toHaveLength(140);
    expect(sent.description).not.toContain('\n');
  });

  it('running → pending (GitHub has no running)', async () => {
    api()
      .post(`${R}/statuses/${HEAD}`, (b) => b.state === 'pending')
      .reply(201, {});
    await forge().forge.setCommitStatus(REPO, {
      sha: HEAD,
      context: 'stackswap/shop',
      state: 'running',
      description: 'deploying',
    });
  });
});

describe('GitHub: open a PR', () => {
  const input = {
    sourceBranch: 'stackswap/shop/op-1',
    targetBranch: 'main',
    title: 'stackswap: deploy shop',
    description: 'Operation op-1',
  };
  const list = () =>
    api()
      .get(`${R}/pulls`)
      .query({ state: 'open', head: 'octo:stackswap/shop/op-1', base: 'main', per_page: '100' });

  it('creates one when none is open', async () => {
    list().reply(200, []);
    api()
      .post(`${R}/pulls`, {
        head: input.sourceBranch,
        base: 'main',
        title: input.title,
        body: input.description,
        maintainer_can_modify: false,
      })
      .reply(201, pull());
    expect(await forge().forge.openMergeRequest(REPO, input)).toMatchObject({
      created: true,
      mergeRequest: { number: 2 },
    });
  });

  it('reuses the open one, its title and body brought up to date', async () => {
    list().reply(200, [pull()]);
    api().get(`${R}/pulls/2`).reply(200, pull());
    api().patch(`${R}/pulls/2`, { title: input.title, body: input.description }).reply(200, pull());
    expect(await forge().forge.openMergeRequest(REPO, input)).toMatchObject({ created: false });
  });

  it('422 "A pull request already exists": the race is resolved by reading it', async () => {
    list().reply(200, []);
    api()
      .post(`${R}/pulls`)
      .reply(422, {
        message: 'Validation Failed',
        errors: [
          {
            resource: 'PullRequest',
            code: 'custom',
            message: 'A pull request already exists for octo:stackswap/shop/op-1.',
          },
        ],
      });
    list().reply(200, [pull()]);
    api().get(`${R}/pulls/2`).reply(200, pull());
    api().patch(`${R}/pulls/2`, { title: input.title, body: input.description }).reply(200, pull());
    expect(await forge().forge.openMergeRequest(REPO, input)).toMatchObject({
      created: false,
      mergeRequest: { number: 2 },
    });
  });
});

describe('GitHub: merge', () => {
  const MERGED = '6dcb09b5b57875f334f61aebed695e2e4193db5e';

  it('pinned to the SHA', async () => {
    api()
      .put(`${R}/pulls/2/merge`, { sha: HEAD, merge_method: 'squash' })
      .reply(200, { sha: MERGED, merged: true, message: 'Pull Request successfully merged' });
    expect(await forge().forge.merge(REPO, 2, { sha: HEAD, method: 'squash' })).toEqual({
      outcome: 'merged',
      mergedSha: MERGED,
    });
  });

  it('409 when the head moved', async () => {
    api()
      .put(`${R}/pulls/2/merge`)
      .reply(409, { message: 'Head branch was modified. Review and try the merge again.' });
    const e = await caught(forge().forge.merge(REPO, 2, { sha: HEAD }));
    expect(e).toMatchObject({ kind: 'conflict', status: 409 });
  });

  it('405 not mergeable', async () => {
    api().put(`${R}/pulls/2/merge`).reply(405, { message: 'Pull Request is not mergeable' });
    expect(await caught(forge().forge.merge(REPO, 2, { sha: HEAD }))).toMatchObject({
      kind: 'not-mergeable',
      code: 'precondition',
    });
  });

  it('auto-merge on a PR still waiting for checks: enablePullRequestAutoMerge with the head pinned', async () => {
    api()
      .get(`${R}/pulls/2`)
      .reply(200, pull({ mergeable: true, mergeable_state: 'blocked' }));
    let variables: Record<string, unknown> = {};
    api()
      .post('/graphql', (b) => {
        variables = b.variables;
        return /enablePullRequestAutoMerge/.test(b.query);
      })
      .reply(200, {
        data: {
          enablePullRequestAutoMerge: {
            pullRequest: { number: 2, autoMergeRequest: { enabledAt: '2026-01-01T00:00:00Z' } },
          },
        },
      });
    expect(await forge().forge.enableAutoMerge(REPO, 2, { sha: HEAD })).toEqual({
      outcome: 'auto-merge-enabled',
    });
    expect(variables).toEqual({
      pullRequestId: 'MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3',
      mergeMethod: 'MERGE',
      expectedHeadOid: HEAD,
    });
  });

  it('auto-merge on a clean PR: merged directly (GitHub refuses to arm it)', async () => {
    api()
      .get(`${R}/pulls/2`)
      .reply(200, pull({ mergeable: true, mergeable_state: 'clean' }));
    api()
      .put(`${R}/pulls/2/merge`, { sha: HEAD, merge_method: 'merge' })
      .reply(200, { sha: MERGED, merged: true, message: 'ok' });
    expect(await forge().forge.enableAutoMerge(REPO, 2, { sha: HEAD })).toEqual({
      outcome: 'merged',
      mergedSha: MERGED,
    });
  });

  it('"Pull request is in clean status" from GraphQL: falls back to a direct merge', async () => {
    api().get(`${R}/pulls/2`).reply(200, pull());
    api()
      .post('/graphql')
      .reply(200, {
        data: { enablePullRequestAutoMerge: null },
        errors: [
          {
            type: 'UNPROCESSABLE',
            path: ['enablePullRequestAutoMerge'],
            message: 'Pull request Pull request is in clean status',
          },
        ],
      });
    api().put(`${R}/pulls/2/merge`).reply(200, { sha: MERGED, merged: true, message: 'ok' });
    expect(await forge().forge.enableAutoMerge(REPO, 2, { sha: HEAD })).toEqual({
      outcome: 'merged',
      mergedSha: MERGED,
    });
  });

  it('auto-merge not allowed on the repository: waiting, with the reason', async () => {
    api()
      .get(`${R}/pulls/2`)
      .reply(200, pull({ mergeable: false, mergeable_state: 'blocked' }));
    api()
      .post('/graphql')
      .reply(200, {
        data: { enablePullRequestAutoMerge: null },
        errors: [
          {
            type: 'UNPROCESSABLE',
            message: 'Pull request Auto merge is not allowed for this repository',
          },
        ],
      });
    const r = await forge().forge.enableAutoMerge(REPO, 2, { sha: HEAD });
    expect(r.outcome).toBe('waiting');
    expect(r.outcome === 'waiting' && r.reason).toMatch(/Allow auto-merge/);
  });

  it('auto-merge pinned to a SHA that is no longer the head: a conflict, nothing armed', async () => {
    api().get(`${R}/pulls/2`).reply(200, pull());
    const e = await caught(
      forge().forge.enableAutoMerge(REPO, 2, { sha: '1111111111111111111111111111111111111111' }),
    );
    expect(e).toMatchObject({ kind: 'conflict' });
  });
});

describe('GitHub: a merge whose answer was lost, and changed files', () => {
  it('a timeout on PUT …/merge is not repeated: the PR is read back, and it did merge', async () => {
    const { forge: f } = forge({ timeoutMs: 100 });
    api().put(`${R}/pulls/2/merge`).delay(3_000).reply(200, {});
    api()
      .get(`${R}/pulls/2`)
      .reply(
        200,
        pull({
          state: 'closed',
          merged: true,
          merged_at: '2026-01-01T00:00:00Z',
          merge_commit_sha: '6dcb09b5b57875f334f61aebed695e2e4193db5e',
        }),
      );
    expect(await f.merge(REPO, 2, { sha: HEAD })).toEqual({
      outcome: 'merged',
      mergedSha: '6dcb09b5b57875f334f61aebed695e2e4193db5e',
    });
  });

  it('changed files over pages, renames with both names', async () => {
    api()
      .get(`${R}/pulls/2/files`)
      .query({ per_page: '100' })
      .reply(
        200,
        [
          {
            sha: 'bbcd538c8e72b8c175046e27cc8f907076331401',
            filename: 'releases/shop.yaml',
            status: 'modified',
            additions: 1,
            deletions: 1,
            changes: 2,
          },
        ],
        {
          link: `<${API}${R}/pulls/2/files?per_page=100&page=2>; rel="next"`,
        },
      );
    api()
      .get(`${R}/pulls/2/files`)
      .query({ per_page: '100', page: '2' })
      .reply(200, [
        {
          sha: 'cccd538c8e72b8c175046e27cc8f907076331401',
          filename: 'stackswap.yaml',
          previous_filename: 'old.yaml',
          status: 'renamed',
        },
      ]);
    expect(await forge().forge.listChangedFiles(REPO, 2)).toEqual([
      'releases/shop.yaml',
      'old.yaml',
      'stackswap.yaml',
    ]);
  });
});

describe('GitHub: read a file at a ref', () => {
  it('decodes the base64 content', async () => {
    api()
      .get(`${R}/contents/releases%2Fshop.yaml`)
      .query({ ref: 'main' })
      .reply(200, {
        type: 'file',
        encoding: 'base64',
        size: 12,
        name: 'shop.yaml',
        path: 'releases/shop.yaml',
        content: Buffer.from('stack: shop\n')
          .toString('base64')
          .replace(/(.{4})/g, '$1\n'),
        sha: '3d21ec53a331a6f037a91c368710b99387d012c1',
      });
    expect(await forge().forge.readFile(REPO, 'releases/shop.yaml', 'main')).toBe('stack: shop\n');
  });

  it('absent: undefined', async () => {
    api()
      .get(`${R}/contents/releases%2Fnope.yaml`)
      .query({ ref: 'main' })
      .reply(404, { message: 'Not Found' });
    expect(await forge().forge.readFile(REPO, 'releases/nope.yaml', 'main')).toBeUndefined();
  });
});

describe('GitHub: faults', () => {
  it('429 with Retry-After, then success', async () => {
    const { forge: f, clock } = forge();
    api().get(`${R}/pulls/2`).reply(429, { message: 'Too many requests' }, { 'Retry-After': '2' });
    api().get(`${R}/pulls/2`).reply(200, pull());
    await f.getMergeRequest(REPO, 2);
    expect(clock.sleeps).toEqual([2000]);
  });

  it('primary rate limit: 403 with x-ratelimit-remaining 0 waits until x-ratelimit-reset', async () => {
    const { forge: f, clock } = forge();
    const reset = Math.floor(clock.t / 1000) + 10;
    api()
      .get(`${R}/pulls/2`)
      .reply(
        403,
        { message: 'API rate limit exceeded for user ID 1.' },
        { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
      );
    api().get(`${R}/pulls/2`).reply(200, pull());
    await f.getMergeRequest(REPO, 2);
    expect(clock.sleeps).toEqual([11_000]);
  });

  it('secondary rate limit without retry-after: at least a minute', async () => {
    const { forge: f, clock } = forge({ maxTotalMs: 120_000 });
    api().post(`${R}/issues/2/comments`).reply(403, {
      message:
        'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
    });
    api().post(`${R}/issues/2/comments`).reply(201, comment(3, 'x'));
    api().get(`${R}/issues/2/comments`).query({ per_page: '100' }).reply(200, []);
    await f.syncComments(REPO, 2, KEY, ['x']);
    // A rate-limited POST is repeated: GitHub did not act on it.
    expect(clock.sleeps).toEqual([60_000]);
  });

  it('a reset further away than allowed: fails at once, saying how long', async () => {
    const { forge: f, clock } = forge();
    api()
      .get(`${R}/pulls/2`)
      .reply(
        403,
        { message: 'API rate limit exceeded' },
        {
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.floor(clock.t / 1000) + 3600),
        },
      );
    const e = await caught(f.getMergeRequest(REPO, 2));
    expect(e).toMatchObject({ kind: 'rate-limited', status: 403 });
    expect((e as ForgeError).hint).toMatch(/asks to wait 3601 s/);
    expect(clock.sleeps).toEqual([]);
  });

  it('5xx then success', async () => {
    const { forge: f, clock } = forge();
    api().get(`${R}/pulls/2`).reply(503, { message: 'Service Unavailable' });
    api().get(`${R}/pulls/2`).reply(200, pull());
    await f.getMergeRequest(REPO, 2);
    expect(clock.sleeps).toEqual([500]);
  });

  it('a hang hits the timeout, retried, then classified timeout', async () => {
    const { forge: f, clock } = forge({ timeoutMs: 100, maxAttempts: 2 });
    api().get(`${R}/pulls/2`).times(2).delay(3_000).reply(200, pull());
    const e = await caught(f.getMergeRequest(REPO, 2));
    expect(e).toMatchObject({ kind: 'timeout', forge: 'github', code: 'remote-unreachable' });
    expect(clock.sleeps).toHaveLength(1);
  });

  it('a classic token without the repo scope: names the scope needed and the scopes it has', async () => {
    api().post(`${R}/statuses/${HEAD}`).reply(
      403,
      {
        message: 'Resource not accessible by personal access token',
        documentation_url: 'https://docs.github.com/rest/commits/statuses#create-a-commit-status',
      },
      { 'x-accepted-oauth-scopes': 'repo, repo:status', 'x-oauth-scopes': 'read:user' },
    );
    const e = await caught(
      forge().forge.setCommitStatus(REPO, {
        sha: HEAD,
        context: 'stackswap/shop',
        state: 'pending',
        description: 'x',
      }),
    );
    expect(e).toMatchObject({
      kind: 'forbidden',
      neededScope: 'repo, repo:status',
      code: 'forbidden',
    });
    expect((e as Error).message).toBe(
      'GitHub: repos.createCommitStatus needs `repo, repo:status`; the token has `read:user` (403): Resource not accessible by personal access token',
    );
  });

  it('a fine-grained token without the permission: x-accepted-github-permissions named', async () => {
    api()
      .post(`${R}/issues/2/comments`)
      .reply(
        403,
        { message: 'Resource not accessible by personal access token' },
        { 'x-accepted-github-permissions': 'issues=write; pull_requests=write' },
      );
    api().get(`${R}/issues/2/comments`).query({ per_page: '100' }).reply(200, []);
    const e = await caught(forge().forge.syncComments(REPO, 2, KEY, ['x']));
    expect(e).toMatchObject({
      kind: 'forbidden',
      neededScope: 'issues=write; pull_requests=write',
    });
  });

  it('401 bad credentials: auth, once', async () => {
    api().get(`${R}/pulls/2`).reply(401, { message: 'Bad credentials' });
    const e = await caught(forge().forge.getMergeRequest(REPO, 2));
    expect(e).toMatchObject({ kind: 'auth', exitCode: 5 });
    expect(JSON.stringify(e)).not.toContain(TOKEN);
  });
});
