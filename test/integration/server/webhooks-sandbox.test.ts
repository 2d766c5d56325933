/**
 * End to end on the sandbox (real git, real helm, the Argo CD stand-in, the gateway and its
 * per-colour backends), once per forge, with the local fake of the forge's API recording every
 * call and sending its real webhooks to `stackswap serve` over a socket:
 *
 * - an MR that changes the release plan is opened: the review comment and the commit status;
 * - a push to the MR edits that same comment;
 * - the merge: a deploy into the preview colour synced by Argo CD at the pushed commit, then
 *   (promotion.autoSwap) a swap with its verification (the pre-swap check through the
 *   gateway), with the MR's comment edited at each step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { createService, type Service } from '../../../src/server/service.ts';
import { git } from '../../helpers/config-repo.ts';
import { FakeGithub, FakeGitlab } from '../../helpers/fake-forge/index.ts';
import { liveWeights } from '../../helpers/sandbox-state.ts';
import { bearer, LogCapture, tempDir, sandboxServiceEnv } from './helpers.ts';
import {
  FORGE_TOKEN,
  Forwarder,
  GITHUB_SECRET,
  GITLAB_SECRET,
  PROJECT,
  pushBranch,
  squashMerge,
} from './webhooks-helpers.ts';

let sandbox: Sandbox;
let service: Service;
let gitlab: FakeGitlab;
let github: FakeGithub;
const forward = new Forwarder();
const logs = new LogCapture();

const plan = (frontend: string, backend = frontend) =>
  `stack: my-app\ncomponents:\n  my-frontend: '${frontend}'\n  my-backend: '${backend}'\n`;

beforeAll(async () => {
  sandbox = await startSandbox({
    verification: true,
    traffic: true,
    argocd: { progressingMs: 150, pollIntervalMs: 0, initialSync: 'all' },
  });
  await sandbox.argocd.idle();
  // The stack promotes on its own after a merge, verified by its pre-swap check through the
  // gateway (no Prometheus here: the metric analysis and weighted steps are left out).
  const config = parse(git(sandbox.repoPath, 'show', 'main:stackswap.yaml')) as any;
  const stack = config.stacks['my-app'];
  stack.promotion = { autoSwap: true };
  delete stack.verification.analysis;
  delete stack.verification.steps;
  delete stack.verification.postSwap;
  stack.verification.preSwap = { checks: ['deep-health'] };
  pushBranch(sandbox.repoPath, 'main', { 'stackswap.yaml': stringify(config) });

  gitlab = await new FakeGitlab({
    tokens: [FORGE_TOKEN],
    gitDir: sandbox.repoPath,
    project: PROJECT,
    webhook: { secret: GITLAB_SECRET, callback: forward.callback },
  }).start();
  github = await new FakeGithub({
    tokens: [FORGE_TOKEN],
    gitDir: sandbox.repoPath,
    repo: PROJECT,
    webhook: { secret: GITHUB_SECRET, callback: forward.callback },
  }).start();
  service = await createService({
    env: sandboxServiceEnv(sandbox.env, {
      STACKSWAP_GITLAB_URL: gitlab.url,
      STACKSWAP_GITLAB_TOKEN: FORGE_TOKEN,
      STACKSWAP_GITLAB_WEBHOOK_SECRET: GITLAB_SECRET,
      STACKSWAP_GITHUB_API_URL: github.apiUrl,
      STACKSWAP_GITHUB_TOKEN: FORGE_TOKEN,
      STACKSWAP_GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      STACKSWAP_FORGE_PROJECT: PROJECT,
      STACKSWAP_PUBLIC_URL: 'https://stackswap.example.com',
    }),
    dataDir: tempDir('data'),
    logDestination: logs,
    timeoutSeconds: 120,
  });
  forward.base = await service.app.listen({ port: 0, host: '127.0.0.1' });
}, 180_000);

afterAll(async () => {
  await service?.shutdown({ graceMs: 5_000, settleMs: 1_000 });
  await gitlab?.stop();
  await github?.stop();
  await sandbox?.close();
});

async function settle(): Promise<void> {
  await gitlab.idle();
  await github.idle();
  await service.webhooks.idle();
}

async function operations(): Promise<Array<Record<string, any>>> {
  const res = await service.app.inject({
    url: '/v1/operations?limit=100',
    headers: bearer('read'),
  });
  return (res.json() as { operations: Array<Record<string, any>> }).operations;
}

const main = () => git(sandbox.repoPath, 'rev-parse', 'main');
const live = () =>
  /live: (blue|green)/.exec(git(sandbox.repoPath, 'show', 'main:apps/ingress/values.yaml'))![1];

describe.each([
  ['gitlab', '1.1.0'],
  ['github', '1.2.0'],
] as const)('%s: a release plan through a merge request', (forge, firstVersion) => {
  let number: number;
  let version: string = firstVersion;

  let branch: string;
  let commentId: string;
  const comments = () =>
    forge === 'gitlab'
      ? gitlab.notesOf(number).map((n) => ({ id: String(n.id), body: n.body }))
      : github.commentsOf(number).map((c) => ({ id: String(c.id), body: c.body }));
  const statuses = (sha: string) =>
    forge === 'gitlab'
      ? gitlab.statusesOf(sha, 'stackswap/my-app').map((s) => [s.status, s.targetUrl])
      : github.statusesOf(sha, 'stackswap/my-app').map((s) => [s.state, s.targetUrl]);
  const reviews = async () => (await operations()).filter((o) => o.kind === 'review');

  it('an opened MR: one comment with the values and manifest diff, pending then success', async () => {
    branch = `release-${version}`;
    const head = pushBranch(sandbox.repoPath, branch, { 'releases/my-app.yaml': plan(version) });
    const before = (await reviews()).length;
    number =
      forge === 'gitlab'
        ? (await gitlab.addMergeRequest({ sourceBranch: branch })).iid
        : (await github.addPullRequest({ head: branch })).number;
    await settle();
    const [review] = await reviews();
    expect((await reviews()).length).toBe(before + 1);
    expect(review).toMatchObject({ kind: 'review', stack: 'my-app', state: 'succeeded' });
    const link = `https://stackswap.example.com/v1/operations/${review!.id}`;
    const plans = comments().filter((c) => c.body.startsWith('<!-- stackswap:plan:my-app -->'));
    expect(plans).toHaveLength(1);
    commentId = plans[0]!.id;
    expect(plans[0]!.body).toContain('### Values');
    expect(plans[0]!.body).toContain(`+    tag: '${version}'`);
    expect(plans[0]!.body).toContain('### Rendered manifests');
    expect(plans[0]!.body).toMatch(
      new RegExp(`\\+\\s+image: .*my-frontend:${version.replace(/\./g, '\\.')}`),
    );
    expect(statuses(head)).toEqual([
      ['pending', link],
      ['success', link],
    ]);
  }, 180_000);

  it('a push to the MR edits that same comment', async () => {
    const previous = version;
    const next = version.replace(/\.0$/, '.1');
    const head = pushBranch(
      sandbox.repoPath,
      branch,
      {
        'releases/my-app.yaml': plan(next),
      },
      branch,
    );
    // What the branch holds now, whatever the assertions below say (the merge test uses it).
    version = next;
    if (forge === 'gitlab') await gitlab.pushToMergeRequest(number);
    else await github.pushToPullRequest(number);
    await settle();
    const plans = comments().filter((c) => c.body.startsWith('<!-- stackswap:plan:my-app -->'));
    expect(plans.map((c) => c.id)).toEqual([commentId]);
    expect(plans[0]!.body).toContain(`+    tag: '${next}'`);
    expect(plans[0]!.body).not.toContain(`+    tag: '${previous}'`);
    expect(statuses(head).map(([state]) => state)).toEqual(['pending', 'success']);
  }, 180_000);

  it('the merge deploys into the preview colour, then swaps with verification; the MR is told at each step', async () => {
    const wasLive = live();
    const preview = wasLive === 'blue' ? 'green' : 'blue';
    const before = (await operations()).filter((o) => o.kind !== 'review').length;

    await squashMerge(
      forge === 'gitlab' ? { gitlab: gitlab.apiUrl } : { github: github.apiUrl },
      number,
    );
    await settle();

    const ops = (await operations()).filter((o) => o.kind !== 'review');
    expect(ops.length).toBe(before + 2);
    const [swap, deploy] = ops;
    expect(deploy).toMatchObject({ kind: 'deploy', stack: 'my-app', state: 'succeeded' });
    expect(swap).toMatchObject({ kind: 'swap', stack: 'my-app', state: 'succeeded' });
    expect(deploy!.requestedBy).toBe(
      forge === 'gitlab' ? `gitlab:MR !${number}` : `github:PR #${number}`,
    );
    // The deploy: the merged plan in the preview colour, synced at its commit.
    expect(deploy!.result.preview).toBe(preview);
    expect(
      git(sandbox.repoPath, 'show', `${deploy!.result.sha}:apps/my-app/values-${preview}.yaml`),
    ).toContain(version);
    expect(sandbox.argocd.app(`my-app-${preview}`)?.status?.sync?.revision).toBe(
      deploy!.result.sha,
    );
    // The swap: verified (its pre-swap check passed), then the traffic moved.
    expect(JSON.stringify(swap!.result.details)).toContain('deep-health');
    expect(live()).toBe(preview);
    expect(liveWeights(sandbox)).toEqual(
      preview === 'green'
        ? { 'my-app-blue': 0, 'my-app-green': 100 }
        : { 'my-app-blue': 100, 'my-app-green': 0 },
    );
    expect(swap!.result.sha).toBe(main());

    // One comment, created once and edited at each step, ending with both results.
    const bodies =
      forge === 'gitlab'
        ? gitlab.notesOf(number).map((n) => n.body)
        : github.commentsOf(number).map((c) => c.body);
    const progress = bodies.filter((b) => b.includes('<!-- stackswap:merge:my-app -->'));
    expect(progress).toHaveLength(1);
    expect(progress[0]).toContain('Deploy into the preview colour**: ✅ done');
    expect(progress[0]).toContain('Swap with verification (promotion.autoSwap)**: ✅ done');
    expect(progress[0]).toContain(`/v1/operations/${swap!.id}`);
    const edits =
      forge === 'gitlab'
        ? gitlab.callsTo('PUT', new RegExp(`/merge_requests/${number}/notes/`))
        : github.callsTo('PATCH', /\/issues\/comments\//);
    const texts = edits.map((c) => String((c.body as { body?: string }).body));
    // The MR was told at each step: the deploy running, the deploy done, the swap running.
    expect(texts.some((t) => t.includes('Deploy into the preview colour**: 🔄 running'))).toBe(
      true,
    );
    expect(
      texts.some((t) => t.includes('Swap with verification (promotion.autoSwap)**: 🔄 running')),
    ).toBe(true);
  }, 180_000);
});
