/**
 * Map keys that mean something to JavaScript objects (`__proto__`, `constructor`, `prototype`)
 * are refused in every YAML file stackswap reads (reliability case 43): yaml's toJS keeps an own
 * `__proto__` property, which zod records then drop silently, and `constructor` reads through to
 * Object.prototype in naive lookups.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RESERVED_KEYS } from '../../../src/config/names.ts';
import { parseYamlDocument, parseYamlValue } from '../../../src/gitops/yaml-parse.ts';
import { getScalar, setValue } from '../../../src/gitops/values-edit.ts';
import { validationError } from '../../helpers/errors.ts';

describe('reserved map keys', () => {
  it('are __proto__, constructor and prototype', () => {
    expect([...RESERVED_KEYS].sort()).toEqual(['__proto__', 'constructor', 'prototype']);
  });

  it.each([
    ['__proto__:\n  admin: true\n', '__proto__', '__proto__', 1],
    ['a:\n  b:\n    constructor: 1\n', 'constructor', 'a.b.constructor', 3],
    ['list:\n  - name: x\n    prototype: y\n', 'prototype', 'list.0.prototype', 3],
    ['a: 1\nb: {c: {"constructor": {prototype: {}}}}\n', 'constructor', 'b.c.constructor', 2],
    ["x: 1\n'__proto__': 2\n", '__proto__', '__proto__', 2],
    // a double-quoted escape spells the same key
    ['x: 1\n"\\x5f_proto__": 2\n', '__proto__', '__proto__', 2],
    ['? __proto__\n: 1\n', '__proto__', '__proto__', 1],
    // under an anchor that a merge key would copy elsewhere
    ['base: &b\n  constructor: 1\nother:\n  <<: *b\n', 'constructor', 'base.constructor', 2],
    // an alias used as a key
    ['names: [&k __proto__]\nmap:\n  *k : 1\n', '__proto__', 'map.__proto__', 3],
  ])('%j: refused with file, line and key path', (source, key, path, line) => {
    const e = validationError(() => parseYamlDocument(source, { file: 'apps/shop/values.yaml' }));
    expect(e.message).toBe(`key ${key} is not allowed`);
    expect(e.where).toEqual({ file: 'apps/shop/values.yaml', key: path, line });
    expect(e.describe()).toContain(`apps/shop/values.yaml:${line}: ${path}: key ${key} is not`);
  });

  it('are refused before any schema sees them, and nothing is polluted', () => {
    const source = 'components:\n  web: "1.0"\n  __proto__: {admin: true}\n';
    const e = validationError(() =>
      parseYamlValue(source, z.object({ components: z.record(z.string(), z.unknown()) }), {
        file: 'releases/shop.yaml',
      }),
    );
    expect(e.where).toEqual({ file: 'releases/shop.yaml', key: 'components.__proto__', line: 3 });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('as values, or as parts of longer keys, are ordinary', () => {
    const source = [
      'name: constructor',
      'proto: __proto__',
      'constructors: 1',
      '__proto: 2',
      'prototypes: [prototype]',
      'Constructor: 3',
      '',
    ].join('\n');
    expect(parseYamlDocument(source).toJS()).toEqual({
      name: 'constructor',
      proto: '__proto__',
      constructors: 1,
      __proto: 2,
      prototypes: ['prototype'],
      Constructor: 3,
    });
  });

  it('in a values file: reading or editing it is refused', () => {
    const source = 'web:\n  image:\n    tag: "1.0"\n  constructor:\n    x: 1\n';
    const opts = { file: 'apps/shop/values-blue.yaml' };
    for (const run of [
      () => getScalar(source, ['web', 'image', 'tag'], opts),
      () => setValue(source, ['web', 'image', 'tag'], '1.1', opts),
    ]) {
      const e = validationError(run);
      expect(e.message).toBe('key constructor is not allowed');
      expect(e.where).toEqual({ ...opts, key: 'web.constructor', line: 4 });
    }
  });
});
