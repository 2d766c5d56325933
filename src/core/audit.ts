/**
 * The audit trail lives in the commits: every change carries `Stackswap-*` trailers, so the
 * history of promotions is rebuilt from `git log` alone (no database to lose or disagree).
 */
import type { Colour } from '../config/names.ts';
import type { CommitInfo, CommitMessage } from '../gitops/git/repo.ts';

export type OperationKind =
  | 'deploy'
  | 'swap'
  | 'revert'
  | 'scale-down'
  | 'values-set'
  /** A weighted step of a swap: previewWeight moved (issue 11). */
  | 'swap-step'
  /** A weighted swap stopped by verification: previewWeight back to 0. */
  | 'swap-abort'
  /** A swap stopped by pre-swap verification: only the rejected-release record is committed. */
  | 'swap-stop'
  /** A deploy vetoed by an afterDeploy hook: the preview colour's files back as they were. */
  | 'deploy-undo'
  /** A merge request's plan review (issue 12): comments and statuses, never a commit. */
  | 'review';

export const Trailer = {
  operation: 'Stackswap-Operation',
  stack: 'Stackswap-Stack',
  operationId: 'Stackswap-Operation-Id',
  requestedBy: 'Stackswap-Requested-By',
  colour: 'Stackswap-Colour',
  from: 'Stackswap-From',
  to: 'Stackswap-To',
  versions: 'Stackswap-Versions',
  reason: 'Stackswap-Reason',
  // verification (issue 11): why a release was stopped or reverted
  weight: 'Stackswap-Weight',
  verification: 'Stackswap-Verification',
  verificationPhase: 'Stackswap-Verification-Phase',
  verificationMetric: 'Stackswap-Verification-Metric',
  verificationValue: 'Stackswap-Verification-Value',
  verificationCondition: 'Stackswap-Verification-Condition',
  verificationReason: 'Stackswap-Verification-Reason',
  // rejected releases (issue 12 item 6, src/core/rejected.ts): the version set recorded
  rejected: 'Stackswap-Rejected',
  // lifecycle hooks (issue 13): the verdicts that gated this commit, and a --no-hooks skip
  hooks: 'Stackswap-Hooks',
  hooksSkipped: 'Stackswap-Hooks-Skipped',
} as const;

type ExtraTrailer = Exclude<
  keyof typeof Trailer,
  'operation' | 'stack' | 'operationId' | 'requestedBy' | 'reason'
>;

export interface Actor {
  /** Who asked (a CI user, a chat user, a token identity): recorded, never trusted for auth. */
  requestedBy: string;
  operationId: string;
  reason?: string;
}

export function commitMessage(
  subject: string,
  kind: OperationKind,
  stack: string,
  actor: Actor,
  extra: Partial<Record<ExtraTrailer, string>> = {},
): CommitMessage {
  const trailers: Record<string, string> = {
    [Trailer.operation]: kind,
    [Trailer.stack]: stack,
  };
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined) trailers[Trailer[key as keyof typeof extra]] = oneLine(value);
  }
  trailers[Trailer.requestedBy] = oneLine(actor.requestedBy);
  trailers[Trailer.operationId] = actor.operationId;
  if (actor.reason) trailers[Trailer.reason] = oneLine(actor.reason);
  return { subject, ...(actor.reason ? { body: actor.reason } : {}), trailers };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 500);
}

export interface HistoryEntry {
  sha: string;
  date: string;
  operation: OperationKind;
  stack: string;
  subject: string;
  requestedBy?: string;
  operationId?: string;
  colour?: Colour;
  from?: Colour;
  to?: Colour;
  versions?: Record<string, string>;
  reason?: string;
  /** previewWeight set by a weighted step or abort. */
  weight?: number;
  /** The version set this commit recorded as rejected (a revert or a verification stop). */
  rejected?: Record<string, string>;
  /** Hook verdicts that gated this commit (`Stackswap-Hooks`). */
  hooks?: { point: string; name: string; result: string }[];
  /** `--no-hooks by <who>` when the operation ran without its hooks. */
  hooksSkipped?: string;
  /** Present on commits made by a verification verdict (a stop or an automatic revert). */
  verification?: {
    result: string;
    phase?: string;
    metric?: string;
    value?: string;
    condition?: string;
    reason?: string;
  };
}

/** Turns commits into promotion history entries; commits without stackswap trailers are skipped. */
export function historyFromCommits(commits: readonly CommitInfo[], stack?: string): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  for (const commit of commits) {
    const t = (key: string) => commit.trailers[key]?.at(-1);
    const operation = t(Trailer.operation) as OperationKind | undefined;
    const commitStack = t(Trailer.stack);
    if (!operation || !commitStack || (stack && commitStack !== stack)) continue;
    const colour = (v: string | undefined) => (v === 'blue' || v === 'green' ? v : undefined);
    const versions = t(Trailer.versions);
    const rejected = t(Trailer.rejected);
    entries.push({
      sha: commit.sha,
      date: commit.date,
      operation,
      stack: commitStack,
      subject: commit.subject,
      requestedBy: t(Trailer.requestedBy),
      operationId: t(Trailer.operationId),
      colour: colour(t(Trailer.colour)),
      from: colour(t(Trailer.from)),
      to: colour(t(Trailer.to)),
      versions: versions ? parseVersions(versions) : undefined,
      rejected: rejected ? parseVersions(rejected) : undefined,
      reason: t(Trailer.reason),
      weight: t(Trailer.weight) === undefined ? undefined : Number(t(Trailer.weight)),
      verification: verificationOf(t),
      hooks: hooksOf(t(Trailer.hooks)),
      hooksSkipped: t(Trailer.hooksSkipped),
    });
  }
  return entries.map(
    (e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as HistoryEntry,
  );
}

function parseVersions(text: string): Record<string, string> {
  return Object.fromEntries(text.split(',').map((pair) => pair.split('=', 2) as [string, string]));
}

/**
 * `Stackswap-Hooks: beforeSwap/ticket=pass, afterTestTraffic/load=timeout-pass` and
 * `Stackswap-Hooks-Skipped: --no-hooks by alice`.
 */
export function hookTrailers(ledger: {
  unrecorded: readonly { point: string; name: string; result: string }[];
  skipped?: string | undefined;
}): Record<string, string> {
  const trailers: Record<string, string> = {};
  if (ledger.unrecorded.length > 0) {
    trailers[Trailer.hooks] = oneLine(
      ledger.unrecorded.map((r) => `${r.point}/${r.name}=${r.result}`).join(', '),
    );
  }
  if (ledger.skipped) trailers[Trailer.hooksSkipped] = oneLine(ledger.skipped);
  return trailers;
}

function hooksOf(text: string | undefined): HistoryEntry['hooks'] {
  if (!text) return undefined;
  return text.split(',').flatMap((part) => {
    const match = /^\s*([A-Za-z]+)\/([^=\s]+)=(\S+)\s*$/.exec(part);
    return match ? [{ point: match[1]!, name: match[2]!, result: match[3]! }] : [];
  });
}

function verificationOf(t: (key: string) => string | undefined): HistoryEntry['verification'] {
  const result = t(Trailer.verification);
  if (!result) return undefined;
  const fields = {
    result,
    phase: t(Trailer.verificationPhase),
    metric: t(Trailer.verificationMetric),
    value: t(Trailer.verificationValue),
    condition: t(Trailer.verificationCondition),
    reason: t(Trailer.verificationReason),
  };
  return Object.fromEntries(
    Object.entries(fields).filter(([, v]) => v !== undefined),
  ) as HistoryEntry['verification'];
}

/** The most recent change of the live colour (swap or revert) of a stack. */
export function lastLiveChange(history: readonly HistoryEntry[]): HistoryEntry | undefined {
  return history.find(
    (e) => (e.operation === 'swap' || e.operation === 'revert') && e.from && e.to,
  );
}
