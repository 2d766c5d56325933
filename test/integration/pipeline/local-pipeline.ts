/**
 * Runs the project's `.gitlab-ci.yml` with the real local runner, gitlab-ci-local, in a
 * throwaway checkout: a clone of a config repo with the CI file committed on top, whose `origin`
 * claims to be a GitLab project (gitlab-ci-local derives CI_PROJECT_PATH, CI_PIPELINE_URL, ...
 * from it and never contacts it). One LocalPipeline is one GitLab pipeline: its own checkout and
 * state folder (`.gitlab-ci-local/` inside the checkout), so the dotenv reports of its jobs reach
 * its later jobs and no other pipeline's. Nothing is written to the project root.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../helpers/cli.ts';
import { git } from '../../helpers/config-repo.ts';

export const GITLAB_CI_LOCAL = path.join(
  projectRoot,
  'node_modules',
  'gitlab-ci-local',
  'src',
  'index.js',
);

/** What a job sees as the stackswap command: this checkout's CLI, not an installed package. */
export const STACKSWAP_CMD = `${process.execPath} ${path.join(projectRoot, 'bin', 'stackswap.js')}`;

export const GITLAB_PROJECT_URL = 'https://gitlab.example.com/platform/config.git';

/**
 * The CI file as GitLab resolves it (`extends` merged, hidden jobs dropped): gitlab-ci-local
 * `--preview`, run in a scratch folder because it writes its state folder there.
 */
export async function resolvedConfig(ciFile: string): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitlab-ci-preview-'));
  try {
    await copyFile(ciFile, path.join(dir, '.gitlab-ci.yml'));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [GITLAB_CI_LOCAL, '--home', dir, '--preview'],
        { cwd: dir, env: { PATH: process.env.PATH, HOME: dir, FORCE_COLOR: '0' }, timeout: 60_000 },
        (error, out) => (error ? reject(error) : resolve(out)),
      );
    });
    return parse(stdout.slice(stdout.indexOf('---\n'))) as Record<string, unknown>;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface RunResult {
  /** gitlab-ci-local's exit code: 0 when every job it ran passed. */
  code: number;
  /** Its whole output: job lines prefixed with the job name, then the PASS/FAIL summary. */
  output: string;
  ms: number;
}

export interface PipelineOptions {
  /** Parent folder for the checkout and the runner's HOME. */
  workDir: string;
  name: string;
  /** Repo (path) whose branch main the checkout starts from. */
  configRepo: string;
  /** Variables as if set in Settings > CI/CD > Variables (passed with --variable). */
  variables: Record<string, string>;
}

export class LocalPipeline {
  private constructor(
    readonly checkout: string,
    private readonly home: string,
    private readonly variables: Record<string, string>,
  ) {}

  static async create(options: PipelineOptions): Promise<LocalPipeline> {
    const checkout = path.join(options.workDir, options.name);
    const home = path.join(options.workDir, `${options.name}-home`);
    await mkdir(home, { recursive: true });
    git(options.workDir, 'clone', '-q', '--branch', 'main', options.configRepo, checkout);
    await copyFile(path.join(projectRoot, '.gitlab-ci.yml'), path.join(checkout, '.gitlab-ci.yml'));
    git(checkout, 'add', '.gitlab-ci.yml');
    git(checkout, 'commit', '-q', '-m', 'Add the stackswap pipeline');
    // The checkout's main is what the GitLab project's default branch holds.
    git(checkout, 'remote', 'set-url', 'origin', GITLAB_PROJECT_URL);
    git(checkout, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
    git(checkout, 'symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/main');
    return new LocalPipeline(checkout, home, options.variables);
  }

  /** Commits `files` (path -> content) on a new branch, as a merge request's source branch. */
  async branch(name: string, files: Record<string, string>): Promise<void> {
    git(this.checkout, 'checkout', '-q', '-b', name);
    for (const [file, content] of Object.entries(files)) {
      await writeFile(path.join(this.checkout, file), content);
    }
    git(this.checkout, 'commit', '-q', '-a', '-m', `Change ${Object.keys(files).join(', ')}`);
  }

  /**
   * `gitlab-ci-local --force-shell-executor [--manual <job>] <job>`: one job, as when someone
   * presses its play button; no job: the pipeline's automatic jobs, as when it is created.
   */
  run(job?: string, variables: Record<string, string> = {}): Promise<RunResult> {
    const args = [
      GITLAB_CI_LOCAL,
      '--force-shell-executor',
      // Its own HOME: no ~/.gitlab-ci-local/variables.yml or .env of whoever runs the tests.
      '--home',
      this.home,
      ...Object.entries({ ...this.variables, ...variables }).flatMap(([key, value]) => [
        '--variable',
        `${key}=${value}`,
      ]),
      ...(job ? ['--manual', job, job] : []),
    ];
    const started = Date.now();
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        args,
        {
          cwd: this.checkout,
          env: {
            PATH: process.env.PATH,
            HOME: this.home,
            TZ: 'UTC',
            FORCE_COLOR: '0',
            GIT_CONFIG_GLOBAL: '/dev/null',
            GIT_CONFIG_NOSYSTEM: '1',
            // The helm the test run already extracted (test/helpers/global-setup.ts).
            ...(process.env.STACKSWAP_HELM ? { STACKSWAP_HELM: process.env.STACKSWAP_HELM } : {}),
          },
          timeout: 150_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, output: `${stdout}${stderr}`, ms: Date.now() - started });
        },
      );
    });
  }

  /** The raw log of a job's last run (no prefixes), as gitlab-ci-local keeps it. */
  jobLog(job: string): Promise<string> {
    return readFile(this.stateFile('output', `${job}.log`), 'utf8');
  }

  /** The dotenv report a job published, parsed. */
  async dotenv(job: string, file: string): Promise<Record<string, string>> {
    const text = await readFile(
      this.stateFile('artifacts', job, '.gitlab-ci-reports', 'dotenv', file),
      'utf8',
    );
    return Object.fromEntries(
      text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  }

  /** `gitlab-ci-local --list-json`: every job with the `when` its rules gave it. */
  async jobs(variables: Record<string, string> = {}): Promise<Record<string, string>> {
    const args = [
      GITLAB_CI_LOCAL,
      '--home',
      this.home,
      '--list-json',
      ...Object.entries(variables).flatMap(([k, v]) => ['--variable', `${k}=${v}`]),
    ];
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        args,
        {
          cwd: this.checkout,
          env: { PATH: process.env.PATH, HOME: this.home, FORCE_COLOR: '0' },
          timeout: 60_000,
        },
        (error, out) => (error ? reject(error) : resolve(out)),
      );
    });
    // Warnings come first on the same stream; the list starts on a line of its own.
    const list = JSON.parse(stdout.slice(stdout.search(/^\[$/m))) as {
      name: string;
      when: string;
    }[];
    return Object.fromEntries(list.map((j) => [j.name, j.when]));
  }

  private stateFile(...parts: string[]): string {
    return path.join(this.checkout, '.gitlab-ci-local', ...parts);
  }
}
