/** stacks.<name>.promotion.viaMergeRequest in stackswap.yaml (issue 12 item 5). */
import { describe, expect, it } from 'vitest';
import { parseStructuralConfig } from '../../../src/core/config-file.ts';
import { isStackswapError } from '../../../src/shared/errors.ts';

const yaml = (promotion: string) =>
  `version: 1\nstacks:\n  shop:\n    components: [web]\n${promotion}`;

describe('promotion.viaMergeRequest', () => {
  it('defaults to never', () => {
    expect(parseStructuralConfig(yaml('')).stacks.get('shop')!.viaMergeRequest).toBe('never');
    expect(
      parseStructuralConfig(yaml('    promotion: {}\n')).stacks.get('shop')!.viaMergeRequest,
    ).toBe('never');
  });

  it.each(['never', 'fallback', 'always'] as const)('takes %s', (mode) => {
    const config = parseStructuralConfig(yaml(`    promotion:\n      viaMergeRequest: ${mode}\n`));
    expect(config.stacks.get('shop')!.viaMergeRequest).toBe(mode);
  });

  it('refuses anything else, naming the key and the line', () => {
    let error: unknown;
    try {
      parseStructuralConfig(yaml('    promotion:\n      viaMergeRequest: sometimes\n'));
    } catch (e) {
      error = e;
    }
    expect(isStackswapError(error) && error.exitCode).toBe(2);
    const e = error as { message: string; where?: { key?: string; line?: number } };
    expect(e.message).toMatch(/must be never, fallback or always/);
    expect(e.where?.key).toBe('stacks.shop.promotion.viaMergeRequest');
    expect(e.where?.line).toBe(6);
  });

  it('refuses unknown keys in the block', () => {
    expect(() => parseStructuralConfig(yaml('    promotion:\n      viaMR: always\n'))).toThrow(
      /viaMR/,
    );
  });
});
