/**
 * The project's .gitlab-ci.yml run by the real local runner (gitlab-ci-local, shell executor)
 * against the sandbox: a pipeline is created (init runs), then its manual jobs are played one
 * at a time as a release manager would: deploy -> swap -> revert. Between jobs only what GitLab
 * passes travels: the dotenv reports of the needed jobs. Also covered: the guards that stop a
 * pipeline acting on a stale snapshot, and the merge-request validation job.
 */
import { expectLiveAt, images, liveWeights } from '../../helpers/sandbox-state.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { runCli } from '../../helpers/cli.ts';
import { git } from '../../helpers/config-repo.ts';
import { LocalPipeline, STACKSWAP_CMD, type RunResult } from './local-pipeline.ts';

let sandbox: Sandbox;
let workDir: string;
/** The pipeline whose jobs a release manager plays, in order. */
let pipeline: LocalPipeline;

const RELEASE = '--set my-frontend=1.1.0 --set my-backend=1.1.0';
const RELEASE_B = '--set my-frontend=1.2.0 --set my-backend=1.2.0';
const timings: Record<string, number> = {};

beforeAll(async () => {
  // Everything in one folder of our own (sandbox included), removed at the end.
  workDir = await mkdtemp(path.join(os.tmpdir(), 'gitlab-pipeline-test-'));
  sandbox = await startSandbox({
    dir: path.join(workDir, 'sandbox'),
    argocd: { progressingMs: 150, pollIntervalMs: 0 },
  });
  // The deployed starting point: both colours and the ingress synced at HEAD, blue live.
  for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
    const r = await runCli(['--timeout', '60', 'app', 'sync', app], { env: sandbox.env });
    expect(r.code, r.stderr).toBe(0);
  }
  pipeline = await newPipeline('pipeline-a');
}, 120_000);

afterAll(async () => {
  await sandbox?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
  console.log('gitlab-ci-local timings (ms):', timings);
});

/** A pipeline on the default branch, with the CI/CD variables a project would set. */
function newPipeline(name: string): Promise<LocalPipeline> {
  return LocalPipeline.create({
    workDir,
    name,
    configRepo: sandbox.repoPath,
    variables: {
      ...sandbox.env,
      STACKSWAP_CMD,
      STACKSWAP_TIMEOUT: '60',
      // Who pressed play, and GitLab's own marker (gitlab-ci-local defaults it to false).
      GITLAB_USER_LOGIN: 'alice',
      GITLAB_CI: 'true',
    },
  });
}

async function run(p: LocalPipeline, job: string | undefined, label: string, vars = {}) {
  const r: RunResult = await p.run(job, vars);
  timings[label] = r.ms;
  return r;
}

function expectPassed(r: RunResult, job: string) {
  expect(r.code, r.output).toBe(0);
  expect(r.output).toMatch(new RegExp(`PASS\\s+${job}\\b`));
}

function expectFailed(r: RunResult, job: string) {
  expect(r.code, r.output).not.toBe(0);
  expect(r.output).toMatch(new RegExp(`${job}\\s+finished in .*FAIL`));
}

const head = () => git(sandbox.repoPath, 'rev-parse', 'main');
const headMessage = () => git(sandbox.repoPath, 'log', '-1', '--format=%B', 'main');

function expectAudit(operation: string) {
  const message = headMessage();
  expect(message).toContain(`Stackswap-Operation: ${operation}`);
  expect(message).toContain('Stackswap-Requested-By: alice');
  expect(message).toMatch(
    /Stackswap-Reason: pipeline https:\/\/gitlab\.example\.com\/platform\/config\/pipelines\/\d+/,
  );
}

// Each gitlab-ci-local run takes 4-11 s on two busy cores (node start, schema validation, the
// CLI, Argo CD waits), and some tests make three of them.
const SLOW = { timeout: 180_000 };

describe('the GitLab pipeline, played job by job with gitlab-ci-local', SLOW, () => {
  /** A second pipeline, created from the same commit before the first one swaps. */
  let other: LocalPipeline;

  it('has init run automatically on the default branch and every change job manual', async () => {
    expect(await pipeline.jobs()).toEqual({
      'plan:validate': 'never',
      init: 'on_success',
      'plan:deploy': 'on_success',
      deploy: 'manual',
      swap: 'manual',
      revert: 'manual',
      'scale-down': 'manual',
    });
  });

  it('init publishes the live and preview colours as a dotenv report', async () => {
    // No job named: the pipeline is created and its automatic jobs run (init, plan:deploy).
    const before = head();
    const r = await run(pipeline, undefined, 'init', { DEPLOY_ARGS: RELEASE });
    expectPassed(r, 'init');
    expect(r.output).not.toMatch(/PASS\s+deploy/);
    // plan:deploy shows what the manual deploy would commit, and commits nothing.
    expectPassed(r, 'plan:deploy');
    expect(r.output).toContain(`base commit: ${before}`);
    expect(r.output).toMatch(/\+\s+tag: '1\.1\.0'/);
    expect(r.output).toContain('nothing committed (dry run)');
    expect(head()).toBe(before);
    expect(await pipeline.dotenv('init', 'stackswap.env')).toMatchObject({
      STACKSWAP_STACK: 'my-app',
      LIVE_COLOR: 'blue',
      PREVIEW_COLOR: 'green',
      PREVIEW_NAMESPACE: 'my-app-green',
      LIVE_VERSION_MY_FRONTEND: '1.0.0',
    });
    other = await newPipeline('pipeline-b');
    expectPassed(await run(other, undefined, 'init (b)'), 'init');
  });

  it('deploy puts the release into the preview colour, synced and healthy; live untouched', async () => {
    const before = head();
    const r = await run(pipeline, 'deploy', 'deploy', { DEPLOY_ARGS: RELEASE });
    expectPassed(r, 'deploy');
    expect(head()).not.toBe(before);
    expectLiveAt(sandbox, 'my-app-green', head());
    expect(images(sandbox, 'my-app-green')).toEqual([
      'registry.example.com/my-app/my-backend:1.1.0',
      'registry.example.com/my-app/my-frontend:1.1.0',
    ]);
    expect(images(sandbox, 'my-app-blue')).toContain(
      'registry.example.com/my-app/my-frontend:1.0.0',
    );
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
    expectAudit('deploy');
    // What swap will promote, handed over in deploy's own dotenv report.
    expect(await pipeline.dotenv('deploy', 'deploy.env')).toEqual({
      DEPLOYED_COLOR: 'green',
      DEPLOYED_VERSIONS: 'my-backend=1.1.0,my-frontend=1.1.0',
      DEPLOYED_SHA: head(),
      DEPLOYED_HOST: 'my-app-green.preview.example.com',
    });
    // The CLI's collapsible sections reach the job log whole.
    const log = await pipeline.jobLog('deploy');
    const starts = log.match(/\x1b\[0Ksection_start:\d+:[\w.-]+(\[collapsed=\w+\])?\r\x1b\[0K/g);
    const ends = log.match(/\x1b\[0Ksection_end:\d+:[\w.-]+\r\x1b\[0K/g);
    expect(starts?.length).toBeGreaterThan(0);
    expect(ends?.length).toBe(starts?.length);
  });

  it('swap sends 100 % of the traffic to green', async () => {
    const r = await run(pipeline, 'swap', 'swap');
    expectPassed(r, 'swap');
    expectLiveAt(sandbox, 'ingress', head());
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 0, 'my-app-green': 100 });
    expectAudit('swap');
    expect(headMessage()).toContain('Stackswap-To: green');
  });

  it('a pipeline whose init saw blue live cannot deploy once green is live', async () => {
    const before = head();
    const r = await run(other, 'deploy', 'deploy (b, refused)', { DEPLOY_ARGS: RELEASE_B });
    expectFailed(r, 'deploy');
    expect(r.output).toContain("green went live after this pipeline's init saw blue live");
    expect(head()).toBe(before);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 0, 'my-app-green': 100 });
  });

  it('revert sends 100 % back to blue', async () => {
    const r = await run(pipeline, 'revert', 'revert');
    expectPassed(r, 'revert');
    expectLiveAt(sandbox, 'ingress', head());
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });
    expectAudit('revert');
  });

  it('swap refuses to promote a release another pipeline deployed over this one', async () => {
    // Blue is live again, as the other pipeline's init saw: its deploy goes through now.
    expectPassed(await run(other, 'deploy', 'deploy (b)', { DEPLOY_ARGS: RELEASE_B }), 'deploy');
    const before = head();

    const r = await run(pipeline, 'swap', 'swap (refused)');
    expectFailed(r, 'swap');
    expect(r.output).toContain(
      'green now runs my-backend=1.2.0,my-frontend=1.2.0, not my-backend=1.1.0,my-frontend=1.1.0 deployed by this pipeline',
    );
    expect(head()).toBe(before);
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 100, 'my-app-green': 0 });

    // The pipeline that deployed it can.
    expectPassed(await run(other, 'swap', 'swap (b)'), 'swap');
    expect(liveWeights(sandbox)).toEqual({ 'my-app-blue': 0, 'my-app-green': 100 });
    expect(images(sandbox, 'my-app-green')).toContain(
      'registry.example.com/my-app/my-frontend:1.2.0',
    );
  });

  it('scale-down (the preview environment’s stop job) waits for the retention window', async () => {
    const before = head();
    const r = await run(pipeline, 'scale-down', 'scale-down (refused)');
    // An optional manual job (allow_failure: true): refused with exit 6, shown as a warning.
    expect(r.output).toMatch(/scale-down\s+finished in .*WARN 6\b/);
    expect(r.output).toContain('the retention window keeps it up');
    expect(head()).toBe(before);
  });
});

describe('the merge-request pipeline', SLOW, () => {
  it('validates a changed release plan, and fails on a broken one', async () => {
    const mr = await newPipeline('merge-request');
    const plan = (frontend: string) =>
      `stack: my-app\ncomponents:\n  my-frontend: '${frontend}'\n  my-backend: '1.3.0'\n`;
    await mr.branch('release-1.3.0', { 'releases/my-app.yaml': plan('1.3.0') });
    // As in production: no sandbox mode, so the job must not read its checkout through git.
    const event = { CI_PIPELINE_SOURCE: 'merge_request_event', STACKSWAP_SANDBOX: '' };
    expect(await mr.jobs(event)).toMatchObject({
      'plan:validate': 'on_success',
      init: 'never',
      deploy: 'never',
      swap: 'never',
    });

    const ok = await run(mr, undefined, 'plan:validate', event);
    expectPassed(ok, 'plan:validate');
    expect(ok.output).toContain('ok releases/my-app.yaml (my-app)');

    // A version that is not an image tag: the job fails, the merge request shows it.
    await mr.branch('broken-plan', { 'releases/my-app.yaml': plan('1.3.0 beta') });
    const bad = await run(mr, undefined, 'plan:validate (broken)', event);
    expectFailed(bad, 'plan:validate');
    expect(bad.output).toContain('not a valid OCI image tag');
    expect(bad.output).toMatch(/FAIL 2\b/); // the CLI's exit code for bad input
  });
});
