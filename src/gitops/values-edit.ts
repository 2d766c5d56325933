/**
 * Comment-preserving, byte-exact edits of Helm values files.
 *
 * An edit replaces the source text of exactly one scalar (or inserts new key lines) and leaves
 * every other byte alone: comments, blank lines, key order, indentation, anchors, flow
 * collections, document markers and CRLF line endings. The scalar is located through the CST
 * (`keepSourceTokens`), so its exact source range is known; the new text is spliced in there.
 * Every result is re-parsed and checked against a model of the edit (the same change made on the
 * parsed node tree, then resolved): the value reads back, and nothing changes that the model
 * does not change. A failed check is a bug in this module, reported as an internal error.
 *
 * Files are read as Helm reads them:
 * - Anchors: an anchored scalar, or a scalar inside an anchored map or sequence, is edited where
 *   it is written; the anchor stays, so every alias (and `<<` merge) of it reads the new value.
 *   The other paths that change that way are reported through `onNotice`.
 * - Block scalars (`|`, `>`, with indicators) are rewritten as block scalars when the new value
 *   can be one exactly (see block-scalar.ts), otherwise as a quoted scalar.
 * - A key written twice in one map is read as its last occurrence (Helm's Go parser does the
 *   same) and reported through `onNotice`; a duplicate on the edited path is refused, since the
 *   user cannot tell which line they meant.
 *
 * Deliberate refusals (ValidationError): aliases on the path or as the target (edit the anchored
 * value instead), maps/sequences as the target, explicit tags other than !!str, a duplicated key
 * on the path, and a new nested key under a map key that only a `<<` merge provides.
 */
import { isDeepStrictEqual } from 'node:util';
import { CST, isAlias, isMap, isPair, isScalar, isSeq, parse as parseYamlText } from 'yaml';
import type { Document, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { StackswapError, ValidationError } from '../shared/errors.ts';
import { RESERVED_KEYS, formatKeyPath } from '../config/names.ts';
import {
  lineAt,
  lineOfPath,
  parseYamlSource,
  yamlToJS,
  type ParsedYaml,
  type YamlParseOptions,
} from './yaml-parse.ts';
import { diffResolved, type ValueChange } from './values-diff.ts';
import {
  detectContentIndent,
  parseBlockHeader,
  renderBlockScalar,
  type BlockStyle,
} from './block-scalar.ts';

export type ScalarValue = string | number | boolean | null;

/** Something the caller should tell the user about an edit that succeeded. */
export type ValuesNotice =
  | {
      /** The edit also changed other paths, through aliases or `<<` merges of an anchor. */
      kind: 'alias-changes';
      file?: string;
      /** The edited path. */
      path: string[];
      /** Anchors on the edited path (outermost first) that some alias refers to. */
      anchors: string[];
      /** Every other path whose resolved value changed, with old and new values. */
      changes: ValueChange[];
      message: string;
    }
  | {
      /** A key is defined more than once in one map, away from the edited path. */
      kind: 'duplicate-key';
      file?: string;
      path: string[];
      /** 1-based lines of every occurrence; Helm reads the last one. */
      lines: number[];
      message: string;
    };

export interface ValuesEditOptions {
  /** Path of the file in the config repo, for error messages and notices. */
  file?: string;
  /** Receives notices (alias-affected paths, duplicate keys); called only when the edit succeeds. */
  onNotice?: (notice: ValuesNotice) => void;
}

/** At most this many duplicate-key notices per edit; one more line counts the rest. */
export const MAX_DUPLICATE_NOTICES = 10;
/** Alias-affected paths named in a notice's message (all of them are in `changes`). */
const MAX_PATHS_IN_MESSAGE = 10;

/** Reads the scalar at `path`; undefined when it (or a parent) is missing or null-valued. */
export function getScalar(
  source: string,
  path: readonly string[],
  opts: ValuesEditOptions = {},
): ScalarValue | undefined {
  checkPath(path, opts);
  const parsed = parseValues(source, opts);
  // toJS resolves aliases, << merges and duplicate keys the way Helm sees the file.
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
    emitDuplicateNotices(parsed, opts);
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
  const parsed = parseValues(source, opts);
  // Resolved first: an alias bomb or a bad alias is bad input, refused before any edit.
  const before = yamlToJS(parsed.doc, opts);
  const found = locate(parsed, path, opts);
  if (found.kind === 'missing') throw missingError(parsed, path, found, opts);
  const result = replaceScalar(parsed, path, value, found, opts);
  const changes = verifyEdit(parsed, before, result, path, value, opts);
  emitNotices(parsed, path, found.anchors, changes, opts);
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
  const parsed = parseValues(source, opts);
  const before = yamlToJS(parsed.doc, opts);
  const found = locate(parsed, path, opts);
  const result =
    found.kind === 'found'
      ? replaceScalar(parsed, path, value, found, opts)
      : insertKeys(parsed, path, value, found, before, opts);
  const changes = verifyEdit(parsed, before, result, path, value, opts);
  emitNotices(parsed, path, found.anchors, changes, opts);
  return result;
}

function parseValues(source: string, opts: ValuesEditOptions): ParsedYaml {
  const parseOpts: YamlParseOptions = { duplicateKeys: 'last-wins' };
  if (opts.file !== undefined) parseOpts.file = opts.file;
  return parseYamlSource(source, parseOpts);
}

// --- locating --------------------------------------------------------------------------------

const INDEX = /^(0|[1-9]\d*)$/;

interface Found {
  kind: 'found';
  node: unknown;
  /** The map entry holding the target (undefined for sequence items). */
  pair: Pair | undefined;
  /** The map or sequence holding the target, and its index there. */
  container: YAMLMap | YAMLSeq | undefined;
  index: number;
  inFlow: boolean;
  /** Anchors that some alias uses, on the nodes of the path (outermost first). */
  anchors: string[];
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
  anchors: string[];
}

function locate(
  parsed: ParsedYaml,
  path: readonly string[],
  opts: ValuesEditOptions,
): Found | Missing {
  const aliased = parsed.aliasedAnchors;
  const anchors: string[] = [];
  let node: unknown = parsed.doc.contents;
  let pair: Pair | undefined;
  let pairMap: YAMLMap | undefined;
  let container: YAMLMap | YAMLSeq | undefined;
  let index = 0;
  let inFlow = false;
  // Where the path stops existing: the deepest node reached and the pair that holds it.
  const missing = (depth: number, parent: unknown): Missing => ({
    kind: 'missing',
    depth,
    parent,
    parentPair: pair,
    parentPairMap: pairMap,
    anchors,
  });
  for (let i = 0; i < path.length; i++) {
    refuseAlias(parsed, node, path, i, opts);
    noteAnchor(node, aliased, anchors);
    const segment = path[i]!;
    if (isMap(node)) {
      const matches = node.items.filter((p) => keyText(p.key) === segment);
      if (matches.length === 0) return missing(i, node);
      if (matches.length > 1) throw duplicateOnPath(parsed, path, i, matches, opts);
      const next = matches[0]!;
      inFlow = Boolean(node.flow);
      pair = next;
      pairMap = node;
      container = node;
      index = node.items.indexOf(next);
      node = next.value;
    } else if (isSeq(node)) {
      if (!INDEX.test(segment) || Number(segment) >= node.items.length) return missing(i, node);
      inFlow = Boolean(node.flow);
      pair = undefined;
      pairMap = undefined;
      container = node;
      index = Number(segment);
      node = node.items[index];
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
  refuseAlias(parsed, node, path, path.length, opts);
  noteAnchor(node, aliased, anchors);
  return { kind: 'found', node, pair, container, index, inFlow, anchors };
}

function noteAnchor(node: unknown, aliased: ReadonlySet<string>, anchors: string[]): void {
  const anchor = (node as { anchor?: string } | null)?.anchor;
  if (anchor && aliased.has(anchor)) anchors.push(anchor);
}

/**
 * Refuses aliases on the path and as the target. Editing through `*a` would change the anchored
 * value and every other alias of it, which is not what `--set web.tag=…` means; the error names
 * the anchored path to edit instead.
 */
function refuseAlias(
  parsed: ParsedYaml,
  node: unknown,
  path: readonly string[],
  depth: number,
  opts: ValuesEditOptions,
): void {
  if (!isAlias(node)) return;
  const line = lineOfKey(parsed, path.slice(0, depth));
  const at = depth === path.length ? joinPath(path) : describePrefix(path, depth);
  const anchorAt = anchorPath(parsed.doc, node.source, node.range?.[0] ?? Infinity);
  const defined = anchorAt ? ` of "${formatKeyPath(anchorAt)}"` : '';
  const instead = anchorAt
    ? `"${formatKeyPath([...anchorAt, ...path.slice(depth)])}"`
    : `the value anchored as &${node.source}`;
  const message =
    depth === path.length
      ? `${at} is an alias (*${node.source})${defined}; stackswap does not replace aliases — edit ${instead} (every alias of &${node.source} follows it), or replace the alias by hand`
      : `${at} is an alias (*${node.source})${defined}; editing through it would change the anchored value and every other alias of it — edit ${instead} instead, or write the value out by hand`;
  throw new ValidationError(message, where(opts, path, line));
}

/** Key path of the last node anchored as `&name` before `offset` (the one an alias there means). */
function anchorPath(doc: Document, name: string, offset: number): string[] | undefined {
  let best: { path: string[]; at: number } | undefined;
  const stack: { node: unknown; path: string[] }[] = [{ node: doc.contents, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    const n = node as { anchor?: string; range?: [number, number, number] } | null;
    if (n?.anchor === name && n.range && n.range[0] < offset && (!best || n.range[0] > best.at)) {
      best = { path, at: n.range[0] };
    }
    if (isMap(node)) {
      for (const p of node.items) {
        const key = keyText(p.key);
        if (key !== undefined) stack.push({ node: p.value, path: [...path, key] });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: item, path: [...path, String(i)] }));
    }
  }
  return best?.path;
}

function duplicateOnPath(
  parsed: ParsedYaml,
  path: readonly string[],
  depth: number,
  pairs: readonly Pair[],
  opts: ValuesEditOptions,
): ValidationError {
  const lines = pairs.map((p) => lineAt(parsed.source, rangeOf(p.key)?.[0] ?? 0));
  const key = path.slice(0, depth + 1);
  const shown = lines.length === 2 ? `${lines[0]} and ${lines[1]}` : lines.join(', ');
  return new ValidationError(
    `cannot edit ${joinPath(path)}: the key "${key.join('.')}" is defined ${lines.length} times in the same map, on lines ${shown} (Helm reads the last one, line ${lines[lines.length - 1]})`,
    {
      where: {
        ...(opts.file !== undefined ? { file: opts.file } : {}),
        key: key.join('.'),
        line: lines[lines.length - 1]!,
      },
      hint: 'remove the duplicate you do not mean, then run the edit again',
      details: { lines },
    },
  );
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
    const keys = parent.items.map((p) => (isMergeKey(p.key) ? '<<' : (keyText(p.key) ?? '?')));
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
  if (token?.type === 'block-scalar') return replaceBlockScalar(parsed, path, value, token, opts);

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

// --- rewriting a block scalar ----------------------------------------------------------------

/**
 * Rewrites a block scalar (`|`, `>`, with any indicators). A string is written in the same block
 * style and content indentation when that reads back exactly (checked by parsing the result);
 * otherwise, and for numbers, booleans and null, the block becomes a one-line scalar. The header
 * line's comment is kept either way.
 */
function replaceBlockScalar(
  parsed: ParsedYaml,
  path: readonly string[],
  value: ScalarValue,
  token: CST.BlockScalar,
  opts: ValuesEditOptions,
): string {
  const { source } = parsed;
  const [headerToken, ...restProps] = token.props;
  const header =
    headerToken?.type === 'block-scalar-header' ? CST.stringify(headerToken) : undefined;
  const parsedHeader = header === undefined ? undefined : parseBlockHeader(header);
  const propsText = token.props.map((t) => CST.stringify(t)).join('');
  const start = token.offset;
  const end = start + propsText.length + token.source.length;
  if (!parsedHeader || source.slice(start, end) !== propsText + token.source) {
    throw internal(
      `source token of the block scalar ${joinPath(path)} does not match the text at its offset`,
      path,
      opts,
    );
  }
  const eol = lineEnding(source) as '\n' | '\r\n';
  // What follows the header on its line (a comment) and the line break ending it.
  let afterHeader = restProps.map((t) => CST.stringify(t)).join('');
  if (!/\n$/.test(afterHeader)) afterHeader += eol;
  const splice = (text: string) => source.slice(0, start) + text + source.slice(end);
  // Empty lines that end the old block (blank lines before the next key, with keep chomping).
  const trailingEmpty = trailingEmptyLines(token.source);

  if (typeof value === 'string') {
    const contentIndent =
      parsedHeader.indicator !== undefined
        ? token.indent + parsedHeader.indicator
        : (detectContentIndent(token.source) ?? token.indent + indentStep(parsed));
    const block = renderBlockScalar(value, {
      style: parsedHeader.style satisfies BlockStyle,
      contentIndent,
      baseIndent: token.indent,
      keepIndicator: parsedHeader.indicator !== undefined,
      eol,
      emptyLinesAfter: emptyLinesAt(source, end),
      trailingEmptyLines: trailingEmpty,
    });
    if (block) {
      const candidate = splice(block.header + afterHeader + block.body);
      if (readsBackAt(candidate, path, value)) return candidate;
    }
  }
  // A one-line scalar instead: `key: "new" # header comment`.
  const text = renderValue(value, 'plain', false, path, opts);
  const comment = afterHeader.replace(/\r?\n$/, '');
  return splice(text + comment + afterHeader.slice(comment.length) + eol.repeat(trailingEmpty));
}

/** How many empty (or all-space) lines end `content`, after its last non-empty line. */
function trailingEmptyLines(content: string): number {
  const lines = content.split('\n');
  lines.pop(); // what follows the last line break: '' (or a last line without one)
  let count = 0;
  while (lines.length > 0 && /^ *\r?$/.test(lines[lines.length - 1]!) && lines.length > 1) {
    lines.pop();
    count++;
  }
  return count;
}

/** How many empty (or all-space) lines start at `offset`, a line start. */
function emptyLinesAt(source: string, offset: number): number {
  let count = 0;
  for (let at = offset; at < source.length;) {
    const nl = source.indexOf('\n', at);
    const line = source.slice(at, nl === -1 ? source.length : nl);
    if (!/^ *\r?$/.test(line)) break;
    count++;
    if (nl === -1) break;
    at = nl + 1;
  }
  return count;
}

/** True when `text` parses and holds exactly `value` at `path` (aliases and merges resolved). */
function readsBackAt(text: string, path: readonly string[], value: ScalarValue): boolean {
  try {
    const doc = parseYamlSource(text, {
      duplicateKeys: 'last-wins',
      maxBytes: Number.MAX_SAFE_INTEGER,
    }).doc;
    return Object.is(valueAtPath(yamlToJS(doc), path), value);
  } catch {
    return false;
  }
}

// --- inserting missing keys ------------------------------------------------------------------

function insertKeys(
  parsed: ParsedYaml,
  path: readonly string[],
  value: ScalarValue,
  missing: Missing,
  before: unknown,
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
  if (isMap(parent) && newKeys.length > 1 && hasMergeKey(parent)) {
    // `web: {<<: *base}` with base.image: a new web.image map would hide all of base.image.
    const merged = valueAtPath(before, path.slice(0, depth));
    if (typeof merged === 'object' && merged !== null && Object.hasOwn(merged, newKeys[0]!)) {
      throw refuse(
        `"${path.slice(0, depth + 1).join('.')}" comes from a << merge; a new map there would replace all of the merged value — edit the anchored map, or write "${path[depth]}" out here by hand`,
      );
    }
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

function hasMergeKey(map: YAMLMap): boolean {
  return map.items.some((p) => isMergeKey(p.key));
}

/** The key of a map entry as toJS names it; undefined for merge keys and non-scalar keys. */
function keyText(key: unknown): string | undefined {
  return isScalar(key) && !isMergeKey(key) ? String(key.value) : undefined;
}

/** `<<` (with `merge: true`) reads as a symbol, not as the string "<<". */
function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol';
}

function valueAtPath(root: unknown, path: readonly string[]): unknown {
  let current = root;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, segment)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
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

/**
 * Re-parses the result and compares it with a model of the edit: the same change made on a copy
 * of the parsed node tree (the scalar node gets the new value, or the new keys are added to the
 * map), then resolved. Aliases of an anchored node resolve to the edited node in the model too,
 * so alias-affected paths are expected; anything else that differs is a bug. Returns the
 * resolved-value changes of the edit.
 */
function verifyEdit(
  original: ParsedYaml,
  before: unknown,
  result: string,
  path: readonly string[],
  value: ScalarValue,
  opts: ValuesEditOptions,
): ValueChange[] {
  let reparsed: ParsedYaml;
  let after: unknown;
  try {
    reparsed = parseYamlSource(result, {
      ...(opts.file !== undefined ? { file: opts.file } : {}),
      maxBytes: Number.MAX_SAFE_INTEGER,
      duplicateKeys: 'last-wins',
    });
    after = yamlToJS(reparsed.doc, opts);
  } catch (e) {
    throw internal(
      `the edited file no longer parses (${e instanceof Error ? e.message : String(e)})`,
      path,
      opts,
      e,
    );
  }
  const expected = modelEdit(original, path, value, opts);
  if (!isDeepStrictEqual(after, expected)) {
    throw internal(
      `the edited file failed verification: ${firstDifference(expected, after)}`,
      path,
      opts,
    );
  }
  return diffResolved(original.doc, before, reparsed.doc, after);
}

/**
 * The resolved value of the original document with the edit made on its node tree. The change
 * is made in place and undone before returning (cheaper than a deep clone of a large file).
 */
function modelEdit(
  original: ParsedYaml,
  path: readonly string[],
  value: ScalarValue,
  opts: ValuesEditOptions,
): unknown {
  const { doc } = original;
  const found = locate(original, path, opts);
  let undo: () => void;
  if (found.kind === 'found') {
    const { node, pair, container, index } = found;
    if (isScalar(node)) {
      const old = node.value;
      node.value = value;
      undo = () => (node.value = old);
    } else if (pair) {
      const old = pair.value;
      pair.value = doc.createNode(value);
      undo = () => (pair.value = old);
    } else if (isSeq(container)) {
      const old: unknown = container.items[index];
      container.items[index] = doc.createNode(value);
      undo = () => (container.items[index] = old);
    } else throw internal('the model found no place for the value', path, opts);
  } else {
    const rest = nested(path.slice(found.depth + 1), value);
    const key = path[found.depth]!;
    const { parent, parentPair } = found;
    if (isMap(parent)) {
      parent.items.push(doc.createPair(key, rest));
      undo = () => parent.items.pop();
    } else if (parentPair) {
      const old = parentPair.value;
      parentPair.value = doc.createNode(nested([key], rest));
      undo = () => (parentPair.value = old);
    } else if (found.depth === 0) {
      const old = doc.contents;
      doc.contents = doc.createNode(nested([key], rest)) as typeof doc.contents;
      undo = () => (doc.contents = old);
    } else throw internal('the model found no place for the new keys', path, opts);
  }
  try {
    return yamlToJS(doc, opts);
  } finally {
    undo();
  }
}

/** The first place where two resolved values differ, for the verification message. */
function firstDifference(expected: unknown, actual: unknown, at: string[] = []): string {
  const here = at.length > 0 ? formatKeyPath(at) : '(root)';
  const bothMaps = [expected, actual].every(
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  );
  const bothLists = Array.isArray(expected) && Array.isArray(actual);
  if (bothLists && expected.length === actual.length) {
    const i = expected.findIndex((x, j) => !isDeepStrictEqual(x, actual[j]));
    if (i >= 0) return firstDifference(expected[i], actual[i], [...at, String(i)]);
  }
  if (bothMaps) {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const keys = new Set([...Object.keys(e), ...Object.keys(a)]);
    for (const k of keys) {
      if (Object.hasOwn(e, k) !== Object.hasOwn(a, k)) {
        return `${formatKeyPath([...at, k])} is ${Object.hasOwn(a, k) ? 'unexpectedly present' : 'missing'}`;
      }
      if (!isDeepStrictEqual(e[k], a[k])) return firstDifference(e[k], a[k], [...at, k]);
    }
  }
  return `${here} reads back ${brief(actual)} instead of ${brief(expected)}`;
}

function brief(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

// --- notices ---------------------------------------------------------------------------------

function emitNotices(
  parsed: ParsedYaml,
  path: readonly string[],
  anchors: readonly string[],
  changes: readonly ValueChange[],
  opts: ValuesEditOptions,
): void {
  const notify = opts.onNotice;
  if (!notify) return;
  // Changes on the edited path itself (the value, or the new keys above it) are the edit.
  const others = changes.filter((c) => !isPrefixRelated(c.path, path));
  if (others.length > 0) {
    const names = others.slice(0, MAX_PATHS_IN_MESSAGE).map((c) => formatKeyPath(c.path));
    const more =
      others.length > MAX_PATHS_IN_MESSAGE
        ? ` and ${others.length - MAX_PATHS_IN_MESSAGE} more`
        : '';
    const through =
      anchors.length > 0
        ? `anchor ${anchors.map((a) => `&${a}`).join(', ')}`
        : 'an anchor used elsewhere';
    notify({
      kind: 'alias-changes',
      ...(opts.file !== undefined ? { file: opts.file } : {}),
      path: [...path],
      anchors: [...anchors],
      changes: others,
      message: `${prefix(opts)}editing ${formatKeyPath(path)} (${through}) also changes ${names.join(', ')}${more}`,
    });
  }
  emitDuplicateNotices(parsed, opts);
}

function emitDuplicateNotices(parsed: ParsedYaml, opts: ValuesEditOptions): void {
  const notify = opts.onNotice;
  if (!notify) return;
  const shown = parsed.duplicates.slice(0, MAX_DUPLICATE_NOTICES);
  for (const dup of shown) {
    const last = dup.lines[dup.lines.length - 1]!;
    const others = dup.lines.slice(0, -1);
    notify({
      kind: 'duplicate-key',
      ...(opts.file !== undefined ? { file: opts.file } : {}),
      path: dup.path,
      lines: dup.lines,
      message: `${prefix(opts, last)}warning: duplicate key ${formatKeyPath(dup.path)} (also on line${others.length > 1 ? 's' : ''} ${others.join(', ')}); Helm reads the last one, line ${last}`,
    });
  }
  const rest = parsed.duplicates.length - shown.length;
  if (rest > 0) {
    const dup = parsed.duplicates[shown.length]!;
    notify({
      kind: 'duplicate-key',
      ...(opts.file !== undefined ? { file: opts.file } : {}),
      path: dup.path,
      lines: dup.lines,
      message: `${prefix(opts)}warning: ${rest} more duplicate key(s) not listed`,
    });
  }
}

function prefix(opts: ValuesEditOptions, line?: number): string {
  if (opts.file === undefined) return line === undefined ? '' : `line ${line}: `;
  return `${opts.file}${line === undefined ? '' : `:${line}`}: `;
}

function isPrefixRelated(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function nested(keys: readonly string[], value: unknown): unknown {
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
