/**
 * The plan comment: what a merge request would deploy, per stack (values diff, rendered
 * manifest diff, verification config changes, validation problems naming file, line and key),
 * rendered as Markdown and split to fit the forge's comment limit.
 *
 * Splitting works on blocks, never on characters: a part ends between sections, between
 * resources, or between two lines of a diff, and a diff cut across parts is closed and
 * re-opened as a code block of its own in each. Lengths are counted in Unicode code points,
 * as GitLab and GitHub count them (65,536 and 1,000,000 are Ruby string lengths, not JS
 * UTF-16 lengths and not bytes). Each part starts with its own hidden marker, part 1 with the
 * plain one, so editing in place (Forge.syncComments) finds the same comments again. What
 * does not fit in `maxParts` parts is left out with a note saying how much and where to see it.
 */
import { commentMarker, planCommentKey } from './forge.ts';

// ---------------------------------------------------------------------------------------------
// Counting and cutting

/** Length in Unicode code points (a surrogate pair counts once). */
export function codePointLength(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length - 1; i += 1) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n -= 1;
        i += 1;
      }
    }
  }
  return n;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The longest prefix of `text` of at most `max` code points that ends on a grapheme boundary. */
export function cutToCodePoints(text: string, max: number): string {
  if (codePointLength(text) <= max) return text;
  let out = '';
  let used = 0;
  for (const { segment } of graphemes.segment(text)) {
    const n = codePointLength(segment);
    if (used + n > max) break;
    out += segment;
    used += n;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The block model

export type Block =
  /** Markdown text; cut only between lines, and only when it alone exceeds a part. */
  | { kind: 'text'; text: string }
  /** Lines shown in a code block, optionally folded under a <details> summary. */
  | { kind: 'code'; lang: string; lines: readonly string[]; summary?: string };

export interface Section {
  /** Rendered as a level-3 heading, kept with the section's first block. */
  title?: string;
  blocks: readonly Block[];
}

export interface SplitOptions {
  /** The comment key (see commentMarker): `stackswap:plan:<stack>`. */
  key: string;
  /** The forge's limit in code points (Forge.limits.commentChars). */
  limit: number;
  /** At most this many comments; what does not fit is left out with a note. Default 10. */
  maxParts?: number;
  /** Bold first line of every part, e.g. "stackswap plan for `shop`". */
  heading: string;
  /** Where the full, untruncated plan can be seen (the operation in the service). */
  fullUrl?: string;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Backticks enough that no line of the content can close the fence. */
function fenceFor(lines: readonly string[]): string {
  let longest = 0;
  for (const line of lines) {
    for (const run of line.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  }
  return '`'.repeat(Math.max(3, longest + 1));
}

function renderCode(
  lang: string,
  lines: readonly string[],
  summary: string | undefined,
  fence: string,
): string {
  const code = `${fence}${lang}\n${lines.join('\n')}${lines.length ? '\n' : ''}${fence}`;
  return summary === undefined
    ? code
    : `<details><summary>${escapeHtml(summary)}</summary>\n\n${code}\n\n</details>`;
}

interface Atom {
  text: string;
  size: number;
  /** A heading: never the last thing in a part. */
  keepWithNext?: boolean;
  /** Which input section, for the truncation note. */
  section: number;
  /** Lines of content it carries, for the truncation note. */
  lines: number;
}

const LINE_CUT = ' … (line cut: too long for one comment)';

/** A block as atoms no longer than `budget` each. */
function atomsOf(block: Block, budget: number, section: number): Atom[] {
  if (block.kind === 'text') {
    const size = codePointLength(block.text);
    if (size <= budget) return [{ text: block.text, size, section, lines: 1 }];
    const atoms: Atom[] = [];
    let current: string[] = [];
    let currentSize = 0;
    for (const raw of block.text.split('\n')) {
      const line =
        codePointLength(raw) > budget
          ? cutToCodePoints(raw, budget - codePointLength(LINE_CUT)) + LINE_CUT
          : raw;
      const n = codePointLength(line);
      const extra = current.length ? n + 1 : n;
      if (currentSize + extra > budget && current.length) {
        atoms.push({ text: current.join('\n'), size: currentSize, section, lines: current.length });
        current = [];
        currentSize = 0;
      }
      currentSize += current.length ? n + 1 : n;
      current.push(line);
    }
    if (current.length) {
      atoms.push({ text: current.join('\n'), size: currentSize, section, lines: current.length });
    }
    return atoms;
  }

  const fence = fenceFor(block.lines);
  const whole = renderCode(block.lang, block.lines, block.summary, fence);
  const wholeSize = codePointLength(whole);
  if (wholeSize <= budget)
    return [{ text: whole, size: wholeSize, section, lines: block.lines.length }];

  const summaryOf = (i: number) =>
    block.summary === undefined
      ? undefined
      : i === 0
        ? block.summary
        : `${block.summary} (continued)`;
  // Overhead of an empty chunk, with the longer "(continued)" summary.
  const overhead = codePointLength(renderCode(block.lang, [], summaryOf(1), fence)) + 1;
  const room = budget - overhead;
  if (room < 20) throw new Error(`comment limit ${budget} is too small for a code block`);
  const atoms: Atom[] = [];
  let chunk: string[] = [];
  let chunkSize = 0;
  const flush = () => {
    const text = renderCode(block.lang, chunk, summaryOf(atoms.length), fence);
    atoms.push({ text, size: codePointLength(text), section, lines: chunk.length });
    chunk = [];
    chunkSize = 0;
  };
  for (const raw of block.lines) {
    const line =
      codePointLength(raw) + 1 > room
        ? cutToCodePoints(raw, room - 1 - codePointLength(LINE_CUT)) + LINE_CUT
        : raw;
    const n = codePointLength(line) + 1;
    if (chunkSize + n > room && chunk.length) flush();
    chunk.push(line);
    chunkSize += n;
  }
  if (chunk.length) flush();
  return atoms;
}

const SEPARATOR = '\n\n';

function partLabel(i: number, n: number): string {
  return n > 1 ? ` (part ${i}/${n})` : '';
}

function continuedNote(i: number, n: number): string {
  return `_Continued in part ${i + 1}/${n}._`;
}

function truncationNote(droppedLines: number, droppedSections: number, fullUrl?: string): string {
  const what =
    droppedSections > 0
      ? `${droppedSections} more section${droppedSections === 1 ? '' : 's'} (${droppedLines} lines)`
      : `${droppedLines} more lines`;
  return `> [!WARNING]\n> The plan is too long for the comment limit: ${what} not shown.${fullUrl ? ` Full plan: ${fullUrl}` : ''}`;
}

/**
 * Splits sections into comment bodies of at most `limit` code points each, every one starting
 * with its marker. Deterministic: the same input gives the same parts.
 */
export function splitComment(sections: readonly Section[], options: SplitOptions): string[] {
  const maxParts = options.maxParts ?? 10;
  // The largest header and footer any part can have.
  const header = (i: number, n: number) =>
    `${commentMarker(options.key, i)}\n**${options.heading}**${partLabel(i, n)}${SEPARATOR}`;
  const worstHeader = codePointLength(header(maxParts, maxParts));
  const worstFooter =
    codePointLength(SEPARATOR + continuedNote(maxParts - 1, maxParts)) +
    codePointLength(SEPARATOR + truncationNote(10 ** 9, 10 ** 6, options.fullUrl)) +
    1; // the final newline
  const budget = options.limit - worstHeader - worstFooter;
  if (budget < 200) {
    throw new Error(`comment limit ${options.limit} leaves ${budget} characters for content`);
  }

  // A heading and the first atom of its section always fit in one part together.
  const titleBudget = Math.min(200, Math.floor(budget / 4));
  const blockBudget = budget - titleBudget - SEPARATOR.length;
  const atoms: Atom[] = [];
  sections.forEach((section, s) => {
    if (section.title !== undefined) {
      const text = `### ${section.title}`;
      const cut = cutToCodePoints(text, titleBudget);
      atoms.push({
        text: cut,
        size: codePointLength(cut),
        keepWithNext: true,
        section: s,
        lines: 0,
      });
    }
    for (const block of section.blocks) atoms.push(...atomsOf(block, blockBudget, s));
  });

  // Greedy packing: a part takes atoms while they fit; a heading moves on with its block.
  const parts: Atom[][] = [];
  let current: Atom[] = [];
  let size = 0;
  for (let i = 0; i < atoms.length; i += 1) {
    const atom = atoms[i]!;
    const next = atom.keepWithNext ? atoms[i + 1] : undefined;
    const need = atom.size + (next ? SEPARATOR.length + next.size : 0);
    const sep = current.length ? SEPARATOR.length : 0;
    if (current.length && size + sep + need > budget) {
      parts.push(current);
      current = [];
      size = 0;
    }
    size += (current.length ? SEPARATOR.length : 0) + atom.size;
    current.push(atom);
  }
  if (current.length || parts.length === 0) parts.push(current);

  let note: string | undefined;
  if (parts.length > maxParts) {
    const dropped = parts.splice(maxParts).flat();
    const lastSection = parts.at(-1)!.at(-1)?.section ?? -1;
    const droppedSections = new Set(
      dropped.filter((a) => a.section > lastSection).map((a) => a.section),
    ).size;
    const droppedLines = dropped.reduce((sum, a) => sum + a.lines, 0);
    note = truncationNote(droppedLines, droppedSections, options.fullUrl);
  }

  const n = parts.length;
  return parts.map((part, index) => {
    const i = index + 1;
    // A heading left last (its block dropped by truncation) is dropped too.
    while (part.length && part.at(-1)!.keepWithNext) part.pop();
    const body = part.map((a) => a.text).join(SEPARATOR);
    const footer = i < n ? SEPARATOR + continuedNote(i, n) : note ? SEPARATOR + note : '';
    return `${header(i, n)}${body}${footer}`.trimEnd() + '\n';
  });
}

// ---------------------------------------------------------------------------------------------
// The stackswap plan

export interface PlanProblem {
  /** Relative to the config repo, e.g. releases/shop.yaml. */
  file: string;
  line?: number;
  /** The key path, e.g. components.api.version. */
  key?: string;
  message: string;
}

export interface ResourceDiff {
  /** namespace/Kind/name */
  resource: string;
  /** Unified diff lines (without a trailing newline). */
  diff: string;
}

export interface StackPlanComment {
  stack: string;
  /** The MR head the plan was computed at. */
  headSha: string;
  /** The preview colour the merge would deploy into. */
  colour?: string;
  /** The operation in the service (status target_url, and the full plan). */
  operationUrl?: string;
  problems: readonly PlanProblem[];
  /** The values files diff the deploy would commit; '' when nothing changes. */
  valuesDiff: string;
  /** Per resource, the rendered manifest diff (noise already filtered). */
  manifestDiff: readonly ResourceDiff[];
  /** Changes to the stack's verification config; '' when none. */
  verificationDiff: string;
}

function diffLines(diff: string): string[] {
  return diff.replace(/\n+$/, '').split('\n');
}

function inlineCode(text: string): string {
  const fence = '`'.repeat(
    (text.match(/`+/g) ?? []).reduce((m, r) => Math.max(m, r.length), 0) + 1,
  );
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function problemLine(p: PlanProblem): string {
  const where = `${p.file}${p.line !== undefined ? `:${p.line}` : ''}`;
  const key = p.key ? ` ${inlineCode(p.key)}` : '';
  return `- ${inlineCode(where)}${key}: ${p.message.replace(/\s*\n\s*/g, ' ')}`;
}

/** The plan as sections, in the order a reviewer reads them. */
export function planSections(plan: StackPlanComment): Section[] {
  const short = plan.headSha.slice(0, 12);
  const verdict = plan.problems.length
    ? `❌ The plan is invalid: ${plan.problems.length} problem${plan.problems.length === 1 ? '' : 's'}. Nothing will deploy until they are fixed.`
    : `✅ The plan is valid. Merging deploys it${plan.colour ? ` into the preview colour **${plan.colour}**` : ''}.`;
  const intro: Section = {
    blocks: [
      {
        kind: 'text',
        text: `${verdict}\nComputed at ${inlineCode(short)}${plan.operationUrl ? ` · [operation](${plan.operationUrl})` : ''}.`,
      },
    ],
  };
  const sections: Section[] = [intro];
  if (plan.problems.length) {
    sections.push({
      title: 'Problems',
      blocks: [{ kind: 'text', text: plan.problems.map(problemLine).join('\n') }],
    });
  }
  sections.push({
    title: 'Values',
    blocks: plan.valuesDiff.trim()
      ? [{ kind: 'code', lang: 'diff', lines: diffLines(plan.valuesDiff), summary: 'values diff' }]
      : [{ kind: 'text', text: 'No change to the values.' }],
  });
  sections.push({
    title: `Rendered manifests${plan.manifestDiff.length ? ` (${plan.manifestDiff.length} changed)` : ''}`,
    blocks: plan.manifestDiff.length
      ? plan.manifestDiff.map((r): Block => ({
          kind: 'code',
          lang: 'diff',
          lines: diffLines(r.diff),
          summary: r.resource,
        }))
      : [{ kind: 'text', text: 'No change in the rendered manifests.' }],
  });
  sections.push({
    title: 'Verification',
    blocks: plan.verificationDiff.trim()
      ? [
          {
            kind: 'code',
            lang: 'diff',
            lines: diffLines(plan.verificationDiff),
            summary: 'verification config diff',
          },
        ]
      : [{ kind: 'text', text: 'No change to the verification config.' }],
  });
  return sections;
}

/**
 * The comment bodies for one stack's plan, for Forge.syncComments(project, number,
 * planCommentKey(stack), bodies). `limit` is Forge.limits.commentChars.
 */
export function renderPlanComment(
  plan: StackPlanComment,
  options: { limit: number; maxParts?: number },
): string[] {
  return splitComment(planSections(plan), {
    key: planCommentKey(plan.stack),
    limit: options.limit,
    ...(options.maxParts !== undefined ? { maxParts: options.maxParts } : {}),
    heading: `stackswap plan for ${inlineCode(plan.stack)}`,
    ...(plan.operationUrl ? { fullUrl: plan.operationUrl } : {}),
  });
}
