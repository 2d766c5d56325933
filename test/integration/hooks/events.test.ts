/**
 * The lifecycle events of every core operation (issue 13 item 1), from real operations on a
 * real repo (git only): each carries the stack, colours, versions per colour, the commit, the
 * actor and the operation id, and parses as the one StackEvent schema.
 */
import { describe, expect, it } from 'vitest';
import { configRepoFiles, git, seedBareRepo } from '../../helpers/config-repo.ts';
import { deploy } from '../../../src/core/operations/deploy.ts';
import { swap } from '../../../src/core/operations/swap.ts';
import { revert } from '../../../src/core/operations/revert.ts';
import { scaleDown } from '../../../src/core/operations/scale-down.ts';
import { StackEvent } from '../../../src/shared/events.ts';
import type { ProgressEvent } from '../../../src/shared/progress.ts';
import { context } from './fixture.ts';

const lifecycle = (events: ProgressEvent[]) =>
  events.flatMap((e) => (e.type === 'event' ? [e.event] : []));

describe('lifecycle events', () => {
  it('deploy, a weighted swap, a manual revert (and its no-op re-run), scale-down', async () => {
    const { bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }]));
    const events: ProgressEvent[] = [];
    const ctx = async () => context(bare, { events, requestedBy: 'ci-bot' });

    const deployed = await deploy(await ctx(), { stack: 'shop', plan: { source: 'repo' } });
    const swapped = await swap(await ctx(), { stack: 'shop', steps: [50, 100] });
    const reverted = await revert(
      {
        ...(await ctx()),
        actor: { requestedBy: 'ci-bot', operationId: 'op-revert', reason: 'p99 too high' },
      },
      { stack: 'shop' },
    );
    const scaled = await scaleDown(await ctx(), { stack: 'shop', force: true });
    const failing = await ctx();
    await expect(revert(failing, { stack: 'shop' })).resolves.toBeDefined(); // already reverted: a no-op
    const all = lifecycle(events);
    expect(all.map((e) => `${e.operation}:${e.type}`)).toEqual([
      'deploy:deploy.started',
      'deploy:deploy.finished',
      'swap:traffic.step',
      'swap:swap.finished',
      'revert:revert.finished',
      'scale-down:scale-down.finished',
    ]);
    for (const e of all) {
      expect(StackEvent.safeParse(e).success).toBe(true);
      expect(e).toMatchObject({ stack: 'shop', actor: 'ci-bot' });
      expect(e.id.startsWith(`${e.operationId}.`)).toBe(true);
      expect(e.versions?.blue).toEqual({ web: '1.0.0', api: '1.0.0' });
    }
    const [, finished, step, flip, back, down] = all;
    expect(finished).toMatchObject({
      live: 'blue',
      preview: 'green',
      commit: { sha: deployed.sha },
    });
    expect(finished!.versions?.green).toEqual({ web: '1.1.0', api: '1.1.0' });
    expect(step!.data).toMatchObject({ weight: 50, to: 'green' });
    expect(step!.commit?.sha).toBe(git(bare, 'rev-parse', `${swapped.sha}~1`));
    expect(flip).toMatchObject({
      type: 'swap.finished',
      live: 'green',
      preview: 'blue',
      commit: { sha: swapped.sha },
    });
    expect(back).toMatchObject({
      live: 'blue',
      automatic: false,
      reason: 'p99 too high',
      commit: { sha: reverted.sha },
      operationId: 'op-revert',
    });
    expect(down).toMatchObject({
      preview: 'green',
      commit: { sha: scaled.sha },
      data: { colour: 'green', replicas: { before: 2, after: 0 } },
    });
    // The results carry their own events.
    expect(deployed.events?.map((e) => e.type)).toEqual(['deploy.started', 'deploy.finished']);
    expect(swapped.events?.map((e) => e.type)).toEqual(['traffic.step', 'swap.finished']);
  });

  it('a failing operation emits one operation.failed with the reason and code', async () => {
    const { bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }]));
    const events: ProgressEvent[] = [];
    const ctx = await context(bare, { events });
    await expect(revert(ctx, { stack: 'shop' })).rejects.toThrow(/nothing to revert/);
    const all = lifecycle(events);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      type: 'operation.failed',
      operation: 'revert',
      stack: 'shop',
      operationId: ctx.actor.operationId,
      data: { code: 'precondition' },
    });
    expect(all[0]!.reason).toContain('nothing to revert');
  });

  it('a dry run emits nothing', async () => {
    const { bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }]));
    const events: ProgressEvent[] = [];
    const ctx = await context(bare, { events });
    await deploy({ ...ctx, plan: () => {} }, { stack: 'shop', plan: { source: 'repo' } });
    expect(lifecycle(events)).toEqual([]);
  });
});
