/**
 * Reliability case 43 for files: a release plan or stackswap.yaml naming `__proto__`,
 * `constructor` or `prototype` is refused with its file, line and key, never silently dropped
 * (zod records drop an own `__proto__`) nor reported as an unknown component.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig, parsePlan } from '../../../src/core/load-config.ts';
import { ReleasePlanFile, parseSetPairs } from '../../../src/config/release-plan.ts';
import { validationError } from '../../helpers/errors.ts';

const shop = parseConfig('version: 1\nstacks:\n  shop:\n    components: [web, api]\n').stacks.get(
  'shop',
)!;

describe('release plan files', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('a component named %s is refused', (name) => {
    const source = `stack: shop\ncomponents:\n  web: "1.1.0"\n  ${name}: "1.1.0"\n  api: "1.1.0"\n`;
    const e = validationError(() => parsePlan(source, shop, 'releases/shop.yaml'));
    expect(e.message).toBe(`key ${name} is not allowed`);
    expect(e.where).toEqual({ file: 'releases/shop.yaml', key: `components.${name}`, line: 4 });
  });

  it('a __proto__ map hiding a component is refused, not read as a missing version', () => {
    const source = 'components:\n  web: "1.1.0"\n  __proto__:\n    api: "1.1.0"\n';
    const e = validationError(() => parsePlan(source, shop, 'releases/shop.yaml'));
    expect(e.message).toBe('key __proto__ is not allowed');
    expect(e.where?.line).toBe(3);
  });

  it('the plan schema refuses those names too, for plans that do not come from YAML', () => {
    const components: Record<string, string> = { web: '1.1.0', api: '1.1.0' };
    Object.defineProperty(components, '__proto__', { value: '1.1.0', enumerable: true });
    for (const plan of [
      { components },
      JSON.parse('{"components":{"web":"1.1.0","constructor":"1.1.0"}}') as unknown,
    ]) {
      const result = ReleasePlanFile.safeParse(plan);
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.message).toBe('component name not allowed');
    }
  });

  it('--set refuses them by name', () => {
    expect(() => parseSetPairs(['constructor=1.1.0'])).toThrow(
      '--set "constructor=1.1.0": component name not allowed',
    );
  });
});

describe('stackswap.yaml', () => {
  it('refuses a stack named like an object internal, with its line', () => {
    const e = validationError(() =>
      parseConfig(
        'version: 1\nstacks:\n  shop:\n    components: [web]\n  prototype:\n    components: [web]\n',
      ),
    );
    expect(e.message).toBe('key prototype is not allowed');
    expect(e.where).toEqual({ file: 'stackswap.yaml', key: 'stacks.prototype', line: 5 });
  });

  it('refuses a component named constructor in the list form (it would be a values key)', () => {
    const e = validationError(() =>
      parseConfig(
        'version: 1\nstacks:\n  shop:\n    components:\n      - web\n      - constructor\n',
      ),
    );
    expect(e.message).toBe('component name not allowed');
    expect(e.where).toEqual({ file: 'stackswap.yaml', key: 'stacks.shop.components.1', line: 6 });
  });

  it('refuses a key template that would write such a key into a values file', () => {
    const e = validationError(() =>
      parseConfig(
        'version: 1\nstacks:\n  shop:\n    components: [web]\n    values:\n      tagKey: "{component}.prototype.tag"\n',
      ),
    );
    expect(e.message).toBe('key prototype is not allowed');
    expect(e.where).toEqual({ file: 'stackswap.yaml', key: 'stacks.shop.values.tagKey', line: 6 });
  });
});
