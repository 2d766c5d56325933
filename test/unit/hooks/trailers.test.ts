/** Hook verdicts in commit trailers and back out of history. */
import { describe, expect, it } from 'vitest';
import { historyFromCommits, hookTrailers } from '../../../src/core/audit.ts';
import { HookAnswer, HookCallbackBody } from '../../../src/hooks/contract.ts';
import { HooksConfig } from '../../../src/config/hooks-config.ts';

describe('hook trailers', () => {
  it('round-trip through history', () => {
    const trailers = hookTrailers({
      unrecorded: [
        { point: 'afterTestTraffic', name: 'load', result: 'timeout-pass' },
        { point: 'beforeSwap', name: 'cab', result: 'pass' },
      ],
      skipped: undefined,
    });
    expect(trailers).toEqual({
      'Stackswap-Hooks': 'afterTestTraffic/load=timeout-pass, beforeSwap/cab=pass',
    });
    const [entry] = historyFromCommits([
      {
        sha: 'a'.repeat(40),
        date: '2026-01-01T00:00:00Z',
        subject: 'swap shop',
        trailers: {
          'Stackswap-Operation': ['swap'],
          'Stackswap-Stack': ['shop'],
          'Stackswap-Hooks': [trailers['Stackswap-Hooks']!],
          'Stackswap-Hooks-Skipped': ['--no-hooks by bob'],
        },
      } as never,
    ]);
    expect(entry!.hooks).toEqual([
      { point: 'afterTestTraffic', name: 'load', result: 'timeout-pass' },
      { point: 'beforeSwap', name: 'cab', result: 'pass' },
    ]);
    expect(entry!.hooksSkipped).toBe('--no-hooks by bob');
  });
});

describe('the wire contract', () => {
  it('parses answers and keeps messages to one bounded line', () => {
    expect(HookAnswer.parse({ result: 'fail', message: 'a\n  b' }).message).toBe('a b');
    expect(HookAnswer.safeParse({ result: 'ok' }).success).toBe(false);
    expect(HookAnswer.parse({ result: 'pass', extra: 1 })).toMatchObject({ result: 'pass' });
    expect(HookCallbackBody.safeParse({ result: 'pending', token: 'x'.repeat(20) }).success).toBe(
      false,
    );
    expect(HookCallbackBody.safeParse({ result: 'pass', token: 'short' }).success).toBe(false);
  });

  it('defaults: 10 s answer, 1 h pending, onTimeout fail', () => {
    const parsed = HooksConfig.parse({
      allowedHosts: ['h.example'],
      beforeSwap: [{ name: 'x', url: 'https://h.example/x', secretEnv: 'X_SECRET' }],
    });
    expect(parsed.beforeSwap[0]).toMatchObject({
      timeout: 10_000,
      pendingTimeout: 3_600_000,
      onTimeout: 'fail',
    });
    expect(HooksConfig.safeParse({ allowedHosts: [] }).success).toBe(false);
    expect(
      HooksConfig.safeParse({
        allowedHosts: ['h'],
        beforeSwap: [{ name: 'x', url: 'http://h/', secretEnv: 'lower-case' }],
      }).success,
    ).toBe(false);
  });
});
