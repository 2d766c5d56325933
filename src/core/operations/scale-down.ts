/**
 * scale-down: take the idle colour's replicas to zero once it has been idle for the stack's
 * retention window (so `revert` stays instant until then). `force` skips the window.
 */
import { ConflictError, PreconditionError } from '../../shared/errors.ts';
import { commitMessage, historyFromCommits, lastLiveChange } from '../audit.ts';
import { loadStructuralConfig, stackOf } from '../config-file.ts';
import { readStackState } from '../stack-state.ts';
import type { Colour } from '../../config/names.ts';
import type { StackConfig } from '../../config/stackswap-config.ts';
import type { RepoReader } from '../../shared/repo-files.ts';
import type { Transaction } from '../../gitops/git/repo.ts';
import { emitStackEvent, versionSets, withLifecycle } from '../events.ts';
import { gateAt, hasHooks } from '../hook-gate.ts';
import type { OperationContext, OperationResult } from './context.ts';
import {
  commitStep,
  editValues,
  operationResult,
  syncStep,
  valuesNotices,
} from './commit-and-sync.ts';
import { HISTORY_DEPTH } from './revert.ts';

export function scaleDown(
  ctx: OperationContext,
  request: { stack: string; force?: boolean },
): Promise<OperationResult> {
  return withLifecycle(ctx, 'scale-down', request.stack, () => runScaleDown(ctx, request));
}

async function runScaleDown(
  ctx: OperationContext,
  request: { stack: string; force?: boolean },
): Promise<OperationResult> {
  // beforeScaleDown (issue 13): asked before the commit, on what the commit would do. The
  // retention check runs first, so a hook is never asked about a scale-down that is refused.
  const ahead = await scaleDownAhead(ctx, request);
  if (ahead) {
    await gateAt(ctx, ahead.stack, {
      point: 'beforeScaleDown',
      operation: 'scale-down',
      event: {
        type: 'scale-down.finished',
        live: ahead.live,
        preview: ahead.idle,
        versions: versionSets(ahead.versions),
        commit: { sha: ctx.repo.headSha },
        data: { colour: ahead.idle, replicas: ahead.replicas, pending: true },
      },
    });
  }
  let versions: Partial<Record<Colour, Record<string, string | undefined>>> = {};
  let replicasBefore = 0;
  const notices = valuesNotices(ctx);
  let idle: Colour | undefined;
  let live: Colour = 'blue';
  const outcome = await commitStep(
    ctx,
    `scale down the idle colour of ${request.stack}`,
    async (tx) => {
      const stack = stackOf(await loadStructuralConfig(tx), request.stack);
      const state = await readStackState(tx, stack);
      idle ??= state.preview;
      if (state.live === idle) {
        throw new ConflictError(
          `${idle} became live while scale-down was running; it will not be scaled down`,
        );
      }
      live = state.live;
      versions = { blue: state.colours.blue.versions, green: state.colours.green.versions };
      replicasBefore = state.colours[idle].replicas;
      if (state.colours[idle].replicas === 0) return { kind: 'noop', result: stack };
      await checkRetention(ctx, tx, stack, idle, request.force === true);
      const file = stack.colourValuesFile[idle];
      const source = await tx.readFile(file);
      return {
        kind: 'commit',
        files: { [file]: editValues(source, file, [[stack.replicasKey, 0]], notices) },
        message: commitMessage(
          `scale-down ${stack.name}: ${idle} replicas ${state.colours[idle].replicas} -> 0`,
          'scale-down',
          stack.name,
          ctx.actor,
          { colour: idle },
        ),
        result: stack,
      };
    },
  );
  const stack = outcome.result;
  const apps = await syncStep(ctx, stack.apps[idle!], outcome.sha);
  if (outcome.committed && !ctx.plan) {
    emitStackEvent(ctx, stack.name, 'scale-down', {
      type: 'scale-down.finished',
      live,
      preview: idle!,
      versions: versionSets(versions),
      commit: { sha: outcome.sha },
      data: { colour: idle, replicas: { before: replicasBefore, after: 0 } },
    });
  }
  return operationResult(ctx, 'scale-down', stack.name, outcome, {
    summary: outcome.committed
      ? `${stack.name}: ${idle} scaled to 0; ${live} stays live`
      : `${stack.name}: ${idle} is already at 0 replicas`,
    live,
    preview: idle!,
    apps,
  });
}

async function checkRetention(
  ctx: OperationContext,
  tx: RepoReader & { log: Transaction['log'] },
  stack: StackConfig,
  idle: Colour,
  force: boolean,
): Promise<void> {
  const last = lastLiveChange(
    historyFromCommits(await tx.log({ maxCount: HISTORY_DEPTH }), stack.name),
  );
  if (last && !force) {
    const idleSince = Date.parse(last.date);
    const allowedAt = idleSince + stack.retentionMs;
    if (ctx.now() < allowedAt) {
      throw new PreconditionError(
        `${idle} has been idle only since ${new Date(idleSince).toISOString()}; the retention window keeps it up until ${new Date(allowedAt).toISOString()} so that revert stays instant`,
        { hint: 'wait, or pass --force to scale down now' },
      );
    }
  }
}

/** With hooks only: the stack, synced, and what the scale-down would do (or undefined: nothing). */
async function scaleDownAhead(
  ctx: OperationContext,
  request: { stack: string; force?: boolean },
): Promise<
  | {
      stack: StackConfig;
      live: Colour;
      idle: Colour;
      replicas: number;
      versions: Partial<Record<Colour, Record<string, string | undefined>>>;
    }
  | undefined
> {
  if (ctx.plan) return undefined;
  const local = stackOf(await loadStructuralConfig(ctx.repo), request.stack);
  if (!hasHooks(local) && !ctx.hooks?.skip) return undefined;
  await ctx.repo.sync();
  const stack = stackOf(await loadStructuralConfig(ctx.repo), request.stack);
  const state = await readStackState(ctx.repo, stack);
  const idle = state.preview;
  if (state.colours[idle].replicas === 0) return undefined;
  await checkRetention(ctx, ctx.repo, stack, idle, request.force === true);
  return {
    stack,
    live: state.live,
    idle,
    replicas: state.colours[idle].replicas,
    versions: { blue: state.colours.blue.versions, green: state.colours.green.versions },
  };
}
