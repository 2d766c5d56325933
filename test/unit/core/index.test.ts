import { describe, expect, it } from 'vitest';
import { setValue } from '../../../src/index.ts';

describe('the library entry point', () => {
  it('exports setValue, which changes only the scalar and keeps its comment', () => {
    const source = '# header\nglobal:\n  live: blue   # edited by stackswap\n  replicas: 2\n';
    expect(setValue(source, ['global', 'live'], 'green')).toBe(
      '# header\nglobal:\n  live: green   # edited by stackswap\n  replicas: 2\n',
    );
    expect(setValue(source, ['global', 'replicas'], '1.10')).toContain('replicas: "1.10"');
  });
});
