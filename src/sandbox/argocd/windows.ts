/**
 * AppProject sync windows (`spec.syncWindows`), as `pkg/apis/application/v1alpha1` evaluates
 * them: a window is active when its cron `schedule` fired within the last `duration` (in its
 * `timeZone`, default UTC); it applies to an app whose name, destination namespace or cluster
 * matches one of its globs (all of them with `andOperator`). `canSync`: an active deny blocks
 * (a manual sync passes if that window has `manualSync`); else an active allow permits; else any
 * inactive allow blocks (again unless `manualSync` for a manual sync); else syncing is allowed.
 *
 * Cron: five fields (minute hour day-of-month month day-of-week) with `*`, lists, ranges and
 * steps, plus `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`, at minute resolution.
 */
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

const MAX_LOOKBACK_MINUTES = 60 * 24 * 62;

export function windowsOf(app: Application, windows: readonly SyncWindow[]): SyncWindow[] {
  return windows.filter((w) => matchesApp(w, app));
}

export function isActive(window: SyncWindow, now: number): boolean {
  const durationMs = parseDuration(window.duration);
  if (!durationMs) return false;
  const cron = parseCron(window.schedule);
  const zone = window.timeZone || 'UTC';
  const start = Math.floor(now / 60_000) * 60_000;
  const minutes = Math.min(MAX_LOOKBACK_MINUTES, Math.ceil(durationMs / 60_000));
  for (let i = 0; i <= minutes; i++) {
    const fired = start - i * 60_000;
    if (fired + durationMs <= now) break;
    if (cron(fired, zone)) return true;
  }
  return false;
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
  parseCron(window.schedule);
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

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

type Matcher = (ms: number, zone: string) => boolean;

function parseCron(schedule: string): Matcher {
  const fields = (MACROS[schedule.trim()] ?? schedule).trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new Error(`cannot parse sync window schedule ${JSON.stringify(schedule)}: want 5 fields`);
  }
  const [minute, hour, dom, month, dow] = [
    field(fields[0]!, 0, 59, schedule),
    field(fields[1]!, 0, 23, schedule),
    field(fields[2]!, 1, 31, schedule),
    field(fields[3]!, 1, 12, schedule),
    field(fields[4]!, 0, 7, schedule),
  ];
  const domStar = fields[2] === '*';
  const dowStar = fields[4] === '*';
  return (ms, zone) => {
    const t = partsIn(ms, zone);
    if (!minute.has(t.minute) || !hour.has(t.hour) || !month.has(t.month)) return false;
    const domOk = dom.has(t.day);
    const dowOk = dow.has(t.weekday) || (t.weekday === 0 && dow.has(7));
    // robfig/cron: when both day fields are restricted, either may match.
    if (!domStar && !dowStar) return domOk || dowOk;
    return domOk && dowOk;
  };
}

function field(text: string, min: number, max: number, schedule: string): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`cannot parse sync window schedule ${JSON.stringify(schedule)}`);
    const from = m[1] === '*' ? min : Number(m[1]);
    const to = m[2] !== undefined ? Number(m[2]) : m[1] === '*' || m[3] ? max : from;
    const step = m[3] ? Number(m[3]) : 1;
    if (from < min || to > max || from > to || step < 1) {
      throw new Error(
        `cannot parse sync window schedule ${JSON.stringify(schedule)}: ${part} is out of range`,
      );
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function partsIn(ms: number, zone: string) {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(zone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const weekdays = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  return {
    minute: Number(parts.minute),
    hour: Number(parts.hour),
    day: Number(parts.day),
    month: Number(parts.month),
    weekday: weekdays.indexOf(parts.weekday ?? ''),
  };
}
