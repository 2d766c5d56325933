import { describe, expect, it } from 'vitest';
import { isActive, validateWindow, type SyncWindow } from '../../../src/sandbox/argocd/windows.ts';

const at = (iso: string) => Date.parse(iso);
const window = (over: Partial<SyncWindow>): SyncWindow => ({
  kind: 'allow',
  schedule: '0 9 * * *',
  duration: '2h',
  applications: ['*'],
  ...over,
});

describe('sync windows, as Argo CD decides them', () => {
  it('is active from just after the schedule fires until its duration has passed', () => {
    const w = window({});
    // Next(now - 2h) must come strictly before now.
    expect(isActive(w, at('2026-12-02T09:00:00.000Z'))).toBe(false);
    expect(isActive(w, at('2026-12-02T09:00:00.001Z'))).toBe(true);
    expect(isActive(w, at('2026-12-02T10:59:59.999Z'))).toBe(true);
    expect(isActive(w, at('2026-12-02T11:00:00.000Z'))).toBe(false);
    expect(isActive(w, at('2026-12-02T08:59:00.000Z'))).toBe(false);
  });

  it('evaluates the schedule in its time zone, with names and descriptors', () => {
    const berlin = window({ schedule: '0 9 * * WED', timeZone: 'Europe/Berlin', duration: '1h' });
    // 2026-12-02 is a Wednesday; 09:00 in Berlin (CET) is 08:00 UTC.
    expect(isActive(berlin, at('2026-12-02T08:30:00Z'))).toBe(true);
    expect(isActive(berlin, at('2026-12-02T09:30:00Z'))).toBe(false);
    const daily = window({ schedule: '@daily', duration: '30m' });
    expect(isActive(daily, at('2026-12-02T00:10:00Z'))).toBe(true);
    expect(isActive(daily, at('2026-12-02T00:40:00Z'))).toBe(false);
  });

  it('a window longer than its period is active throughout', () => {
    const w = window({ schedule: '*/10 * * * *', duration: '1h' });
    expect(isActive(w, at('2026-12-02T13:37:00Z'))).toBe(true);
  });

  it('refuses what robfig/cron would refuse, naming the schedule', () => {
    for (const schedule of ['61 * * * *', '0 0 9 * * *', '0 9 L * *', '0 9 * * MON#2', 'nope']) {
      expect(() => validateWindow(window({ schedule })), schedule).toThrow(
        `cannot parse sync window schedule ${JSON.stringify(schedule)}`,
      );
    }
    expect(() => validateWindow(window({ schedule: '0 9 * JUL WED' }))).not.toThrow();
    expect(() => validateWindow(window({ duration: '2 hours' }))).toThrow(/duration/);
  });
});
