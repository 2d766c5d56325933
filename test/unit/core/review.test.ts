import { describe, expect, it } from 'vitest';
import { diffRenders, isPlanFile, normalise } from '../../../src/core/review/index.ts';
import { planCommentTarget } from '../../../src/cli/plan-comment-command.ts';
import type { RenderedObject } from '../../../src/helm/render.ts';
import { UsageError } from '../../../src/shared/errors.ts';

const deployment = (image: string, checksum: string): RenderedObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', annotations: { 'checksum/config': checksum } },
  spec: { template: { spec: { containers: [{ name: 'web', image }] } } },
});

describe('isPlanFile', () => {
  it('takes stackswap.yaml, releases/*.yaml and configured plan files, nothing else', () => {
    expect(isPlanFile('stackswap.yaml')).toBe(true);
    expect(isPlanFile('releases/shop.yaml')).toBe(true);
    expect(isPlanFile('releases/shop.yml')).toBe(true);
    expect(isPlanFile('releases/old/shop.yaml')).toBe(false);
    expect(isPlanFile('apps/shop/values-blue.yaml')).toBe(false);
    expect(isPlanFile('sub/stackswap.yaml')).toBe(false);
    expect(isPlanFile('plans/shop.yaml', new Set(['plans/shop.yaml']))).toBe(true);
  });
});

describe('the rendered diff', () => {
  it('drops checksum annotations: a change of checksum alone is no change', () => {
    expect(diffRenders([deployment('a:1', 'x')], [deployment('a:1', 'y')], 'ns')).toEqual([]);
    const [d] = diffRenders([deployment('a:1', 'x')], [deployment('a:2', 'y')], 'ns');
    expect(d!.resource).toBe('ns/Deployment/web');
    expect(d!.diff).toMatch(/-\s+image: a:1\n\+\s+image: a:2/);
    expect(d!.diff).not.toContain('checksum');
  });

  it('names added and removed resources', () => {
    const diffs = diffRenders([deployment('a:1', 'x')], [], 'ns');
    expect(diffs[0]!.resource).toBe('ns/Deployment/web (removed)');
  });

  it('never shows a Secret value, but shows that it changed', () => {
    const secret = (v: string): RenderedObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { password: Buffer.from(v).toString('base64') },
      stringData: { token: v },
    });
    const shown = JSON.stringify(normalise(secret('hunter2')));
    expect(shown).not.toContain('hunter2');
    expect(shown).not.toContain(Buffer.from('hunter2').toString('base64'));
    const [d] = diffRenders([secret('hunter2')], [secret('hunter3')], 'ns');
    expect(d!.diff).toMatch(/-\s+password: \(secret value, sha256:[0-9a-f]{12}\)/);
    expect(d!.diff).not.toContain('hunter');
  });

  it('filters caBundle values', () => {
    const o = normalise({
      apiVersion: 'v1',
      kind: 'X',
      metadata: { name: 'x' },
      webhooks: [{ clientConfig: { caBundle: 'LS0t' } }],
    });
    expect(JSON.stringify(o)).not.toContain('LS0t');
  });
});

describe('plan comment: the merge request from the CI variables', () => {
  const ci = {
    CI_MERGE_REQUEST_IID: '12',
    CI_PROJECT_ID: '42',
    CI_PROJECT_PATH: 'platform/config',
    CI_COMMIT_SHA: 'a'.repeat(40),
    CI_MERGE_REQUEST_DIFF_BASE_SHA: 'b'.repeat(40),
    CI_JOB_URL: 'https://gitlab.example.com/-/jobs/1',
  };

  it('reads them, the project id first; flags win', () => {
    expect(planCommentTarget({}, ci)).toEqual({
      project: '42',
      number: 12,
      headSha: 'a'.repeat(40),
      baseSha: 'b'.repeat(40),
      targetUrl: 'https://gitlab.example.com/-/jobs/1',
    });
    expect(planCommentTarget({ mr: '3', project: 'g/p' }, ci)).toMatchObject({
      number: 3,
      project: 'g/p',
    });
    expect(
      planCommentTarget({}, { ...ci, CI_MERGE_REQUEST_SOURCE_BRANCH_SHA: 'c'.repeat(40) }).headSha,
    ).toBe('c'.repeat(40));
  });

  it.each([
    ['CI_MERGE_REQUEST_IID', '', /pass --mr or set CI_MERGE_REQUEST_IID/],
    ['CI_MERGE_REQUEST_IID', '12a', /is not a positive whole number/],
    ['CI_COMMIT_SHA', '', /pass --head-sha or set CI_COMMIT_SHA/],
    ['CI_COMMIT_SHA', 'main', /CI_COMMIT_SHA is not a commit SHA/],
    [
      'CI_MERGE_REQUEST_DIFF_BASE_SHA',
      'HEAD~1',
      /CI_MERGE_REQUEST_DIFF_BASE_SHA is not a commit SHA/,
    ],
  ])('%s=%j is a usage error (exit 2)', (key, value, message) => {
    const env = { ...ci, [key]: value };
    let error: unknown;
    try {
      planCommentTarget({}, env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(message);
  });

  it('no project: names both variables', () => {
    expect(() => planCommentTarget({}, { ...ci, CI_PROJECT_ID: '', CI_PROJECT_PATH: '' })).toThrow(
      /pass --project or set CI_PROJECT_ID or CI_PROJECT_PATH/,
    );
  });
});
