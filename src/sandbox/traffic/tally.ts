/**
 * Counts what a load run saw, per phase: requests, failures by reason, and which colour and
 * versions served them, flagging MIXED answers (a frontend of one release talking to a backend
 * of another). Formats the result as plain-text tables.
 */
import { ComponentAnswer, StackAnswer } from './answers.ts';

/** Decides whether one answer mixes releases. */
export type MixedPredicate = (answer: StackAnswer) => boolean;

/**
 * The default: the frontend's version differs from its backend's, or their colours differ.
 * Versions are compared as equal strings because a release plan gives every component of the
 * stack the same version; inject another predicate when versions differ per component.
 */
export const mixesReleases: MixedPredicate = (answer) =>
  answer.version !== answer.backend.version || answer.colour !== answer.backend.colour;

export interface ServedCount {
  /** The entry point's colour and version. */
  colour: string | null;
  frontendVersion: string;
  /** Null when the entry point answered without a backend part. */
  backendColour: string | null;
  backendVersion: string | null;
  mixed: boolean;
  count: number;
}

export interface PhaseTally {
  phase: string;
  total: number;
  succeeded: number;
  /** Non-2xx answers, network errors, timeouts and 2xx answers that are not a backend's JSON. */
  failed: number;
  mixed: number;
  /** Reason (`HTTP 503`, `network ECONNREFUSED`, `timeout`, `unexpected body`) -> count. */
  failures: Record<string, number>;
  served: ServedCount[];
}

export type Outcome =
  { kind: 'served'; status: number; body: string } | { kind: 'failed'; reason: string };

export class Tally {
  private readonly phases = new Map<string, PhaseTally>();

  constructor(private readonly isMixed: MixedPredicate = mixesReleases) {}

  record(phase: string, outcome: Outcome): void {
    const tally = this.phaseNamed(phase);
    tally.total++;
    const served = outcome.kind === 'served' ? this.classify(outcome) : outcome.reason;
    if (typeof served === 'string') {
      tally.failed++;
      tally.failures[served] = (tally.failures[served] ?? 0) + 1;
      return;
    }
    tally.succeeded++;
    if (served.mixed) tally.mixed++;
    const existing = tally.served.find(
      (s) =>
        s.colour === served.colour &&
        s.frontendVersion === served.frontendVersion &&
        s.backendColour === served.backendColour &&
        s.backendVersion === served.backendVersion,
    );
    if (existing) existing.count++;
    else tally.served.push({ ...served, count: 1 });
  }

  /** Copies, in the order the phases were first seen. */
  phasesSoFar(): PhaseTally[] {
    return [...this.phases.values()].map((p) => structuredClone(p));
  }

  private phaseNamed(phase: string): PhaseTally {
    let tally = this.phases.get(phase);
    if (!tally) {
      tally = { phase, total: 0, succeeded: 0, failed: 0, mixed: 0, failures: {}, served: [] };
      this.phases.set(phase, tally);
    }
    return tally;
  }

  /** A served row without its count, or the failure reason. */
  private classify(outcome: { status: number; body: string }): Omit<ServedCount, 'count'> | string {
    if (outcome.status < 200 || outcome.status > 299) return `HTTP ${outcome.status}`;
    let json: unknown;
    try {
      json = JSON.parse(outcome.body);
    } catch {
      return 'unexpected body';
    }
    const stack = StackAnswer.safeParse(json);
    if (stack.success) {
      const a = stack.data;
      return {
        colour: a.colour,
        frontendVersion: a.version,
        backendColour: a.backend.colour,
        backendVersion: a.backend.version,
        mixed: this.isMixed(a),
      };
    }
    const single = ComponentAnswer.safeParse(json);
    if (!single.success) return 'unexpected body';
    return {
      colour: single.data.colour,
      frontendVersion: single.data.version,
      backendColour: null,
      backendVersion: null,
      mixed: false,
    };
  }
}

export interface LoadReport {
  phases: PhaseTally[];
  total: number;
  failed: number;
  mixed: number;
  durationMs: number;
  /** Why the run ended, or `running` for a report taken during the run. */
  ended: 'running' | 'stopped' | 'max-duration' | 'max-requests';
}

/** Totals per phase, then each phase's served colours and versions and its failures. */
export function formatLoadReport(report: LoadReport): string {
  const lines: string[] = [];
  const summary = [
    ['PHASE', 'REQUESTS', 'FAILED', 'MIXED'],
    ...report.phases.map((p) => [p.phase, String(p.total), String(p.failed), String(p.mixed)]),
    ['total', String(report.total), String(report.failed), String(report.mixed)],
  ];
  lines.push(...table(summary, [false, true, true, true]));
  lines.push(`(${(report.durationMs / 1000).toFixed(1)} s, ${report.ended})`);
  for (const phase of report.phases) {
    lines.push('', `${phase.phase}:`);
    const rows = [['COLOUR', 'FRONTEND', 'BACKEND', 'SERVED', 'MIXED']];
    for (const s of phase.served) {
      const colour =
        s.backendColour === null || s.backendColour === s.colour
          ? (s.colour ?? '-')
          : `${s.colour ?? '-'}/${s.backendColour}`;
      rows.push([
        colour,
        s.frontendVersion,
        s.backendVersion ?? '-',
        String(s.count),
        s.mixed ? 'yes' : '',
      ]);
    }
    if (phase.served.length > 0)
      lines.push(...table(rows, [false, false, false, true, false], '  '));
    for (const [reason, count] of Object.entries(phase.failures)) {
      lines.push(`  failed: ${reason} x ${count}`);
    }
  }
  return lines.join('\n');
}

function table(rows: string[][], alignRight: boolean[], indent = ''): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, i) => (alignRight[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
  );
}
