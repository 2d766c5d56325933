/**
 * The verification block as `plan validate` and every operation load it: bad PromQL, an
 * unknown template variable, a condition that does not parse, a check URL outside the allowed
 * hosts, and a phase naming nothing each fail with the key and line, before any release.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/core/load-config.ts';
import { validationError } from '../../helpers/errors.ts';

const EXAMPLE = readFileSync(new URL('../../../stackswap.yaml', import.meta.url), 'utf8');

function withVerification(block: string): string {
  return `version: 1
stacks:
  my-app:
    components: [my-frontend, my-backend]
    verification:
${block
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
`;
}

const GOOD = `allowedHosts: ['*.svc.cluster.local']
checks:
  - name: health
    via: direct
    url: http://{component}.{namespace}.svc.cluster.local:8080/healthz
    assert: ['body.status == "ready"']
analysis:
  - name: error-rate
    query: sum(rate(http_requests_total{namespace="{namespace}",code=~"5.."}[1m]))
    successCondition: result < 0.02
    compare: result <= 2.0 * live
steps:
  weights: [10, 50, 100]`;

describe('verification config', () => {
  it('accepts the example and a full block, with defaults filled in', () => {
    const example = parseConfig(EXAMPLE).stacks.get('my-app')!;
    expect(example.verification).toBeDefined();
    const v = parseConfig(withVerification(GOOD)).stacks.get('my-app')!.verification!;
    expect(v.weightKey).toEqual(['global', 'previewWeight']);
    expect(v.onInconclusive).toBe('hold');
    expect(v.postSwap.onFailure).toBe('revert');
    expect(v.analysis[0]).toMatchObject({ onNoData: 'inconclusive', failureLimit: 0, count: 3 });
    expect(v.checks[0]).toMatchObject({ timeout: 5000, expectStatus: [200], method: 'GET' });
  });

  it('refuses PromQL that does not parse, naming the key and line', () => {
    const e = validationError(() => parseConfig(withVerification(GOOD.replace('[1m]))', '[1m])'))));
    expect(e.message).toMatch(/^PromQL syntax error at character \d+/);
    expect(e.where).toMatchObject({
      file: 'stackswap.yaml',
      key: 'stacks.my-app.verification.analysis.0.query',
      line: 14,
    });
  });

  it('checks minRequests: its PromQL and template variables, and a whole count of at least 1', () => {
    const withMin = (count: string, query: string) =>
      withVerification(
        GOOD.replace(
          '    successCondition: result < 0.02\n',
          `    successCondition: result < 0.02\n    minRequests:\n      count: ${count}\n      query: '${query}'\n`,
        ),
      );
    const good = parseConfig(
      withMin('50', 'sum(increase(http_requests_total{namespace="{namespace}"}[1m]))'),
    );
    expect(good.stacks.get('my-app')!.verification!.analysis[0]!.minRequests).toEqual({
      count: 50,
      query: 'sum(increase(http_requests_total{namespace="{namespace}"}[1m]))',
    });
    const bad = validationError(() =>
      parseConfig(withMin('50', 'sum(increase(http_requests_total[1m])')),
    );
    expect(bad.message).toMatch(/^PromQL syntax error/);
    expect(bad.where?.key).toBe('stacks.my-app.verification.analysis.0.minRequests.query');
    const unknown = validationError(() =>
      parseConfig(withMin('50', 'sum(increase(http_requests_total{ns="{nmespace}"}[1m]))')),
    );
    expect(unknown.message).toMatch(/unknown template variable \{nmespace\}/);
    const zero = validationError(() => parseConfig(withMin('0', 'vector(1)')));
    expect(zero.where?.key).toBe('stacks.my-app.verification.analysis.0.minRequests.count');
  });

  it('refuses an unknown template variable', () => {
    const e = validationError(() =>
      parseConfig(withVerification(GOOD.replace('{namespace}"', '{namespce}"'))),
    );
    expect(e.message).toMatch(/unknown template variable \{namespce\}/);
    expect(e.where?.key).toBe('stacks.my-app.verification.analysis.0.query');
  });

  it('accepts {version} and a metric component, refuses a component the stack lacks', () => {
    const scoped = GOOD.replace(
      '    query: sum(rate(http_requests_total{namespace="{namespace}",',
      '    component: my-backend\n    query: sum(rate(http_requests_total{namespace="{namespace}",component="{component}",version="{version}",',
    );
    const v = parseConfig(withVerification(scoped)).stacks.get('my-app')!.verification!;
    expect(v.analysis[0]).toMatchObject({ component: 'my-backend' });
    const e = validationError(() =>
      parseConfig(withVerification(scoped.replace('component: my-backend', 'component: my-db'))),
    );
    expect(e.message).toMatch(/unknown component my-db/);
    expect(e.where?.key).toBe('stacks.my-app.verification.analysis.0.component');
  });

  it('refuses conditions that do not parse or are not true/false', () => {
    for (const [bad, pattern] of [
      ['result <', /condition "result <": Unexpected token/],
      ['result * 2.0', /must be true or false, not a double/],
      ['resul < 1', /Unknown variable: resul/],
      ['result <= 2 * live', /no such overload/],
    ] as const) {
      const e = validationError(() =>
        parseConfig(
          withVerification(GOOD.replace('compare: result <= 2.0 * live', `compare: '${bad}'`)),
        ),
      );
      expect(e.message).toMatch(pattern);
      expect(e.where?.key).toBe('stacks.my-app.verification.analysis.0.compare');
    }
  });

  it('refuses a check URL that leaves the allowed hosts or is not http(s)', () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data',
      'file:///etc/passwd',
      'http://user:pw@my-frontend.{namespace}.svc.cluster.local/',
    ]) {
      const e = validationError(() =>
        parseConfig(
          withVerification(
            GOOD.replace(
              'url: http://{component}.{namespace}.svc.cluster.local:8080/healthz',
              `url: '${url}'`,
            ),
          ),
        ),
      );
      expect(e.where?.key).toBe('stacks.my-app.verification.checks.0.url');
      expect(e.message).toMatch(/allowedHosts|only http and https|credentials/);
    }
  });

  it('refuses a phase naming no check or analysis, and weights that do not end at 100', () => {
    const e = validationError(() =>
      parseConfig(withVerification(`${GOOD}\npreSwap:\n  analysis: [error-rat]`)),
    );
    expect(e.message).toBe('no analysis named error-rat');
    const w = validationError(() =>
      parseConfig(withVerification(GOOD.replace('[10, 50, 100]', '[10, 50]'))),
    );
    expect(w.message).toBe('the last weight must be 100');
  });

  it('refuses an analysis without a condition', () => {
    const e = validationError(() =>
      parseConfig(withVerification(GOOD.replace('    successCondition: result < 0.02\n', ''))),
    );
    expect(e.message).toMatch(/needs successCondition or failureCondition/);
  });
});
