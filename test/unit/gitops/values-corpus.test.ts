/**
 * Edits real-world Helm values files (test/fixtures/values-corpus, see SOURCES.md there) and
 * checks that each edit changes one scalar and nothing else.
 *
 * Per file, scalars of every style are chosen deterministically (block scalars and scalars under
 * an anchor that some alias uses among them) and edited from the end of the file backwards, so
 * the offsets of the targets still to edit stay valid. Each edit is checked textually (only the
 * target scalar's bytes and lines changed) and by its notices (an alias-changes notice exactly
 * when, and naming exactly the paths where, an independent re-parse shows other values changed;
 * the file's duplicate keys). After all edits one independent re-parse with the yaml library
 * checks the whole file against the same edits made on yaml's own node tree: every edited path
 * reads back its new value, every alias follows, nothing else changed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CST, isAlias, isMap, isScalar, isSeq, parse, parseDocument, visit } from 'yaml';
import type { Pair } from 'yaml';
import { ValidationError } from '../../../src/shared/errors.ts';
import { setValue, type ScalarValue, type ValuesNotice } from '../../../src/gitops/values-edit.ts';
import { lineAt, parseYamlSource } from '../../../src/gitops/yaml-parse.ts';

const DIR = fileURLToPath(new URL('../../fixtures/values-corpus/', import.meta.url));
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/** Files with a key written twice in one map: the duplicated paths (checked both ways). */
const EXPECTED_DUPLICATES: Record<string, string[][]> = {
  'mastodon_chart__values.yaml': [['redis', 'replica']],
};

/** The yaml library's own reading, as Helm reads: merges resolved, the last duplicate wins. */
const READ = { schema: 'core', merge: true, uniqueKeys: false } as const;

const FULL = process.env.STACKSWAP_CORPUS_FULL === '1';
/** Block scalar edits per file, on top of editsFor (every block scalar in full mode). */
const BLOCK_EDITS = 6;

/**
 * Edits per file: up to 20, fewer (at least 4) for the largest files so the suite stays quick.
 * STACKSWAP_CORPUS_FULL=1 makes it 20 everywhere plus every block scalar (several times slower).
 */
function editsFor(bytes: number): number {
  if (FULL) return 20;
  return Math.max(4, Math.min(20, Math.floor(300_000 / bytes)));
}

const NEW_VALUES: readonly ScalarValue[] = [
  '1.10',
  'v2.3.4',
  'yes',
  42,
  true,
  null,
  '',
  'with: colon # hash',
  'héllo ✓ 日本',
  '0x1F',
  3.5,
  'off',
  "it's",
  '12:30',
  'plain-value',
  false,
  '1e3',
  '~',
  'say "hi"',
  '010',
  'a,b]',
];

/** New values for block scalar targets: block-friendly text and the cases that need care. */
const BLOCK_VALUES: readonly ScalarValue[] = [
  'first line\nsecond line\n',
  'no trailing newline\nat all',
  '  leading spaces\nneed an indicator\n',
  'kept\ntrailing\n\n\n',
  'one line',
  'folded words\nnext\n\n  more indented\nend\n',
  '#!/bin/sh\necho "hi: there" # not a comment\n',
  7,
  '',
  'tab\there\n',
];

type Style =
  'plain' | 'number' | 'boolean' | 'null' | 'empty' | 'single' | 'double' | 'flow' | 'block';

interface Target {
  path: string[];
  style: Style;
  /** Under (or carrying) an anchor that some alias uses: other paths may change with it. */
  shared: boolean;
  /** Byte range that may change: the scalar's source (or the insertion point of an empty value). */
  start: number;
  end: number;
  current: unknown;
}

interface Refusal {
  path: string[];
  kind: 'alias' | 'duplicate key';
}

const totals = {
  files: 0,
  edits: 0,
  sharedEdits: 0,
  aliasPathsNamed: 0,
  blockKept: 0,
  blockToQuoted: 0,
  duplicateWarnings: 0,
  refusals: 0,
  byStyle: {} as Record<string, number>,
};

afterAll(() => {
  console.info(
    `values corpus: ${totals.edits} edits verified in ${totals.files} files ` +
      `(${JSON.stringify(totals.byStyle)}); ${totals.sharedEdits} edits under an aliased anchor ` +
      `naming ${totals.aliasPathsNamed} alias-affected paths; block scalars: ${totals.blockKept} ` +
      `kept as blocks, ${totals.blockToQuoted} rewritten as one-line scalars; ` +
      `${totals.duplicateWarnings} duplicate-key warnings; ${totals.refusals} refusals checked`,
  );
});

describe('values corpus', () => {
  it('has the 59 files and their SOURCES.md', () => {
    expect(FILES).toHaveLength(59);
    expect(readFileSync(`${DIR}SOURCES.md`, 'utf8')).toContain('Real-world Helm values files');
  });

  it('lists only duplicates that exist', () => {
    for (const name of Object.keys(EXPECTED_DUPLICATES)) expect(FILES).toContain(name);
  });

  it.each(FILES)('%s', (name) => {
    const source = readFileSync(DIR + name, 'utf8');
    totals.files++;

    const parsed = parseYamlSource(source, { file: name, duplicateKeys: 'last-wins' });
    const duplicates = EXPECTED_DUPLICATES[name] ?? [];
    expect(parsed.duplicates.map((d) => d.path)).toEqual(duplicates);

    const { targets, refusals } = collect(source);
    const chosen = choose(targets, editsFor(Buffer.byteLength(source)));
    expect(chosen.length).toBeGreaterThan(0);

    // Edit from the end of the file backwards: earlier offsets stay valid.
    chosen.sort((a, b) => b.start - a.start);
    let text = source;
    const edits: [string[], ScalarValue][] = [];
    chosen.forEach((target, i) => {
      const value =
        target.style === 'block'
          ? pick(BLOCK_VALUES, i + name.length, target.current)
          : pick(NEW_VALUES, i + name.length, target.current);
      const notices: ValuesNotice[] = [];
      const out = setValue(text, target.path, value, {
        file: name,
        onNotice: (n) => notices.push(n),
      });
      assertConfined(text, out, target, name);
      checkNotices(text, out, target, notices, duplicates, name);
      if (target.style === 'block') {
        if (blockTokenAt(out, target.path)) totals.blockKept++;
        else totals.blockToQuoted++;
        if (typeof value === 'string' && /^[a-z ]+\n[a-z ]+\n$/.test(value)) {
          // Plain text lines with one final line break: always representable as a block.
          expect(blockTokenAt(out, target.path), `${name}: ${target.path.join('.')}`).toBe(true);
        }
      }
      edits.push([target.path, value]);
      totals.byStyle[target.style] = (totals.byStyle[target.style] ?? 0) + 1;
      text = out;
    });

    // One independent check for all edits: the same edits made on the yaml library's own node
    // tree (so aliases of an edited anchor follow), resolved, against the edited text's reading.
    const model = parseDocument(source, READ);
    for (const [path, value] of edits) {
      const node = model.getIn(path, true);
      if (isScalar(node)) node.value = value;
      else model.setIn(path, value);
    }
    const expected = model.toJS({ maxAliasCount: 1000 });
    const actual = parse(text, { ...READ, maxAliasCount: 1000 });
    for (const [path, value] of edits) expect(getAt(actual, path), path.join('.')).toBe(value);
    if (!isDeepStrictEqual(actual, expected)) {
      expect.fail(
        `${name}: the edits changed more than their paths: ${firstDifference(expected, actual)}`,
      );
    }
    totals.edits += edits.length;

    for (const refusal of [
      ...refusals.slice(0, 3),
      ...refusals.filter((r) => r.kind !== 'alias'),
    ]) {
      let error: unknown;
      try {
        setValue(source, refusal.path, 'x', { file: name });
      } catch (e) {
        error = e;
      }
      expect(error, `${refusal.kind} at ${refusal.path.join('.')}`).toBeInstanceOf(ValidationError);
      const e = error as ValidationError;
      expect(e.where?.file).toBe(name);
      expect(e.where?.line).toBeGreaterThan(0);
      if (refusal.kind === 'alias') {
        expect(e.where?.key).toBe(refusal.path.join('.'));
        expect(e.message).toContain('is an alias');
      } else {
        const dup = parsed.duplicates.find((d) => isDeepStrictEqual(d.path, refusal.path))!;
        expect(e.where?.key).toBe(refusal.path.join('.'));
        expect(e.where?.line).toBe(dup.lines.at(-1));
        expect(e.message).toContain(`on lines ${dup.lines.join(' and ')}`);
      }
      totals.refusals++;
    }
  });
});

/**
 * The notices of one edit: duplicate-key warnings for exactly the file's duplicates, and an
 * alias-changes notice exactly when an independent re-parse shows other paths changed (named
 * exactly); never for a target no aliased anchor covers.
 */
function checkNotices(
  before: string,
  after: string,
  target: Target,
  notices: readonly ValuesNotice[],
  duplicates: readonly string[][],
  name: string,
): void {
  const where = `${name}: ${target.path.join('.')}`;
  const dups = notices.filter((n) => n.kind === 'duplicate-key');
  expect(
    dups.map((n) => n.path),
    where,
  ).toEqual(duplicates);
  for (const n of dups)
    expect(n.message, where).toMatch(
      /warning: duplicate key .* Helm reads the last one, line \d+$/,
    );
  totals.duplicateWarnings += dups.length;

  const alias = notices.filter((n) => n.kind === 'alias-changes');
  if (!target.shared) {
    expect(alias, where).toEqual([]);
    return;
  }
  totals.sharedEdits++;
  const changed = leafDiff(parse(before, READ), parse(after, READ))
    .filter((p) => !isDeepStrictEqual(p, target.path))
    .map((p) => p.join('.'))
    .sort();
  const named = alias.flatMap((n) => (n.kind === 'alias-changes' ? n.changes : []));
  expect(named.map((c) => c.path.join('.')).sort(), where).toEqual(changed);
  expect(
    named.every((c) => c.viaAlias),
    where,
  ).toBe(true);
  expect(alias.length, where).toBe(changed.length > 0 ? 1 : 0);
  totals.aliasPathsNamed += named.length;
}

/** Leaf paths whose values differ (a test-side diff, independent of values-diff.ts). */
function leafDiff(a: unknown, b: unknown, at: string[] = []): string[][] {
  if (isDeepStrictEqual(a, b)) return [];
  const container = (v: unknown) => typeof v === 'object' && v !== null;
  if (!container(a) || !container(b) || Array.isArray(a) !== Array.isArray(b)) return [at];
  const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
  return [...keys].flatMap((k) =>
    leafDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], [...at, k]),
  );
}

/** True when the value at `path` in `text` is written as a block scalar. */
function blockTokenAt(text: string, path: readonly string[]): boolean {
  const doc = parseDocument(text, { ...READ, keepSourceTokens: true });
  const node = doc.getIn(path, true);
  return isScalar(node) && node.srcToken?.type === 'block-scalar';
}

/** Every editable scalar with its style, and the targets the editor must refuse. */
function collect(source: string): { targets: Target[]; refusals: Refusal[] } {
  const { doc } = parseYamlSource(source, { duplicateKeys: 'last-wins' });
  const aliased = new Set<string>();
  visit(doc, {
    Alias(_k, alias) {
      aliased.add(alias.source);
    },
  });
  const targets: Target[] = [];
  const refusals: Refusal[] = [];
  const stack: { node: unknown; path: string[]; inFlow: boolean; shared: boolean; pair?: Pair }[] =
    [{ node: doc.contents, path: [], inFlow: false, shared: false }];
  while (stack.length > 0) {
    const { node, path, inFlow, shared, pair } = stack.pop()!;
    if (isAlias(node)) {
      refusals.push({ path, kind: 'alias' });
      continue;
    }
    const anchor = (node as { anchor?: string } | null)?.anchor;
    const under = shared || (anchor !== undefined && aliased.has(anchor));
    if (isMap(node)) {
      const keys = node.items.map((p) =>
        isScalar(p.key) && typeof p.key.value === 'string' ? p.key.value : undefined,
      );
      node.items.forEach((p, i) => {
        const key = keys[i];
        if (key === undefined || key === '<<') return;
        if (keys.indexOf(key) !== i) return;
        if (keys.lastIndexOf(key) !== i) {
          // A key written twice: editing through it is refused (Helm reads the last one).
          refusals.push({ path: [...path, key], kind: 'duplicate key' });
          return;
        }
        stack.push({
          node: p.value,
          path: [...path, key],
          inFlow: Boolean(node.flow),
          shared: under,
          pair: p,
        });
      });
    } else if (isSeq(node)) {
      node.items.forEach((item, i) =>
        stack.push({
          node: item,
          path: [...path, String(i)],
          inFlow: Boolean(node.flow),
          shared: under,
        }),
      );
    } else if (isScalar(node) && path.length > 0 && node.tag === undefined) {
      const token = node.srcToken;
      if (token?.type === 'block-scalar') {
        const end = token.offset + token.props.map((t) => CST.stringify(t)).join('').length;
        targets.push({
          path,
          style: 'block',
          shared: under,
          start: token.offset,
          end: end + token.source.length,
          current: node.value,
        });
      } else if (token && token.type !== 'alias') {
        const style: Style = inFlow
          ? 'flow'
          : token.type === 'single-quoted-scalar'
            ? 'single'
            : token.type === 'double-quoted-scalar'
              ? 'double'
              : node.value === null
                ? 'null'
                : typeof node.value === 'number'
                  ? 'number'
                  : typeof node.value === 'boolean'
                    ? 'boolean'
                    : 'plain';
        const end = token.offset + (token as CST.FlowScalar).source.length;
        targets.push({ path, style, shared: under, start: token.offset, end, current: node.value });
      } else if (!token && node.value === null && !node.anchor && pair) {
        const colon = pair.srcToken?.sep?.find((t) => t.type === 'map-value-ind');
        if (colon) {
          // The text goes right after the colon, or after the one space that follows it.
          const start = colon.offset + 1;
          const end = source[start] === ' ' ? start + 1 : start;
          targets.push({ path, style: 'empty', shared: under, start, end, current: null });
        }
      }
    }
  }
  targets.sort((a, b) => a.start - b.start);
  return { targets, refusals };
}

/** A new value from a mix, never the current one (a no-op edit would prove nothing). */
function pick(values: readonly ScalarValue[], seed: number, current: unknown): ScalarValue {
  for (let i = 0; ; i++) {
    const value = values[(seed + i) % values.length]!;
    if (value !== current) return value;
  }
}

/** Up to 3 shared targets and 3 of each style (evenly spread), then others, up to `max` in all. */
function choose(targets: readonly Target[], max: number): Target[] {
  const chosen = new Set<Target>();
  const styles: Style[] = [
    'plain',
    'number',
    'boolean',
    'null',
    'empty',
    'single',
    'double',
    'flow',
  ];
  for (const t of spread(
    targets.filter((t) => t.shared),
    3,
  )) {
    if (chosen.size < max) chosen.add(t);
  }
  for (const style of styles) {
    for (const t of spread(
      targets.filter((t) => t.style === style),
      3,
    )) {
      if (chosen.size < max) chosen.add(t);
    }
  }
  for (const t of spread(targets, targets.length)) {
    if (chosen.size >= max) break;
    chosen.add(t);
  }
  // Block scalars on top of the budget: up to BLOCK_EDITS per file (all of them in full mode).
  const blocks = targets.filter((t) => t.style === 'block');
  for (const t of spread(blocks, FULL ? blocks.length : BLOCK_EDITS)) chosen.add(t);
  return [...chosen];
}

function spread<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor(((i + 0.5) * items.length) / n)]!);
}

/** The output differs from the input only inside the target's range, and only on its lines. */
function assertConfined(before: string, after: string, target: Target, name: string): void {
  const where = `${name}: ${target.path.join('.')} (${target.style})`;
  expect(after, where).not.toBe(before);
  // Every byte outside the target's range is unchanged.
  const head = before.slice(0, target.start);
  const tail = before.slice(target.end);
  expect(after.startsWith(head), where).toBe(true);
  expect(after.endsWith(tail), where).toBe(true);
  expect(after.length, where).toBeGreaterThanOrEqual(head.length + tail.length);
  const block = target.style === 'block';
  // A block scalar spans lines (its range ends after the last content line's line break).
  const middle = after.slice(head.length, after.length - tail.length);
  if (!block) expect(middle, where).not.toMatch(/[\r\n]/);

  // The same, stated as a line diff: lines outside the target's lines are identical.
  const firstLine = lineAt(before, target.start);
  const lastLine = lineAt(before, block ? Math.max(target.start, target.end - 1) : target.end);
  const a = before.split('\n');
  const b = after.split('\n');
  expect(b.slice(0, firstLine - 1), where).toEqual(a.slice(0, firstLine - 1));
  expect(b.slice(b.length - (a.length - lastLine)), where).toEqual(a.slice(lastLine));
  if (!block) expect(b.length, where).toBe(a.length - (lastLine - firstLine));
}

function getAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) node = (node as Record<string, unknown>)[key];
  return node;
}

function firstDifference(a: unknown, b: unknown, path = ''): string {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return `${path || '(root)'}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  }
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = (a as Record<string, unknown>)[key];
    const y = (b as Record<string, unknown>)[key];
    if (!isDeepStrictEqual(x, y)) return firstDifference(x, y, path ? `${path}.${key}` : key);
  }
  return `${path}: differs`;
}
