/** Assertions on errors thrown synchronously, shared by the unit tests. */
import { expect } from 'vitest';
import { ValidationError } from '../../src/shared/errors.ts';

/** Runs `fn`, asserts it throws a ValidationError and returns it. */
export function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}
