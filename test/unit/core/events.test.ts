import { describe, expect, it } from 'vitest';
import { commitWebUrl } from '../../../src/core/events.ts';
import { StackEvent } from '../../../src/shared/events.ts';
import { Progress, type ProgressEvent } from '../../../src/shared/progress.ts';

describe('commitWebUrl', () => {
  const sha = 'a'.repeat(40);
  it.each([
    [
      'https://gitlab.example.com/platform/config.git',
      `https://gitlab.example.com/platform/config/-/commit/${sha}`,
    ],
    ['git@gitlab.com:platform/config.git', `https://gitlab.com/platform/config/-/commit/${sha}`],
    ['ssh://git@github.com/acme/config.git', `https://github.com/acme/config/commit/${sha}`],
    ['https://github.com/acme/config', `https://github.com/acme/config/commit/${sha}`],
  ])('%s', (remote, link) => expect(commitWebUrl(remote, sha)).toBe(link));

  it('gives no link for local remotes', () => {
    expect(commitWebUrl('/srv/git/config.git', sha)).toBeUndefined();
    expect(commitWebUrl('file:///srv/git/config.git', sha)).toBeUndefined();
  });
});

describe('Progress.event', () => {
  it('numbers events per operation and relays them in the progress stream', () => {
    const seen: ProgressEvent[] = [];
    const progress = new Progress(
      (e) => seen.push(e),
      () => 5,
    );
    const base = {
      type: 'deploy.finished' as const,
      at: '2026-12-02T00:00:00.000Z',
      stack: 'shop',
      operationId: 'op1',
      operation: 'deploy',
      actor: 'ci',
    };
    progress.event(base);
    progress.event({ ...base, type: 'swap.finished' });
    expect(progress.events.map((e) => e.id)).toEqual(['op1.1', 'op1.2']);
    expect(seen).toEqual([
      { type: 'event', at: 5, event: progress.events[0] },
      { type: 'event', at: 5, event: progress.events[1] },
    ]);
    expect(StackEvent.parse(progress.events[0])).toEqual(progress.events[0]);
  });
});
