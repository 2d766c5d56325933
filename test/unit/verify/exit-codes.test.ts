/** The new exit codes and HTTP statuses of verification, and `--steps` parsing. */
import { describe, expect, it } from 'vitest';
import { parseSteps } from '../../../src/cli/verify-command.ts';
import { ExitCode, StackswapError } from '../../../src/shared/errors.ts';

describe('verification errors', () => {
  it('map to exit 9 (stopped or rolled back), 10 (rollback failed), 11 (interrupted)', () => {
    expect(new StackswapError('verification-failed', 'x').exitCode).toBe(ExitCode.verification);
    expect(ExitCode.verification).toBe(9);
    expect(new StackswapError('rollback-failed', 'x').exitCode).toBe(10);
    expect(new StackswapError('verification-interrupted', 'x').exitCode).toBe(11);
    expect(new StackswapError('verification-failed', 'x').httpStatus).toBe(422);
  });
});

describe('--steps', () => {
  it('takes increasing percentages ending at 100', () => {
    expect(parseSteps('10,50,100')).toEqual([10, 50, 100]);
    expect(parseSteps('100')).toEqual([100]);
    for (const bad of ['10,50', '50,10,100', '0,100', '10,x,100', '10,50,101', '']) {
      expect(() => parseSteps(bad), bad).toThrow(/increasing whole percentages ending at 100/);
    }
  });
});
