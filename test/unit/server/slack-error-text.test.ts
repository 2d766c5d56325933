/**
 * Slack shows a failed command's error as the HTTP answer would: classified upstream failures
 * (502/504) keep their redacted message and hint; 500s and bugs stay "internal error".
 */
import { describe, expect, it } from 'vitest';
import { ArgoCdApiError } from '../../../src/argocd/errors.ts';
import { StackswapError, TimeoutError, ValidationError } from '../../../src/shared/errors.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import { ApiError } from '../../../src/server/errors.ts';
import { slackErrorText } from '../../../src/server/slack/error-text.ts';

const SECRET = 'ghp_0123456789abcdefSECRET';
const redactor = new Redactor();
redactor.add(SECRET);
const text = (e: unknown) => slackErrorText(e, 'req-7', redactor);

describe('slackErrorText', () => {
  it('shows 502s: a mistyped Argo CD app, a git auth failure, an unreachable remote', () => {
    const forbidden = new ArgoCdApiError(
      'application my-app-grene not found or not permitted for this token',
      403,
      'permission denied',
      7,
      { code: 'argocd-forbidden', hint: 'check the app name' },
    );
    expect(text(forbidden)).toEqual({
      text: ':no_entry: application my-app-grene not found or not permitted for this token\nhint: check the app name',
      serverFault: true,
    });
    expect(text(new StackswapError('auth', 'git authentication failed for origin')).text).toBe(
      ':no_entry: git authentication failed for origin',
    );
    const unreachable = new StackswapError(
      'remote-unreachable',
      `git fetch: cannot reach https://x:${SECRET}@git.example.com/repo.git`,
    );
    expect(text(unreachable).text).toMatch(
      /^:no_entry: git fetch: cannot reach https:\/\/\S*\[REDACTED\]/,
    );
    expect(text(unreachable).text).not.toContain(SECRET);
  });

  it('shows 504s and refusals (4xx, ApiErrors)', () => {
    expect(text(new TimeoutError('waited 30s for my-app-green')).text).toBe(
      ':no_entry: waited 30s for my-app-green',
    );
    expect(text(new ValidationError('bad colour')).text).toBe(':no_entry: bad colour');
    expect(text(new ApiError(409, 'stack-busy', 'stack shop is busy')).text).toBe(
      ':no_entry: stack shop is busy',
    );
    expect(text(new ValidationError('bad colour')).serverFault).toBe(false);
  });

  it('hides internal errors, 500-class StackswapErrors and bugs, naming the request', () => {
    for (const e of [
      new StackswapError('internal', `values edit failed at ${SECRET}`),
      new StackswapError('degraded', 'my-app-green is Degraded'),
      new TypeError('cannot read properties of undefined'),
      'a string',
    ]) {
      expect(text(e)).toEqual({
        text: ':no_entry: internal error; the service log has the cause (request req-7)',
        serverFault: true,
      });
    }
  });
});
