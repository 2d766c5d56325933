/**
 * Safe parsing of YAML read from the config repo (values files, stackswap.yaml, release plans).
 *
 * The repo is input we do not control, so parsing is bounded: a size limit checked before any
 * work, a nesting-depth limit checked on the CST before anything recursive runs, a small alias
 * expansion budget, the YAML 1.2 core schema only (no custom or YAML 1.1 tags), unique keys, no
 * prototype-related map keys, and exactly one document. Every failure is a ValidationError that
 * says where (file, line, key).
 *
 * Values files may opt into Helm's reading of duplicate keys (`duplicateKeys: 'last-wins'`):
 * Helm's Go parser (go-yaml v2 through sigs.k8s.io/yaml, non-strict) keeps the last occurrence,
 * and so does `toJS` with `uniqueKeys: false`. The duplicates found are returned, so the values
 * editor can warn about them and refuse one that lies on the path it edits.
 */
import { Composer, Parser, isAlias, isMap, isScalar, isSeq } from 'yaml';
import type {
  CST,
  Document,
  DocumentOptions,
  Node,
  Pair,
  ParseOptions,
  SchemaOptions,
  YAMLError,
} from 'yaml';
import type { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
import { RESERVED_KEYS } from '../config/names.ts';

export const DEFAULT_MAX_BYTES = 1024 * 1024;
/** Budget for alias expansion in toJS (guards against "billion laughs"); never -1. */
export const MAX_ALIAS_COUNT = 50;
/** Deepest collection nesting accepted; real values files stay far below this. */
export const MAX_NESTING_DEPTH = 100;

export interface YamlParseOptions {
  /** Path of the file (relative to the config repo), used in error messages. */
  file?: string;
  /** Reject sources larger than this many UTF-8 bytes before parsing; default 1 MiB. */
  maxBytes?: number;
  /**
   * 'error' (the default): a key defined twice in one map is a ValidationError. 'last-wins':
   * accepted as Helm reads it (the last occurrence counts) and listed in `ParsedYaml.duplicates`.
   */
  duplicateKeys?: 'error' | 'last-wins';
}

/** A key defined more than once in one map (only with `duplicateKeys: 'last-wins'`). */
export interface DuplicateKey {
  /** Key path of the duplicated entry: the path of its map (as written) plus the key. */
  path: string[];
  /** 1-based lines of every occurrence, in document order; the last one is what Helm reads. */
  lines: number[];
}

/** A parsed single-document YAML source with the CST tokens it was composed from. */
export interface ParsedYaml {
  source: string;
  doc: Document.Parsed;
  /** Every CST token of the stream, in order; joining their CST.stringify gives back `source`. */
  tokens: CST.Token[];
  /** Names of the anchors that some alias (`*name`) refers to. */
  aliasedAnchors: ReadonlySet<string>;
  /** Duplicate keys, in document order; always empty unless `duplicateKeys` is 'last-wins'. */
  duplicates: DuplicateKey[];
}

export type KeyPath = readonly (string | number)[];

/** The options every parse in stackswap uses. Helm (go-yaml) honours `<<` merge keys, so do we. */
const DOCUMENT_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  schema: 'core',
  resolveKnownTags: false,
  merge: true,
  uniqueKeys: true,
  keepSourceTokens: true,
  prettyErrors: true,
  strict: true,
};
const LAST_WINS_OPTIONS = { ...DOCUMENT_OPTIONS, uniqueKeys: false };

/** Parses one YAML document safely; throws ValidationError for anything we refuse. */
export function parseYamlDocument(source: string, opts: YamlParseOptions = {}): Document.Parsed {
  return parseYamlSource(source, opts).doc;
}

/**
 * Like parseYamlDocument but also returns the CST tokens (with `srcToken` links from the nodes),
 * which the values editor needs to rewrite single scalars in place.
 */
export function parseYamlSource(source: string, opts: YamlParseOptions = {}): ParsedYaml {
  const file = opts.file;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const size = Buffer.byteLength(source, 'utf8');
  if (size > maxBytes) {
    throw new ValidationError(
      `YAML file is too large: ${size} bytes, the limit is ${maxBytes} bytes (${formatBytes(maxBytes)})`,
      { where: whereOf(file) },
    );
  }

  let tokens: CST.Token[];
  let docs: Document.Parsed[];
  try {
    // The parser slows down badly on pathological nesting: a linear pre-scan stops that early.
    const suspect = roughNestingBeyond(source, 10 * MAX_NESTING_DEPTH);
    if (suspect !== undefined) throw tooDeep(file, lineAt(source, suspect));
    tokens = Array.from(new Parser().parse(source));
    const depth = nestingDepth(tokens);
    if (depth.depth > MAX_NESTING_DEPTH) {
      throw tooDeep(file, lineAt(source, depth.offset));
    }
    const options = opts.duplicateKeys === 'last-wins' ? LAST_WINS_OPTIONS : DOCUMENT_OPTIONS;
    docs = Array.from(new Composer(options).compose(tokens, true, source.length));
  } catch (e) {
    // The parser and composer are partly recursive: whatever slips past the depth check must
    // still end as a clean ValidationError, never a crash.
    if (e instanceof RangeError) throw tooDeep(file, undefined, e);
    throw e;
  }

  const doc = docs[0];
  if (!doc) throw new ValidationError('YAML source holds no document', { where: whereOf(file) });
  if (docs.length > 1) {
    const start = docs[1]!.range[0];
    throw new ValidationError(
      'a second YAML document starts here; this file must hold exactly one document',
      { where: whereOf(file, lineAt(source, start)) },
    );
  }
  const firstError = doc.errors[0];
  if (firstError) throw fromYamlError(firstError, doc, source, file);
  const aliasedAnchors = checkAliases(doc, source, file);
  const badTag = doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (badTag) {
    const tag = badTag.message
      .replace(/^Unresolved tag:\s*/, '')
      .replace(/^tag:yaml\.org,2002:/, '!!');
    throw new ValidationError(
      `unsupported YAML tag ${tag}: only the YAML 1.2 core schema tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq) are allowed`,
      { where: whereAt(doc, source, file, badTag.pos[0]) },
    );
  }
  checkReservedKeys(doc, source, file);
  const duplicates = opts.duplicateKeys === 'last-wins' ? findDuplicateKeys(doc, source) : [];
  return { source, doc, tokens, aliasedAnchors, duplicates };
}

/**
 * Every map entry whose key is written more than once in the same map, compared as toJS compares
 * them (the key's string form). Merge keys (`<<`) are not entries and are skipped. Walks the
 * node tree as written: aliases are not followed, so each duplicate is reported once.
 */
export function findDuplicateKeys(doc: Document, source: string): DuplicateKey[] {
  const found: { path: string[]; offsets: number[] }[] = [];
  const stack: { node: unknown; path: string[] }[] = [{ node: doc.contents, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (isMap(node)) {
      const seen = new Map<string, number[]>();
      for (const pair of node.items) {
        // A merge key (`<<`) reads as a symbol: it is not an entry, and may repeat.
        const merge = isScalar(pair.key) && typeof pair.key.value === 'symbol';
        const key = isScalar(pair.key) && !merge ? String(pair.key.value) : undefined;
        if (key !== undefined) {
          const offset = rangeOf(pair.key)?.[0] ?? rangeOf(pair.value)?.[0] ?? 0;
          const offsets = seen.get(key);
          if (offsets) offsets.push(offset);
          else seen.set(key, [offset]);
        }
        if (!merge)
          stack.push({ node: pair.value, path: key === undefined ? path : [...path, key] });
      }
      for (const [key, offsets] of seen) {
        if (offsets.length > 1) found.push({ path: [...path, key], offsets });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: item, path: [...path, String(i)] }));
    }
  }
  return found
    .sort((a, b) => a.offsets[0]! - b.offsets[0]!)
    .map(({ path, offsets }) => ({ path, lines: offsets.map((o) => lineAt(source, o)) }));
}

/** `doc.toJS()` with the alias budget; an alias bomb becomes a ValidationError. */
export function yamlToJS(doc: Document, opts: { file?: string } = {}): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    if (e instanceof ReferenceError || e instanceof RangeError) {
      throw new ValidationError(
        `YAML aliases expand too much or are invalid (${e.message}); at most ${MAX_ALIAS_COUNT} alias expansions are allowed`,
        { where: whereOf(opts.file), cause: e },
      );
    }
    throw e;
  }
}

/**
 * Parses `source`, converts it to plain JS and validates it with `schema`. The first zod issue is
 * reported with its key path and the line of that key (or of its nearest existing parent).
 */
export function parseYamlValue<T>(
  source: string,
  schema: z.ZodType<T>,
  opts: YamlParseOptions = {},
): T {
  const doc = parseYamlDocument(source, opts);
  const value = yamlToJS(doc, opts);
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw validationErrorFromZod(result.error, { file: opts.file, doc, source });
}

/**
 * Turns a zod error into one ValidationError: the first issue names the key (path joined with
 * '.') and, when the parsed document is given, its line; further issues go to `details`.
 */
export function validationErrorFromZod(
  error: z.ZodError,
  ctx: { file?: string; doc?: Document; source?: string } = {},
): ValidationError {
  const described = error.issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p.description) : p));
    // For unknown keys zod points at the parent; point at the first offending key instead.
    if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]!);
    return { path, message: issue.message };
  });
  const first = described[0] ?? { path: [], message: 'invalid value' };
  const key = first.path.length > 0 ? first.path.join('.') : undefined;
  const line =
    ctx.doc && ctx.source !== undefined ? lineOfPath(ctx.doc, ctx.source, first.path) : undefined;
  const rest = described.slice(1, 21).map((d) => `${d.path.join('.') || '(root)'}: ${d.message}`);
  return new ValidationError(first.message, {
    where: {
      ...(ctx.file !== undefined ? { file: ctx.file } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(line !== undefined ? { line } : {}),
    },
    ...(rest.length > 0 ? { details: { moreProblems: rest } } : {}),
    cause: error,
  });
}

/**
 * 1-based line of the node at `path` (the line of its key for map entries). When the path does
 * not exist the line of the nearest existing parent is returned; undefined for an empty document.
 */
export function lineOfPath(doc: Document, source: string, path: KeyPath): number | undefined {
  let node: unknown = doc.contents;
  if (!isNodeWithRange(node)) return undefined;
  let offset = node.range[0];
  for (const segment of path) {
    const step = childOf(node, String(segment));
    if (!step) break;
    offset = step.offset;
    node = step.node;
    if (!isNodeWithRange(node)) break;
  }
  return lineAt(source, offset);
}

/** 1-based line number of a character offset. */
export function lineAt(source: string, offset: number): number {
  let line = 1;
  const end = Math.min(Math.max(offset, 0), source.length);
  for (let i = source.indexOf('\n'); i !== -1 && i < end; i = source.indexOf('\n', i + 1)) line++;
  return line;
}

/** The key path (as strings) of the innermost map entry or sequence item containing `offset`. */
export function pathAtOffset(doc: Document, offset: number): string[] {
  const path: string[] = [];
  let node: unknown = doc.contents;
  for (let guard = 0; guard <= MAX_NESTING_DEPTH; guard++) {
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const start = rangeOf(p.key)?.[0] ?? rangeOf(p.value)?.[0];
        const end = rangeOf(p.value)?.[2] ?? rangeOf(p.key)?.[2];
        return start !== undefined && end !== undefined && contains([start, end, end], offset);
      });
      if (!pair || !isScalar(pair.key)) break;
      path.push(String(pair.key.value));
      if (contains(rangeOf(pair.key), offset)) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const index = node.items.findIndex((item) => contains(rangeOf(item), offset));
      if (index < 0) break;
      path.push(String(index));
      node = node.items[index];
    } else break;
  }
  return path;
}

// ---------------------------------------------------------------------------------------------

function childOf(node: unknown, segment: string): { node: unknown; offset: number } | undefined {
  if (isMap(node)) {
    // The last occurrence: the one toJS (and Helm) reads when a key is duplicated.
    const pair = node.items.findLast((p) => isScalar(p.key) && String(p.key.value) === segment);
    if (!pair) return undefined;
    const offset = rangeOf(pair.key)?.[0] ?? rangeOf(pair.value)?.[0];
    return offset === undefined ? undefined : { node: pair.value, offset };
  }
  if (isSeq(node) && /^(0|[1-9]\d*)$/.test(segment)) {
    const item = node.items[Number(segment)];
    const offset = rangeOf(item)?.[0];
    return offset === undefined ? undefined : { node: item, offset };
  }
  return undefined;
}

type Range = readonly [number, number, number];

function rangeOf(node: unknown): Range | undefined {
  return isNodeWithRange(node) ? node.range : undefined;
}

function isNodeWithRange(node: unknown): node is Node & { range: Range } {
  return (
    typeof node === 'object' && node !== null && Array.isArray((node as { range?: unknown }).range)
  );
}

function contains(range: Range | undefined, offset: number): boolean {
  return range !== undefined && range[0] <= offset && offset < Math.max(range[2], range[0] + 1);
}

/**
 * A cheap upper bound on nesting, before the real parse: net open flow brackets, and compact
 * block indicators (`- - - x`) on one line. Returns the offset where `limit` is passed. Brackets in
 * comments or strings count too, which is fine at a limit far above any real values file.
 */
function roughNestingBeyond(source: string, limit: number): number | undefined {
  let flow = 0;
  let compact = 0;
  let atLineStart = true;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '[' || ch === '{') {
      if (++flow > limit) return i;
    } else if (ch === ']' || ch === '}') {
      flow = Math.max(0, flow - 1);
    }
    if (ch === '\n') {
      atLineStart = true;
      compact = 0;
    } else if (atLineStart && (ch === '-' || ch === '?' || ch === ':') && source[i + 1] === ' ') {
      if (++compact > limit) return i;
    } else if (atLineStart && ch !== ' ') {
      atLineStart = false;
    }
  }
  return undefined;
}

/** Deepest collection nesting in the CST, walked with an explicit stack (no recursion). */
function nestingDepth(tokens: readonly CST.Token[]): { depth: number; offset: number } {
  const stack: [unknown, number][] = tokens.map((t) => [t, 0]);
  let deepest = { depth: 0, offset: 0 };
  while (stack.length > 0) {
    const [token, depth] = stack.pop()!;
    if (typeof token !== 'object' || token === null) continue;
    const t = token as { type?: string; offset?: number; value?: unknown; items?: unknown };
    let here = depth;
    if (t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection') {
      here = depth + 1;
      if (here > deepest.depth) deepest = { depth: here, offset: t.offset ?? 0 };
      if (here > MAX_NESTING_DEPTH) return deepest;
    }
    if (t.value) stack.push([t.value, here]);
    if (Array.isArray(t.items)) {
      for (const item of t.items as { key?: unknown; value?: unknown }[]) {
        if (item.key) stack.push([item.key, here]);
        if (item.value) stack.push([item.value, here]);
      }
    }
  }
  return deepest;
}

/**
 * The composer resolves aliases lazily: find dangling ones now, with their location, and return
 * the anchor names that are used by some alias.
 */
function checkAliases(doc: Document.Parsed, source: string, file: string | undefined): Set<string> {
  const used = new Set<string>();
  if (!source.includes('*')) return used; // no alias can exist
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isAlias(node)) {
      if (node.resolve(doc) === undefined) {
        throw new ValidationError(`alias *${node.source} has no anchor &${node.source} before it`, {
          where: whereAt(doc, source, file, node.range?.[0] ?? 0),
        });
      }
      used.add(node.source);
    } else if (isMap(node)) {
      for (const pair of node.items) stack.push(pair.key, pair.value);
    } else if (isSeq(node)) {
      stack.push(...node.items);
    }
  }
  return used;
}

/**
 * Refuses RESERVED_KEYS as map keys, the first one in document order, with its key path and line.
 * Walks the node tree (not the JS value), so a key is caught where it is written: under an anchor
 * that a merge key copies, through an alias used as a key, or spelled with escapes.
 */
function checkReservedKeys(doc: Document.Parsed, source: string, file: string | undefined): void {
  type Work = { node: unknown; path: string[] } | { pair: Pair; path: string[] };
  const work: Work[] = [{ node: doc.contents, path: [] }];
  while (work.length > 0) {
    const next = work.pop()!;
    if ('pair' in next) {
      const { pair, path } = next;
      const keyNode = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key !== undefined && RESERVED_KEYS.has(key)) {
        const offset = rangeOf(pair.key)?.[0] ?? rangeOf(pair.value)?.[0] ?? 0;
        throw new ValidationError(`key ${key} is not allowed`, {
          where: { ...whereOf(file, lineAt(source, offset)), key: [...path, key].join('.') },
          hint: 'stackswap refuses __proto__, constructor and prototype as map keys (JavaScript object internals); rename the key',
        });
      }
      work.push({ node: pair.value, path: key === undefined ? path : [...path, key] });
      if (key === undefined) work.push({ node: pair.key, path });
    } else if (isMap(next.node)) {
      const items = next.node.items as Pair[];
      for (let i = items.length - 1; i >= 0; i--) work.push({ pair: items[i]!, path: next.path });
    } else if (isSeq(next.node)) {
      const items = next.node.items;
      for (let i = items.length - 1; i >= 0; i--) {
        work.push({ node: items[i], path: [...next.path, String(i)] });
      }
    }
  }
}

function tooDeep(
  file: string | undefined,
  line: number | undefined,
  cause?: unknown,
): ValidationError {
  return new ValidationError(
    `YAML nesting too deep or invalid (at most ${MAX_NESTING_DEPTH} nested maps/sequences are allowed)`,
    { where: whereOf(file, line), ...(cause !== undefined ? { cause } : {}) },
  );
}

function fromYamlError(
  error: YAMLError,
  doc: Document,
  source: string,
  file: string | undefined,
): ValidationError {
  const offset = error.pos[0];
  const where = whereAt(doc, source, file, offset);
  // Composer messages carry no location (we add it in `where`); keep only the first line.
  const reason = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const message =
    error.code === 'DUPLICATE_KEY'
      ? `duplicate key${where.key ? ` "${where.key}"` : ''}: map keys must be unique`
      : `invalid YAML: ${reason}`;
  return new ValidationError(message, { where, cause: error });
}

function whereAt(doc: Document, source: string, file: string | undefined, offset: number) {
  const path = pathAtOffset(doc, offset);
  return {
    ...whereOf(file, lineAt(source, offset)),
    ...(path.length > 0 ? { key: path.join('.') } : {}),
  };
}

function whereOf(file: string | undefined, line?: number): { file?: string; line?: number } {
  return {
    ...(file !== undefined ? { file } : {}),
    ...(line !== undefined ? { line } : {}),
  };
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
