import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../../src/core/plan-diff.ts';

const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1}`);

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('f', 'a\n', 'a\n')).toBe('');
  });

  it('shows one change with three lines of context', () => {
    const before = lines(10);
    const after = [...before];
    after[4] = 'changed';
    expect(unifiedDiff('v.yaml', `${before.join('\n')}\n`, `${after.join('\n')}\n`)).toBe(
      [
        '--- a/v.yaml',
        '+++ b/v.yaml',
        '@@ -2,7 +2,7 @@',
        ' line 2',
        ' line 3',
        ' line 4',
        '-line 5',
        '+changed',
        ' line 6',
        ' line 7',
        ' line 8',
        '',
      ].join('\n'),
    );
  });

  it('splits distant changes into hunks with correct ranges', () => {
    const before = lines(30);
    const after = [...before];
    after[1] = 'two';
    after.splice(25, 1);
    const diff = unifiedDiff('f', `${before.join('\n')}\n`, `${after.join('\n')}\n`);
    expect(diff.match(/^@@ .* @@$/gm)).toEqual(['@@ -1,5 +1,5 @@', '@@ -23,7 +23,6 @@']);
    expect(diff).toContain('-line 26\n');
  });

  it('marks a created file and a missing final newline', () => {
    expect(unifiedDiff('new.yaml', '', 'a: 1\n', true)).toBe(
      '--- /dev/null\n+++ b/new.yaml\n@@ -0,0 +1 @@\n+a: 1\n',
    );
    expect(unifiedDiff('f', 'a', 'b')).toContain('-a\n\\ No newline at end of file\n');
  });

  it('handles insertions in the middle', () => {
    const diff = unifiedDiff('f', 'a\nb\nc\n', 'a\nb\nx\ny\nc\n');
    expect(diff).toBe('--- a/f\n+++ b/f\n@@ -1,3 +1,5 @@\n a\n b\n+x\n+y\n c\n');
  });
});
