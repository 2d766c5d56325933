/**
 * The resolved-value difference of two versions of a values file: what Helm would see change.
 *
 * Both texts are parsed the way the values editor reads them (aliases and `<<` merges resolved,
 * a duplicated key read as its last occurrence, as Helm does) and compared value by value down to
 * the leaves. Each change says whether it happened at its own place in the text or only through
 * an alias or a merge key (`viaAlias`): editing an anchored value changes every alias of it, and
 * the operation output and the dry-run diff name those paths.
 */
import { isDeepStrictEqual } from 'node:util';
import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Document } from 'yaml';
import { parseYamlSource, yamlToJS } from './yaml-parse.ts';

export interface ValueChange {
  /** Key path of the changed value (sequence indexes as decimal strings). */
  path: string[];
  /** The value before, or undefined when the path did not exist. */
  before: unknown;
  /** The value after, or undefined when the path no longer exists. */
  after: unknown;
  /**
   * True when the path's value is not written at that path but reached through an alias (`*a`)
   * or a merge key (`<<: *a`): it changed because the anchored value did.
   */
  viaAlias: boolean;
}

export interface ValuesDiffOptions {
  /** Path of the file in the config repo, for error messages. */
  file?: string;
  /** Size limit for each text, in UTF-8 bytes (default: the parser's, 1 MiB). */
  maxBytes?: number;
}

/**
 * Every leaf path whose resolved value differs between `before` and `after`, in document order
 * (the after text's, then paths only the before text had). Maps and sequences are compared entry
 * by entry; a value that changes kind (scalar, map, sequence) is reported once at its path. An
 * unparsable text is a ValidationError, as everywhere else.
 */
export function changedValuePaths(
  before: string,
  after: string,
  opts: ValuesDiffOptions = {},
): ValueChange[] {
  const parse = (text: string) => parseYamlSource(text, { ...opts, duplicateKeys: 'last-wins' });
  const a = parse(before);
  const b = parse(after);
  return diffResolved(a.doc, yamlToJS(a.doc, opts), b.doc, yamlToJS(b.doc, opts));
}

/** changedValuePaths on documents already parsed and resolved (the values editor has them). */
export function diffResolved(
  beforeDoc: Document,
  beforeValue: unknown,
  afterDoc: Document,
  afterValue: unknown,
): ValueChange[] {
  const changes: ValueChange[] = [];
  const work: { path: string[]; a: unknown; b: unknown }[] = [
    { path: [], a: beforeValue, b: afterValue },
  ];
  while (work.length > 0) {
    const { path, a, b } = work.pop()!;
    if (isDeepStrictEqual(a, b)) continue;
    const children = childPairs(a, b);
    if (children === undefined) {
      const direct = b !== undefined ? isWrittenAt(afterDoc, path) : isWrittenAt(beforeDoc, path);
      changes.push({ path, before: a, after: b, viaAlias: !direct });
      continue;
    }
    // Pushed in reverse so the work stack pops them in document order.
    for (let i = children.length - 1; i >= 0; i--) {
      const [key, x, y] = children[i]!;
      work.push({ path: [...path, key], a: x, b: y });
    }
  }
  return changes;
}

/** The entries of two containers of the same kind, after's order first; undefined otherwise. */
function childPairs(a: unknown, b: unknown): [string, unknown, unknown][] | undefined {
  if (Array.isArray(a) && Array.isArray(b)) {
    return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => [String(i), a[i], b[i]]);
  }
  if (isPlainMap(a) && isPlainMap(b)) {
    const keys = [...Object.keys(b), ...Object.keys(a).filter((k) => !Object.hasOwn(b, k))];
    return keys.map((k) => [
      k,
      Object.hasOwn(a, k) ? a[k] : undefined,
      Object.hasOwn(b, k) ? b[k] : undefined,
    ]);
  }
  return undefined;
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * True when the value at `path` is written at that very place in the document: reached without
 * passing through an alias, and without a key that only a `<<` merge provides. A duplicated key
 * is followed to its last occurrence, the one that is read.
 */
export function isWrittenAt(doc: Document, path: readonly string[]): boolean {
  let node: unknown = doc.contents;
  for (const segment of path) {
    if (isAlias(node)) return false;
    if (isMap(node)) {
      // Merge keys (`<<`) read as symbols, so they never match a segment.
      const pair = node.items.findLast(
        (p) =>
          isScalar(p.key) && typeof p.key.value !== 'symbol' && String(p.key.value) === segment,
      );
      if (!pair) return false;
      node = pair.value;
    } else if (isSeq(node)) {
      if (!/^(0|[1-9]\d*)$/.test(segment)) return false;
      node = node.items[Number(segment)];
    } else {
      return false;
    }
  }
  return !isAlias(node);
}
