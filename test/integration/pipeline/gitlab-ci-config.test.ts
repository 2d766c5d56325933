/**
 * The project's .gitlab-ci.yml against GitLab's own JSON schema (the pipeline editor's, a copy in
 * test/fixtures, draft-07), with Ajv configured as GitLab's spec/frontend/editor/schema/ci
 * tests configure it; then the jobs as GitLab resolves them (`extends` merged) checked for what
 * the pipeline promises: who may run what, in which order, with which environment and lock.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../helpers/cli.ts';
import { resolvedConfig } from './local-pipeline.ts';

const CI_FILE = path.join(projectRoot, '.gitlab-ci.yml');
const SCHEMA = fileURLToPath(new URL('../../fixtures/gitlab-ci-schema.json', import.meta.url));

type Config = Record<string, Record<string, unknown>>;

function compileSchema(): ValidateFunction {
  const ajv = new Ajv({ strictTypes: false, strictTuples: false, allowMatchingProperties: true });
  ajv.addKeyword('markdownDescription');
  // ajv-formats is CommonJS: under NodeNext its default import is the module object.
  const addFormats = ajvFormats as unknown as typeof ajvFormats.default;
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
}

function ciFile(): Config {
  return parse(readFileSync(CI_FILE, 'utf8')) as Config;
}

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('\n');
}

describe('.gitlab-ci.yml and GitLab’s CI schema', () => {
  const validate = compileSchema();

  it('is valid', () => {
    const valid = validate(ciFile());
    expect(describeErrors(validate.errors)).toBe('');
    expect(valid).toBe(true);
  });

  it.each([
    ['a `when` GitLab does not know', (c: Config) => (c.revert!.when = 'sometimes'), '/revert'],
    [
      'an environment action GitLab does not know',
      (c: Config) => ((c.swap!.environment as Record<string, unknown>).action = 'promote'),
      '/swap',
    ],
    ['a misspelt keyword', (c: Config) => (c.deploy!.resource_groups = 'x'), '/deploy'],
    [
      'stages that are not a list of names',
      (c: Config) => (c.stages = 'deploy' as unknown as Record<string, unknown>),
      '/stages',
    ],
  ])('rejects a copy with %s', (_, breakIt, where) => {
    const broken = ciFile();
    breakIt(broken);
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.some((e) => e.instancePath.startsWith(where))).toBe(true);
  });
});

describe('the jobs as GitLab resolves them', () => {
  let jobs: Config;
  const changeJobs = ['deploy', 'swap', 'revert', 'scale-down'];

  beforeAll(async () => {
    jobs = (await resolvedConfig(CI_FILE)) as Config;
  });

  it('has the stages in promotion order', () => {
    expect(ciFile().stages).toEqual(['validate', 'init', 'deploy', 'swap', 'revert', 'scale-down']);
  });

  it('sets no secret and no config-repo variable in the file', () => {
    const variables = Object.keys(ciFile().variables ?? {});
    expect(variables.filter((v) => /TOKEN|PASSWORD|SECRET/.test(v))).toEqual([]);
    // An empty STACKSWAP_REPO, STACKSWAP_BRANCH or ARGOCD_SERVER here would shadow nothing
    // useful and fail the CLI's environment validation: they come from the project settings.
    for (const v of ['STACKSWAP_REPO', 'STACKSWAP_BRANCH', 'ARGOCD_SERVER']) {
      expect(variables).not.toContain(v);
    }
  });

  it.each(changeJobs)('%s is manual, serialized per stack, never interrupted', (name) => {
    const job = jobs[name]!;
    expect(job.resource_group).toBe('stackswap-$STACKSWAP_STACK');
    expect(job.interruptible).toBe(false);
    expect(job.rules).toEqual([
      expect.objectContaining({ if: '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH', when: 'manual' }),
    ]);
    expect(job.needs).toContainEqual(expect.objectContaining({ job: 'init', artifacts: true }));
    const script = (job.script as string[]).join('\n');
    expect(script).toContain('--requested-by "$GITLAB_USER_LOGIN"');
    expect(script).toContain('--reason "pipeline $CI_PIPELINE_URL"');
    expect(script).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it('swap waits for this pipeline’s deploy and takes its dotenv report', () => {
    expect(jobs.swap!.needs).toContainEqual(
      expect.objectContaining({ job: 'deploy', artifacts: true }),
    );
    expect(jobs.deploy!.artifacts).toEqual({ reports: { dotenv: 'deploy.env' } });
  });

  it('maps the jobs to GitLab environments', () => {
    expect(jobs.deploy!.environment).toMatchObject({
      name: 'preview/$STACKSWAP_STACK',
      action: 'start',
      on_stop: 'scale-down',
    });
    for (const name of ['swap', 'revert']) {
      expect(jobs[name]!.environment).toEqual({
        name: 'production/$STACKSWAP_STACK',
        action: 'start',
      });
    }
    expect(jobs['scale-down']!.environment).toEqual({
      name: 'preview/$STACKSWAP_STACK',
      action: 'stop',
    });
  });

  it('init runs by itself on the default branch and publishes the dotenv report', () => {
    expect(jobs.init!.rules).toEqual([{ if: '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH' }]);
    expect(jobs.init!.artifacts).toEqual({ reports: { dotenv: 'stackswap.env' } });
    expect((jobs.init!.script as string[]).join('\n')).toContain('init --dotenv stackswap.env');
  });

  it('plan:validate runs only in merge requests that touch the plans or stackswap.yaml', () => {
    expect(jobs['plan:validate']!.rules).toEqual([
      {
        if: '$CI_PIPELINE_SOURCE == "merge_request_event"',
        changes: ['releases/**/*', 'stackswap.yaml'],
      },
    ]);
    expect((jobs['plan:validate']!.script as string[]).join('\n')).toContain('plan validate');
  });
});
