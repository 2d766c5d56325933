/**
 * scale-down: take the idle colour's replicas to zero once it has been idle for the stack's
 * retention window (so `revert` stays instant until then). `force` skips the window.
 */
import { ConflictError, PreconditionError } from '../../shared/errors.ts';
import { commitMessage, historyFromCommits, lastLiveChange } from '../audit.ts';
import { loadStructuralConfig, stackOf } from '../config-file.ts';
import { readStackState } from '../stack-state.ts';
import type { Colour } from '../../config/names.ts';
import type { OperationContext, OperationResult } from './context.ts';
import {
  commitStep,
  editValues,
  operationResult,
  syncStep,
  valuesNotices,
} from './commit-and-sync.ts';
import { HISTORY_DEPTH } from './revert.ts';

export async function scaleDown(
  ctx: OperationContext,
  request: { stack: string; force?: boolean },
): Promise<OperationResult> {
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
      if (state.colours[idle].replicas === 0) return { kind: 'noop', result: stack };
      const last = lastLiveChange(
        historyFromCommits(await tx.log({ maxCount: HISTORY_DEPTH }), stack.name),
      );
      if (last && !request.force) {
        const idleSince = Date.parse(last.date);
        const allowedAt = idleSince + stack.retentionMs;
        if (ctx.now() < allowedAt) {
          throw new PreconditionError(
            `${idle} has been idle only since ${new Date(idleSince).toISOString()}; the retention window keeps it up until ${new Date(allowedAt).toISOString()} so that revert stays instant`,
            { hint: 'wait, or pass --force to scale down now' },
          );
        }
      }
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
  return operationResult(ctx, 'scale-down', stack.name, outcome, {
    summary: outcome.committed
      ? `${stack.name}: ${idle} scaled to 0; ${live} stays live`
      : `${stack.name}: ${idle} is already at 0 replicas`,
    live,
    preview: idle!,
    apps,
  });
}
