/**
 * Conditions in CEL (the Kubernetes expression language) through @marcbachmann/cel-js: no
 * eval, no Function, type-checked when parsed. Analysis conditions see `result` (and `live` in
 * comparisons) as doubles; check assertions see `status` (int) and `body` (the JSON answer).
 */
import { Environment } from '@marcbachmann/cel-js';

export type ConditionKind = 'metric' | 'compare' | 'assertion';

function environment(kind: ConditionKind): Environment {
  const env = new Environment({ limits: { maxAstNodes: 500, maxDepth: 32 } });
  if (kind === 'assertion') {
    return env.registerVariable('status', 'int').registerVariable('body', 'dyn');
  }
  env.registerVariable('result', 'double');
  return kind === 'compare' ? env.registerVariable('live', 'double') : env;
}

export interface Condition {
  readonly source: string;
  /** True or false; throws ConditionError when the answer has no such field or type. */
  evaluate(vars: Record<string, unknown>): boolean;
}

export class ConditionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConditionError';
  }
}

/** Parses and type-checks; throws ConditionError with CEL's message (first line) when wrong. */
export function compileCondition(source: string, kind: ConditionKind): Condition {
  const env = environment(kind);
  let program: ReturnType<Environment['parse']>;
  try {
    program = env.parse(source);
    const checked = program.check();
    if (checked.valid && checked.type !== 'bool' && checked.type !== 'dyn') {
      throw new ConditionError(`must be true or false, not a ${checked.type}`);
    }
    if (!checked.valid) throw new ConditionError(firstLine(checked.error));
  } catch (e) {
    throw e instanceof ConditionError ? e : new ConditionError(firstLine(e));
  }
  return {
    source,
    evaluate(vars) {
      let value: unknown;
      try {
        value = program(toCel(vars) as Record<string, unknown>);
      } catch (e) {
        throw new ConditionError(firstLine(e));
      }
      if (typeof value !== 'boolean') {
        throw new ConditionError(`"${source}" gave ${String(value)}, not true or false`);
      }
      return value;
    },
  };
}

/** CEL has int and double: integers from JSON become ints (bigint), other numbers doubles. */
function toCel(value: unknown, top = true): unknown {
  if (top && value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        k === 'result' || k === 'live' ? v : toCel(v, false),
      ]),
    );
  }
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => toCel(v, false));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v, false)]));
  }
  return value;
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0]!.trim();
}
