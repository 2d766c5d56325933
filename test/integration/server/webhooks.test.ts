/**
 * The webhook routes of `stackswap serve` on a git-only config repo (operations finish in a
 * blink), with the local fakes of the GitLab and GitHub APIs recording every call:
 *
 * - the refusals: 401 for a missing/wrong token or signature (same and different length, the
 *   SHA-1 header only, no secret configured) with nothing run; 400 for a body that is not
 *   JSON, an event stackswap does not take, a body of another event than its header says;
 * - the real payloads (test/fixtures/webhooks) of other projects: 202 ignored with the reason;
 * - a merge deploys into the preview colour, then (promotion.autoSwap) swaps, with the MR's
 *   one comment edited at each step; a replayed delivery does nothing new;
 * - an MR closed without merging and an MR from a fork: ignored, nothing runs;
 * - two MRs merged in quick succession: both deployed, in order;
 * - the forge failing: a 5xx past the retries releases the delivery (a redelivery runs it), a
 *   429 with Retry-After is waited out, a hanging comment call does not hold the deploy.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configRepoFiles, git, seedBareRepo } from '../../helpers/config-repo.ts';
import { FakeGithub, FakeGitlab } from '../../helpers/fake-forge/index.ts';
import { bearer, gitOnlyService, type GitOnlyService } from './helpers.ts';
import {
  FORGE_TOKEN,
  Forwarder,
  GITHUB_SECRET,
  GITLAB_SECRET,
  PROJECT,
  githubSignature,
  planFile,
  pushBranch,
  squashMerge,
} from './webhooks-helpers.ts';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/webhooks');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));

let svc: GitOnlyService;
let base: string;
let bare: string;
let gitlab: FakeGitlab;
let github: FakeGithub;
const forward = new Forwarder();

beforeAll(async () => {
  const files = configRepoFiles([{ name: 'shop' }, { name: 'cart' }]);
  files['stackswap.yaml'] = files['stackswap.yaml']!.replace(
    '  shop:\n',
    '  shop:\n    promotion:\n      autoSwap: true\n',
  );
  bare = seedBareRepo(files).bare;
  gitlab = await new FakeGitlab({
    tokens: [FORGE_TOKEN],
    gitDir: bare,
    project: PROJECT,
    webhook: { secret: GITLAB_SECRET, callback: forward.callback },
  }).start();
  github = await new FakeGithub({
    tokens: [FORGE_TOKEN],
    gitDir: bare,
    repo: PROJECT,
    webhook: { secret: GITHUB_SECRET, callback: forward.callback },
  }).start();
  svc = await gitOnlyService({
    bare,
    env: {
      STACKSWAP_GITLAB_URL: gitlab.url,
      STACKSWAP_GITLAB_TOKEN: FORGE_TOKEN,
      STACKSWAP_GITLAB_WEBHOOK_SECRET: GITLAB_SECRET,
      STACKSWAP_GITHUB_API_URL: github.apiUrl,
      STACKSWAP_GITHUB_TOKEN: FORGE_TOKEN,
      STACKSWAP_GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      STACKSWAP_FORGE_PROJECT: PROJECT,
      STACKSWAP_PUBLIC_URL: 'https://stackswap.example.com',
    },
    service: {
      forgeHttp: {
        policy: {
          maxAttempts: 3,
          timeoutMs: 1_000,
          baseDelayMs: 10,
          maxDelayMs: 50,
          maxTotalMs: 10_000,
        },
      },
    },
  });
  base = await svc.app.listen({ port: 0, host: '127.0.0.1' });
  forward.base = base;
});
afterAll(async () => {
  await svc?.close();
  await gitlab?.stop();
  await github?.stop();
});

/** Every delivery sent and all the work it started done. */
async function settle(): Promise<void> {
  await gitlab.idle();
  await github.idle();
  await svc.service.webhooks.idle();
}

/** Deploys and swaps, newest first (reviews are the e2e tests' subject). */
async function operations(): Promise<Array<Record<string, any>>> {
  const res = await svc.app.inject({ url: '/v1/operations?limit=100', headers: bearer('read') });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { operations: Array<Record<string, any>> }).operations.filter(
    (o) => o.kind !== 'review',
  );
}

const post = (forge: 'gitlab' | 'github', body: string | Buffer, headers: Record<string, string>) =>
  svc.app.inject({
    method: 'POST',
    url: `/v1/webhooks/${forge}`,
    headers: { 'content-type': 'application/json', ...headers },
    payload: body,
  });

const gitlabHeaders = (event = 'Merge Request Hook', id = crypto.randomUUID()) => ({
  'x-gitlab-event': event,
  'x-gitlab-token': GITLAB_SECRET,
  'x-gitlab-event-uuid': id,
});
const githubHeaders = (
  body: string | Buffer,
  event = 'pull_request',
  id = crypto.randomUUID(),
) => ({
  'x-github-event': event,
  'x-github-delivery': id,
  'x-hub-signature-256': githubSignature(body.toString()),
});

describe('refusals: nothing runs', () => {
  it('GitLab: a missing, wrong (same and other length) token is 401', async () => {
    const before = (await operations()).length;
    const body = fixture('gitlab-merge-request.merge.json');
    const calls = gitlab.calls.length;
    for (const token of [undefined, 'x'.repeat(GITLAB_SECRET.length), 'short', '']) {
      const headers: Record<string, string> = { ...gitlabHeaders() };
      if (token === undefined) delete (headers as Record<string, string>)['x-gitlab-token'];
      else headers['x-gitlab-token'] = token;
      const res = await post('gitlab', body, headers);
      expect(res.statusCode, String(token)).toBe(401);
      expect(res.json().error.code).toBe('unauthorized');
    }
    await settle();
    expect((await operations()).length).toBe(before);
    expect(gitlab.calls.length).toBe(calls);
    expect(svc.logs.text).not.toContain(GITLAB_SECRET);
  });

  it('GitHub: a bad signature, no sha256= prefix, the SHA-1 header only, a signature over re-serialised JSON: 401', async () => {
    const raw = fixture('github-pull_request.closed.json');
    const reserialised = JSON.stringify(JSON.parse(raw.toString()));
    expect(reserialised).not.toBe(raw.toString());
    const cases: Record<string, string>[] = [
      { 'x-hub-signature-256': githubSignature(raw.toString(), 'another secret') },
      { 'x-hub-signature-256': githubSignature(raw.toString()).slice('sha256='.length) },
      { 'x-hub-signature': 'sha1=0123456789abcdef0123456789abcdef01234567' },
      { 'x-hub-signature-256': githubSignature(reserialised) },
    ];
    for (const sig of cases) {
      const headers: Record<string, string> = { ...githubHeaders(raw) };
      delete headers['x-hub-signature-256'];
      const res = await post('github', raw, { ...headers, ...sig });
      expect(res.statusCode, JSON.stringify(sig)).toBe(401);
    }
  });

  it('not JSON, an event stackswap does not take, a body of another event: 400 naming it', async () => {
    const notJson = await post('gitlab', 'this is not json', gitlabHeaders());
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error.code).toBe('webhook-not-json');

    const note = await post('gitlab', '{"object_kind":"note"}', gitlabHeaders('Note Hook'));
    expect(note.statusCode).toBe(400);
    expect(note.json().error).toMatchObject({
      code: 'webhook-event-unsupported',
      event: 'Note Hook',
    });
    expect(note.json().error.message).toContain('Merge request events');

    const wrong = await post('gitlab', fixture('gitlab-push.json'), gitlabHeaders());
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.code).toBe('webhook-wrong-event');
    expect(wrong.json().error.message).toContain('object_kind');

    const issues = '{"action":"opened","issue":{}}';
    const gh = await post('github', issues, githubHeaders(issues, 'issues'));
    expect(gh.statusCode).toBe(400);
    expect(gh.json().error.code).toBe('webhook-event-unsupported');

    const noEvent = await post('github', issues, {
      ...githubHeaders(issues),
      'x-github-event': '',
    });
    expect(noEvent.statusCode).toBe(400);

    const noId: Record<string, string> = gitlabHeaders();
    delete noId['x-gitlab-event-uuid'];
    const merge = fixture('gitlab-merge-request.merge.json');
    const missing = await post('gitlab', merge, noId);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.code).toBe('webhook-delivery-id-missing');
  });

  it('GitHub ping: 200 pong; the real payloads of other projects: 202 ignored with the reason', async () => {
    const ping = '{"zen":"Keep it logically awesome.","hook_id":1}';
    const pong = await post('github', ping, githubHeaders(ping, 'ping'));
    expect(pong.statusCode).toBe(200);
    expect(pong.json()).toEqual({ status: 'pong' });

    const opened = fixture('github-pull_request.opened.json');
    const res = await post('github', opened, githubHeaders(opened));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({
      status: 'ignored',
      reason: expect.stringContaining(`this service watches ${PROJECT}`),
    });
    const gl = await post('gitlab', fixture('gitlab-merge-request.open.json'), gitlabHeaders());
    expect(gl.statusCode).toBe(202);
    expect(gl.json().status).toBe('ignored');
    expect(svc.logs.text).toContain('webhook ignored');
  });

  it('a body over the limit (5 MiB) is 413 without being read whole', async () => {
    const big = Buffer.alloc(6 * 1024 * 1024, 0x20);
    const res = await post('gitlab', big, gitlabHeaders());
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload-too-large');
  });

  it("GitHub's form encoding (payload=…) is read, signed over the form body", async () => {
    const json = fixture('github-pull_request.closed-unmerged.json').toString();
    const form = `payload=${encodeURIComponent(json)}`;
    const res = await post('github', form, {
      ...githubHeaders(form),
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.statusCode).toBe(202);
    expect(res.json().status).toBe('ignored');
  });
});

describe('a merge deploys, then swaps with promotion.autoSwap (GitLab)', () => {
  it('deploy into the preview, then the swap; the MR told in one comment edited at each step', async () => {
    const head = pushBranch(bare, 'bump-shop', { 'releases/shop.yaml': planFile('shop', '2.0.0') });
    const mr = await gitlab.addMergeRequest({ sourceBranch: 'bump-shop' });
    await settle();
    expect(mr.sha).toBe(head);
    const before = (await operations()).length;
    await squashMerge({ gitlab: gitlab.apiUrl }, mr.iid);
    await settle();

    const ops = (await operations()).slice(0, (await operations()).length - before).reverse();
    expect(ops.map((o) => [o.kind, o.stack, o.state])).toEqual([
      ['deploy', 'shop', 'succeeded'],
      ['swap', 'shop', 'succeeded'],
    ]);
    expect(ops[0]!.requestedBy).toBe(`gitlab:MR !${mr.iid}`);
    // The deploy put the merged plan into green (the preview), then the swap made it live.
    expect(git(bare, 'show', 'main:apps/shop/values-green.yaml')).toContain('tag: "2.0.0"');
    expect(git(bare, 'show', 'main:apps/ingress/values.yaml')).toMatch(/shopLive: green/);
    const subjects = git(bare, 'log', '--format=%s', '-3', 'main').split('\n');
    expect(subjects[0]).toMatch(/^swap shop/);
    expect(subjects[1]).toMatch(/^deploy shop to green/);

    const notes = gitlab.notesOf(mr.iid).filter((n) => n.body.includes('stackswap:merge:shop'));
    expect(notes).toHaveLength(1);
    expect(notes[0]!.body).toContain('Deploy into the preview colour**: ✅ done');
    expect(notes[0]!.body).toContain('Swap with verification (promotion.autoSwap)**: ✅ done');
    expect(notes[0]!.body).toContain(`https://stackswap.example.com/v1/operations/${ops[0]!.id}`);
    // Created once, then edited (queued, running, steps, result): never a second note.
    expect(gitlab.callsTo('POST', /\/notes$/).length).toBeGreaterThanOrEqual(1);
    const creates = gitlab
      .callsTo('POST', new RegExp(`/merge_requests/${mr.iid}/notes$`))
      .filter((c) => String((c.body as { body?: string }).body).includes('stackswap:merge:shop'));
    expect(creates).toHaveLength(1);
    expect(
      gitlab.callsTo('PUT', new RegExp(`/merge_requests/${mr.iid}/notes/`)).length,
    ).toBeGreaterThan(1);

    // The same merge delivery again: 200 duplicate, nothing new.
    const delivery = gitlab.deliveries.find(
      (d) => d.event === 'Merge Request Hook' && d.body.includes('"action":"merge"'),
    )!;
    const again = await post('gitlab', delivery.body, delivery.headers);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ status: 'duplicate' });
    await settle();
    expect((await operations()).length).toBe(before + 2);
  });

  it('a stack without autoSwap: the deploy only, and the comment says how to swap', async () => {
    pushBranch(bare, 'bump-cart', { 'releases/cart.yaml': planFile('cart', '3.0.0') });
    const mr = await gitlab.addMergeRequest({ sourceBranch: 'bump-cart' });
    await settle();
    const before = (await operations()).length;
    await squashMerge({ gitlab: gitlab.apiUrl }, mr.iid);
    await settle();
    const ops = await operations();
    expect(ops.length).toBe(before + 1);
    expect(ops[0]).toMatchObject({ kind: 'deploy', stack: 'cart', state: 'succeeded' });
    const note = gitlab.notesOf(mr.iid).find((n) => n.body.includes('stackswap:merge:cart'))!;
    expect(note.body).toContain('`promotion.autoSwap` is off for cart');
  });
});

describe('nothing deploys', () => {
  it('an MR closed without merging, a fork, another target branch, files stackswap does not own', async () => {
    const before = (await operations()).length;
    pushBranch(bare, 'closed-one', { 'releases/cart.yaml': planFile('cart', '9.9.9') });
    const closed = await gitlab.addMergeRequest({ sourceBranch: 'closed-one' });
    gitlab.closeMergeRequest(closed.iid);
    pushBranch(bare, 'from-fork', { 'releases/cart.yaml': planFile('cart', '6.6.6') });
    await github.addPullRequest({ head: 'from-fork', fork: true });
    pushBranch(bare, 'to-release', { 'releases/cart.yaml': planFile('cart', '5.5.5') });
    await gitlab.addMergeRequest({ sourceBranch: 'to-release', targetBranch: 'release' });
    pushBranch(bare, 'docs', { 'README.md': 'hello\n' });
    const docs = await gitlab.addMergeRequest({ sourceBranch: 'docs' });
    await settle();
    await squashMerge({ gitlab: gitlab.apiUrl }, docs.iid);
    await settle();
    expect((await operations()).length).toBe(before);
    const answers = forward.answers
      .slice(-7)
      .map((a) => (a.body as { reason?: string }).reason ?? '');
    expect(answers.join('\n')).toContain('closed without merging');
    expect(answers.join('\n')).toContain('comes from a fork');
    expect(answers.join('\n')).toContain('targets release, not main');
    expect(svc.logs.text).toContain('touches no file stackswap owns');
  });
});

describe('two MRs merged in quick succession for one stack (GitHub)', () => {
  it('both are deployed, in merge order; none is lost', async () => {
    pushBranch(bare, 'cart-a', { 'releases/cart.yaml': planFile('cart', '4.0.0') });
    const a = await github.addPullRequest({ head: 'cart-a' });
    await settle();
    const before = (await operations()).length;
    await squashMerge({ github: github.apiUrl }, a.number);
    // The second branch starts from the first merge, as a rebase on main would.
    pushBranch(bare, 'cart-b', { 'releases/cart.yaml': planFile('cart', '5.0.0') });
    const b = await github.addPullRequest({ head: 'cart-b' });
    await squashMerge({ github: github.apiUrl }, b.number);
    await settle();
    const ops = (await operations()).slice(0, 2).reverse();
    expect((await operations()).length).toBe(before + 2);
    expect(ops.map((o) => [o.kind, o.stack, o.requestedBy, o.state])).toEqual([
      ['deploy', 'cart', `github:PR #${a.number}`, 'succeeded'],
      ['deploy', 'cart', `github:PR #${b.number}`, 'succeeded'],
    ]);
    expect(git(bare, 'show', 'main:apps/cart/values-green.yaml')).toContain('tag: "5.0.0"');
    for (const n of [a.number, b.number]) {
      const comments = github.commentsOf(n).filter((c) => c.body.includes('stackswap:merge:cart'));
      expect(comments).toHaveLength(1);
      expect(comments[0]!.body).toContain('✅ done');
    }
  });
});

describe('a rejected release (reverted before) is not deployed by a merge', () => {
  it('the deploy is refused (release-rejected), nothing swaps, and the MR says why', async () => {
    const rejected = `stack: shop\nrejected:\n  - versions: { web: 6.6.6, api: 6.6.6 }\n    at: ${'a'.repeat(40)}\n    operation: revert\n    by: test\n    reason: it broke checkout\n    date: 2026-01-01T00:00:00Z\n`;
    pushBranch(bare, 'main', { '.stackswap/rejected/shop.yaml': rejected });
    pushBranch(bare, 'shop-bad', { 'releases/shop.yaml': planFile('shop', '6.6.6') });
    const mr = await gitlab.addMergeRequest({ sourceBranch: 'shop-bad' });
    await settle();
    const before = (await operations()).length;
    const head = git(bare, 'rev-parse', 'main');
    await squashMerge({ gitlab: gitlab.apiUrl }, mr.iid);
    await settle();
    const ops = await operations();
    expect(ops.length).toBe(before + 1);
    expect(ops[0]).toMatchObject({ kind: 'deploy', stack: 'shop', state: 'failed' });
    expect(ops[0]!.error.code).toBe('release-rejected');
    // Only the merge itself landed: no deploy commit, no swap.
    expect(git(bare, 'rev-list', '--count', `${head}..main`)).toBe('1');
    const note = gitlab.notesOf(mr.iid).find((n) => n.body.includes('stackswap:merge:shop'))!;
    expect(note.body).toContain('Deploy into the preview colour**: ❌ failed');
    expect(note.body).toContain('release-rejected');
    expect(note.body).not.toContain('Swap with verification');
  });
});

describe('the forge failing', () => {
  it('5xx past the retries: the delivery is released, and its redelivery runs it', async () => {
    pushBranch(bare, 'cart-c', { 'releases/cart.yaml': planFile('cart', '7.0.0') });
    const mr = await gitlab.addMergeRequest({ sourceBranch: 'cart-c' });
    await settle();
    const before = (await operations()).length;
    gitlab.fail({ method: 'GET', path: /\/diffs$/, response: { status: 502 }, times: 3 });
    await squashMerge({ gitlab: gitlab.apiUrl }, mr.iid);
    await settle();
    expect((await operations()).length).toBe(before);
    expect(svc.logs.text).toContain('did not list the MR');
    const delivery = gitlab.deliveries.filter((d) => d.body.includes('"action":"merge"')).at(-1)!;
    const again = await post('gitlab', delivery.body, delivery.headers);
    expect(again.statusCode).toBe(202);
    expect(again.json().status).toBe('accepted');
    await settle();
    expect((await operations())[0]).toMatchObject({
      kind: 'deploy',
      stack: 'cart',
      state: 'succeeded',
    });
  });

  it('429 with Retry-After on the comment is waited out; a hanging comment call does not hold the deploy', async () => {
    pushBranch(bare, 'cart-d', { 'releases/cart.yaml': planFile('cart', '8.0.0') });
    const mr = await github.addPullRequest({ head: 'cart-d' });
    await settle();
    github.fail({
      method: 'POST',
      path: /\/issues\/\d+\/comments$/,
      response: { status: 429, headers: { 'retry-after': '1' }, body: { message: 'rate limited' } },
      times: 1,
    });
    github.fail({ method: 'PATCH', path: /\/issues\/comments\//, response: 'hang', times: 1 });
    const before = (await operations()).length;
    await squashMerge({ github: github.apiUrl }, mr.number);
    await settle();
    expect((await operations()).length).toBe(before + 1);
    expect((await operations())[0]).toMatchObject({ stack: 'cart', state: 'succeeded' });
    const comments = github
      .commentsOf(mr.number)
      .filter((c) => c.body.includes('stackswap:merge:cart'));
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('✅ done');
    expect(github.callsTo('POST', /\/issues\/\d+\/comments$/).some((c) => c.status === 429)).toBe(
      true,
    );
    // The hung edit was given up (the per-call timeout), and a later edit carried the state.
    const edits = github.callsTo('PATCH', /\/issues\/comments\//);
    expect(edits.some((c) => c.status !== 200)).toBe(true);
    expect(edits.at(-1)!.status).toBe(200);
  });
});

describe('a GitLab fast-forward merge (merge_commit_sha null)', () => {
  it('deploys the branch head and says the merge was a fast-forward', async () => {
    const { bare: ffBare } = seedBareRepo(configRepoFiles([{ name: 'cart' }]));
    // No git in the fake: the MR's files and head are what the test says.
    const ff = await new FakeGitlab({
      tokens: [FORGE_TOKEN],
      project: PROJECT,
      mergeMethod: 'ff',
      webhook: { secret: GITLAB_SECRET, callback: (d) => ffForward.callback(d) },
    }).start();
    const ffForward = new Forwarder();
    const ffSvc = await gitOnlyService({
      bare: ffBare,
      env: {
        STACKSWAP_GITLAB_URL: ff.url,
        STACKSWAP_GITLAB_TOKEN: FORGE_TOKEN,
        STACKSWAP_GITLAB_WEBHOOK_SECRET: GITLAB_SECRET,
        STACKSWAP_FORGE_PROJECT: PROJECT,
      },
    });
    try {
      ffForward.base = await ffSvc.app.listen({ port: 0, host: '127.0.0.1' });
      // The fast-forward: the MR head becomes the branch head.
      const head = pushBranch(ffBare, 'main', { 'releases/cart.yaml': planFile('cart', '9.1.0') });
      const mr = await ff.addMergeRequest({
        sourceBranch: 'ff-bump',
        headSha: head,
        changedFiles: ['releases/cart.yaml'],
      });
      await ff.mergeByHand(mr.iid);
      await ff.idle();
      await ffSvc.service.webhooks.idle();
      const merge = ff.deliveries.find((d) => d.body.includes('"action":"merge"'))!;
      expect(JSON.parse(merge.body).object_attributes.merge_commit_sha).toBeNull();
      const res = await ffSvc.app.inject({ url: '/v1/operations', headers: bearer('read') });
      const ops = (res.json() as { operations: Array<Record<string, any>> }).operations.filter(
        (o) => o.kind === 'deploy',
      );
      expect(ops).toHaveLength(1);
      expect(ops[0]).toMatchObject({ stack: 'cart', state: 'succeeded' });
      expect(git(ffBare, 'show', 'main:apps/cart/values-green.yaml')).toContain('9.1.0');
      const note = ff.notesOf(mr.iid).find((n) => n.body.includes('stackswap:merge:cart'))!;
      expect(note.body).toContain(`(\`${head.slice(0, 12)}\` (fast-forward))`);
    } finally {
      await ffSvc.close();
      await ff.stop();
    }
  });
});
