/**
 * Edits real-world Helm values files (test/fixtures/values-corpus, see SOURCES.md there) and
 * checks that each edit changes one scalar and nothing else.
 *
 * Per file, scalars of every style are chosen deterministically and edited from the end of the
 * file backwards, so the offsets of the targets still to edit stay valid. Each edit is checked
 * textually (only the target scalar's bytes and line changed); after all edits one independent
 * re-parse checks that every edited path reads back its new value and nothing else changed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlias, isMap, isScalar, isSeq, visit } from 'yaml';
import type { CST, Pair } from 'yaml';
import { ValidationError } from '../../../src/shared/errors.ts';
import { setValue, type ScalarValue } from '../../../src/gitops/values-edit.ts';
import { lineAt, parseYamlSource, yamlToJS } from '../../../src/gitops/yaml-parse.ts';

const DIR = fileURLToPath(new URL('../../fixtures/values-corpus/', import.meta.url));
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/** Files the parser must refuse, and why (checked, so a new refusal fails the test). */
const EXPECTED_REJECTIONS: Record<string, RegExp> = {
  'mastodon_chart__values.yaml': /^duplicate key "/,
};

/**
 * Edits per file: up to 20, fewer (at least 4) for the largest files so the suite stays quick.
 * STACKSWAP_CORPUS_FULL=1 makes it 20 everywhere (about three times slower).
 */
function editsFor(bytes: number): number {
  if (process.env.STACKSWAP_CORPUS_FULL === '1') return 20;
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

type Style = 'plain' | 'number' | 'boolean' | 'null' | 'empty' | 'single' | 'double' | 'flow';

interface Target {
  path: string[];
  style: Style;
  /** Byte range that may change: the scalar's source (or the insertion point of an empty value). */
  start: number;
  end: number;
  current: unknown;
}

interface Refusal {
  path: string[];
  kind: 'alias' | 'shared anchor' | 'block scalar';
}

const totals = {
  files: 0,
  edits: 0,
  refusals: 0,
  rejectedFiles: 0,
  byStyle: {} as Record<string, number>,
};

afterAll(() => {
  console.info(
    `values corpus: ${totals.edits} edits verified in ${totals.files} files ` +
      `(${JSON.stringify(totals.byStyle)}); ${totals.refusals} refusals checked; ` +
      `${totals.rejectedFiles} file(s) rejected by the parser`,
  );
});

describe('values corpus', () => {
  it('has the 59 files and their SOURCES.md', () => {
    expect(FILES).toHaveLength(59);
    expect(readFileSync(`${DIR}SOURCES.md`, 'utf8')).toContain('Real-world Helm values files');
  });

  it('lists only rejections that exist', () => {
    for (const name of Object.keys(EXPECTED_REJECTIONS)) expect(FILES).toContain(name);
  });

  it.each(FILES)('%s', (name) => {
    const source = readFileSync(DIR + name, 'utf8');
    totals.files++;

    const rejection = EXPECTED_REJECTIONS[name];
    if (rejection) {
      let error: unknown;
      try {
        parseYamlSource(source, { file: name });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      const e = error as ValidationError;
      expect(e.message).toMatch(rejection);
      expect(e.where?.file).toBe(name);
      expect(e.where?.line).toBeGreaterThan(0);
      expect(e.where?.key).toBeTruthy();
      // The editor refuses the same file with the same error.
      expect(() => setValue(source, ['anything'], 'x', { file: name })).toThrow(e.message);
      totals.rejectedFiles++;
      return;
    }

    const { targets, refusals } = collect(source);
    const chosen = choose(targets, editsFor(Buffer.byteLength(source)));
    expect(chosen.length).toBeGreaterThan(0);

    // Edit from the end of the file backwards: earlier offsets stay valid.
    chosen.sort((a, b) => b.start - a.start);
    let text = source;
    const edits: [string[], ScalarValue][] = [];
    chosen.forEach((target, i) => {
      const value = newValue(i + name.length, target.current);
      const out = setValue(text, target.path, value, { file: name });
      assertConfined(text, out, target, name);
      edits.push([target.path, value]);
      totals.byStyle[target.style] = (totals.byStyle[target.style] ?? 0) + 1;
      text = out;
    });

    // One independent re-parse for all edits: each path reads back, nothing else changed.
    const expected = yamlToJS(parseYamlSource(source).doc);
    for (const [path, value] of edits) setAt(expected, path, value);
    const actual = yamlToJS(parseYamlSource(text).doc);
    for (const [path, value] of edits) expect(getAt(actual, path), path.join('.')).toBe(value);
    if (!isDeepStrictEqual(actual, expected)) {
      expect.fail(
        `${name}: the edits changed more than their paths: ${firstDifference(expected, actual)}`,
      );
    }
    totals.edits += edits.length;

    for (const refusal of refusals.slice(0, 3)) {
      let error: unknown;
      try {
        setValue(source, refusal.path, 'x', { file: name });
      } catch (e) {
        error = e;
      }
      expect(error, `${refusal.kind} at ${refusal.path.join('.')}`).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).where).toMatchObject({
        file: name,
        key: refusal.path.join('.'),
      });
      expect((error as ValidationError).where?.line).toBeGreaterThan(0);
      totals.refusals++;
    }
  });
});

/** Every editable scalar with its style, and the targets the editor must refuse. */
function collect(source: string): { targets: Target[]; refusals: Refusal[] } {
  const { doc } = parseYamlSource(source);
  const aliased = new Set<string>();
  visit(doc, {
    Alias(_k, alias) {
      aliased.add(alias.source);
    },
  });
  const targets: Target[] = [];
  const refusals: Refusal[] = [];
  const stack: { node: unknown; path: string[]; inFlow: boolean; pair?: Pair }[] = [
    { node: doc.contents, path: [], inFlow: false },
  ];
  while (stack.length > 0) {
    const { node, path, inFlow, pair } = stack.pop()!;
    if (isAlias(node)) {
      refusals.push({ path, kind: 'alias' });
      continue;
    }
    const anchor = (node as { anchor?: string } | null)?.anchor;
    if (anchor && aliased.has(anchor)) {
      if (path.length > 0) refusals.push({ path, kind: 'shared anchor' });
      continue;
    }
    if (isMap(node)) {
      const keys = node.items.map((p) => (isScalar(p.key) ? String(p.key.value) : undefined));
      node.items.forEach((p, i) => {
        const key = keys[i];
        // Only string keys whose text is unique among their siblings address one entry.
        if (!isScalar(p.key) || typeof p.key.value !== 'string' || keys.indexOf(key) !== i) return;
        if (key === '<<') return;
        stack.push({ node: p.value, path: [...path, key!], inFlow: Boolean(node.flow), pair: p });
      });
    } else if (isSeq(node)) {
      node.items.forEach((item, i) =>
        stack.push({ node: item, path: [...path, String(i)], inFlow: Boolean(node.flow) }),
      );
    } else if (isScalar(node) && path.length > 0 && node.tag === undefined) {
      const token = node.srcToken;
      if (token?.type === 'block-scalar') {
        refusals.push({ path, kind: 'block scalar' });
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
        targets.push({ path, style, start: token.offset, end, current: node.value });
      } else if (!token && node.value === null && !node.anchor && pair) {
        const colon = pair.srcToken?.sep?.find((t) => t.type === 'map-value-ind');
        if (colon) {
          // The text goes right after the colon, or after the one space that follows it.
          const start = colon.offset + 1;
          const end = source[start] === ' ' ? start + 1 : start;
          targets.push({ path, style: 'empty', start, end, current: null });
        }
      }
    }
  }
  targets.sort((a, b) => a.start - b.start);
  return { targets, refusals };
}

/** A new value from the mix, never the current one (a no-op edit would prove nothing). */
function newValue(seed: number, current: unknown): ScalarValue {
  for (let i = 0; ; i++) {
    const value = NEW_VALUES[(seed + i) % NEW_VALUES.length]!;
    if (value !== current) return value;
  }
}

/** Up to 3 of each style (evenly spread), then evenly spread others, up to `max` in all. */
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
  return [...chosen];
}

function spread<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor(((i + 0.5) * items.length) / n)]!);
}

/** The output differs from the input only inside the target's range, and only on its lines. */
function assertConfined(before: string, after: string, target: Target, name: string): void {
  let prefix = 0;
  const max = Math.min(before.length, after.length);
  while (prefix < max && before[prefix] === after[prefix]) prefix++;
  let suffix = 0;
  while (
    suffix < max - prefix &&
    before[before.length - 1 - suffix] === after[after.length - 1 - suffix]
  ) {
    suffix++;
  }
  const where = `${name}: ${target.path.join('.')} (${target.style})`;
  expect(after, where).not.toBe(before);
  expect(prefix, where).toBeGreaterThanOrEqual(Math.min(target.start, max));
  expect(before.length - suffix, where).toBeLessThanOrEqual(target.end);
  expect(after.slice(prefix, after.length - suffix), where).not.toMatch(/[\r\n]/);

  // The same, stated as a line diff: lines outside the target's lines are identical.
  const firstLine = lineAt(before, target.start);
  const lastLine = lineAt(before, target.end);
  const a = before.split('\n');
  const b = after.split('\n');
  expect(b.slice(0, firstLine - 1), where).toEqual(a.slice(0, firstLine - 1));
  expect(b.slice(b.length - (a.length - lastLine)), where).toEqual(a.slice(lastLine));
  expect(b.length, where).toBe(a.length - (lastLine - firstLine));
}

function getAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) node = (node as Record<string, unknown>)[key];
  return node;
}

function setAt(root: unknown, path: readonly string[], value: unknown): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<string, unknown>;
  parent[path[path.length - 1]!] = value;
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
