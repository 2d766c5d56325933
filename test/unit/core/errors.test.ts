import { describe, expect, it } from 'vitest';
import { ArgoCdApiError } from '../../../src/argocd/errors.ts';
import type { Deployer } from '../../../src/shared/deployer.ts';
import { StackswapError, TimeoutError } from '../../../src/shared/errors.ts';
import type { OperationContext } from '../../../src/core/operations/context.ts';
import { syncStep } from '../../../src/core/operations/commit-and-sync.ts';
import { Progress } from '../../../src/shared/progress.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';

describe('StackswapError.addContext', () => {
  it('adds to the hint and details, keeping class, code, message and exit code', () => {
    const e = new TimeoutError('my-app-green did not become healthy within 30s', {
      hint: 'see `argocd app get my-app-green`',
      details: { app: 'my-app-green' },
    });
    expect(e.addContext({ hint: 'commit abc is pushed', details: { pushed: SHA } })).toBe(e);
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.code).toBe('timeout');
    expect(e.exitCode).toBe(4);
    expect(e.message).toBe('my-app-green did not become healthy within 30s');
    expect(e.hint).toBe('see `argocd app get my-app-green`; commit abc is pushed');
    expect(e.details).toEqual({ app: 'my-app-green', pushed: SHA });
    // The service's operation record and `--output json` both use toJSON.
    expect(e.toJSON()).toEqual({
      code: 'timeout',
      message: 'my-app-green did not become healthy within 30s',
      hint: 'see `argocd app get my-app-green`; commit abc is pushed',
      details: { app: 'my-app-green', pushed: SHA },
    });
    expect(e.describe()).toBe(
      'my-app-green did not become healthy within 30s\n  hint: see `argocd app get my-app-green`; commit abc is pushed',
    );
  });

  it('starts a hint where there was none, and adds the same hint only once', () => {
    const e = new StackswapError('argocd-unavailable', 'Argo CD answered 503');
    e.addContext({ hint: 'commit abc is pushed' }).addContext({ hint: 'commit abc is pushed' });
    expect(e.hint).toBe('commit abc is pushed');
    expect(e.details).toBeUndefined();
    expect(e.toJSON()).toEqual({
      code: 'argocd-unavailable',
      message: 'Argo CD answered 503',
      hint: 'commit abc is pushed',
    });
  });
});

describe('syncStep after the commit', () => {
  const context = (deployer: Deployer): OperationContext => ({
    repo: undefined as never,
    actor: undefined as never,
    progress: new Progress(),
    deployer,
    wait: true,
    timeoutMs: 1000,
    now: () => 0,
  });
  const failing = (error: unknown): Deployer => ({
    syncAndWait: () => Promise.reject(error),
    appStatus: () => Promise.reject(new Error('unused')),
  });

  it('says that git holds the commit and that a re-run resumes, keeping the error class', async () => {
    const error = new ArgoCdApiError('application my-app-grene not found', 403, 'denied', 7, {
      code: 'argocd-forbidden',
    });
    const thrown = await syncStep(context(failing(error)), 'my-app-grene', SHA).catch(
      (e: unknown) => e,
    );
    expect(thrown).toBe(error);
    expect(thrown).toBeInstanceOf(ArgoCdApiError);
    expect(error.code).toBe('argocd-forbidden');
    expect(error.exitCode).toBe(8);
    expect(error.message).toBe('application my-app-grene not found');
    expect(error.hint).toContain(`commit ${SHA.slice(0, 12)} is pushed (git has the change)`);
    expect(error.hint).toMatch(/re-run the same command .*to resume: it makes no new commit/);
    expect(error.details).toMatchObject({ status: 403, pushed: SHA });
  });

  it('passes bugs (not StackswapErrors) through unchanged', async () => {
    const bug = new TypeError('x is undefined');
    const thrown = await syncStep(context(failing(bug)), 'my-app-green', SHA).catch(
      (e: unknown) => e,
    );
    expect(thrown).toBe(bug);
    expect(Object.keys(bug)).toEqual([]);
  });
});
