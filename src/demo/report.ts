/**
 * The demo's plain-text output: one line per step with its timing, one table of what the load
 * saw per phase (requests, failed, mixed, and which colour and versions served them), and the
 * verdict. Kept short: it is pasted into the README.
 */
import type { PhaseTally } from '../sandbox/traffic/tally.ts';

const LABEL_WIDTH = 24;

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

/** `[  2.1s] deploy 1.1.0 ....... ok (1.4s)  green (preview) runs 1.1.0; pushed ...` */
export function stepLine(
  elapsedMs: number,
  label: string,
  outcome: { ok: boolean; durationMs: number; detail?: string; exitCode?: number; mark?: string },
): string {
  const clock = `[${seconds(elapsedMs).padStart(6)}]`;
  const dots = ` ${'.'.repeat(Math.max(2, LABEL_WIDTH - label.length - 1))}`;
  const mark =
    outcome.mark ??
    (outcome.ok
      ? 'ok'
      : `FAILED${outcome.exitCode !== undefined ? ` (exit ${outcome.exitCode})` : ''}`);
  const detail = outcome.detail ? `  ${outcome.detail}` : '';
  return `${clock} ${label}${dots} ${mark} (${seconds(outcome.durationMs)})${detail}`;
}

/** Every line of `text`, indented (for the CLI's stderr under a failed step). */
export function indent(text: string, prefix = '         | '): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

/**
 * One table for all phases: the totals on the phase's first row, then one row per colour and
 * version combination that served it (in the order first seen), then its failures by reason.
 */
export function formatPhaseTable(
  phases: readonly PhaseTally[],
  options: { total?: boolean } = {},
): string {
  const rows: string[][] = [
    ['PHASE', 'REQUESTS', 'FAILED', 'MIXED', 'COLOUR', 'FRONTEND', 'BACKEND', 'SERVED', ''],
  ];
  const failures: Map<number, string[]> = new Map();
  for (const p of phases) {
    const totals = [p.phase, String(p.total), String(p.failed), String(p.mixed)];
    const served = p.served.map((s) => [
      s.backendColour === null || s.backendColour === s.colour
        ? (s.colour ?? '-')
        : `${s.colour ?? '-'}/${s.backendColour}`,
      s.frontendVersion,
      s.backendVersion ?? '-',
      String(s.count),
      s.mixed ? 'mixed' : '',
    ]);
    if (served.length === 0) served.push(['-', '', '', '', '']);
    served.forEach((cells, i) => rows.push([...(i === 0 ? totals : ['', '', '', '']), ...cells]));
    const reasons = Object.entries(p.failures).map(([reason, n]) => `failed: ${reason} x ${n}`);
    if (reasons.length > 0) failures.set(rows.length - 1, reasons);
  }
  const total = phases.reduce(
    (t, p) => ({ total: t.total + p.total, failed: t.failed + p.failed, mixed: t.mixed + p.mixed }),
    { total: 0, failed: 0, mixed: 0 },
  );
  if (options.total ?? true) {
    rows.push(['total', String(total.total), String(total.failed), String(total.mixed)]);
  }

  const right = [false, true, true, true, false, false, false, true, false];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const servedColumn = widths.slice(0, 4).reduce((n, w) => n + w + 2, 0);
  const lines: string[] = [];
  rows.forEach((row, r) => {
    lines.push(
      row
        .map((cell, i) => (right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    );
    for (const reason of failures.get(r) ?? []) lines.push(' '.repeat(servedColumn) + reason);
  });
  return lines.join('\n');
}
