/**
 * The Tekton files in tekton/: focused structural checks (tekton-checks.ts), shown to catch
 * broken copies, then the Task's step run for real against the sandbox, with Tekton's
 * substitution emulated (params, array args, result paths, Secret env, volume mounts).
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { cliBin, projectRoot, runCli } from '../../helpers/cli.ts';
import { git } from '../../helpers/config-repo.ts';
import { loadTektonDir, tektonProblems, type TektonDoc } from './tekton-checks.ts';

const TEKTON_DIR = path.join(projectRoot, 'tekton');

const load = () => loadTektonDir(TEKTON_DIR);
const find = (docs: TektonDoc[], kind: string, name?: string) =>
  docs.find((d) => d.kind === kind && (name === undefined || d.metadata?.name === name))!;

/** Parsed YAML, navigated freely: the checks under test are what guard its shape. */
type Spec = Record<string, any>;

describe('tekton/ structure', () => {
  it('has the Task, the Pipeline and an example of each run, all tekton.dev/v1', () => {
    const docs = load();
    expect(docs.map((d) => `${d.kind} ${d.metadata?.name ?? d.metadata?.generateName}`)).toEqual(
      expect.arrayContaining([
        'Task stackswap-run',
        'Pipeline stackswap-promote',
        'PipelineRun stackswap-promote-my-app-',
        'TaskRun stackswap-swap-my-app-',
      ]),
    );
    expect(docs.every((d) => d.apiVersion === 'tekton.dev/v1')).toBe(true);
  });

  it('passes every check', () => {
    expect(tektonProblems(load())).toEqual([]);
  });

  it('runs init, then deploy, then swap of the colour deploy went into', () => {
    const tasks = find(load(), 'Pipeline').spec!.tasks as Spec[];
    expect(tasks.map((t) => t.name)).toEqual(['init', 'deploy', 'swap']);
    expect(tasks[1]!.runAfter).toEqual(['init']);
    const swapArgs = tasks[2]!.params.find((p: Spec) => p.name === 'args').value;
    expect(swapArgs).toEqual(['--to', '$(tasks.deploy.results.preview-color)']);
    expect(tasks[2]!.when).toEqual([{ input: '$(params.swap)', operator: 'in', values: ['true'] }]);
  });

  it('takes both tokens from the Secret named by a param', () => {
    const step = (find(load(), 'Task').spec!.steps as Spec[])[0]!;
    const fromSecret = (name: string) =>
      step.env.find((e: Spec) => e.name === name)?.valueFrom?.secretKeyRef;
    expect(fromSecret('STACKSWAP_GIT_TOKEN')).toEqual({
      name: '$(params.credentials)',
      key: 'git-token',
    });
    expect(fromSecret('ARGOCD_AUTH_TOKEN')).toEqual({
      name: '$(params.credentials)',
      key: 'argocd-token',
    });
  });

  const breakages: [string, (docs: TektonDoc[]) => void, RegExp][] = [
    [
      'an older API version',
      (d) => (find(d, 'Task').apiVersion = 'tekton.dev/v1beta1'),
      /apiVersion tekton.dev\/v1beta1/,
    ],
    [
      'a step without an image',
      (d) => delete (find(d, 'Task').spec!.steps as Spec[])[0]!.image,
      /no image/,
    ],
    [
      'a reference to an undeclared param',
      (d) => ((find(d, 'Task').spec!.steps as Spec[])[0]!.env[0].value = '$(params.nope)'),
      /\$\(params\.nope\) names no declared param/,
    ],
    [
      'a param pasted into the script',
      (d) => {
        const step = (find(d, 'Task').spec!.steps as Spec[])[0]!;
        step.args[0] = `${step.args[0]}\necho $(params.stack)`;
      },
      /pastes a param into shell code/,
    ],
    [
      'a token as a literal value',
      (d) => {
        const env = (find(d, 'Task').spec!.steps as Spec[])[0]!.env as Spec[];
        env.find((e) => e.name === 'ARGOCD_AUTH_TOKEN')!.valueFrom = undefined;
        env.find((e) => e.name === 'ARGOCD_AUTH_TOKEN')!.value = 'hunter2';
      },
      /ARGOCD_AUTH_TOKEN must come from a Secret/,
    ],
    [
      'an undeclared result path',
      (d) => {
        const step = (find(d, 'Task').spec!.steps as Spec[])[0]!;
        step.args[0] = step.args[0].replace('results.commit.path', 'results.sha.path');
      },
      /\$\(results\.sha\.path\) names no declared result/,
    ],
    [
      'a pipeline task passing a param the Task lacks',
      (d) =>
        ((find(d, 'Pipeline').spec!.tasks as Spec[])[0]!.params as Spec[]).push({
          name: 'colour',
          value: 'green',
        }),
      /passes param colour, which is not declared/,
    ],
    [
      'a pipeline task missing a required param',
      (d) => {
        const init = (find(d, 'Pipeline').spec!.tasks as Spec[])[0]!;
        init.params = (init.params as Spec[]).filter((p) => p.name !== 'stack');
      },
      /task init: required param stack not given/,
    ],
    [
      'a result the Task does not have',
      (d) => {
        const swap = (find(d, 'Pipeline').spec!.tasks as Spec[])[2]!;
        swap.params.find((p: Spec) => p.name === 'args').value[1] =
          '$(tasks.deploy.results.colour)';
      },
      /names no result of deploy/,
    ],
    [
      'a string where an array param is expected',
      (d) =>
        ((find(d, 'PipelineRun').spec!.params as Spec[]).find(
          (p) => p.name === 'deploy-args',
        )!.value = '--set my-frontend=1.1.0'),
      /param deploy-args needs an array value/,
    ],
    [
      'a run of a Task that is not there',
      (d) => ((find(d, 'TaskRun').spec as Spec).taskRef.name = 'stackswap'),
      /refers to Task stackswap, not in tekton\//,
    ],
  ];

  it.each(breakages)('finds %s', (_, breakIt, problem) => {
    const docs = load();
    breakIt(docs);
    expect(tektonProblems(docs).join('\n')).toMatch(problem);
  });
});

/**
 * Runs the Task's one step the way Tekton would, with `stackswap` on PATH being this checkout's
 * CLI: params (defaults filled in) substituted, `$(params.args[*])` spread, result paths pointed
 * at files, Secret env taken from `secrets`, volume mounts mapped to local folders.
 */
async function runTaskStep(
  params: Record<string, string | string[]>,
  options: { secrets: Record<string, Record<string, string>>; extraEnv: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string; results: Record<string, string> }> {
  const task = find(load(), 'Task', 'stackswap-run');
  const step = (task.spec!.steps as Spec[])[0]!;
  const values: Record<string, string | string[]> = {};
  for (const p of task.spec!.params as Spec[]) values[p.name] = params[p.name] ?? p.default;
  const run = await mkdtemp(path.join(scratch, 'taskrun-'));
  const resultPath = (name: string) => path.join(run, 'results', name);
  await mkdir(path.join(run, 'results'));
  const mounts = new Map<string, string>();
  for (const m of step.volumeMounts as Spec[]) {
    mounts.set(m.mountPath, path.join(run, 'volumes', m.name));
    await mkdir(path.join(run, 'volumes', m.name), { recursive: true });
  }
  const substitute = (text: string) =>
    text
      .replace(/\$\(results\.([\w-]+)\.path\)/g, (_, name: string) => resultPath(name))
      .replace(/\$\(params\.([\w-]+)\)/g, (_, name: string) => String(values[name]));
  const env: Record<string, string> = {};
  for (const e of step.env as Spec[]) {
    const ref = e.valueFrom?.secretKeyRef;
    let value = ref ? options.secrets[substitute(ref.name)]![ref.key]! : substitute(e.value);
    for (const [mountPath, local] of mounts) if (value.startsWith(mountPath)) value = local;
    env[e.name] = value;
  }
  const argv = (step.args as string[]).flatMap((a) => {
    const spread = /^\$\(params\.([\w-]+)\[\*\]\)$/.exec(a);
    return spread ? (values[spread[1]!] as string[]) : [substitute(a)];
  });
  const [command, ...commandArgs] = step.command as string[];
  return new Promise((resolve) => {
    execFile(
      command!,
      [...commandArgs, ...argv],
      {
        env: {
          PATH: `${shimDir}:${process.env.PATH}`,
          HOME: run,
          ...env,
          ...options.extraEnv,
        },
        timeout: 120_000,
      },
      async (error, stdout, stderr) => {
        const results: Record<string, string> = {};
        for (const r of task.spec!.results as Spec[]) {
          results[r.name] = await readFile(resultPath(r.name), 'utf8').catch(() => '');
        }
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, results });
      },
    );
  });
}

let sandbox: Sandbox;
let scratch: string;
let shimDir: string;

describe('the stackswap-run step against the sandbox', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'tekton-task-test-'));
    sandbox = await startSandbox({
      dir: path.join(scratch, 'sandbox'),
      argocd: { progressingMs: 100, pollIntervalMs: 0 },
    });
    for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
      const r = await runCli(['--timeout', '60', 'app', 'sync', app], { env: sandbox.env });
      expect(r.code, r.stderr).toBe(0);
    }
    // The image's `stackswap` is this checkout's CLI.
    shimDir = path.join(scratch, 'bin');
    await mkdir(shimDir);
    await writeFile(
      path.join(shimDir, 'stackswap'),
      `#!/bin/sh\nexec "${process.execPath}" "${cliBin}" "$@"\n`,
    );
    await chmod(path.join(shimDir, 'stackswap'), 0o755);
  }, 120_000);
  afterAll(async () => {
    await sandbox?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const common = () => ({
    stack: 'my-app',
    repo: sandbox.env.STACKSWAP_REPO!,
    'argocd-server': sandbox.env.ARGOCD_SERVER!,
    'requested-by': 'tekton-test',
    'timeout-seconds': '60',
  });
  const options = () => ({
    secrets: {
      'stackswap-credentials': {
        'git-token': 'not-used-by-a-local-repo',
        'argocd-token': sandbox.env.ARGOCD_AUTH_TOKEN!,
      },
    },
    // The sandbox's config repo is a local bare repo: sandbox mode, set here as for the
    // plain-http Argo CD, not in tekton/ (a cluster's repo is an https remote).
    extraEnv: { ARGOCD_PLAINTEXT: 'true', STACKSWAP_SANDBOX: '1' },
  });
  const head = () => git(sandbox.repoPath, 'rev-parse', 'main');

  it('init reports the colours and the commit as results', async () => {
    const r = await runTaskStep({ ...common(), command: 'init' }, options());
    expect(r.code, r.stderr).toBe(0);
    expect(r.results).toEqual({ 'live-color': 'blue', 'preview-color': 'green', commit: head() });
  });

  it('deploy takes its versions from the array param and records who asked', async () => {
    const r = await runTaskStep(
      {
        ...common(),
        command: 'deploy',
        args: ['--set', 'my-frontend=1.1.0', '--set', 'my-backend=1.1.0'],
        reason: 'PipelineRun ci/stackswap-promote-x1',
      },
      options(),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.results).toEqual({ 'live-color': 'blue', 'preview-color': 'green', commit: head() });
    expect(r.stdout).toContain('green (preview) runs');
    const message = git(sandbox.repoPath, 'log', '-1', '--format=%B', 'main');
    expect(message).toContain('Stackswap-Requested-By: tekton-test');
    expect(message).toContain('Stackswap-Reason: PipelineRun ci/stackswap-promote-x1');
    expect(message).toContain('my-frontend=1.1.0');
  });

  it('swap --to the deployed colour makes it live', async () => {
    const r = await runTaskStep(
      { ...common(), command: 'swap', args: ['--to', 'green'] },
      options(),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.results).toEqual({ 'live-color': 'green', 'preview-color': 'blue', commit: head() });
  });

  it('refuses an unknown command with exit code 2 and no results', async () => {
    const r = await runTaskStep({ ...common(), command: 'rm -rf /' }, options());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "rm -rf /"');
    expect(r.results['live-color']).toBe('');
  });
});
