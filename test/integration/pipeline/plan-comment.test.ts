/**
 * The merge-request job plan:validate, run by the real local runner (gitlab-ci-local) with a
 * GitLab API token: it posts the review on the merge request through `stackswap plan comment`,
 * here against the local fake GitLab (test/helpers/fake-forge), which serves the MR and its
 * head ref (refs/merge-requests/<iid>/head) from the config repo.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBareRepo, cleanupFixtures, type BareRepo } from '../../helpers/git-fixtures.ts';
import { git } from '../../helpers/config-repo.ts';
import { projectRoot } from '../../helpers/cli.ts';
import { FakeGitlab } from '../../helpers/fake-forge/index.ts';
import { LocalPipeline, STACKSWAP_CMD, type RunResult } from './local-pipeline.ts';

const TOKEN = 'glpat-ci-fake-token-0123';
const JOB_URL = 'https://gitlab.example.com/platform/config/-/jobs/7';
let workDir: string;
let repo: BareRepo;
let fake: FakeGitlab;
let pipeline: LocalPipeline;

async function exampleFiles(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const walk = async (rel: string) => {
    const full = path.join(projectRoot, rel);
    if ((await stat(full)).isDirectory()) {
      for (const name of await readdir(full)) await walk(`${rel}/${name}`);
    } else if (!rel.endsWith('.tgz')) files[rel] = await readFile(full, 'utf8');
  };
  for (const entry of ['stackswap.yaml', 'charts', 'apps', 'argo', 'releases']) await walk(entry);
  return files;
}

const plan = (frontend: string) =>
  `stack: my-app\ncomponents:\n  my-frontend: '${frontend}'\n  my-backend: '1.3.0'\n`;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'plan-comment-pipeline-'));
  repo = createBareRepo(await exampleFiles());
  fake = await new FakeGitlab({
    project: 'platform/config',
    projectId: 42,
    tokens: [TOKEN],
    gitDir: repo.bare,
  }).start();
  pipeline = await LocalPipeline.create({
    workDir,
    name: 'merge-request',
    configRepo: repo.bare,
    variables: {
      STACKSWAP_CMD,
      STACKSWAP_REPO: repo.bare,
      STACKSWAP_SANDBOX: '1',
      STACKSWAP_GITLAB_URL: fake.url,
      GITLAB_CI: 'true',
    },
  });
}, 120_000);

afterAll(async () => {
  await fake?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
  cleanupFixtures();
});

/** A merge request: the branch pushed to the config repo and opened on the fake GitLab. */
async function openMr(branch: string, frontend: string) {
  const base = git(pipeline.checkout, 'rev-parse', 'HEAD');
  await pipeline.branch(branch, { 'releases/my-app.yaml': plan(frontend) });
  git(pipeline.checkout, 'push', '-q', repo.bare, `${branch}:refs/heads/${branch}`);
  const mr = await fake.addMergeRequest({ sourceBranch: branch });
  return { mr, base, head: git(pipeline.checkout, 'rev-parse', 'HEAD') };
}

function mrEvent(iid: number, base: string, extra: Record<string, string> = {}) {
  return {
    CI_PIPELINE_SOURCE: 'merge_request_event',
    CI_MERGE_REQUEST_IID: String(iid),
    CI_MERGE_REQUEST_DIFF_BASE_SHA: base,
    CI_PROJECT_ID: '42',
    CI_JOB_URL: JOB_URL,
    STACKSWAP_GITLAB_TOKEN: TOKEN,
    ...extra,
  };
}

const SLOW = { timeout: 180_000 };

describe('plan:validate with a GitLab token posts the review', SLOW, () => {
  it('a valid plan: one comment with the diffs, a pending then a success status', async () => {
    const { mr, base, head } = await openMr('release-1.3.0', '1.3.0');
    const r: RunResult = await pipeline.run(undefined, mrEvent(mr.iid, base));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/PASS\s+plan:validate/);
    expect(r.output).toContain(
      'ok my-app: plan valid: deploys my-frontend=1.3.0, my-backend=1.3.0 into green',
    );
    const notes = fake.notesOf(mr.iid);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.body).toContain("+    tag: '1.3.0'");
    expect(notes[0]!.body).toMatch(
      /\+\s+image: registry\.example\.com\/my-app\/my-frontend:1\.3\.0/,
    );
    expect(fake.statusesOf(head, 'stackswap/my-app').map((s) => [s.status, s.targetUrl])).toEqual([
      ['pending', JOB_URL],
      ['success', JOB_URL],
    ]);
    // The token went in the PRIVATE-TOKEN header, and never into the job log.
    expect(fake.calls.every((c) => c.headers['private-token'] === TOKEN)).toBe(true);
    expect(r.output).not.toContain(TOKEN);
  });

  it('an invalid tag: the job fails with exit 2, the comment and status name file, line and key', async () => {
    const { mr, base, head } = await openMr('broken-plan', '1.3.0 beta');
    const r = await pipeline.run(undefined, mrEvent(mr.iid, base));
    expect(r.output).toMatch(/plan:validate\s+finished in .*FAIL 2\b/);
    const body = fake.notesOf(mr.iid)[0]!.body;
    expect(body).toContain(
      '`releases/my-app.yaml:3` `components.my-frontend`: not a valid OCI image tag',
    );
    const [pending, failed] = fake.statusesOf(head, 'stackswap/my-app');
    expect([pending!.status, failed!.status]).toEqual(['pending', 'failed']);
    expect(failed!.description).toMatch(
      /^releases\/my-app\.yaml:3 components\.my-frontend: not a valid OCI image tag/,
    );
  });

  it('no merge request iid: exit 2 naming the variable, nothing posted', async () => {
    const before = fake.calls.length;
    const r = await pipeline.run(
      undefined,
      mrEvent(1, git(pipeline.checkout, 'rev-parse', 'main'), { CI_MERGE_REQUEST_IID: '' }),
    );
    expect(r.output).toMatch(/plan:validate\s+finished in .*FAIL 2\b/);
    expect(r.output).toContain('pass --mr or set CI_MERGE_REQUEST_IID');
    expect(fake.calls.length).toBe(before);
  });

  it('a wrong token: exit 5, nothing posted', async () => {
    const r = await pipeline.run(
      undefined,
      mrEvent(1, git(pipeline.checkout, 'rev-parse', 'main'), {
        STACKSWAP_GITLAB_TOKEN: 'glpat-wrong',
      }),
    );
    expect(r.output).toMatch(/plan:validate\s+finished in .*FAIL 5\b/);
    expect(r.output).toContain('GitLab refused the token (401)');
    expect(r.output).not.toContain('glpat-wrong');
  });
});
