import { readFileSync } from 'node:fs';
import path from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { ForgeError } from '../../../src/forges/errors.ts';
import { commentMarker } from '../../../src/forges/forge.ts';
import { GitlabForge } from '../../../src/forges/gitlab.ts';
import { caught, useStrictNock, virtualClock } from './harness.ts';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/forges-api');
const fixture = (name: string) => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8'));

const HOST = 'https://gitlab.example.com';
const TOKEN = 'glpat-test-token-0123456789';
const PROJECT = 'group/config';
const P = '/api/v4/projects/group%2Fconfig';
const HEAD = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';
const KEY = 'stackswap:plan:shop';

useStrictNock();

function forge(policy = {}) {
  const clock = virtualClock();
  const f = new GitlabForge({
    url: HOST,
    token: TOKEN,
    http: { clock, random: () => 1, policy: { timeoutMs: 5_000, ...policy } },
    clock,
  });
  return { forge: f, clock };
}

/** The doc's "Get single MR" answer, as an open MR of ours. */
function mr(overrides: Record<string, unknown> = {}) {
  return {
    ...fixture('gitlab-merge-request.json'),
    iid: 7,
    state: 'opened',
    source_branch: 'stackswap/shop/op-1',
    target_branch: 'main',
    source_project_id: 3,
    target_project_id: 3,
    sha: HEAD,
    merge_when_pipeline_succeeds: false,
    detailed_merge_status: 'mergeable',
    web_url: `${HOST}/group/config/-/merge_requests/7`,
    ...overrides,
  };
}

function note(id: number, body: string, extra: Record<string, unknown> = {}) {
  return { ...fixture('gitlab-note.json'), id, body, ...extra };
}

const api = () => nock(HOST, { reqheaders: { 'private-token': TOKEN } });
const NOTES_QUERY = { sort: 'asc', order_by: 'created_at', per_page: '100' };
const link = (page: number) => ({
  link: `<${HOST}${P}/merge_requests/7/notes?order_by=created_at&page=${page}&per_page=100&sort=asc>; rel="next"`,
  'x-next-page': String(page),
});

describe('GitLab: find an MR', () => {
  it('by iid, mapped from the real response shape', async () => {
    api().get(`${P}/merge_requests/7`).reply(200, mr());
    const got = await forge().forge.getMergeRequest(PROJECT, 7);
    expect(got).toEqual({
      forge: 'gitlab',
      project: PROJECT,
      number: 7,
      state: 'open',
      title: 'test1',
      sourceBranch: 'stackswap/shop/op-1',
      targetBranch: 'main',
      headSha: HEAD,
      mergedSha: undefined,
      draft: false,
      fork: false,
      mergeable: 'yes',
      mergeStatus: 'mergeable',
      autoMergeEnabled: false,
      webUrl: `${HOST}/group/config/-/merge_requests/7`,
    });
  });

  it('merged by fast-forward: merge_commit_sha null, so the head is what landed', async () => {
    api()
      .get(`${P}/merge_requests/7`)
      .reply(200, mr({ state: 'merged', merge_commit_sha: null }));
    expect((await forge().forge.getMergeRequest(PROJECT, 7)).mergedSha).toBe(HEAD);
  });

  it('the open one for a source branch', async () => {
    api()
      .get(`${P}/merge_requests`)
      .query({ state: 'opened', source_branch: 'stackswap/shop/op-1', per_page: '100' })
      .reply(200, [mr()]);
    api().get(`${P}/merge_requests/7`).reply(200, mr());
    const got = await forge().forge.findOpenMergeRequest(PROJECT, {
      sourceBranch: 'stackswap/shop/op-1',
    });
    expect(got?.number).toBe(7);
  });

  it('none open: undefined', async () => {
    api()
      .get(`${P}/merge_requests`)
      .query({ state: 'opened', source_branch: 'x', target_branch: 'main', per_page: '100' })
      .reply(200, []);
    expect(
      await forge().forge.findOpenMergeRequest(PROJECT, {
        sourceBranch: 'x',
        targetBranch: 'main',
      }),
    ).toBeUndefined();
  });

  it('an unknown iid: ForgeError not-found', async () => {
    api().get(`${P}/merge_requests/99`).reply(404, { message: '404 Not found' });
    const e = await caught(forge().forge.getMergeRequest(PROJECT, 99));
    expect(e).toBeInstanceOf(ForgeError);
    expect(e).toMatchObject({ kind: 'not-found', code: 'not-found' });
  });
});

describe('GitLab: the sticky comment', () => {
  it('created when no note carries the marker, after reading every page', async () => {
    api()
      .get(`${P}/merge_requests/7/notes`)
      .query(NOTES_QUERY)
      .reply(200, [note(1, 'LGTM'), note(2, 'merged', { system: true })], link(2));
    api()
      .get(`${P}/merge_requests/7/notes`)
      .query({ ...NOTES_QUERY, page: '2' })
      .reply(200, [note(3, `> ${commentMarker(KEY)}\n> quoted by a human`)]);
    api()
      .post(`${P}/merge_requests/7/notes`, { body: `${commentMarker(KEY)}\nplan v1` })
      .reply(201, note(10, `${commentMarker(KEY)}\nplan v1`));
    const r = await forge().forge.syncComments(PROJECT, 7, KEY, ['plan v1']);
    expect(r).toEqual({ ids: ['10'], created: 1, updated: 0, unchanged: 0, deleted: 0 });
  });

  it('then edited in place when it is on a later page; never a second one', async () => {
    api()
      .get(`${P}/merge_requests/7/notes`)
      .query(NOTES_QUERY)
      .reply(200, [note(1, 'LGTM')], link(2));
    api()
      .get(`${P}/merge_requests/7/notes`)
      .query({ ...NOTES_QUERY, page: '2' })
      .reply(200, [note(10, `${commentMarker(KEY)}\nplan v1`)]);
    api()
      .put(`${P}/merge_requests/7/notes/10`, { body: `${commentMarker(KEY)}\nplan v2` })
      .reply(200, note(10, `${commentMarker(KEY)}\nplan v2`));
    const r = await forge().forge.syncComments(PROJECT, 7, KEY, ['plan v2']);
    expect(r).toEqual({ ids: ['10'], created: 0, updated: 1, unchanged: 0, deleted: 0 });
  });

  it('unchanged: no write at all', async () => {
    api()
      .get(`${P}/merge_requests/7/notes`)
      .query(NOTES_QUERY)
      .reply(200, [note(10, `${commentMarker(KEY)}\nplan v2`)]);
    const r = await forge().forge.syncComments(PROJECT, 7, KEY, ['plan v2']);
    expect(r).toMatchObject({ unchanged: 1, created: 0, updated: 0 });
  });

  it('a shorter split: part 1 edited, the leftover part 2 deleted', async () => {
    api()
      .get(`${P}/merge_requests/7/notes`)
      .query(NOTES_QUERY)
      .reply(200, [
        note(10, `${commentMarker(KEY)}\nold 1`),
        note(11, `${commentMarker(KEY, 2)}\nold 2`),
      ]);
    api().put(`${P}/merge_requests/7/notes/10`).reply(200, note(10, 'x'));
    api().delete(`${P}/merge_requests/7/notes/11`).reply(204);
    const r = await forge().forge.syncComments(PROJECT, 7, KEY, ['new']);
    expect(r).toMatchObject({ ids: ['10'], updated: 1, deleted: 1 });
  });

  it('a create that fails ambiguously (502) is not repeated blindly: the note it made is found', async () => {
    api().get(`${P}/merge_requests/7/notes`).query(NOTES_QUERY).reply(200, []);
    api().post(`${P}/merge_requests/7/notes`).reply(502, 'Bad Gateway');
    api()
      .get(`${P}/merge_requests/7/notes`)
      .query(NOTES_QUERY)
      .reply(200, [note(12, `${commentMarker(KEY)}\nplan`)]);
    const r = await forge().forge.syncComments(PROJECT, 7, KEY, ['plan']);
    expect(r.ids).toEqual(['12']);
  });
});

describe('GitLab: commit status', () => {
  it('POST /statuses/:sha with name and context stackswap/<stack>, description cut to 255', async () => {
    let sent: Record<string, unknown> = {};
    api()
      .post(`${P}/statuses/${HEAD}`, (body) => {
        sent = body;
        return true;
      })
      .reply(201, { id: 1, sha: HEAD, status: 'running', name: 'stackswap/shop' });
    await forge().forge.setCommitStatus(PROJECT, {
      sha: HEAD,
      context: 'stackswap/shop',
      state: 'running',
      description: 'x'.repeat(300),
      targetUrl: 'https://stackswap.example/v1/operations/op-1',
      ref: 'feature',
    });
    expect(sent).toMatchObject({
      state: 'running',
      name: 'stackswap/shop',
      context: 'stackswap/shop',
      target_url: 'https://stackswap.example/v1/operations/op-1',
      ref: 'feature',
    });
    expect([...(sent.description as string)]).toHaveLength(255);
    expect(sent.description).toMatch(/…$/);
  });

  it('the same state twice: GitLab\'s "Cannot transition status" is success', async () => {
    api()
      .post(`${P}/statuses/${HEAD}`)
      .reply(400, { message: 'Cannot transition status via :enqueue from :pending (Reasons: )' });
    await forge().forge.setCommitStatus(PROJECT, {
      sha: HEAD,
      context: 'stackswap/shop',
      state: 'pending',
      description: 'planning',
    });
  });
});

describe('GitLab: open an MR', () => {
  const input = {
    sourceBranch: 'stackswap/shop/op-1',
    targetBranch: 'main',
    title: 'stackswap: deploy shop',
    description: 'Operation op-1',
  };
  const list = () =>
    api().get(`${P}/merge_requests`).query({
      state: 'opened',
      source_branch: input.sourceBranch,
      target_branch: 'main',
      per_page: '100',
    });

  it('creates one when none is open', async () => {
    list().reply(200, []);
    api()
      .post(`${P}/merge_requests`, {
        source_branch: input.sourceBranch,
        target_branch: 'main',
        title: input.title,
        description: input.description,
        remove_source_branch: true,
      })
      .reply(201, mr());
    const r = await forge().forge.openMergeRequest(PROJECT, input);
    expect(r.created).toBe(true);
    expect(r.mergeRequest.number).toBe(7);
  });

  it('reuses the one already open for the branch, its title and description brought up to date', async () => {
    list().reply(200, [mr()]);
    api().get(`${P}/merge_requests/7`).reply(200, mr());
    api()
      .put(`${P}/merge_requests/7`, { title: input.title, description: input.description })
      .reply(200, mr());
    const r = await forge().forge.openMergeRequest(PROJECT, input);
    expect(r).toMatchObject({ created: false, mergeRequest: { number: 7 } });
  });

  it('409 "another open merge request already exists": a race, the other one is used', async () => {
    list().reply(200, []);
    api()
      .post(`${P}/merge_requests`)
      .reply(409, {
        message: ['Another open merge request already exists for this source branch: !7'],
      });
    list().reply(200, [mr()]);
    api().get(`${P}/merge_requests/7`).reply(200, mr());
    api()
      .put(`${P}/merge_requests/7`, { title: input.title, description: input.description })
      .reply(200, mr());
    const r = await forge().forge.openMergeRequest(PROJECT, input);
    expect(r).toMatchObject({ created: false, mergeRequest: { number: 7 } });
  });
});

describe('GitLab: merge', () => {
  it('pinned to the SHA', async () => {
    api()
      .put(`${P}/merge_requests/7/merge`, { sha: HEAD, should_remove_source_branch: true })
      .reply(
        200,
        mr({ state: 'merged', merge_commit_sha: 'feedfacefeedfacefeedfacefeedfacefeedface' }),
      );
    const r = await forge().forge.merge(PROJECT, 7, { sha: HEAD, removeSourceBranch: true });
    expect(r).toEqual({ outcome: 'merged', mergedSha: 'feedfacefeedfacefeedfacefeedfacefeedface' });
  });

  it('409 when the head moved: a conflict that says so', async () => {
    api().put(`${P}/merge_requests/7/merge`, { sha: HEAD }).reply(409, {
      message: 'SHA does not match HEAD of source branch: 1111111111111111111111111111111111111111',
    });
    const e = await caught(forge().forge.merge(PROJECT, 7, { sha: HEAD }));
    expect(e).toMatchObject({ kind: 'conflict', code: 'conflict' });
    expect((e as ForgeError).hint).toMatch(/no longer points at/);
  });

  it('406 right after creation is re-tried while GitLab is still checking', async () => {
    const { forge: f, clock } = forge();
    api().put(`${P}/merge_requests/7/merge`).reply(406, { message: 'Branch cannot be merged' });
    api()
      .get(`${P}/merge_requests/7`)
      .reply(200, mr({ detailed_merge_status: 'unchecked' }));
    api()
      .put(`${P}/merge_requests/7/merge`)
      .reply(200, mr({ state: 'merged', merge_commit_sha: null }));
    expect(await f.merge(PROJECT, 7, { sha: HEAD })).toEqual({
      outcome: 'merged',
      mergedSha: HEAD,
    });
    expect(clock.sleeps).toEqual([1000]);
  });

  it('auto-merge: auto_merge with the SHA', async () => {
    api()
      .put(`${P}/merge_requests/7/merge`, { sha: HEAD, auto_merge: true })
      .reply(
        200,
        mr({ merge_when_pipeline_succeeds: true, detailed_merge_status: 'ci_still_running' }),
      );
    expect(await forge().forge.enableAutoMerge(PROJECT, 7, { sha: HEAD })).toEqual({
      outcome: 'auto-merge-enabled',
    });
  });

  it('auto-merge before GitLab 17.11: 405, then merge_when_pipeline_succeeds', async () => {
    api()
      .put(`${P}/merge_requests/7/merge`, { sha: HEAD, auto_merge: true })
      .reply(405, { message: '405 Method Not Allowed' });
    api()
      .put(`${P}/merge_requests/7/merge`, { sha: HEAD, merge_when_pipeline_succeeds: true })
      .reply(200, mr({ merge_when_pipeline_succeeds: true }));
    expect(await forge().forge.enableAutoMerge(PROJECT, 7, { sha: HEAD })).toEqual({
      outcome: 'auto-merge-enabled',
    });
  });

  it('auto-merge on an MR with nothing to wait for merges it at once', async () => {
    api()
      .put(`${P}/merge_requests/7/merge`, { sha: HEAD, auto_merge: true })
      .reply(
        200,
        mr({ state: 'merged', merge_commit_sha: 'feedfacefeedfacefeedfacefeedfacefeedface' }),
      );
    expect(await forge().forge.enableAutoMerge(PROJECT, 7, { sha: HEAD })).toEqual({
      outcome: 'merged',
      mergedSha: 'feedfacefeedfacefeedfacefeedfacefeedface',
    });
  });
});

describe('GitLab: a merge whose answer was lost', () => {
  it('502 on PUT …/merge is not repeated: the MR is read back, and it did merge', async () => {
    api().put(`${P}/merge_requests/7/merge`).reply(502, 'Bad Gateway');
    api()
      .get(`${P}/merge_requests/7`)
      .reply(
        200,
        mr({ state: 'merged', merge_commit_sha: 'feedfacefeedfacefeedfacefeedfacefeedface' }),
      );
    expect(await forge().forge.merge(PROJECT, 7, { sha: HEAD })).toEqual({
      outcome: 'merged',
      mergedSha: 'feedfacefeedfacefeedfacefeedfacefeedface',
    });
  });

  it('and when it did not merge, the 502 is the answer', async () => {
    api().put(`${P}/merge_requests/7/merge`).reply(502, 'Bad Gateway');
    api().get(`${P}/merge_requests/7`).reply(200, mr());
    expect(await caught(forge().forge.merge(PROJECT, 7, { sha: HEAD }))).toMatchObject({
      kind: 'unavailable',
      status: 502,
    });
  });
});

describe('GitLab: changed files', () => {
  it('old and new paths of every diff, all pages', async () => {
    api()
      .get(`${P}/merge_requests/7/diffs`)
      .query({ per_page: '100' })
      .reply(
        200,
        [
          {
            old_path: 'releases/shop.yaml',
            new_path: 'releases/shop.yaml',
            diff: '@@ -1 +1 @@',
            new_file: false,
            renamed_file: false,
            deleted_file: false,
          },
        ],
        {
          link: `<${HOST}${P}/merge_requests/7/diffs?page=2&per_page=100>; rel="next"`,
        },
      );
    api()
      .get(`${P}/merge_requests/7/diffs`)
      .query({ per_page: '100', page: '2' })
      .reply(200, [
        {
          old_path: 'old.yaml',
          new_path: 'stackswap.yaml',
          diff: '',
          new_file: false,
          renamed_file: true,
          deleted_file: false,
        },
      ]);
    expect(await forge().forge.listChangedFiles(PROJECT, 7)).toEqual([
      'releases/shop.yaml',
      'old.yaml',
      'stackswap.yaml',
    ]);
  });
});

describe('GitLab: read a file at a ref', () => {
  it('decodes the base64 content', async () => {
    api()
      .get(`${P}/repository/files/releases%2Fshop.yaml`)
      .query({ ref: 'main' })
      .reply(200, {
        file_name: 'shop.yaml',
        file_path: 'releases/shop.yaml',
        size: 22,
        encoding: 'base64',
        content: Buffer.from('stack: shop\nversion: é\n').toString('base64'),
        ref: 'main',
        blob_id: '79f7bbd25901e8334750839545a9bd021f0e4c83',
        commit_id: 'd5a3ff139356ce33e37e73add446f16869741b50',
        last_commit_id: '570e7b2abdd848b95f2f578043fc23bd6f6fd24d',
      });
    expect(await forge().forge.readFile(PROJECT, 'releases/shop.yaml', 'main')).toBe(
      'stack: shop\nversion: é\n',
    );
  });

  it('absent at that ref: undefined', async () => {
    api()
      .get(`${P}/repository/files/releases%2Fnope.yaml`)
      .query({ ref: HEAD })
      .reply(404, { message: '404 File Not Found' });
    expect(await forge().forge.readFile(PROJECT, 'releases/nope.yaml', HEAD)).toBeUndefined();
  });
});

describe('GitLab: faults', () => {
  it('429 with Retry-After: waits what GitLab asks, then succeeds', async () => {
    const { forge: f, clock } = forge();
    api().get(`${P}/merge_requests/7`).reply(429, 'Retry later', { 'Retry-After': '3' });
    api().get(`${P}/merge_requests/7`).reply(200, mr());
    expect((await f.getMergeRequest(PROJECT, 7)).number).toBe(7);
    expect(clock.sleeps).toEqual([3000]);
  });

  it('429 with only RateLimit-Reset: waits until the reset', async () => {
    const { forge: f, clock } = forge();
    const reset = Math.floor(clock.t / 1000) + 5;
    api()
      .get(`${P}/merge_requests/7`)
      .reply(429, 'Retry later', { 'RateLimit-Reset': String(reset), 'RateLimit-Remaining': '0' });
    api().get(`${P}/merge_requests/7`).reply(200, mr());
    await f.getMergeRequest(PROJECT, 7);
    expect(clock.sleeps).toEqual([reset * 1000 - 1_700_000_000_000 + 1000]);
  });

  it('5xx then success: backoff, then the answer', async () => {
    const { forge: f, clock } = forge();
    api().get(`${P}/merge_requests/7`).reply(502, 'Bad Gateway');
    api().get(`${P}/merge_requests/7`).reply(503, 'Service Unavailable');
    api().get(`${P}/merge_requests/7`).reply(200, mr());
    await f.getMergeRequest(PROJECT, 7);
    expect(clock.sleeps).toEqual([500, 1000]);
  });

  it('5xx every time: gives up after the attempts, classified unavailable', async () => {
    const { forge: f } = forge({ maxAttempts: 3 });
    api()
      .get(`${P}/merge_requests/7`)
      .times(3)
      .reply(500, { message: '500 Internal Server Error' });
    const e = await caught(f.getMergeRequest(PROJECT, 7));
    expect(e).toMatchObject({ kind: 'unavailable', code: 'remote-unreachable', status: 500 });
    expect((e as ForgeError).hint).toMatch(/gave up after 3 attempts/);
  });

  it('a hang hits the per-call timeout', async () => {
    const { forge: f } = forge({ timeoutMs: 100, maxAttempts: 1 });
    api().get(`${P}/merge_requests/7`).delay(3_000).reply(200, mr());
    const e = await caught(f.getMergeRequest(PROJECT, 7));
    expect(e).toMatchObject({ kind: 'timeout', forge: 'gitlab' });
    expect((e as Error).message).toMatch(/did not answer GET .* within 100 ms/);
  });

  it('a token without the api scope: names the scope, not retried', async () => {
    api().put(`${P}/merge_requests/7/merge`).reply(
      403,
      {
        error: 'insufficient_scope',
        error_description:
          'The request requires higher privileges than provided by the access token.',
        scope: 'api',
      },
      {
        'WWW-Authenticate':
          'Bearer realm="", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", scope="api"',
      },
    );
    const e = await caught(forge().forge.merge(PROJECT, 7, { sha: HEAD }));
    expect(e).toMatchObject({ kind: 'forbidden', neededScope: 'api', code: 'forbidden' });
    expect((e as Error).message).toBe(
      'GitLab: the token lacks the scope `api` for PUT /projects/group%2Fconfig/merge_requests/7/merge (403 insufficient_scope)',
    );
    expect(JSON.stringify((e as ForgeError).toJSON())).not.toContain(TOKEN);
  });

  it('401: an auth error, once', async () => {
    api().get(`${P}/merge_requests/7`).reply(401, { message: '401 Unauthorized' });
    const e = await caught(forge().forge.getMergeRequest(PROJECT, 7));
    expect(e).toMatchObject({ kind: 'auth', code: 'auth', exitCode: 5 });
    expect((e as ForgeError).hint).toMatch(/STACKSWAP_GITLAB_TOKEN/);
  });
});
