/**
 * AppProject sync windows (`spec.syncWindows`), as `pkg/apis/application/v1alpha1` evaluates
 * them: a window is active when its cron `schedule` fired within the last `duration` (in its
 * `timeZone`, default UTC); it applies to an app whose name, destination namespace or cluster
 * matches one of its globs (all of them with `andOperator`). `canSync`: an active deny blocks
 * (a manual sync passes if that window has `manualSync`); else an active allow permits; else any
 * inactive allow blocks (again unless `manualSync` for a manual sync); else syncing is allowed.
 *
 * Active is decided as Argo CD does (`SyncWindow.active`): the schedule's next run after
 * `now - duration` comes before `now`. Schedules are robfig/cron's standard grammar: five fields
 * (minute hour day-of-month month day-of-week) with `*`, `?`, lists, ranges, steps and names,
 * plus the `@hourly` … `@yearly` descriptors; evaluated by croner, with the extensions robfig
 * does not know (`L`, `#`, `W`, `+`, seconds) refused as Argo CD would refuse them.
 */
import { Cron } from 'croner';
import type { Application } from './types.ts';

export interface SyncWindow {
  kind: 'allow' | 'deny';
  schedule: string;
  duration: string;
  applications?: string[];
  namespaces?: string[];
  clusters?: string[];
  manualSync?: boolean;
  timeZone?: string;
  andOperator?: boolean;
  description?: string;
}

/** The ApplicationSyncWindow of the syncwindows endpoint. */
export interface WindowView {
  kind: string;
  schedule: string;
  duration: string;
  manualSync?: boolean;
}

export function windowsOf(app: Application, windows: readonly SyncWindow[]): SyncWindow[] {
  return windows.filter((w) => matchesApp(w, app));
}

export function isActive(window: SyncWindow, now: number): boolean {
  const durationMs = parseDuration(window.duration);
  if (!durationMs) return false;
  const next = scheduleOf(window).nextRun(new Date(now - durationMs));
  return next !== null && next.getTime() < now;
}

export function canSync(windows: readonly SyncWindow[], now: number, manual: boolean): boolean {
  if (windows.length === 0) return true;
  const active = windows.filter((w) => isActive(w, now));
  const activeDeny = active.filter((w) => w.kind === 'deny');
  if (activeDeny.length > 0) return manual && activeDeny.some((w) => w.manualSync);
  if (active.some((w) => w.kind === 'allow')) return true;
  const inactiveAllow = windows.filter((w) => w.kind === 'allow' && !active.includes(w));
  if (inactiveAllow.length > 0) return manual && inactiveAllow.some((w) => w.manualSync);
  return true;
}

export function viewOf(window: SyncWindow): WindowView {
  return {
    kind: window.kind,
    schedule: window.schedule,
    duration: window.duration,
    ...(window.manualSync ? { manualSync: true } : {}),
  };
}

/** Throws on a schedule or duration Argo CD would reject, naming it. */
export function validateWindow(window: SyncWindow): void {
  if (window.kind !== 'allow' && window.kind !== 'deny') {
    throw new Error(`sync window kind must be allow or deny, got ${JSON.stringify(window.kind)}`);
  }
  scheduleOf(window);
  if (parseDuration(window.duration) === undefined) {
    throw new Error(`cannot parse sync window duration ${JSON.stringify(window.duration)}`);
  }
}

function matchesApp(w: SyncWindow, app: Application): boolean {
  const checks: boolean[] = [];
  if (w.applications?.length) checks.push(w.applications.some((g) => glob(g, app.metadata.name)));
  if (w.namespaces?.length) {
    checks.push(w.namespaces.some((g) => glob(g, app.spec.destination.namespace ?? '')));
  }
  if (w.clusters?.length) {
    const cluster = [app.spec.destination.server ?? '', app.spec.destination.name ?? ''];
    checks.push(w.clusters.some((g) => cluster.some((c) => c && glob(g, c))));
  }
  if (checks.length === 0) return false;
  return w.andOperator ? checks.every(Boolean) : checks.some(Boolean);
}

function glob(pattern: string, value: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(value);
}

/** Go durations: "1h", "30m", "1h30m", "90s". */
export function parseDuration(text: string): number | undefined {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let consumed = '';
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * (units[m[2]!] ?? 0);
    consumed += m[0];
  }
  return consumed === text && consumed !== '' ? total : undefined;
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const NAMES = /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)\b/gi;

/** The window's schedule in its time zone (default UTC); throws naming a bad schedule. */
function scheduleOf(window: SyncWindow): Cron {
  const text = window.schedule.trim();
  const pattern = DESCRIPTORS[text] ?? text;
  const fields = pattern.split(/\s+/);
  const bad = (why: string) =>
    new Error(`cannot parse sync window schedule ${JSON.stringify(window.schedule)}: ${why}`);
  if (fields.length !== 5) throw bad('want 5 fields');
  const withoutNames = pattern.replace(NAMES, '');
  if (/[LW#+]/i.test(withoutNames)) {
    throw bad('L, W, # and + are not in the cron grammar Argo CD uses');
  }
  try {
    return new Cron(pattern, { timezone: window.timeZone || 'UTC', mode: '5-part', paused: true });
  } catch (e) {
    throw bad(e instanceof Error ? e.message : String(e));
  }
}
