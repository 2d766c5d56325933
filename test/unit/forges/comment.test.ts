import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  codePointLength,
  cutToCodePoints,
  renderPlanComment,
  splitComment,
  type Section,
  type StackPlanComment,
} from '../../../src/forges/comment.ts';
import { commentPart, FORGE_LIMITS } from '../../../src/forges/forge.ts';

/** No lone surrogate: the text is valid UTF-16 (String#isWellFormed, without ES2024 lib). */
function wellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

/**
 * Reads a part as CommonMark does for fences: returns the lines inside code blocks, and
 * whether the part ends outside any fence.
 */
function fencedLines(part: string): { lines: string[]; closed: boolean } {
  const lines: string[] = [];
  let open: number | undefined;
  for (const line of part.split('\n')) {
    if (open === undefined) {
      const m = /^ {0,3}(`{3,})[^`]*$/.exec(line);
      if (m) open = m[1]!.length;
    } else {
      const close = /^ {0,3}(`+)\s*$/.exec(line);
      if (close && close[1]!.length >= open) open = undefined;
      else lines.push(line);
    }
  }
  return { lines, closed: open === undefined };
}

const PIECES = [
  'a',
  'z',
  ' ',
  '-',
  '+',
  'é',
  'ß',
  '😀',
  '👨‍👩‍👧',
  'e\u0301',
  '中',
  '`',
  '```',
  '<',
  '&',
  '|',
];
const line = fc.array(fc.constantFrom(...PIECES), { maxLength: 30 }).map((p) => p.join(''));
const textLine = fc
  .array(fc.constantFrom(...PIECES.filter((p) => !p.includes('`'))), { maxLength: 30 })
  .map((p) => p.join(''));

const block = fc.oneof(
  fc.record({
    kind: fc.constant('code' as const),
    lang: fc.constant('diff'),
    lines: fc.array(line, { maxLength: 60 }),
    summary: fc.option(textLine, { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('text' as const),
    text: fc.array(textLine, { minLength: 1, maxLength: 8 }).map((l) => l.join('\n')),
  }),
);
const sections = fc.array(
  fc.record({
    title: fc.option(textLine, { nil: undefined }),
    blocks: fc.array(block, { maxLength: 5 }),
  }),
  { maxLength: 6 },
) as fc.Arbitrary<Section[]>;

const KEY = 'stackswap:plan:shop';

describe('splitComment (properties)', () => {
  it('every part fits, carries its marker, closes its fences, and no line is lost or split', () => {
    fc.assert(
      fc.property(sections, fc.integer({ min: 900, max: 4000 }), (input, limit) => {
        const parts = splitComment(input, { key: KEY, limit, maxParts: 1000, heading: 'plan' });
        const n = parts.length;
        expect(n).toBeGreaterThanOrEqual(1);
        const inside: string[] = [];
        parts.forEach((part, i) => {
          expect(codePointLength(part)).toBeLessThanOrEqual(limit);
          expect(wellFormed(part)).toBe(true);
          expect(commentPart(KEY, part)).toBe(i + 1);
          if (n > 1) expect(part).toContain(`(part ${i + 1}/${n})`);
          const f = fencedLines(part);
          expect(f.closed).toBe(true);
          inside.push(...f.lines);
          // <details> opened and closed in the same part.
          expect(part.split('<details>').length).toBe(part.split('</details>').length);
        });
        // Lines are short here, so none is cut: every code line arrives, in order, once.
        const expected = input.flatMap((s) =>
          s.blocks.flatMap((b) => (b.kind === 'code' ? [...b.lines] : [])),
        );
        expect(inside).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(sections, (input) => {
        const a = splitComment(input, { key: KEY, limit: 1200, heading: 'plan' });
        const b = splitComment(input, { key: KEY, limit: 1200, heading: 'plan' });
        expect(a).toEqual(b);
      }),
      { numRuns: 50 },
    );
  });

  it('with too few parts allowed: at most maxParts, each within the limit, ending with a note', () => {
    fc.assert(
      fc.property(sections, fc.integer({ min: 1, max: 3 }), (input, maxParts) => {
        const parts = splitComment(input, {
          key: KEY,
          limit: 1000,
          maxParts,
          heading: 'plan',
          fullUrl: 'https://ops/1',
        });
        expect(parts.length).toBeLessThanOrEqual(maxParts);
        for (const part of parts) {
          expect(codePointLength(part)).toBeLessThanOrEqual(1000);
          expect(fencedLines(part).closed).toBe(true);
        }
        const all = input.flatMap((s) =>
          s.blocks.flatMap((b) => (b.kind === 'code' ? [...b.lines] : [])),
        );
        const shown = parts.flatMap((p) => fencedLines(p).lines);
        if (shown.length < all.length)
          expect(parts.at(-1)).toMatch(
            /too long for the comment limit.*Full plan: https:\/\/ops\/1/s,
          );
      }),
      { numRuns: 200 },
    );
  });

  it('a line longer than any part is cut on a grapheme boundary, and says so', () => {
    const long = '😀'.repeat(5000) + 'e\u0301'.repeat(10);
    const parts = splitComment(
      [{ blocks: [{ kind: 'code', lang: 'diff', lines: ['+' + long] }] }],
      {
        key: KEY,
        limit: 1000,
        heading: 'plan',
      },
    );
    expect(parts).toHaveLength(1);
    expect(codePointLength(parts[0]!)).toBeLessThanOrEqual(1000);
    expect(wellFormed(parts[0]!)).toBe(true);
    expect(parts[0]).toContain('line cut');
  });
});

describe('counting what the forge counts', () => {
  it('code points, not UTF-16 units', () => {
    expect(codePointLength('😀')).toBe(1);
    expect('😀'.length).toBe(2);
    expect(codePointLength('e\u0301')).toBe(2);
    expect(cutToCodePoints('ab😀c', 3)).toBe('ab😀');
    expect(cutToCodePoints('ab👨‍👩‍👧', 3)).toBe('ab'); // a family is 5 code points: not split
  });

  it('a GitHub-sized plan of emoji lines: parts within 65,536 code points though longer in JS', () => {
    const diff = Array.from(
      { length: 9000 },
      (_, i) => `+  image: registry/app:${i}-😀😀😀😀😀`,
    ).join('\n');
    const parts = renderPlanComment(
      { ...basePlan, manifestDiff: [{ resource: 'shop/Deployment/api', diff }] },
      { limit: FORGE_LIMITS.github.commentChars },
    );
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(codePointLength(p)).toBeLessThanOrEqual(65_536);
    expect(parts.some((p) => p.length > 65_536 || codePointLength(p) > 60_000)).toBe(true);
    // The same plan fits one GitLab note.
    expect(
      renderPlanComment(
        { ...basePlan, manifestDiff: [{ resource: 'shop/Deployment/api', diff }] },
        { limit: FORGE_LIMITS.gitlab.commentChars },
      ),
    ).toHaveLength(1);
  });
});

const basePlan: StackPlanComment = {
  stack: 'shop',
  headSha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
  colour: 'green',
  operationUrl: 'https://stackswap.example/v1/operations/op-1',
  problems: [],
  valuesDiff:
    '--- a/apps/shop/values-green.yaml\n+++ b/apps/shop/values-green.yaml\n-  tag: 1.2.3\n+  tag: 1.2.4',
  manifestDiff: [
    {
      resource: 'shop/Deployment/api',
      diff: '-        image: api:1.2.3\n+        image: api:1.2.4',
    },
  ],
  verificationDiff: '',
};

describe('renderPlanComment', () => {
  it('one part: marker, verdict, values, manifests per resource, verification', () => {
    const [body, ...rest] = renderPlanComment(basePlan, { limit: 65_536 });
    expect(rest).toEqual([]);
    expect(body!.startsWith('<!-- stackswap:plan:shop -->\n')).toBe(true);
    expect(body).toContain(
      '✅ The plan is valid. Merging deploys it into the preview colour **green**.',
    );
    expect(body).toContain('`ec26c3e57ca3`');
    expect(body).toContain('<details><summary>shop/Deployment/api</summary>');
    expect(body).toContain('+        image: api:1.2.4');
    expect(body).toContain('+  tag: 1.2.4');
    expect(body).toContain('No change to the verification config.');
    expect(body).not.toContain('part 1/');
  });

  it('problems name the file, the line and the key', () => {
    const [body] = renderPlanComment(
      {
        ...basePlan,
        problems: [
          {
            file: 'releases/shop.yaml',
            line: 7,
            key: 'components.cart.version',
            message: 'not a valid OCI image tag',
          },
          {
            file: 'releases/shop.yaml',
            line: 3,
            key: 'components.nope',
            message: 'unknown component "nope"',
          },
        ],
      },
      { limit: 65_536 },
    );
    expect(body).toContain('❌ The plan is invalid: 2 problems.');
    expect(body).toContain(
      '- `releases/shop.yaml:7` `components.cart.version`: not a valid OCI image tag',
    );
    expect(body).toContain('- `releases/shop.yaml:3` `components.nope`: unknown component "nope"');
  });

  it('nothing changed: says so per section', () => {
    const [body] = renderPlanComment(
      { ...basePlan, valuesDiff: '', manifestDiff: [] },
      { limit: 65_536 },
    );
    expect(body).toContain('No change to the values.');
    expect(body).toContain('No change in the rendered manifests.');
  });

  it('a diff with backtick fences inside stays inside its block', () => {
    const [body] = renderPlanComment(
      {
        ...basePlan,
        manifestDiff: [
          {
            resource: 'shop/ConfigMap/readme',
            diff: '+  README: |\n+    ```\n+    code\n+    ```',
          },
        ],
      },
      { limit: 65_536 },
    );
    const inside = fencedLines(body!).lines;
    expect(inside).toContain('+    ```');
    expect(fencedLines(body!).closed).toBe(true);
  });
});
