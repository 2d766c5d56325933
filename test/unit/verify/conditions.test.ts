/** CEL conditions, templates, host patterns and the PromQL grammar on their own. */
import { describe, expect, it } from 'vitest';
import { compileCondition, ConditionError } from '../../../src/verify/condition.ts';
import { checkUrl, parseHostPattern, type HostPattern } from '../../../src/shared/hosts.ts';
import { promqlProblem } from '../../../src/verify/promql.ts';
import {
  fillTemplate,
  promqlString,
  unknownVariables,
  withComponent,
} from '../../../src/verify/template.ts';

describe('conditions (CEL)', () => {
  it('judges metric values, comparisons with live, and JSON bodies', () => {
    expect(compileCondition('result < 0.02', 'metric').evaluate({ result: 0.01 })).toBe(true);
    expect(compileCondition('result < 0.02', 'metric').evaluate({ result: 0.5 })).toBe(false);
    const compare = compileCondition('result <= 2.0 * live', 'compare');
    expect(compare.evaluate({ result: 0.03, live: 0.02 })).toBe(true);
    expect(compare.evaluate({ result: 0.05, live: 0.02 })).toBe(false);
    const body = compileCondition('status == 200 && body.status == "ready"', 'assertion');
    expect(body.evaluate({ status: 200, body: { status: 'ready' } })).toBe(true);
    expect(body.evaluate({ status: 200, body: { status: 'starting' } })).toBe(false);
  });

  it('reports a missing field as a ConditionError, not a pass', () => {
    const c = compileCondition('body.checks.db == true', 'assertion');
    expect(() => c.evaluate({ status: 200, body: {} })).toThrow(ConditionError);
  });

  it('has no way out of the sandbox: no eval, no constructors, no globals', () => {
    for (const source of [
      'eval("1")',
      'this.constructor',
      'process.exit(1) == 1',
      'Function("")',
    ]) {
      expect(() => compileCondition(source, 'metric')).toThrow(ConditionError);
    }
  });
});

describe('templates', () => {
  it('fills known variables and lists unknown ones', () => {
    const values = {
      namespace: 'my-app-blue',
      colour: 'blue',
      stack: 'my-app',
      component: 'fe',
      version: '1.2.0',
    };
    expect(fillTemplate('x{namespace="{namespace}"}', values)).toBe('x{namespace="my-app-blue"}');
    expect(fillTemplate('x{component="{component}",version="{version}"}', values)).toBe(
      'x{component="fe",version="1.2.0"}',
    );
    expect(withComponent(values, 'be', { fe: '1.2.0', be: '2.0.0' })).toMatchObject({
      component: 'be',
      version: '2.0.0',
    });
    expect(unknownVariables('{namespace} {colour} {nope} {code=~"5.."}')).toEqual(['nope']);
    expect(promqlString('a"b\\')).toBe('a\\"b\\\\');
  });
});

describe('allowed hosts', () => {
  const allowed = ['*.svc.cluster.local', 'status.example.com:443', '127.0.0.1'].map(
    (p) => parseHostPattern(p) as HostPattern,
  );
  it('lets through only http(s) URLs on allowed hosts and ports', () => {
    expect(checkUrl('http://fe.ns.svc.cluster.local:8080/h', allowed).ok).toBe(true);
    expect(checkUrl('https://status.example.com/ready', allowed).ok).toBe(true);
    expect(checkUrl('http://status.example.com/ready', allowed).ok).toBe(false);
    expect(checkUrl('http://svc.cluster.local.evil.com/', allowed).ok).toBe(false);
    expect(checkUrl('http://169.254.169.254/', allowed).ok).toBe(false);
    expect(checkUrl('gopher://127.0.0.1/', allowed).ok).toBe(false);
    expect(checkUrl('http://a:b@127.0.0.1/', allowed).ok).toBe(false);
  });
  it('refuses a malformed pattern', () => {
    expect(typeof parseHostPattern('http://x/')).toBe('string');
  });
});

describe('PromQL grammar', () => {
  it('accepts valid queries and locates the first error', () => {
    expect(
      promqlProblem(
        'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))',
      ),
    ).toBeUndefined();
    expect(promqlProblem('sum(rate(foo[1m])')).toMatchObject({ at: 17 });
    expect(promqlProblem('rate(foo[1x])')).toBeDefined();
  });
});
