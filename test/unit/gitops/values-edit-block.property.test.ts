/**
 * Property tests for block scalar rewrites: generated block scalars (literal and folded, every
 * chomping, with and without an indentation indicator, in maps and sequences, 2- and 4-space
 * files, LF and CRLF, followed by keys, blank lines, comments or the end of the file) get random
 * new strings. The checks use the yaml library directly, independently of the module under test.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parseDocument, isScalar } from 'yaml';
import { setValue } from '../../../src/gitops/values-edit.ts';

interface Case {
  style: '|' | '>';
  chomp: '' | '-' | '+';
  explicitIndent: boolean;
  step: 2 | 4;
  inSeq: boolean;
  nested: boolean;
  eol: '\n' | '\r\n';
  lines: string[];
  after: 'key' | 'blank-then-key' | 'comment' | 'eof' | 'eof-no-newline';
  headerComment: boolean;
}

const word = fc.stringMatching(/^[a-z][a-z0-9 ]{0,12}$/);

const blockCase: fc.Arbitrary<Case> = fc.record({
  style: fc.constantFrom('|' as const, '>' as const),
  chomp: fc.constantFrom('' as const, '-' as const, '+' as const),
  explicitIndent: fc.boolean(),
  step: fc.constantFrom(2 as const, 4 as const),
  inSeq: fc.boolean(),
  nested: fc.boolean(),
  eol: fc.constantFrom('\n' as const, '\r\n' as const),
  lines: fc.array(word, { minLength: 1, maxLength: 4 }),
  after: fc.constantFrom(
    'key' as const,
    'blank-then-key' as const,
    'comment' as const,
    'eof' as const,
    'eof-no-newline' as const,
  ),
  headerComment: fc.boolean(),
});

/** Renders the case; returns the source, the path of the block scalar and its line range. */
function render(c: Case): { source: string; path: string[]; firstLine: number; lastLine: number } {
  const lines: string[] = ['top: 1'];
  const path: string[] = [];
  let column = 0;
  if (c.nested) {
    lines.push('outer:');
    path.push('outer');
    column += c.step;
  }
  let headerPrefix: string;
  let base: number; // the indentation an indicator counts from
  if (c.inSeq) {
    lines.push(`${' '.repeat(column)}list:`);
    path.push('list', '0');
    const dash = column + c.step;
    headerPrefix = `${' '.repeat(dash)}- `;
    base = dash;
  } else {
    headerPrefix = `${' '.repeat(column)}text: `;
    path.push('text');
    base = column;
  }
  const content = (c.inSeq ? base : column) + c.step;
  const indicator = c.explicitIndent ? String(content - base) : '';
  const firstLine = lines.length;
  lines.push(`${headerPrefix}${c.style}${indicator}${c.chomp}${c.headerComment ? ' # note' : ''}`);
  for (const l of c.lines) lines.push(`${' '.repeat(content)}${l}`);
  const lastLine = lines.length - 1;
  let tail = '';
  if (c.after === 'key') tail = `next: 2${c.eol}`;
  else if (c.after === 'blank-then-key') tail = `${c.eol}${c.eol}next: 2${c.eol}`;
  else if (c.after === 'comment') tail = `# trailing comment${c.eol}next: 2${c.eol}`;
  const body = lines.join(c.eol);
  const source = c.after === 'eof-no-newline' ? body : body + c.eol + tail;
  return { source, path, firstLine, lastLine };
}

const newText: fc.Arbitrary<string> = fc.oneof(
  fc.array(word, { minLength: 1, maxLength: 5 }).map((ls) => ls.join('\n')),
  fc
    .tuple(fc.array(word, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 3 }))
    .map(([ls, n]) => ls.join('\n') + '\n'.repeat(n)),
  fc
    .array(
      fc.oneof(
        word,
        fc.constant(''),
        word.map((w) => `  ${w}`),
        word.map((w) => `\t${w}`),
      ),
      {
        minLength: 1,
        maxLength: 6,
      },
    )
    .map((ls) => ls.join('\n')),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', ' ', '\n', '\n\n', 'a\n  \nb', '# not a comment\nx: y\n', '---\n...\n'),
);

function valueAt(text: string, path: readonly string[], schema: 'core' | 'yaml-1.1'): unknown {
  let v: unknown = parse(text, { schema });
  for (const k of path) v = (v as Record<string, unknown>)[k];
  return v;
}

/** Text a block scalar can hold exactly here (the editor must then keep the block style). */
function representable(value: string, c: Case): boolean {
  const body = value.replace(/\n+$/, '');
  const trailing = value.length - body.length;
  if (!/^[\n\x20-\x7e]*$/.test(value) || body.trim() === '') return false;
  if (body.split('\n').some((l) => l !== '' && l.trim() === '')) return false;
  // Keep chomping counts the empty lines that follow into the value.
  if (trailing > 1 && c.after === 'blank-then-key') return false;
  return true;
}

describe('block scalar rewrites on generated files', () => {
  it('read back exactly, change only the block, and keep the block style when they can', () => {
    fc.assert(
      fc.property(blockCase, newText, (c, value) => {
        const { source, path, firstLine, lastLine } = render(c);
        const before = parse(source, { schema: 'core' }) as Record<string, unknown>;
        fc.pre(typeof valueAt(source, path, 'core') === 'string');

        const out = setValue(source, path, value);

        expect(valueAt(out, path, 'core')).toBe(value);
        expect(valueAt(out, path, 'yaml-1.1')).toBe(value);
        // Everything else reads the same.
        const after = parse(out, { schema: 'core' }) as Record<string, unknown>;
        expect(after.top).toBe(before.top);
        expect(after.next).toBe(before.next);
        // Lines before the header and after the block are byte-identical.
        const a = source.split(c.eol);
        const b = out.split(c.eol);
        expect(b.slice(0, firstLine)).toEqual(a.slice(0, firstLine));
        // With keep chomping the blank lines after the content belong to the block.
        const inBlock = c.chomp === '+' && c.after === 'blank-then-key' ? 2 : 0;
        const tailLines = a.slice(lastLine + 1 + inBlock);
        if (tailLines.length > 0 && !(tailLines.length === 1 && tailLines[0] === '')) {
          expect(b.slice(b.length - tailLines.length)).toEqual(tailLines);
        }
        // The header line keeps its comment.
        if (c.headerComment) expect(b[firstLine]).toMatch(/ # note$/);
        const node = parseDocument(out, { keepSourceTokens: true }).getIn(path, true);
        const isBlock = isScalar(node) && node.srcToken?.type === 'block-scalar';
        if (representable(value, c)) {
          expect(isBlock).toBe(true);
          expect(b[firstLine]).toContain(`${c.inSeq ? '- ' : ': '}${c.style}`);
        }
        if (/[\r]/.test(value) || value === '') expect(isBlock).toBe(false);
      }),
      { numRuns: 400 },
    );
  });
});
