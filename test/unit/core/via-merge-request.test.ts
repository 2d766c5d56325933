/** The merge-request branch name and text (issue 12 item 5). */
import { describe, expect, it } from 'vitest';
import { commitMessage } from '../../../src/core/audit.ts';
import {
  mergeRequestBranch,
  mergeRequestText,
} from '../../../src/core/operations/via-merge-request.ts';
import { assertBranchName } from '../../../src/gitops/git/validate.ts';

describe('mergeRequestBranch', () => {
  it('is stackswap/<stack>/<kind>, the same for every run of the kind', () => {
    expect(mergeRequestBranch('my-app', 'deploy')).toBe('stackswap/my-app/deploy');
    expect(mergeRequestBranch('my-app', 'swap-step')).toBe('stackswap/my-app/swap-step');
    expect(mergeRequestBranch('*', 'values-set')).toBe('stackswap/all-stacks/values-set');
  });

  it('is always a valid branch name', () => {
    for (const [stack, kind] of [
      ['Shop', 'deploy'],
      ['a..b', 'swap'],
      ['-x-', 'revert'],
      ['', ''],
    ] as const) {
      const branch = mergeRequestBranch(stack, kind);
      expect(assertBranchName(branch), branch).toBe(branch);
    }
  });
});

describe('mergeRequestText', () => {
  const message = commitMessage(
    'deploy shop to green (preview): web=1.2.0',
    'deploy',
    'shop',
    { requestedBy: 'alice', operationId: 'op-1', reason: 'release 1.2' },
    { colour: 'green', versions: 'web=1.2.0' },
  );

  it('says what the operation is and why an MR, and carries the same trailers', () => {
    const { title, description } = mergeRequestText(message, {
      targetBranch: 'main',
      baseSha: 'a'.repeat(40),
      route: 'protected',
    });
    expect(title).toBe('deploy shop to green (preview): web=1.2.0');
    expect(description).toContain('**stackswap deploy** of stack `shop`');
    expect(description).toContain('requested by: alice');
    expect(description).toContain('`main` is protected');
    expect(description).toContain('release 1.2');
    // The trailer block ends the description, exactly as in the commit.
    const tail = description.split('\n\n').at(-1)!.split('\n');
    expect(tail).toEqual(Object.entries(message.trailers).map(([k, v]) => `${k}: ${v}`));
    expect(tail).toContain('Stackswap-Operation-Id: op-1');
  });

  it('names promotion.viaMergeRequest: always when that is why', () => {
    const { description } = mergeRequestText(message, {
      targetBranch: 'main',
      baseSha: 'b'.repeat(40),
      route: 'always',
    });
    expect(description).toContain('`promotion.viaMergeRequest: always`');
    expect(description).not.toContain('is protected');
  });

  it('cuts a long subject to the 255 characters GitLab takes', () => {
    const long = commitMessage('x'.repeat(400), 'deploy', 'shop', {
      requestedBy: 'a',
      operationId: 'o',
    });
    const { title } = mergeRequestText(long, {
      targetBranch: 'main',
      baseSha: 'c'.repeat(40),
      route: 'always',
    });
    expect(Array.from(title)).toHaveLength(255);
    expect(title.endsWith('…')).toBe(true);
  });
});
