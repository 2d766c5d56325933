/**
 * The merge-request review end to end on real parts: the project's example config repo in a
 * bare repo, a ConfigRepo cache clone, the fake GitLab and GitHub (test/helpers/fake-forge)
 * serving the MR and its head ref from that repo, real `helm template`.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { commentMarker, FORGE_LIMITS } from '../../../src/forges/forge.ts';
import { codePointLength } from '../../../src/forges/comment.ts';
import { GithubForge } from '../../../src/forges/github.ts';
import { GitlabForge } from '../../../src/forges/gitlab.ts';
import { ConfigRepo } from '../../../src/gitops/git/repo.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import {
  publishReview,
  reviewMergeRequest,
  type PlanReview,
} from '../../../src/core/review/index.ts';
import { projectRoot } from '../../helpers/cli.ts';
import { FakeGithub, FakeGitlab } from '../../helpers/fake-forge/index.ts';
import {
  cleanupFixtures,
  createBareRepo,
  git,
  OtherWriter,
  type BareRepo,
} from '../../helpers/git-fixtures.ts';

const EXAMPLE = ['stackswap.yaml', 'charts', 'apps', 'argo', 'releases'];
const OP_URL = 'https://stackswap.example.com/v1/operations/op-1';
const stops: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});
afterAll(() => cleanupFixtures());

function exampleFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (rel: string) => {
    const full = path.join(projectRoot, rel);
    if (statSync(full).isDirectory()) {
      for (const name of readdirSync(full)) walk(`${rel}/${name}`);
    } else if (!rel.endsWith('.tgz')) {
      files[rel] = readFileSync(full, 'utf8');
    }
  };
  for (const entry of EXAMPLE) walk(entry);
  return files;
}

const plan = (frontend: string, backend = frontend, extra = '') =>
  `stack: my-app\ncomponents:\n  my-frontend: '${frontend}'\n  my-backend: '${backend}'\n${extra}`;

/** Commits `files` on branch `name` of a clone and pushes it; returns the commit. */
function pushBranch(repo: BareRepo, name: string, files: Record<string, string>): string {
  const w = new OtherWriter(repo);
  git(w.dir, 'checkout', '-q', '-B', name, `origin/${repo.branch}`);
  git(w.dir, 'fetch', '-q', 'origin');
  if (git(w.dir, 'ls-remote', 'origin', `refs/heads/${name}`)) {
    git(w.dir, 'reset', '-q', '--hard', `origin/${name}`);
  }
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(w.dir, file), text);
  git(w.dir, 'add', '-A');
  git(w.dir, 'commit', '-q', '-m', `change ${Object.keys(files).join(', ')}`);
  git(w.dir, 'push', '-q', 'origin', `HEAD:refs/heads/${name}`);
  return git(w.dir, 'rev-parse', 'HEAD');
}

async function openRepo(repo: BareRepo): Promise<ConfigRepo> {
  const r = await ConfigRepo.open({
    url: repo.bare,
    branch: 'main',
    cacheDir: mkdtempSync(path.join(os.tmpdir(), 'stackswap-review-cache-')),
    redactor: new Redactor(),
    allowFileProtocol: true,
    timeoutMs: 30_000,
  });
  stops.push(() => r.close());
  return r;
}

describe('reviewMergeRequest on GitLab', () => {
  it('comments the values and manifest diff once, edits it on a push, and sets statuses', async () => {
    const repo = createBareRepo(exampleFiles());
    const head = pushBranch(repo, 'release-1.3.0', { 'releases/my-app.yaml': plan('1.3.0') });
    const fake = await new FakeGitlab({ gitDir: repo.bare }).start();
    stops.push(() => fake.stop());
    const forge = new GitlabForge({ url: fake.url, token: 'test-token' });
    const config = await openRepo(repo);
    const mr = await fake.addMergeRequest({ sourceBranch: 'release-1.3.0' });

    const first = await reviewMergeRequest({
      forge,
      repo: config,
      project: 'group/config',
      number: mr.iid,
      targetUrl: OP_URL,
    });
    expect(first.outcome).toBe('reviewed');
    if (first.outcome !== 'reviewed') return;
    const [stack] = first.review.stacks;
    expect(stack).toMatchObject({ stack: 'my-app', verdict: 'success', colour: 'green' });
    expect(stack!.problems).toEqual([]);
    // The deploy's own edit: green's values file, tags and replicas.
    expect(stack!.files.map((f) => f.file)).toEqual(['apps/my-app/values-green.yaml']);
    expect(stack!.valuesDiff).toContain("-    tag: '1.0.0'");
    expect(stack!.valuesDiff).toContain("+    tag: '1.3.0'");
    expect(stack!.valuesDiff).toMatch(/\+\s+replicas: 2/);
    // The rendered diff of my-app-green: images and replicas; no checksum noise.
    expect(stack!.rendered).toMatchObject({
      from: 'argo/apps/my-app-green.yaml',
      chartDir: 'apps/my-app',
    });
    const rendered = stack!.manifestDiff.map((r) => `${r.resource}\n${r.diff}`).join('\n');
    expect(stack!.manifestDiff.map((r) => r.resource)).toEqual(
      expect.arrayContaining(['my-app-green/Deployment/my-frontend']),
    );
    expect(rendered).toMatch(/\+\s+image: .*my-frontend:1\.3\.0/);
    expect(rendered).toMatch(/-\s+replicas: 0\n\+\s+replicas: 2/);
    expect(rendered).not.toMatch(/checksum\//);
    expect(stack!.reason).toMatch(
      /^plan valid: deploys my-frontend=1.3.0, my-backend=1.3.0 into green/,
    );

    const notes = fake.notesOf(mr.iid);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.body.startsWith(commentMarker('stackswap:plan:my-app'))).toBe(true);
    expect(notes[0]!.body).toContain('```diff');
    expect(notes[0]!.body).toContain(OP_URL);
    expect(
      fake.statusesOf(head, 'stackswap/my-app').map((s) => [s.status, s.targetUrl, s.ref]),
    ).toEqual([
      ['pending', OP_URL, 'release-1.3.0'],
      ['success', OP_URL, 'release-1.3.0'],
    ]);

    // A push with an invalid tag: the same comment, edited; a failure naming file, line, key.
    const bad = pushBranch(repo, 'release-1.3.0', {
      'releases/my-app.yaml': plan('1.3.0 beta', '1.3.0'),
    });
    await fake.pushToMergeRequest(mr.iid);
    const second = await reviewMergeRequest({
      forge,
      repo: config,
      project: 'group/config',
      number: mr.iid,
      targetUrl: OP_URL,
    });
    expect(second.outcome === 'reviewed' && second.review.headSha).toBe(bad);
    const notesAfter = fake.notesOf(mr.iid);
    expect(notesAfter).toHaveLength(1);
    expect(notesAfter[0]!.id).toBe(notes[0]!.id);
    expect(notesAfter[0]!.body).toContain('`releases/my-app.yaml:3` `components.my-frontend`');
    expect(notesAfter[0]!.body).toContain('not a valid OCI image tag');
    const statuses = fake.statusesOf(bad, 'stackswap/my-app');
    expect(statuses.map((s) => s.status)).toEqual(['pending', 'failed']);
    expect(statuses[1]!.description).toMatch(/^releases\/my-app\.yaml:3 components\.my-frontend: /);
    expect(fake.callsTo('POST', /\/notes$/)).toHaveLength(1);
    expect(fake.callsTo('PUT', /\/notes\/\d+$/)).toHaveLength(1);
  });

  it('an MR that changes no plan gets no comment and no status', async () => {
    const repo = createBareRepo(exampleFiles());
    pushBranch(repo, 'docs', { 'charts/ingress/values.yaml': '# nothing\n' });
    const fake = await new FakeGitlab({ gitDir: repo.bare }).start();
    stops.push(() => fake.stop());
    const mr = await fake.addMergeRequest({ sourceBranch: 'docs' });
    const r = await reviewMergeRequest({
      forge: new GitlabForge({ url: fake.url, token: 'test-token' }),
      repo: await openRepo(repo),
      project: 'group/config',
      number: mr.iid,
    });
    expect(r).toEqual({ outcome: 'ignored', reason: expect.stringContaining('no release plan') });
    expect(fake.calls.filter((c) => c.method !== 'GET')).toEqual([]);
  });
});

describe('a change to stackswap.yaml', () => {
  it('shows the verification change; a broken config fails naming stackswap.yaml and the line', async () => {
    const files = exampleFiles();
    const repo = createBareRepo(files);
    const config = files['stackswap.yaml']!;
    const changed = config.replace(
      'successCondition: result < 0.02',
      'successCondition: result < 0.05',
    );
    expect(changed).not.toBe(config);
    pushBranch(repo, 'looser', { 'stackswap.yaml': changed });
    const fake = await new FakeGitlab({ gitDir: repo.bare }).start();
    stops.push(() => fake.stop());
    const forge = new GitlabForge({ url: fake.url, token: 'test-token' });
    const cache = await openRepo(repo);
    const mr = await fake.addMergeRequest({ sourceBranch: 'looser' });
    const r = await reviewMergeRequest({
      forge,
      repo: cache,
      project: 'group/config',
      number: mr.iid,
    });
    expect(r.outcome).toBe('reviewed');
    if (r.outcome !== 'reviewed') return;
    const [stack] = r.review.stacks;
    expect(stack!.verdict).toBe('success');
    expect(stack!.verificationDiff).toContain('-    successCondition: result < 0.02');
    expect(stack!.verificationDiff).toContain('+    successCondition: result < 0.05');
    expect(fake.notesOf(mr.iid)[0]!.body).toContain('verification config diff');

    // A condition that does not parse: the same code as plan validate names the place.
    const broken = config.replace(
      'successCondition: result < 0.02',
      'successCondition: result <<< 0.02',
    );
    pushBranch(repo, 'looser', { 'stackswap.yaml': broken });
    await fake.pushToMergeRequest(mr.iid);
    const r2 = await reviewMergeRequest({
      forge,
      repo: cache,
      project: 'group/config',
      number: mr.iid,
    });
    if (r2.outcome !== 'reviewed') throw new Error('not reviewed');
    const [bad] = r2.review.stacks;
    expect(bad!.verdict).toBe('failed');
    expect(bad!.problems[0]).toMatchObject({
      file: 'stackswap.yaml',
      key: expect.stringContaining('stacks.my-app.verification.analysis.0.successCondition'),
      line: expect.any(Number),
    });
    expect(fake.notesOf(mr.iid)).toHaveLength(1);
  });
});

describe('reviewMergeRequest on GitHub', () => {
  it('reads a head that lives only on refs/pull/<n>/head; an unknown component fails', async () => {
    const repo = createBareRepo(exampleFiles());
    const head = pushBranch(repo, 'typo', {
      'releases/my-app.yaml': plan('1.3.0', '1.3.0', "  my-databse: '1.0.0'\n"),
    });
    const fake = await new FakeGithub({ gitDir: repo.bare }).start();
    stops.push(() => fake.stop());
    const pr = await fake.addPullRequest({ head: 'typo' });
    // As for a fork: the branch is not in the repo; only GitHub's PR ref holds the head.
    git(repo.bare, 'update-ref', '-d', 'refs/heads/typo');
    const r = await reviewMergeRequest({
      forge: new GithubForge({ apiUrl: fake.apiUrl, token: 'test-token' }),
      repo: await openRepo(repo),
      project: 'acme/config',
      number: pr.number,
      targetUrl: OP_URL,
    });
    expect(r.outcome === 'reviewed' && r.review.headSha).toBe(head);
    const body = fake.commentsOf(pr.number)[0]!.body;
    expect(body).toMatch(/`releases\/my-app\.yaml:5` `components\.my-databse`: /);
    const statuses = fake.statusesOf(head, 'stackswap/my-app');
    expect(statuses.map((s) => s.state)).toEqual(['pending', 'failure']);
    expect(statuses[1]!.description!.length).toBeLessThanOrEqual(140);
    expect(statuses[1]!.targetUrl).toBe(OP_URL);
  });

  it('a diff larger than the comment limit still posts: split, then cut with a note', async () => {
    const fake = await new FakeGithub().start();
    stops.push(() => fake.stop());
    const pr = await fake.addPullRequest({ head: 'huge', headSha: 'c'.repeat(40) });
    // 3,000 resources of multi-byte lines: far more than 10 comments of 65,536 characters.
    const line = '+    description: "ünïcødé 🚀 ' + 'x'.repeat(60) + '"';
    const review: PlanReview = {
      baseSha: 'b'.repeat(40),
      headSha: 'c'.repeat(40),
      relevantFiles: ['releases/my-app.yaml'],
      stacks: [
        {
          stack: 'my-app',
          verdict: 'success',
          reason: 'plan valid',
          colour: 'green',
          problems: [],
          valuesDiff: '',
          files: [],
          manifestDiff: Array.from({ length: 3000 }, (_, i) => ({
            resource: `my-app-green/ConfigMap/c${i}`,
            diff: Array.from({ length: 4 }, () => line).join('\n'),
          })),
          verificationDiff: '',
        },
      ],
    };
    const forge = new GithubForge({ apiUrl: fake.apiUrl, token: 'test-token' });
    const target = { project: 'acme/config', number: pr.number, headSha: 'c'.repeat(40) };
    const [published] = await publishReview(forge, target, review, { targetUrl: OP_URL });
    const comments = fake.commentsOf(pr.number);
    expect(published!.comments.created).toBe(10);
    expect(comments).toHaveLength(10);
    for (const c of comments) {
      expect(codePointLength(c.body)).toBeLessThanOrEqual(FORGE_LIMITS.github.commentChars);
      // Every part closes what it opens: an even number of fences, no split surrogate.
      expect((c.body.match(/^```/gm) ?? []).length % 2).toBe(0);
      expect(c.body).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    }
    expect(comments.at(-1)!.body).toContain('too long for the comment limit');
    expect(comments.at(-1)!.body).toContain(OP_URL);
    // Published again with a short plan: part 1 edited in place, the other nine deleted.
    const short = { ...review, stacks: [{ ...review.stacks[0]!, manifestDiff: [] }] };
    const [again] = await publishReview(forge, target, short);
    expect(again!.comments).toMatchObject({ updated: 1, deleted: 9, created: 0 });
    expect(fake.commentsOf(pr.number).map((c) => c.id)).toEqual([comments[0]!.id]);
  });
});
