/**
 * Property tests: random values files (nested block maps, block and flow sequences, flow maps,
 * comments, blank lines, quoting styles, CRLF, document markers) and random new values. The
 * checks use the yaml library directly, independently of the module under test.
 */
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  setOrCreateValue,
  setValue,
  type ScalarValue,
  type ValuesNotice,
} from '../../../src/gitops/values-edit.ts';

// --- model -----------------------------------------------------------------------------------

interface Leaf {
  kind: 'leaf';
  /** Source text of the scalar; '' is an empty value (`key:`) in block maps. */
  text: string;
}
interface BlockMap {
  kind: 'map';
  entries: Entry[];
}
interface BlockSeq {
  kind: 'seq';
  items: (Leaf | BlockMap | FlowNode)[];
  /** `key:\n- a` rather than `key:\n  - a` */
  zeroIndent: boolean;
}
interface FlowMap {
  kind: 'flowMap';
  entries: [string, Leaf | FlowNode][];
  spaced: boolean;
}
interface FlowSeq {
  kind: 'flowSeq';
  items: (Leaf | FlowNode)[];
}
type FlowNode = FlowMap | FlowSeq;
type Node = Leaf | BlockMap | BlockSeq | FlowNode;
interface Entry {
  key: string;
  node: Node;
  commentBefore: string | null;
  blankBefore: boolean;
  commentAfter: { pad: number; text: string } | null;
}

interface Style {
  step: number;
  eol: '\n' | '\r\n';
  header: string | null;
  docStart: boolean;
  docEnd: boolean;
  finalNewline: boolean;
}

const AMBIGUOUS = [
  '1.10',
  '1e3',
  'true',
  'false',
  'yes',
  'no',
  'on',
  'off',
  'y',
  'n',
  'null',
  '~',
  '',
  '0x1F',
  '010',
  '0o17',
  '.inf',
  '-.inf',
  '.nan',
  '12:30',
  '1_000',
  '2024-01-02',
  '+1',
  '-0',
  '<<',
  '---',
];

/** Keys that read as strings under YAML 1.1 too (so the 1.1 read-back below can find them). */
const key = fc
  .stringMatching(/^[a-z][a-zA-Z0-9_-]{0,7}$/)
  .filter((k) => typeof parse(k, { schema: 'yaml-1.1' }) === 'string');
const word = fc.stringMatching(/^[a-z][a-z0-9.-]{0,10}$/);
const commentText = fc.string({ maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ' '));

/** Scalar source texts in all three flow styles (valid in block and in flow context). */
const scalarText: fc.Arbitrary<string> = fc.oneof(
  word,
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.constantFrom('true', 'false', 'null', '~', '1.10', '1.0', 'yes', 'v1.2.3'),
  fc.string({ maxLength: 12 }).map((s) => `'${s.replaceAll("'", "''")}'`),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => JSON.stringify(s)),
);

const leaf = scalarText.map((text): Leaf => ({ kind: 'leaf', text }));
const blockLeaf = fc
  .oneof({ weight: 9, arbitrary: scalarText }, { weight: 1, arbitrary: fc.constant('') })
  .map((text): Leaf => ({ kind: 'leaf', text }));

const { doc } = fc.letrec<{
  doc: BlockMap;
  map: BlockMap;
  node: Node;
  seq: BlockSeq;
  flow: FlowNode;
  flowMap: FlowMap;
  flowSeq: FlowSeq;
}>((tie) => ({
  doc: tie('map'),
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    { weight: 6, arbitrary: blockLeaf },
    { weight: 3, arbitrary: tie('map') },
    { weight: 1, arbitrary: tie('seq') },
    { weight: 1, arbitrary: tie('flow') },
  ),
  map: fc
    .uniqueArray(
      fc.record({
        key,
        node: tie('node'),
        commentBefore: fc.option(commentText, { freq: 4 }),
        blankBefore: fc.boolean(),
        commentAfter: fc.option(
          fc.record({ pad: fc.integer({ min: 1, max: 8 }), text: commentText }),
          {
            freq: 3,
          },
        ),
      }),
      { minLength: 1, maxLength: 5, selector: (e) => e.key },
    )
    .map((entries): BlockMap => ({ kind: 'map', entries })),
  seq: fc
    .record({
      items: fc.array(fc.oneof({ maxDepth: 3 }, leaf, tie('map'), tie('flow')), {
        minLength: 1,
        maxLength: 4,
      }),
      zeroIndent: fc.boolean(),
    })
    .map(({ items, zeroIndent }): BlockSeq => ({ kind: 'seq', items, zeroIndent })),
  flow: fc.oneof({ depthSize: 'small', maxDepth: 2 }, tie('flowMap'), tie('flowSeq')),
  flowMap: fc
    .record({
      entries: fc.uniqueArray(fc.tuple(key, fc.oneof({ maxDepth: 2 }, leaf, tie('flow'))), {
        maxLength: 4,
        selector: (e) => e[0],
      }),
      spaced: fc.boolean(),
    })
    .map(({ entries, spaced }): FlowMap => ({ kind: 'flowMap', entries, spaced })),
  flowSeq: fc
    .array(fc.oneof({ maxDepth: 2 }, leaf, tie('flow')), { maxLength: 4 })
    .map((items): FlowSeq => ({ kind: 'flowSeq', items })),
}));

const style: fc.Arbitrary<Style> = fc.record({
  step: fc.constantFrom(2, 4),
  eol: fc.constantFrom('\n' as const, '\r\n' as const),
  header: fc.option(commentText),
  docStart: fc.boolean(),
  docEnd: fc.boolean(),
  finalNewline: fc.boolean(),
});

// --- rendering -------------------------------------------------------------------------------

interface Rendered {
  source: string;
  /** Every scalar: its path and the 0-based line it is on. */
  leaves: { path: string[]; line: number }[];
  /** Every block map: its path and key column. */
  /** `keyLine`: 0-based line of the `key:` that opens the map (none for the root, seq items). */
  maps: { path: string[]; column: number; keys: string[]; keyLine?: number }[];
}

function render(root: BlockMap, s: Style): Rendered {
  const lines: string[] = [];
  const leaves: Rendered['leaves'] = [];
  const maps: Rendered['maps'] = [];
  if (s.header !== null) lines.push(`# ${s.header}`);
  if (s.docStart) lines.push('---');
  renderMap(root, 0, [], lines, leaves, maps, s);
  if (s.docEnd) lines.push('...');
  const source = lines.join(s.eol) + (s.finalNewline ? s.eol : '');
  return { source, leaves, maps };
}

function renderMap(
  map: BlockMap,
  column: number,
  path: string[],
  lines: string[],
  leaves: Rendered['leaves'],
  maps: Rendered['maps'],
  s: Style,
  /** Prefix for the first key line instead of indentation (`- ` for a map in a sequence). */
  firstPrefix?: string,
): void {
  const pad = ' '.repeat(column);
  const keyLine = firstPrefix === undefined && path.length > 0 ? lines.length - 1 : undefined;
  maps.push({
    path,
    column,
    keys: map.entries.map((e) => e.key),
    ...(keyLine !== undefined ? { keyLine } : {}),
  });
  map.entries.forEach((entry, i) => {
    const first = i === 0 && firstPrefix !== undefined;
    if (!first) {
      if (entry.blankBefore) lines.push('');
      if (entry.commentBefore !== null) lines.push(`${pad}# ${entry.commentBefore}`);
    }
    const lead = first ? firstPrefix : pad;
    const here = [...path, entry.key];
    const trailing = entry.commentAfter
      ? `${' '.repeat(entry.commentAfter.pad)}# ${entry.commentAfter.text}`
      : '';
    const { node } = entry;
    if (node.kind === 'leaf') {
      leaves.push({ path: here, line: lines.length });
      const gap = node.text === '' ? '' : ' ';
      lines.push(`${lead}${entry.key}:${gap}${node.text}${trailing}`);
    } else if (node.kind === 'flowMap' || node.kind === 'flowSeq') {
      const line = lines.length;
      lines.push(`${lead}${entry.key}: ${renderFlow(node, here, line, leaves)}${trailing}`);
    } else if (node.kind === 'map') {
      lines.push(`${lead}${entry.key}:${trailing}`);
      renderMap(node, column + s.step, here, lines, leaves, maps, s);
    } else {
      lines.push(`${lead}${entry.key}:${trailing}`);
      renderSeq(node, node.zeroIndent ? column : column + s.step, here, lines, leaves, maps, s);
    }
  });
}

function renderSeq(
  seq: BlockSeq,
  column: number,
  path: string[],
  lines: string[],
  leaves: Rendered['leaves'],
  maps: Rendered['maps'],
  s: Style,
): void {
  const dash = `${' '.repeat(column)}- `;
  seq.items.forEach((item, i) => {
    const here = [...path, String(i)];
    if (item.kind === 'leaf') {
      leaves.push({ path: here, line: lines.length });
      lines.push(`${dash}${item.text}`);
    } else if (item.kind === 'map') {
      renderMap(item, column + 2, here, lines, leaves, maps, s, dash);
    } else {
      const line = lines.length;
      lines.push(`${dash}${renderFlow(item, here, line, leaves)}`);
    }
  });
}

function renderFlow(
  node: Leaf | FlowNode,
  path: string[],
  line: number,
  leaves: Rendered['leaves'],
): string {
  if (node.kind === 'leaf') {
    leaves.push({ path, line });
    return node.text;
  }
  if (node.kind === 'flowSeq') {
    return `[${node.items.map((item, i) => renderFlow(item, [...path, String(i)], line, leaves)).join(', ')}]`;
  }
  const inner = node.entries
    .map(([k, v]) => `${k}: ${renderFlow(v, [...path, k], line, leaves)}`)
    .join(', ');
  return node.spaced && inner ? `{ ${inner} }` : `{${inner}}`;
}

// --- helpers ---------------------------------------------------------------------------------

const newValue: fc.Arbitrary<ScalarValue> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom(...AMBIGUOUS),
  fc.constantFrom('a: b', 'x #y', "it's", 'say "hi"', '[x]', '{y}', 'a,b', ' lead', 'trail '),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);

function getAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const k of path) node = (node as Record<string, unknown>)[k];
  return node;
}

/** `root` with `value` at `path`, creating maps as needed (a deep copy: the input is untouched). */
function withValue(root: unknown, path: readonly string[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(root)) {
    return root.map((item, i) => (String(i) === head ? withValue(item, rest, value) : item));
  }
  const base = (root ?? {}) as Record<string, unknown>;
  return { ...base, [head]: withValue(base[head], rest, value) };
}

function readCore(text: string): unknown {
  return parse(text, { schema: 'core', merge: true });
}

// --- properties ------------------------------------------------------------------------------

describe('setValue on generated values files', () => {
  it('changes exactly the target scalar, on its own line only', () => {
    fc.assert(
      fc.property(doc, style, fc.nat(), newValue, (root, s, pick, value) => {
        const { source, leaves } = render(root, s);
        fc.pre(leaves.length > 0);
        const target = leaves[pick % leaves.length]!;
        const before = readCore(source);

        const out = setValue(source, target.path, value);

        const after = readCore(out);
        expect(getAt(after, target.path)).toBe(value);
        expect(isDeepStrictEqual(after, withValue(before, target.path, value))).toBe(true);
        if (typeof value === 'string') {
          // Helm's Go parser follows YAML 1.1: the string must stay a string there too.
          expect(getAt(parse(out, { schema: 'yaml-1.1' }), target.path)).toBe(value);
        }
        const a = source.split('\n');
        const b = out.split('\n');
        expect(b).toHaveLength(a.length);
        b.forEach((line, i) => {
          if (i !== target.line) expect(line).toBe(a[i]);
        });
        if (s.eol === '\r\n')
          expect(b[target.line]!.endsWith('\r') || target.line === b.length - 1).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('setOrCreateValue on generated values files', () => {
  it('only inserts lines, at the siblings’ indentation, and changes nothing else', () => {
    fc.assert(
      fc.property(
        doc,
        style,
        fc.nat(),
        fc.array(
          key.map((k) => `n.${k}`),
          { minLength: 1, maxLength: 3 },
        ),
        newValue,
        (root, s, pick, newKeys, value) => {
          const { source, maps } = render(root, s);
          const parent = maps[pick % maps.length]!;
          const path = [...parent.path, ...newKeys];
          const before = readCore(source);

          const out = setOrCreateValue(source, path, value);

          const after = readCore(out);
          expect(getAt(after, path)).toBe(value);
          expect(isDeepStrictEqual(after, withValue(before, path, value))).toBe(true);

          // Pure insertion of whole lines: the input lines survive in order around them.
          const a = source.split('\n');
          const b = out.split('\n');
          let prefix = 0;
          while (prefix < a.length && a[prefix] === b[prefix]) prefix++;
          let suffix = 0;
          while (
            suffix < a.length - prefix &&
            a[a.length - 1 - suffix] === b[b.length - 1 - suffix]
          )
            suffix++;
          // At the end of a CRLF file without a final newline the last line gains the '\r'.
          const joined = prefix === a.length - 1 && suffix === 0 && b[prefix] === `${a[prefix]}\r`;
          expect(prefix + suffix === a.length || joined).toBe(true);
          expect(b.length - a.length).toBe(newKeys.length);
          const inserted = b.slice(joined ? prefix + 1 : prefix, b.length - suffix);
          expect(inserted).toHaveLength(newKeys.length);
          expect(inserted[0]).toMatch(new RegExp(`^ {${parent.column}}\\S`));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('setValue under an anchor, in a file with a duplicate key', () => {
  it('changes the anchored value where it is written; every alias and merge follows, and says so', () => {
    fc.assert(
      fc.property(doc, style, fc.nat(), fc.nat(), newValue, (root, s, pickMap, pickLeaf, value) => {
        fc.pre(!s.docEnd);
        const { source: plain, leaves, maps } = render(root, s);
        const anchorable = maps.filter((m) => m.keyLine !== undefined);
        fc.pre(anchorable.length > 0);
        const map = anchorable[pickMap % anchorable.length]!;
        const inside = leaves.filter((l) => map.path.every((k, i) => l.path[i] === k));
        fc.pre(inside.length > 0);
        const target = inside[pickLeaf % inside.length]!;
        const rest = target.path.slice(map.path.length);

        // Anchor the map, then add an alias of it, a merge of it and a duplicated key.
        const lines = plain.split(s.eol);
        const key = map.path[map.path.length - 1]!;
        lines[map.keyLine!] = lines[map.keyLine!]!.replace(`${key}:`, `${key}: &anchored`);
        const ending = s.finalNewline ? s.eol : '';
        const body = s.finalNewline ? lines.slice(0, -1) : lines;
        const extra = ['zz-alias-user: *anchored', 'zz-merge-user:', '  <<: *anchored'];
        const dupAt = body.length + extra.length;
        const source = [...body, ...extra, 'zz-dup: 1', 'zz-dup: 2'].join(s.eol) + ending;
        const read = (t: string) => parse(t, { schema: 'core', merge: true, uniqueKeys: false });
        const before = read(source) as Record<string, unknown>;

        const notices: ValuesNotice[] = [];
        const out = setValue(source, target.path, value, { onNotice: (n) => notices.push(n) });

        const after = read(out) as Record<string, unknown>;
        const expected = withValue(before, target.path, value) as Record<string, unknown>;
        expected['zz-alias-user'] = getAt(expected, map.path);
        expected['zz-merge-user'] = getAt(expected, map.path);
        expect(isDeepStrictEqual(after, expected)).toBe(true);
        expect(out.split(s.eol)).toHaveLength(source.split(s.eol).length);

        const changed = !isDeepStrictEqual(getAt(before, target.path), value);
        const alias = notices.filter((n) => n.kind === 'alias-changes');
        expect(alias.flatMap((n) => (n.kind === 'alias-changes' ? n.changes : []))).toEqual(
          changed
            ? [
                {
                  path: ['zz-alias-user', ...rest],
                  before: getAt(before, target.path),
                  after: value,
                  viaAlias: true,
                },
                {
                  path: ['zz-merge-user', ...rest],
                  before: getAt(before, target.path),
                  after: value,
                  viaAlias: true,
                },
              ]
            : [],
        );
        expect(notices.filter((n) => n.kind === 'duplicate-key')).toMatchObject([
          { path: ['zz-dup'], lines: [dupAt + 1, dupAt + 2] },
        ]);
      }),
      { numRuns: 200 },
    );
  });
});
