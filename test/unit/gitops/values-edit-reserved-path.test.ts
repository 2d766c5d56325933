/**
 * A key path naming a reserved key (`__proto__`, `constructor`, `prototype`) is bad input: the
 * edit is refused up front (exit 2), not written and then caught as "the edited file no longer
 * parses ... this is a bug" (an internal error, exit 1).
 */
import { describe, expect, it } from 'vitest';
import { getScalar, setOrCreateValue, setValue } from '../../../src/gitops/values-edit.ts';
import { validationError } from '../../helpers/errors.ts';

const SOURCE = 'web:\n  image:\n    tag: "1.0"\n';
const opts = { file: 'apps/shop/values-blue.yaml' };

describe('key paths with reserved keys', () => {
  it.each([
    [['constructor', 'x'], 'constructor'],
    [['web', '__proto__'], '__proto__'],
    [['web', 'image', 'prototype', 'tag'], 'prototype'],
  ])('%j is refused by setOrCreateValue, setValue and getScalar', (path, key) => {
    for (const run of [
      () => setOrCreateValue(SOURCE, path, '1', opts),
      () => setValue(SOURCE, path, '1', opts),
      () => getScalar(SOURCE, path, opts),
    ]) {
      const e = validationError(run);
      expect(e.code).toBe('validation');
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe(`key path "${path.join('.')}" uses the reserved key ${key}`);
      expect(e.where).toEqual({ ...opts, key: path.join('.') });
      expect(e.describe()).toContain(
        `apps/shop/values-blue.yaml: ${path.join('.')}: key path "${path.join('.')}" uses the reserved key ${key}`,
      );
    }
  });

  it('longer keys that merely contain a reserved word are ordinary', () => {
    expect(setOrCreateValue(SOURCE, ['web', 'constructors'], 1, opts)).toBe(
      'web:\n  image:\n    tag: "1.0"\n  constructors: 1\n',
    );
  });
});
