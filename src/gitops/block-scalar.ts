/**
 * Rendering a string as a YAML block scalar (`|` literal or `>` folded) at a given indentation,
 * for the values editor's in-place rewrite of a block scalar. Pure text work; the caller splices
 * the result in and re-parses it.
 *
 * What is written: the same style as before, the chomping indicator the value's trailing line
 * breaks need (`-` none, clip one, `+` more), an indentation indicator only when the first line
 * starts with white space (or the old header had one), and the old content indentation. Values
 * a block scalar cannot hold exactly are refused (undefined), and the caller writes a quoted
 * scalar instead: an empty or all-white value, lines of white space only (parsers disagree on
 * them), carriage returns and other characters YAML would have to escape.
 */

export type BlockStyle = 'literal' | 'folded';

export interface BlockLayout {
  style: BlockStyle;
  /** Column of the content lines. */
  contentIndent: number;
  /** The indentation an indentation indicator counts from (the CST token's `indent`). */
  baseIndent: number;
  /** Keep an indentation indicator even when the value does not need one (the old header had one). */
  keepIndicator: boolean;
  eol: '\n' | '\r\n';
  /**
   * Empty lines right after the block in the file. With keep chomping (`+`) the parser counts
   * them into the value, so that many fewer are written.
   */
  emptyLinesAfter: number;
  /**
   * Empty lines at the end of the old block (inside it). They are written again after content
   * that does not keep its trailing line breaks, where they are chomped, so the layout stays.
   */
  trailingEmptyLines: number;
}

export interface RenderedBlock {
  /** The header: `|` or `>`, then the indentation indicator and the chomping indicator. */
  header: string;
  /** The content lines, each ending with `eol` (empty lines hold no spaces). */
  body: string;
}

/** Characters a block scalar carries as they are (printable, tab and line feed). */
const BLOCK_SAFE =
  /^[\n\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\u{10000}-\u{10ffff}]*$/u;

/** Parses a block scalar header such as `|`, `>-`, `|2+`, `>+1`. */
export function parseBlockHeader(
  header: string,
): { style: BlockStyle; indicator: number | undefined } | undefined {
  const m = /^([|>])(?:([1-9])([-+]?)|([-+])([1-9])?)?$/.exec(header);
  if (!m) return undefined;
  const digit = m[2] ?? m[5];
  return {
    style: m[1] === '|' ? 'literal' : 'folded',
    indicator: digit === undefined ? undefined : Number(digit),
  };
}

/** The content indentation of a block scalar's source lines (auto-detected, as a parser does). */
export function detectContentIndent(content: string): number | undefined {
  for (const raw of content.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const spaces = /^ */.exec(line)![0].length;
    if (spaces < line.length) return spaces;
  }
  return undefined;
}

/** `value` as a block scalar in `layout`, or undefined when it cannot be one exactly. */
export function renderBlockScalar(value: string, layout: BlockLayout): RenderedBlock | undefined {
  if (!BLOCK_SAFE.test(value)) return undefined;
  const body = value.replace(/\n+$/, '');
  const trailing = value.length - body.length;
  if (body.trim() === '') return undefined;
  const lines = body.split('\n');
  if (lines.some((line) => line !== '' && line.trim() === '')) return undefined;

  const first = lines.find((line) => line !== '')!;
  const needsIndicator = first.startsWith(' ') || first.startsWith('\t');
  const digit = layout.contentIndent - layout.baseIndent;
  const withIndicator = needsIndicator || layout.keepIndicator;
  if (withIndicator && !(digit >= 1 && digit <= 9)) return undefined;
  if (layout.contentIndent < 1) return undefined;

  const chomp = trailing === 0 ? '-' : trailing === 1 ? '' : '+';
  const header =
    (layout.style === 'literal' ? '|' : '>') + (withIndicator ? String(digit) : '') + chomp;

  const pad = ' '.repeat(layout.contentIndent);
  const out: string[] = [];
  const emit = (line: string) => out.push(line === '' ? layout.eol : pad + line + layout.eol);
  if (layout.style === 'literal') {
    lines.forEach(emit);
  } else {
    emitFolded(lines, emit);
  }
  // Keep chomping: the line break of the last line is written above, the rest as empty lines
  // (minus those that follow in the file anyway).
  const empties = trailing <= 1 ? 0 : trailing - 1 - layout.emptyLinesAfter;
  if (empties < 0) return undefined;
  for (let i = 0; i < empties; i++) out.push(layout.eol);
  if (trailing <= 1) for (let i = 0; i < layout.trailingEmptyLines; i++) out.push(layout.eol);
  return { header, body: out.join('') };
}

/**
 * Folded content that reads back as `lines` joined by line breaks. Between two lines that
 * start with a non-white character a single line break folds into a space, so each break there
 * is written as an empty line; a break next to a more-indented line (starting with white space)
 * is kept as it is. Leading empty lines are kept as they are.
 */
function emitFolded(lines: readonly string[], emit: (line: string) => void): void {
  const folds = (line: string) => !line.startsWith(' ') && !line.startsWith('\t');
  let previous: string | undefined;
  let breaks = 0;
  for (const line of lines) {
    if (line === '') {
      breaks++;
      continue;
    }
    if (previous === undefined) {
      for (let i = 0; i < breaks; i++) emit('');
    } else {
      // `breaks` empty lines, plus the break that ends the previous line.
      const wanted = breaks + 1;
      const empties = folds(previous) && folds(line) ? wanted : wanted - 1;
      for (let i = 0; i < empties; i++) emit('');
    }
    emit(line);
    previous = line;
    breaks = 0;
  }
}
