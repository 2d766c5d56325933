/**
 * What an Application object says about "is revision R live?", as pure functions of one
 * observed app. The rules (Argo CD API notes §0, §3.1, §7):
 * - `operation != null` means busy (requested, running, or waiting for a retry); while retrying,
 *   `operationState.phase` stays Running *with* `finishedAt` set, so finishedAt is no signal.
 * - `status.sync.revision` is the revision of the last comparison (the resolved targetRevision),
 *   not the last synced one. A Synced+Healthy app at another revision is not live at R.
 * - After an operation completes the controller re-compares; until `reconciledAt >= finishedAt`
 *   the sync status may still describe the state before the operation.
 * - Plain resources show `hookPhase: Running` after a successful sync: hook phases are read only
 *   for resources with a `hookType`.
 */
import type { Application, OperationState, ResourceResult } from './schema.ts';

export const COMPLETED_PHASES: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Error']);
const ERROR_CONDITIONS = new Set(['ComparisonError', 'InvalidSpecError']);

export interface WaitTarget {
  revision: string;
  /**
   * true when we requested (or adopted) an operation for `revision`: success then also needs
   * that operation recorded as Succeeded. false when nothing was requested (auto-sync, or the
   * app was already at the revision): an operation for `revision`, if any, must not have failed.
   */
  requireOperation: boolean;
}

/** A persisting condition that fails the wait only when it outlasts the grace period. */
export type Problem = 'degraded' | 'error-condition' | 'superseded';

export type Assessment =
  | { verdict: 'done' }
  | { verdict: 'failed'; message: string; failedResources: string[] }
  | { verdict: 'pending'; reason: string; problem?: { kind: Problem; message: string } };

export function short(revision: string | undefined): string {
  if (!revision) return '?';
  return /^[0-9a-f]{40,64}$/.test(revision) ? revision.slice(0, 12) : revision;
}

/** Single-source `revision`, or one of a multi-source app's `revisions`. */
export function revisionMatches(
  holder: { revision?: string | undefined; revisions?: string[] | null | undefined } | undefined,
  revision: string,
): boolean {
  if (!holder) return false;
  return holder.revision === revision || (holder.revisions ?? []).includes(revision);
}

/** The revision(s) an operation state is about: its result when known, else what was asked. */
export function operationStateTargets(os: OperationState, revision: string): boolean {
  return os.syncResult?.revision || os.syncResult?.revisions?.length
    ? revisionMatches(os.syncResult, revision)
    : revisionMatches(os.operation?.sync, revision);
}

export function isAutoSyncEnabled(app: Application): boolean {
  const automated = app.spec?.syncPolicy?.automated;
  return !!automated && automated.enabled !== false;
}

export function isMultiSource(app: Application): boolean {
  return (app.spec?.sources?.length ?? 0) > 0;
}

/** An operation is requested, running, terminating or waiting to retry. */
export function isBusy(app: Application): boolean {
  const phase = app.status?.operationState?.phase;
  return app.operation != null || (phase !== undefined && !COMPLETED_PHASES.has(phase));
}

/** The revision the in-flight operation targets, as far as the app tells. */
export function inFlightRevision(app: Application): string | undefined {
  const os = app.status?.operationState;
  return (
    app.operation?.sync?.revision ??
    os?.syncResult?.revision ??
    os?.operation?.sync?.revision ??
    app.operation?.sync?.revisions?.[0] ??
    undefined
  );
}

export function inFlightTargets(app: Application, revision: string): boolean {
  if (app.operation?.sync && revisionMatches(app.operation.sync, revision)) return true;
  const os = app.status?.operationState;
  return !!os && !COMPLETED_PHASES.has(os.phase) && operationStateTargets(os, revision);
}

export function initiatorOf(app: Application): string | undefined {
  const by = app.operation?.initiatedBy ?? app.status?.operationState?.operation?.initiatedBy;
  if (!by) return undefined;
  return by.automated ? 'automated sync' : by.username;
}

export function hasInfo(app: Application, info: { name: string; value: string }): boolean {
  const infos = app.operation?.info ?? app.status?.operationState?.operation?.info ?? [];
  return infos.some((i) => i.name === info.name && i.value === info.value);
}

/**
 * Argo CD retries a failed operation (syncPolicy.retry; always for auto-sync): between attempts
 * the operation stays set and `operationState` is Running with `finishedAt` and `retryCount`
 * set, the message "<error>. Retrying attempt #N at 3:04PM.". The attempt, when that is the
 * state of the operation at `revision`.
 */
export function retryingAt(
  app: Application,
  revision: string,
): { attempt: number; message: string } | undefined {
  const os = app.status?.operationState ?? undefined;
  if (app.operation == null || !os || os.phase !== 'Running' || !os.finishedAt) return undefined;
  const attempt = Number(os.retryCount ?? 0);
  if (!(attempt > 0) || !operationStateTargets(os, revision)) return undefined;
  return { attempt, message: oneLine(os.message) };
}

/** Argo CD messages can carry a tool's multi-line stderr (helm): one line for progress and errors. */
export function oneLine(text: string | undefined): string {
  return (text ?? '').replace(/\s*\n\s*/g, ' ').trim();
}

export function assessApp(app: Application, target: WaitTarget): Assessment {
  const R = target.revision;
  const status = app.status;
  const os = status?.operationState ?? undefined;
  const ours = !!os && operationStateTargets(os, R);
  const sync = status?.sync;
  const health = status?.health?.status ?? 'Unknown';

  if (app.operation == null && os && ours && (os.phase === 'Failed' || os.phase === 'Error')) {
    return {
      verdict: 'failed',
      message: `sync operation at ${short(R)} ended ${os.phase}: ${oneLine(os.message) || 'no message'}`,
      failedResources: failedResources(os.syncResult?.resources ?? []),
    };
  }
  if (isBusy(app)) {
    const phase = os && !COMPLETED_PHASES.has(os.phase) ? os.phase : 'requested';
    return {
      verdict: 'pending',
      reason: `operation ${phase}${os?.message && phase !== 'requested' ? `: ${os.message}` : ''}`,
    };
  }
  const conditionProblem = errorCondition(app);
  const pending = (reason: string, problem?: { kind: Problem; message: string }): Assessment => {
    const p = problem ?? conditionProblem;
    return p ? { verdict: 'pending', reason, problem: p } : { verdict: 'pending', reason };
  };
  if (target.requireOperation && !(ours && os?.phase === 'Succeeded')) {
    return pending(`waiting for the sync operation at ${short(R)} to be recorded`);
  }
  const reconciled =
    !ours ||
    !os?.finishedAt ||
    os.operation?.sync?.dryRun === true ||
    (!!status?.reconciledAt && Date.parse(status.reconciledAt) >= Date.parse(os.finishedAt));
  if (!reconciled) return pending('waiting for Argo CD to compare again after the sync');
  if (!revisionMatches(sync, R)) {
    const seen = short(sync?.revision ?? sync?.revisions?.[0] ?? undefined);
    const reason = `Argo CD compares against ${seen}, not ${short(R)}`;
    // Our operation succeeded and Argo CD has compared since: it now tracks another revision.
    return ours && os?.phase === 'Succeeded'
      ? pending(reason, {
          kind: 'superseded',
          message: `Argo CD now compares against ${seen}, not the synced ${short(R)}: the branch moved on, or the app tracks another branch`,
        })
      : pending(reason);
  }
  if (health === 'Degraded') {
    return pending('Degraded', {
      kind: 'degraded',
      message: `health Degraded${status?.health?.message ? `: ${status.health.message}` : ''}`,
    });
  }
  if (sync?.status !== 'Synced') return pending(`${sync?.status ?? 'Unknown'} at ${short(R)}`);
  if (health !== 'Healthy') return pending(`health ${health}`);
  return conditionProblem ? pending('error condition', conditionProblem) : { verdict: 'done' };
}

function errorCondition(app: Application): { kind: Problem; message: string } | undefined {
  const c = (app.status?.conditions ?? []).find((cond) => ERROR_CONDITIONS.has(cond.type));
  return c
    ? { kind: 'error-condition', message: `${c.type}: ${c.message ?? ''}`.trim() }
    : undefined;
}

/** SyncFailed resources and failed hooks, "Kind namespace/name: message". */
export function failedResources(results: ResourceResult[]): string[] {
  return results
    .filter(
      (r) =>
        r.status === 'SyncFailed' ||
        (!!r.hookType && (r.hookPhase === 'Failed' || r.hookPhase === 'Error')),
    )
    .map((r) => {
      const what = r.hookType ? `${r.hookType} hook ${r.hookPhase}` : r.status;
      return `${resourceName(r)} (${what}${r.message ? `: ${r.message}` : ''})`;
    });
}

function resourceName(r: {
  kind?: string | undefined;
  namespace?: string | undefined;
  name?: string | undefined;
}) {
  return `${r.kind ?? '?'} ${r.namespace ? `${r.namespace}/` : ''}${r.name ?? '?'}`;
}

/** What was last seen, flattened for messages, progress events and error details. */
export interface AppSnapshot {
  app: string;
  syncStatus: string;
  revision: string | undefined;
  health: string;
  healthMessage?: string;
  /** Of the current or last operation. */
  phase?: string;
  operationMessage?: string;
  operationRevision?: string;
  operationRunning: boolean;
  initiatedBy?: string;
  unhealthy: string[];
  conditions: string[];
}

export function snapshot(app: Application): AppSnapshot {
  const s = app.status;
  const os = s?.operationState ?? undefined;
  const healthMessage = s?.health?.message;
  const opRevision = inFlightRevision(app);
  const initiatedBy = initiatorOf(app);
  return {
    app: app.metadata.name,
    syncStatus: s?.sync?.status ?? 'Unknown',
    revision: s?.sync?.revision ?? s?.sync?.revisions?.[0] ?? undefined,
    health: s?.health?.status ?? 'Unknown',
    ...(healthMessage ? { healthMessage } : {}),
    ...(os ? { phase: os.phase } : {}),
    ...(os?.message ? { operationMessage: os.message } : {}),
    ...(opRevision ? { operationRevision: opRevision } : {}),
    operationRunning: isBusy(app),
    ...(initiatedBy ? { initiatedBy } : {}),
    unhealthy: (s?.resources ?? [])
      .filter((r) => r.health?.status && r.health.status !== 'Healthy')
      .map(
        (r) =>
          `${resourceName(r)} ${r.health!.status}${r.health!.message ? ` (${r.health!.message})` : ''}`,
      ),
    conditions: (s?.conditions ?? []).map((c) => `${c.type}: ${c.message ?? ''}`.trim()),
  };
}

/** "OutOfSync at 1a2b3c4d5e6f, health Progressing, operation Running: waiting for hook (by alice)". */
export function describeSnapshot(s: AppSnapshot): string {
  const parts = [
    `${s.syncStatus} at ${short(s.revision)}`,
    `health ${s.health}${s.healthMessage ? ` (${s.healthMessage})` : ''}`,
  ];
  if (s.phase || s.operationRunning) {
    const phase = s.phase ?? 'requested';
    parts.push(
      `operation ${s.operationRunning && COMPLETED_PHASES.has(phase) ? 'requested' : phase}` +
        `${s.operationRevision ? ` at ${short(s.operationRevision)}` : ''}` +
        `${s.operationMessage ? `: ${s.operationMessage}` : ''}` +
        `${s.initiatedBy ? ` (started by ${s.initiatedBy})` : ''}`,
    );
  }
  if (s.unhealthy.length) parts.push(`unhealthy: ${s.unhealthy.slice(0, 10).join('; ')}`);
  if (s.conditions.length) parts.push(`conditions: ${s.conditions.slice(0, 5).join('; ')}`);
  return parts.join(', ');
}
