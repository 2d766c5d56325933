/**
 * Comment-preserving, byte-exact edits of Helm values files.
 *
 * An edit replaces the source text of exactly one scalar (or inserts new key lines) and leaves
 * every other byte alone: comments, blank lines, key order, indentation, anchors, flow
 * collections, document markers and CRLF line endings. The scalar is located through the CST
 * (`keepSourceTokens`), so its exact source range is known; the new text is spliced in there.
 * Every result is re-parsed and checked (the value reads back, nothing else changed) before it is
 * returned: a failed check is a bug in this module, reported as an internal error.
 *
 * Deliberate refusals (ValidationError): aliases on the path or as the target, anchored nodes
 * that are aliased elsewhere (an edit would silently change other keys), maps/sequences as the
 * target, explicit tags other than !!str, and block scalars (| and >) as the target — stackswap
 * only writes single-line values (image tags, colours, replica counts); a block scalar target is
 * almost certainly the wrong key, and rewriting it would have to pick a new multi-line layout.
 */
import { isDeepStrictEqual } from 'node:util';
import { isAlias, isMap, isPair, isScalar, isSeq, parse as parseYamlText } from 'yaml';
import type { Pair, Scalar, YAMLMap } from 'yaml';
import { StackswapError, ValidationError } from '../shared/errors.ts';
import { RESERVED_KEYS } from '../config/names.ts';
import { lineOfPath, parseYamlSource, yamlToJS, type ParsedYaml } from './yaml-parse.ts';

export type ScalarValue = string | number | boolean | null;

export interface ValuesEditOptions {
  /** Path of the file in the config repo, for error messages. */
  file?: string;
}

/** Reads the scalar at `path`; undefined when it (or a parent) is missing or null-valued. */
export function getScalar(
  source: string,
  path: readonly string[],
  opts: ValuesEditOptions = {},
): ScalarValue | undefined {
  checkPath(path, opts);
  const parsed = parseYamlSource(source, opts);
  // toJS resolves aliases and << merges the way Helm sees the file.
  let current: unknown = yamlToJS(parsed.doc, opts);
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    if (current === null || current === undefined) return undefined;
    if (Array.isArray(current)) {
      if (!INDEX.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (typeof current === 'object') {
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    } else {
      throw new ValidationError(
        `cannot read ${joinPath(path)}: ${describePrefix(path, i)} is a scalar (${JSON.stringify(current)}), not a map`,
        where(opts, path, lineOfKey(parsed, path.slice(0, i))),
      );
    }
  }
  if (current === undefined) return undefined;
  if (current === null || ['string', 'number', 'boolean'].includes(typeof current)) {
    return current as ScalarValue;
  }
  throw new ValidationError(
    `${joinPath(path)} is a ${Array.isArray(current) ? 'sequence' : 'map'}, not a scalar value`,
    where(opts, path, lineOfKey(parsed, path)),
  );
}

/**
 * Returns `source` with only the scalar at `path` changed to `value`. The old quoting style is
 * kept where it can express the new value; strings that would read back as another type (in
 * YAML 1.2 or in the YAML 1.1 rules of Helm's Go parser) are quoted.
 */
export function setValue(
  source: string,
  path: readonly string[],
  value: ScalarValue,
  opts: ValuesEditOptions = {},
): string {
  checkPath(path, opts);
  checkValue(value, path, opts);
  const parsed = parseYamlSource(source, opts);
  const found = locate(parsed, path, opts);
  if (found.kind === 'missing') throw missingError(parsed, path, found, opts);
  const result = replaceScalar(parsed, path, value, found, opts);
  verifyEdit(parsed, result, path, value, opts);
  return result;
}

/**
 * Like setValue, but missing trailing keys are created: appended after the last child of the
 * deepest existing map, in the file's own block style and indentation (or inline, when that map
 * is a flow map such as `{}`).
 */
export function setOrCreateValue(
  source: string,
  path: readonly string[],
  value: ScalarValue,
  opts: ValuesEditOptions = {},
): string {
  checkPath(path, opts);
  checkValue(value, path, opts);
  const parsed = parseYamlSource(source, opts);
  const found = locate(parsed, path, opts);
  const result =
    found.kind === 'found'
      ? replaceScalar(parsed, path, value, found, opts)
      : insertKeys(parsed, path, value, found, opts);
  verifyEdit(parsed, result, path, value, opts);
  return result;
}

// --- locating --------------------------------------------------------------------------------

const INDEX = /^(0|[1-9]\d*)$/;

interface Found {
  kind: 'found';
  node: unknown;
  /** The map entry holding the target (undefined for sequence items). */
  pair: Pair | undefined;
  inFlow: boolean;
}

interface Missing {
  kind: 'missing';
  /** Index in the path of the first segment that does not exist. */
  depth: number;
  /** The node at path[0..depth): a map, a sequence, or an empty (null) value. */
  parent: unknown;
  /** The entry holding `parent`, when it is a map value, and the map holding that entry. */
  parentPair: Pair | undefined;
  parentPairMap: YAMLMap | undefined;
}

function locate(
  parsed: ParsedYaml,
  path: readonly string[],
  opts: ValuesEditOptions,
): Found | Missing {
  const aliased = parsed.aliasedAnchors;
  let node: unknown = parsed.doc.contents;
  let pair: Pair | undefined;
  let pairMap: YAMLMap | undefined;
  let inFlow = false;
  // Where the path stops existing: the deepest node reached and the pair that holds it.
  const missing = (depth: number, parent: unknown) =>
    ({ kind: 'missing', depth, parent, parentPair: pair, parentPairMap: pairMap }) as const;
  for (let i = 0; i < path.length; i++) {
    refuseShared(parsed, node, path, i, aliased, opts);
    const segment = path[i]!;
    if (isMap(node)) {
      const next = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
      if (!next) return missing(i, node);
      inFlow = Boolean(node.flow);
      pair = next;
      pairMap = node;
      node = next.value;
    } else if (isSeq(node)) {
      if (!INDEX.test(segment) || Number(segment) >= node.items.length) return missing(i, node);
      inFlow = Boolean(node.flow);
      pair = undefined;
      pairMap = undefined;
      node = node.items[Number(segment)];
    } else if (isEmpty(node)) {
      return missing(i, node);
    } else {
      const shown = isScalar(node) ? ` (${JSON.stringify(node.value)})` : '';
      throw new ValidationError(
        `cannot reach ${joinPath(path)}: ${describePrefix(path, i)} is a scalar${shown}, so it has no key "${segment}"`,
        where(opts, path, lineOfKey(parsed, path.slice(0, i))),
      );
    }
  }
  refuseShared(parsed, node, path, path.length, aliased, opts);
  return { kind: 'found', node, pair, inFlow };
}

/** Refuses aliases and anchors that are aliased elsewhere: editing them would change other keys. */
function refuseShared(
  parsed: ParsedYaml,
  node: unknown,
  path: readonly string[],
  depth: number,
  aliased: ReadonlySet<string>,
  opts: ValuesEditOptions,
): void {
  const line = lineOfKey(parsed, path.slice(0, depth));
  const at = depth === path.length ? joinPath(path) : describePrefix(path, depth);
  if (isAlias(node)) {
    const message =
      depth === path.length
        ? `${at} is an alias (*${node.source}) of another value; stackswap does not replace aliases — edit the value anchored as &${node.source}, or replace the alias by hand`
        : `${at} is an alias (*${node.source}); editing through it would change the value anchored as &${node.source} and every other alias of it`;
    throw new ValidationError(message, where(opts, path, line));
  }
  const anchor = (node as { anchor?: string } | null)?.anchor;
  if (anchor && aliased.has(anchor)) {
    throw new ValidationError(
      `${at} carries the anchor &${anchor}, which is used elsewhere (*${anchor}); editing it would silently change those keys too`,
      where(opts, path, line),
    );
  }
}

function isEmpty(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

function missingError(
  parsed: ParsedYaml,
  path: readonly string[],
  missing: Missing,
  opts: ValuesEditOptions,
): ValidationError {
  const { depth, parent } = missing;
  const segment = path[depth]!;
  const line = lineOfKey(parsed, path.slice(0, depth));
  const at = depth === 0 ? 'the top level' : `"${path.slice(0, depth).join('.')}"`;
  let detail: string;
  if (isMap(parent)) {
    const keys = parent.items.map((p) => (isScalar(p.key) ? String(p.key.value) : '?'));
    const shown =
      keys.slice(0, 10).join(', ') + (keys.length > 10 ? `, … (${keys.length - 10} more)` : '');
    const merge = keys.includes('<<') ? ' (keys merged in with << cannot be edited here)' : '';
    detail = `${at} has no key "${segment}" (keys there: ${shown || 'none'})${merge}`;
  } else if (isSeq(parent)) {
    detail = INDEX.test(segment)
      ? `${at} is a sequence of ${parent.items.length} item(s); there is no item ${segment}`
      : `${at} is a sequence; "${segment}" is not an item index`;
  } else {
    detail =
      depth === 0
        ? 'the document is empty'
        : `${at} is empty (null), so it has no key "${segment}"`;
  }
  return new ValidationError(`key ${joinPath(path)} not found: ${detail}`, where(opts, path, line));
}

// --- replacing a scalar ----------------------------------------------------------------------

type QuoteStyle = 'plain' | 'single' | 'double';

function replaceScalar(
  parsed: ParsedYaml,
  path: readonly string[],
  value: ScalarValue,
  found: Found,
  opts: ValuesEditOptions,
): string {
  const { source } = parsed;
  const { node } = found;
  const line = lineOfKey(parsed, path);
  const refuse = (why: string) =>
    new ValidationError(`${joinPath(path)} ${why}`, where(opts, path, line));
  if (isMap(node))
    throw refuse('is a map, not a scalar value; give the path of a scalar inside it');
  if (isSeq(node))
    throw refuse('is a sequence, not a scalar value; give the path of one of its items');
  if (node !== null && node !== undefined && !isScalar(node)) throw refuse('is not a scalar value');
  const scalar = (node ?? undefined) as Scalar | undefined;
  const token = scalar?.srcToken;

  if (scalar?.tag !== undefined) {
    const isStrTag = scalar.tag === 'tag:yaml.org,2002:str';
    if (!isStrTag || typeof value !== 'string') {
      throw refuse(
        `has an explicit tag (${scalar.tag}); stackswap only edits untagged scalars or !!str strings`,
      );
    }
  }
  if (token?.type === 'block-scalar') {
    throw refuse(
      'is a block scalar (| or >); stackswap only rewrites single-line values — edit it by hand or make it a quoted string first',
    );
  }

  if (
    token &&
    (token.type === 'scalar' ||
      token.type === 'single-quoted-scalar' ||
      token.type === 'double-quoted-scalar')
  ) {
    const style: QuoteStyle =
      token.type === 'single-quoted-scalar'
        ? 'single'
        : token.type === 'double-quoted-scalar'
          ? 'double'
          : 'plain';
    const text = renderValue(value, style, found.inFlow, path, opts);
    const end = token.offset + token.source.length;
    if (source.slice(token.offset, end) !== token.source) {
      throw internal(
        `source token of ${joinPath(path)} does not match the text at its offset`,
        path,
        opts,
      );
    }
    return source.slice(0, token.offset) + text + source.slice(end);
  }

  // An empty value (`key:` or `key: # comment`): insert the text right after the colon.
  if (scalar?.anchor || scalar?.tag) {
    throw refuse('is an empty value with an anchor or tag; set it by hand');
  }
  const indicator = found.pair?.srcToken?.sep?.find((t) => t.type === 'map-value-ind');
  if (!indicator || (scalar && token)) {
    throw refuse('is an empty value stackswap cannot place text into; set it by hand');
  }
  const text = renderValue(value, 'plain', found.inFlow, path, opts);
  const after = indicator.offset + indicator.source.length;
  const hasSpace = source[after] === ' ';
  const at = hasSpace ? after + 1 : after;
  const gap = source[at] === '#' ? ' ' : '';
  return source.slice(0, at) + (hasSpace ? '' : ' ') + text + gap + source.slice(at);
}

// --- inserting missing keys ------------------------------------------------------------------

function insertKeys(
  parsed: ParsedYaml,
  path: readonly string[],
  value: ScalarValue,
  missing: Missing,
  opts: ValuesEditOptions,
): string {
  const { source } = parsed;
  const { depth, parent } = missing;
  const newKeys = path.slice(depth);
  const line = lineOfKey(parsed, path.slice(0, depth));
  const refuse = (why: string) =>
    new ValidationError(`cannot create ${joinPath(path)}: ${why}`, where(opts, path, line));
  const eol = lineEnding(source);

  if (isSeq(parent)) {
    throw refuse(
      `${describePrefix(path, depth)} is a sequence; stackswap does not add sequence items`,
    );
  }
  if (isMap(parent) && parent.flow)
    return insertIntoFlowMap(parsed, parent, path, newKeys, value, opts, refuse);
  if (isMap(parent)) {
    const first = parent.items[0];
    const firstOffset = first && (rangeOf(first.key) ?? rangeOf(first.value))?.[0];
    if (firstOffset === undefined) throw refuse('the map to extend has no keys to align with');
    const column = columnAt(source, firstOffset);
    const at = lineEndAfter(source, contentEnd(parent));
    return spliceLines(
      source,
      at,
      blockLines(newKeys, value, column, indentStep(parsed), eol, path, opts),
      eol,
    );
  }

  // The parent is empty (null).
  if (depth === 0) {
    const contents = parsed.doc.contents;
    if (
      contents !== null &&
      !(isScalar(contents) && contents.source === '' && !contents.anchor && !contents.tag)
    ) {
      throw refuse('the document is an explicit null; replace it by hand');
    }
    const docEnd = parsed.tokens.find((t) => t.type === 'doc-end');
    const at = docEnd ? docEnd.offset : source.length;
    return spliceLines(
      source,
      at,
      blockLines(newKeys, value, 0, indentStep(parsed), eol, path, opts),
      eol,
    );
  }
  const holder = missing.parentPair;
  const holderMap = missing.parentPairMap;
  const empty = holder?.value as Scalar | null | undefined;
  const indicator = holder?.srcToken?.sep?.find((t) => t.type === 'map-value-ind');
  const keyOffset = rangeOf(holder?.key)?.[0];
  if (
    !holder ||
    !holderMap ||
    holderMap.flow ||
    !indicator ||
    keyOffset === undefined ||
    (empty && (empty.source !== '' || empty.anchor || empty.tag))
  ) {
    throw refuse(
      `${describePrefix(path, depth)} is null; stackswap only adds keys under an empty block value (\`key:\`) — give it a map value by hand`,
    );
  }
  const column = columnAt(source, keyOffset) + indentStep(parsed);
  const at = lineEndAfter(source, indicator.offset + 1);
  return spliceLines(
    source,
    at,
    blockLines(newKeys, value, column, indentStep(parsed), eol, path, opts),
    eol,
  );
}

function insertIntoFlowMap(
  parsed: ParsedYaml,
  map: YAMLMap,
  path: readonly string[],
  newKeys: readonly string[],
  value: ScalarValue,
  opts: ValuesEditOptions,
  refuse: (why: string) => ValidationError,
): string {
  const { source } = parsed;
  const [start, end] = map.range!;
  const close = end - 1;
  if (source[close] !== '}') throw refuse('could not find the closing brace of the flow map');
  if (/[\r\n]/.test(source.slice(start, end))) {
    throw refuse('the map to extend is a multi-line flow map; add the key by hand');
  }
  let at = close;
  while (at > start + 1 && (source[at - 1] === ' ' || source[at - 1] === '\t')) at--;
  const trailingComma = source[at - 1] === ',';
  const lead = map.items.length === 0 ? '' : trailingComma ? ' ' : ', ';
  const entry = (keys: readonly string[]): string =>
    `${renderKey(keys[0]!, true, path, opts)}: ${
      keys.length === 1
        ? renderValue(value, 'plain', true, path, opts)
        : `{${entry(keys.slice(1))}}`
    }`;
  return source.slice(0, at) + lead + entry(newKeys) + source.slice(at);
}

function blockLines(
  keys: readonly string[],
  value: ScalarValue,
  column: number,
  step: number,
  eol: string,
  path: readonly string[],
  opts: ValuesEditOptions,
): string {
  return keys
    .map((key, i) => {
      const last = i === keys.length - 1;
      const text = last ? ` ${renderValue(value, 'plain', false, path, opts)}` : '';
      return `${' '.repeat(column + i * step)}${renderKey(key, false, path, opts)}:${text}${eol}`;
    })
    .join('');
}

/**
 * End offset of the last content of a block collection: its last entry's value, descending into
 * nested block collections, so trailing comments that belong to what follows stay after it.
 */
function contentEnd(collection: YAMLMap): number {
  let node: unknown = collection;
  for (;;) {
    if ((isMap(node) || isSeq(node)) && !node.flow && node.items.length > 0) {
      const last: unknown = node.items[node.items.length - 1];
      if (isPair(last)) {
        const value = rangeOf(last.value);
        if (value) node = last.value;
        else return rangeOf(last.key)?.[1] ?? rangeOf(node)![1];
      } else node = last;
      continue;
    }
    return rangeOf(node)?.[1] ?? collection.range![1];
  }
}

/** Inserts whole lines at a line start; at the end of a file without a final newline, too. */
function spliceLines(source: string, at: number, lines: string, eol: string): string {
  if (at > 0 && source[at - 1] !== '\n') {
    // Only possible at the very end of a file that does not end with a newline: keep it so.
    return source.slice(0, at) + eol + lines.slice(0, -eol.length) + source.slice(at);
  }
  return source.slice(0, at) + lines + source.slice(at);
}

/** Offset of the start of the line after the one containing `offset - 1`, or the end. */
function lineEndAfter(source: string, offset: number): number {
  if (offset > 0 && source[offset - 1] === '\n') return offset;
  const nl = source.indexOf('\n', offset);
  return nl === -1 ? source.length : nl + 1;
}

function lineEnding(source: string): string {
  const crlf = source.split('\r\n').length - 1;
  const lf = source.split('\n').length - 1 - crlf;
  return crlf > lf ? '\r\n' : '\n';
}

/** The most common indentation step between a block map's keys and its nested map's keys. */
function indentStep(parsed: ParsedYaml): number {
  const counts = new Map<number, number>();
  const stack: unknown[] = [parsed.doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const column = keyColumn(parsed.source, node);
      for (const pair of node.items) {
        if (isMap(pair.value) && !node.flow && !pair.value.flow && column !== undefined) {
          const inner = keyColumn(parsed.source, pair.value);
          if (inner !== undefined && inner > column)
            counts.set(inner - column, (counts.get(inner - column) ?? 0) + 1);
        }
        stack.push(pair.value);
      }
    } else if (isSeq(node)) {
      stack.push(...node.items);
    }
  }
  let best = 2;
  let bestCount = 0;
  for (const [step, count] of counts) {
    if (count > bestCount || (count === bestCount && step < best))
      [best, bestCount] = [step, count];
  }
  return best;
}

function keyColumn(source: string, map: YAMLMap): number | undefined {
  const offset = rangeOf(map.items[0]?.key)?.[0];
  return offset === undefined ? undefined : columnAt(source, offset);
}

// --- rendering scalars -----------------------------------------------------------------------

/** Characters YAML (and Go's parser) accept unescaped; everything else is written escaped. */
const PRINTABLE =
  /^[\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\u{10000}-\u{10ffff}]*$/u;
/** YAML 1.1 forms Helm's Go parser (go-yaml v2) reads as non-strings that YAML 1.2 core does not. */
const GO_YAML_NON_STRINGS = [
  /^(y|Y|n|N|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|true|True|TRUE|false|False|FALSE)$/,
  /^(~|null|Null|NULL|<<)$/,
  /^[-+]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)$/,
  /^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$/,
  /^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$/,
  /^[-+]?\.(inf|Inf|INF)$/,
  /^\.(nan|NaN|NAN)$/,
  /^\d{4}-\d{1,2}-\d{1,2}([Tt ]|$)/,
];

function renderValue(
  value: ScalarValue,
  style: QuoteStyle,
  inFlow: boolean,
  path: readonly string[],
  opts: ValuesEditOptions,
): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  return renderString(value, style, inFlow, path, opts);
}

function renderKey(
  key: string,
  inFlow: boolean,
  path: readonly string[],
  opts: ValuesEditOptions,
): string {
  return renderString(key, 'plain', inFlow, path, opts);
}

function renderString(
  value: string,
  style: QuoteStyle,
  inFlow: boolean,
  path: readonly string[],
  opts: ValuesEditOptions,
): string {
  if (/[\ud800-\udfff]/u.test(value)) {
    throw new ValidationError(
      `the new value for ${joinPath(path)} is not valid Unicode (lone surrogate)`,
      where(opts, path),
    );
  }
  if (style === 'plain' && isPlainSafe(value, inFlow)) return value;
  if (style === 'single' && PRINTABLE.test(value) && !value.includes('\t')) {
    return `'${value.replaceAll("'", "''")}'`;
  }
  return doubleQuoted(value);
}

/** True when `value` written plain reads back as exactly this string in every parser we care about. */
function isPlainSafe(value: string, inFlow: boolean): boolean {
  if (value === '' || value !== value.trim() || !PRINTABLE.test(value) || value.includes('\t'))
    return false;
  if (/^[-?:,[\]{}#&*!|>'"%@`]/.test(value)) return false;
  if (/: |:$| #/.test(value) || /^(---|\.\.\.)/.test(value)) return false;
  if (inFlow && /[,[\]{}:]/.test(value)) return false;
  if (GO_YAML_NON_STRINGS.some((re) => re.test(value))) return false;
  // Final word from the YAML 1.2 core and YAML 1.1 schemas, in context.
  return (['core', 'yaml-1.1'] as const).every((schema) => readsBackAs(value, inFlow, schema));
}

function readsBackAs(text: string, inFlow: boolean, schema: 'core' | 'yaml-1.1'): boolean {
  try {
    const doc = inFlow ? `{k: ${text}}` : `k: ${text}`;
    const parsed: unknown = parseYamlText(doc, { schema, uniqueKeys: true });
    return (
      typeof parsed === 'object' &&
      parsed !== null &&
      (parsed as { k?: unknown }).k === text &&
      Object.keys(parsed).length === 1
    );
  } catch {
    return false;
  }
}

function doubleQuoted(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code === 0x85) out += '\\N';
    else if (code === 0x2028) out += '\\L';
    else if (code === 0x2029) out += '\\P';
    else if (PRINTABLE.test(ch)) out += ch;
    else if (code <= 0xff) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

// --- verification ----------------------------------------------------------------------------

/** Re-parses the result: the value must read back and nothing but `path` may differ. */
function verifyEdit(
  original: ParsedYaml,
  result: string,
  path: readonly string[],
  value: ScalarValue,
  opts: ValuesEditOptions,
): void {
  let after: unknown;
  try {
    after = yamlToJS(
      parseYamlSource(result, { ...opts, maxBytes: Number.MAX_SAFE_INTEGER }).doc,
      opts,
    );
  } catch (e) {
    throw internal(
      `the edited file no longer parses (${e instanceof Error ? e.message : String(e)})`,
      path,
      opts,
      e,
    );
  }
  const before = yamlToJS(original.doc, opts);
  const problem = differenceBesides(before, after, path, value);
  if (problem) throw internal(`the edited file failed verification: ${problem}`, path, opts);
}

/** Describes how `after` differs from `before` other than `after` having `value` at `path`. */
function differenceBesides(
  before: unknown,
  after: unknown,
  path: readonly string[],
  value: ScalarValue,
): string | undefined {
  let b = before;
  let a = after;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    const here = path.slice(0, i).join('.') || '(root)';
    if (b === null || b === undefined) {
      return isDeepStrictEqual(a, nested(path.slice(i), value))
        ? undefined
        : `${here} does not hold the new keys`;
    }
    if (Array.isArray(b)) {
      if (!Array.isArray(a) || a.length !== b.length || !INDEX.test(segment))
        return `${here} changed shape`;
      const index = Number(segment);
      const list = a;
      if (b.some((item, j) => j !== index && !isDeepStrictEqual(item, list[j])))
        return `${here} has other items changed`;
      b = b[index];
      a = (a as unknown[])[index];
      continue;
    }
    if (typeof b !== 'object' || typeof a !== 'object' || a === null || Array.isArray(a))
      return `${here} changed type`;
    const bKeys = Object.keys(b);
    const aKeys = Object.keys(a);
    const existed = Object.hasOwn(b, segment);
    const expectedKeys = existed ? bKeys : [...bKeys, segment];
    if (
      aKeys.length !== expectedKeys.length ||
      !expectedKeys.every((k) => Object.hasOwn(a as object, k))
    ) {
      return `${here} has different keys`;
    }
    for (const key of bKeys) {
      if (
        key !== segment &&
        !isDeepStrictEqual((b as Record<string, unknown>)[key], (a as Record<string, unknown>)[key])
      ) {
        return `${here}.${key} changed`;
      }
    }
    if (!existed) {
      const added = (a as Record<string, unknown>)[segment];
      return isDeepStrictEqual(added, nested(path.slice(i + 1), value))
        ? undefined
        : `the new key ${segment} holds the wrong value`;
    }
    b = (b as Record<string, unknown>)[segment];
    a = (a as Record<string, unknown>)[segment];
  }
  return Object.is(a, value)
    ? undefined
    : `reads back ${JSON.stringify(a)} instead of ${JSON.stringify(value)}`;
}

function nested(keys: readonly string[], value: ScalarValue): unknown {
  let result: unknown = value;
  for (const key of [...keys].reverse()) {
    const map = {};
    Object.defineProperty(map, key, {
      value: result,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    result = map;
  }
  return result;
}

// --- small helpers ---------------------------------------------------------------------------

function checkPath(path: readonly string[], opts: ValuesEditOptions): void {
  if (path.length === 0)
    throw new ValidationError('empty key path: name the value to use', where(opts));
  if (!path.every((s) => typeof s === 'string')) {
    throw new ValidationError(
      `key path segments must be strings (got ${JSON.stringify(path)})`,
      where(opts),
    );
  }
  // The parser refuses these keys in any file, so writing one would make a file stackswap
  // itself could no longer read: refuse it here, as bad input, before anything is edited.
  const reserved = path.find((s) => RESERVED_KEYS.has(s));
  if (reserved !== undefined) {
    throw new ValidationError(`key path ${joinPath(path)} uses the reserved key ${reserved}`, {
      ...where(opts, path),
      hint: 'stackswap refuses __proto__, constructor and prototype as map keys (JavaScript object internals); use another key',
    });
  }
}

function checkValue(value: unknown, path: readonly string[], opts: ValuesEditOptions): void {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new ValidationError(
      `the new value for ${joinPath(path)} must be a finite number (got ${value})`,
      where(opts, path),
    );
  }
  if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) {
    throw new ValidationError(
      `the new value for ${joinPath(path)} must be a string, number, boolean or null (got ${typeof value})`,
      where(opts, path),
    );
  }
}

function internal(
  message: string,
  path: readonly string[],
  opts: ValuesEditOptions,
  cause?: unknown,
): StackswapError {
  return new StackswapError(
    'internal',
    `values edit of ${joinPath(path)}: ${message} (this is a bug in stackswap; nothing was written)`,
    {
      ...where(opts, path),
      ...(cause !== undefined ? { cause } : {}),
    },
  );
}

function where(opts: ValuesEditOptions, path?: readonly string[], line?: number) {
  return {
    where: {
      ...(opts.file !== undefined ? { file: opts.file } : {}),
      ...(path && path.length > 0 ? { key: path.join('.') } : {}),
      ...(line !== undefined ? { line } : {}),
    },
  };
}

function lineOfKey(parsed: ParsedYaml, path: readonly string[]): number | undefined {
  return lineOfPath(parsed.doc, parsed.source, path);
}

function rangeOf(node: unknown): readonly [number, number, number] | undefined {
  const range = (node as { range?: unknown } | null | undefined)?.range;
  return Array.isArray(range) ? (range as unknown as [number, number, number]) : undefined;
}

function columnAt(source: string, offset: number): number {
  return offset - (source.lastIndexOf('\n', offset - 1) + 1);
}

function joinPath(path: readonly string[]): string {
  return `"${path.join('.')}"`;
}

function describePrefix(path: readonly string[], depth: number): string {
  return depth === 0 ? 'the document' : `"${path.slice(0, depth).join('.')}"`;
}
