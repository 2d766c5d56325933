/**
 * Dry runs, shared by the CLI (`--dry-run`) and the HTTP service (`dryRun: true`): the real
 * core operation runs in plan mode (`OperationContext.plan`). Its commit step runs the
 * compare-and-swap attempt (state read, preconditions checked, files edited) once on the synced
 * head through `ConfigRepo.plan`, a read-only transaction that commits and pushes nothing, and
 * hands the plan to the sink; in plan mode the sync step syncs nothing. The plan is then diffed
 * against the commit it was made on (`baseSha`): every read of the plan and of the files it
 * changes is pinned to that commit, so the diff is exactly what the real run would commit there.
 */
import type { CommitMessage, PlanOutcome } from '../gitops/git/repo.ts';
import type { OperationContext, OperationResult } from './operations/context.ts';

/** The changing operations that can be previewed. */
/** The operations a dry run can plan (the four a user or the service starts). */
export type PlannedKind = 'deploy' | 'swap' | 'revert' | 'scale-down';

export interface FileDiff {
  file: string;
  /** The plan creates the file (it does not exist at `baseSha`). */
  created: boolean;
  /** Unified diff of the file against `baseSha`. */
  diff: string;
}

/** What a dry run answers; the service's `DryRunResult` schema has exactly this shape. */
export interface DryRunReport {
  dryRun: true;
  stack: string;
  kind: PlannedKind;
  /** The commit the change was planned on. */
  baseSha: string;
  /** false: the repo is already in the desired state; the real run would commit nothing. */
  wouldCommit: boolean;
  subject?: string;
  trailers?: Record<string, string>;
  files: FileDiff[];
  /**
   * An operation that makes several commits (a swap with weighted steps): each commit in order,
   * its diff against the one before. The fields above then describe the whole: `files` the net
   * change from `baseSha` to the end, `subject` and `trailers` those of the last commit.
   */
  steps?: PlannedCommit[];
}

export interface PlannedCommit {
  subject: string;
  trailers: Record<string, string>;
  files: FileDiff[];
}

export interface DryRun {
  report: DryRunReport;
  /** The full message the commit would carry (subject, body, trailers); absent with no commit. */
  message?: CommitMessage;
  /** Every commit of a several-commit plan, with its full message (see `DryRunReport.steps`). */
  messages?: CommitMessage[];
}

/**
 * Runs `operation` in plan mode on `ctx` (whose `plan` sink is replaced) and diffs its plan. The
 * operation's own errors (refused preconditions, bad input) propagate, as in a real run.
 */
export async function planOperation(
  ctx: Omit<OperationContext, 'plan'>,
  meta: { kind: PlannedKind; stack: string },
  operation: (ctx: OperationContext) => Promise<OperationResult>,
): Promise<DryRun> {
  const captured: PlanOutcome<unknown>[] = [];
  await operation({
    ...ctx,
    plan: (planned) => {
      captured.push(planned);
    },
  });
  if (captured.length === 0) {
    throw new Error('dry run: the operation finished without planning a commit');
  }
  return captured.length === 1 ? diffPlan(captured[0]!, meta) : diffPlans(captured, meta);
}

/**
 * Several planned commits (all made on the same head, each writing whole files): commit k is
 * diffed against the content commits 1..k-1 left, the whole against `baseSha`.
 */
export function diffPlans(
  outcomes: readonly PlanOutcome<unknown>[],
  meta: { kind: PlannedKind; stack: string },
): DryRun {
  const base: Record<string, string | null> = {};
  const current: Record<string, string | null> = {};
  const steps: PlannedCommit[] = [];
  const messages: CommitMessage[] = [];
  for (const { plan, previous } of outcomes) {
    if (plan.kind !== 'commit') continue;
    const files: FileDiff[] = [];
    for (const [file, content] of Object.entries(plan.files)) {
      if (!(file in base)) base[file] = current[file] = previous[file] ?? null;
      const before = current[file] ?? null;
      if (before === content) continue;
      const created = before === null;
      files.push({ file, created, diff: unifiedDiff(file, before ?? '', content, created) });
      current[file] = content;
    }
    if (files.length === 0) continue;
    steps.push({ subject: plan.message.subject, trailers: { ...plan.message.trailers }, files });
    messages.push(plan.message);
  }
  const net: FileDiff[] = [];
  for (const [file, before] of Object.entries(base)) {
    const after = current[file] ?? null;
    if (after === null || after === before) continue;
    net.push({
      file,
      created: before === null,
      diff: unifiedDiff(file, before ?? '', after, before === null),
    });
  }
  const message = messages.at(-1);
  return {
    report: {
      dryRun: true,
      stack: meta.stack,
      kind: meta.kind,
      baseSha: outcomes[0]!.baseSha,
      wouldCommit: message !== undefined,
      ...(message ? { subject: message.subject, trailers: { ...message.trailers } } : {}),
      files: net,
      ...(steps.length > 0 ? { steps } : {}),
    },
    ...(message ? { message, messages } : {}),
  };
}

/** The files a plan changes, as unified diffs against the commit it was made on. */
export function diffPlan(
  outcome: PlanOutcome<unknown>,
  meta: { kind: PlannedKind; stack: string },
): DryRun {
  const { plan, baseSha, previous } = outcome;
  const files: FileDiff[] = [];
  if (plan.kind === 'commit') {
    for (const [file, content] of Object.entries(plan.files)) {
      const before = previous[file] ?? null;
      if (before === content) continue;
      const created = before === null;
      files.push({ file, created, diff: unifiedDiff(file, before ?? '', content, created) });
    }
  }
  const message = plan.kind === 'commit' && files.length > 0 ? plan.message : undefined;
  return {
    report: {
      dryRun: true,
      stack: meta.stack,
      kind: meta.kind,
      baseSha,
      wouldCommit: message !== undefined,
      ...(message ? { subject: message.subject, trailers: { ...message.trailers } } : {}),
      files,
    },
    ...(message ? { message } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// A unified diff of one file. Stackswap's edits change a few scalars, so the common prefix and
// suffix are trimmed first and only the small middle is compared (longest common subsequence);
// a middle too large to compare cheaply is shown as replaced whole.

const CONTEXT = 3;
const MAX_CELLS = 4_000_000;

type Op = { kind: ' ' | '-' | '+'; line: string };

export function unifiedDiff(file: string, before: string, after: string, created = false): string {
  if (before === after) return '';
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = lineOps(a, b);
  const header = `--- ${created ? '/dev/null' : `a/${file}`}\n+++ b/${file}\n`;
  return header + hunks(ops).join('');
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  else lines[lines.length - 1] += '\n\\ No newline at end of file';
  return lines;
}

function lineOps(a: readonly string[], b: readonly string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const same = (lines: readonly string[]) => lines.map((line): Op => ({ kind: ' ', line }));
  return [
    ...same(a.slice(0, start)),
    ...middle(a.slice(start, endA), b.slice(start, endB)),
    ...same(a.slice(endA)),
  ];
}

function middle(a: readonly string[], b: readonly string[]): Op[] {
  const removed = a.map((line): Op => ({ kind: '-', line }));
  const added = b.map((line): Op => ({ kind: '+', line }));
  if (a.length === 0 || b.length === 0 || a.length * b.length > MAX_CELLS) {
    return [...removed, ...added];
  }
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] =
        a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      ops.push({ kind: ' ', line: a[i++]! });
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) {
      ops.push({ kind: '-', line: a[i++]! });
    } else {
      ops.push({ kind: '+', line: b[j++]! });
    }
  }
  while (i < a.length) ops.push({ kind: '-', line: a[i++]! });
  while (j < b.length) ops.push({ kind: '+', line: b[j++]! });
  return ops;
}

function hunks(ops: readonly Op[]): string[] {
  const changed = ops.flatMap((op, index) => (op.kind === ' ' ? [] : [index]));
  const out: string[] = [];
  let k = 0;
  while (k < changed.length) {
    const first = changed[k]!;
    let last = first;
    // Changes closer than two contexts apart share a hunk.
    while (k + 1 < changed.length && changed[k + 1]! - last <= 2 * CONTEXT) last = changed[++k]!;
    k++;
    const from = Math.max(0, first - CONTEXT);
    const to = Math.min(ops.length, last + CONTEXT + 1);
    let oldStart = 1;
    let newStart = 1;
    for (const op of ops.slice(0, from)) {
      if (op.kind !== '+') oldStart++;
      if (op.kind !== '-') newStart++;
    }
    const body = ops.slice(from, to);
    const oldCount = body.filter((op) => op.kind !== '+').length;
    const newCount = body.filter((op) => op.kind !== '-').length;
    out.push(
      `@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@\n` +
        body.map((op) => `${op.kind}${op.line}\n`).join(''),
    );
  }
  return out;
}

/** Unified diff ranges: an empty range names the line before it. */
function range(start: number, count: number): string {
  if (count === 0) return `${start - 1},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}
