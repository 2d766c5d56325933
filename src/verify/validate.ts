/**
 * The meaning of a stack's verification block, checked when the config is loaded (so at
 * `plan validate` and before any operation): PromQL parses with the official grammar, every
 * CEL condition parses and type-checks, templates use only known variables, direct check URLs
 * stay inside `allowedHosts`, and phases name checks and metrics that exist.
 */
import type { Colour } from '../config/names.ts';
import type { StackConfig, StackVerification } from '../config/stackswap-config.ts';
import { compileCondition, ConditionError, type ConditionKind } from './condition.ts';
import { checkUrl, parseHostPattern, type HostPattern } from '../shared/hosts.ts';
import { promqlProblem } from './promql.ts';
import {
  fillTemplate,
  promqlString,
  TEMPLATE_VARIABLES,
  unknownVariables,
  type TemplateValues,
} from './template.ts';

export interface VerificationProblem {
  key: (string | number)[];
  message: string;
}

export function verificationProblems(stack: StackConfig): VerificationProblem[] {
  const v = stack.verification;
  if (!v) return [];
  const problems: VerificationProblem[] = [];
  const at = (...key: (string | number)[]) => ['stacks', stack.name, 'verification', ...key];
  const allowed = allowedHostPatterns(v, (i, message) =>
    problems.push({ key: at('allowedHosts', i), message }),
  );
  const condition = (source: string | undefined, kind: ConditionKind, key: (string | number)[]) => {
    if (source === undefined) return;
    try {
      compileCondition(source, kind);
    } catch (e) {
      problems.push({
        key,
        message: `condition "${source}": ${e instanceof ConditionError ? e.message : String(e)}`,
      });
    }
  };
  const template = (text: string, key: (string | number)[]) => {
    const unknown = unknownVariables(text);
    if (unknown.length > 0) {
      problems.push({
        key,
        message: `unknown template variable {${unknown[0]}} (known: ${TEMPLATE_VARIABLES.map((t) => `{${t}}`).join(', ')})`,
      });
      return false;
    }
    return true;
  };
  unique(v.checks, (i, name) =>
    problems.push({ key: at('checks', i, 'name'), message: `duplicate check name ${name}` }),
  );
  unique(v.analysis, (i, name) =>
    problems.push({ key: at('analysis', i, 'name'), message: `duplicate analysis name ${name}` }),
  );

  v.checks.forEach((check, i) => {
    check.assert.forEach((a, j) => condition(a, 'assertion', at('checks', i, 'assert', j)));
    if (check.component && !stack.components.some((c) => c.name === check.component)) {
      problems.push({
        key: at('checks', i, 'component'),
        message: `unknown component ${check.component}`,
      });
    }
    if (check.via === 'direct' && check.url && template(check.url, at('checks', i, 'url'))) {
      for (const colour of ['blue', 'green'] as const) {
        const filled = fillTemplate(
          check.url,
          sampleValues(stack, colour, check.component),
          encodeURIComponent,
        );
        const verdict = checkUrl(filled, allowed);
        if (!verdict.ok) {
          problems.push({ key: at('checks', i, 'url'), message: `${filled}: ${verdict.reason}` });
          break;
        }
      }
    }
  });
  v.analysis.forEach((metric, i) => {
    if (metric.component && !stack.components.some((c) => c.name === metric.component)) {
      problems.push({
        key: at('analysis', i, 'component'),
        message: `unknown component ${metric.component}`,
      });
    }
    if (template(metric.query, at('analysis', i, 'query'))) {
      const filled = fillTemplate(
        metric.query,
        sampleValues(stack, 'blue', metric.component),
        promqlString,
      );
      const problem = promqlProblem(filled);
      if (problem) problems.push({ key: at('analysis', i, 'query'), message: problem.message });
    }
    const minRequests = metric.minRequests;
    if (minRequests && template(minRequests.query, at('analysis', i, 'minRequests', 'query'))) {
      const filled = fillTemplate(
        minRequests.query,
        sampleValues(stack, 'blue', metric.component),
        promqlString,
      );
      const problem = promqlProblem(filled);
      if (problem) {
        problems.push({ key: at('analysis', i, 'minRequests', 'query'), message: problem.message });
      }
    }
    condition(metric.successCondition, 'metric', at('analysis', i, 'successCondition'));
    condition(metric.failureCondition, 'metric', at('analysis', i, 'failureCondition'));
    condition(metric.compare, 'compare', at('analysis', i, 'compare'));
  });
  const names = (
    kind: 'checks' | 'analysis',
    selection: readonly string[] | undefined,
    key: (string | number)[],
  ) => {
    const known = new Set(v[kind].map((item) => item.name));
    selection?.forEach((name, j) => {
      if (!known.has(name))
        problems.push({
          key: [...key, j],
          message: `no ${kind === 'checks' ? 'check' : 'analysis'} named ${name}`,
        });
    });
  };
  names('checks', v.preSwap.checks, at('preSwap', 'checks'));
  names('analysis', v.preSwap.analysis, at('preSwap', 'analysis'));
  names('checks', v.steps.checks, at('steps', 'checks'));
  names('analysis', v.steps.analysis, at('steps', 'analysis'));
  names('checks', v.postSwap.checks, at('postSwap', 'checks'));
  names('analysis', v.postSwap.analysis, at('postSwap', 'analysis'));
  if (v.postSwap.window > 0 && v.postSwap.window >= stack.retentionMs) {
    problems.push({
      key: at('postSwap', 'window'),
      message: `the post-swap window must be shorter than the stack's retention (${stack.retentionMs / 1000}s), or the colour to revert to may be scaled down`,
    });
  }
  return problems;
}

export function allowedHostPatterns(
  v: Pick<StackVerification, 'allowedHosts'>,
  onProblem: (index: number, message: string) => void = () => {},
): HostPattern[] {
  const patterns: HostPattern[] = [];
  v.allowedHosts.forEach((text, i) => {
    const parsed = parseHostPattern(text);
    if (typeof parsed === 'string') onProblem(i, parsed);
    else patterns.push(parsed);
  });
  return patterns;
}

/** Image tag per component of one colour, as its values file says (stack-state.ts). */
export type ColourVersions = Readonly<Record<string, string | undefined>>;

/**
 * The template values of one colour of a stack; `{version}` is the tag of `component` (default
 * the stack's first) in `versions` (empty when unknown: such a query then finds no data).
 */
export function templateValues(
  stack: StackConfig,
  colour: Colour,
  component?: string,
  versions: ColourVersions = {},
): TemplateValues {
  const name = component ?? stack.components[0]!.name;
  return {
    namespace: stack.namespaces[colour],
    colour,
    stack: stack.name,
    component: name,
    version: versions[name] ?? '',
  };
}

/** For validation: a placeholder version, so that a templated URL or query can be checked. */
function sampleValues(stack: StackConfig, colour: Colour, component?: string): TemplateValues {
  const name = component ?? stack.components[0]!.name;
  return templateValues(stack, colour, name, { [name]: '0.0.0' });
}

function unique(
  items: readonly { name: string }[],
  onDuplicate: (index: number, name: string) => void,
) {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.name)) onDuplicate(i, item.name);
    seen.add(item.name);
  });
}
