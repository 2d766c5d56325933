/**
 * revert: put live traffic back on the colour that was live before the last swap. The target
 * comes from the history (trailers of the last swap), not from "the other colour", so running
 * revert twice does not flip twice. Refuses when that colour was scaled to zero.
 */
import { PreconditionError } from '../../shared/errors.ts';
import { commitMessage, historyFromCommits, lastLiveChange } from '../audit.ts';
import { loadStructuralConfig, stackOf } from '../config-file.ts';
import { formatVersions, readStackState } from '../stack-state.ts';
import { rejectionEdit } from '../rejected.ts';
import { otherColour, type Colour } from '../../config/names.ts';
import { setValue } from '../../gitops/values-edit.ts';
import type { OperationContext, OperationResult } from './context.ts';
import { commitStep, operationResult, syncStep, valuesNotices } from './commit-and-sync.ts';
import { emitStackEvent, versionSets, withLifecycle } from '../events.ts';

export const HISTORY_DEPTH = 500;

export function revert(
  ctx: OperationContext,
  request: { stack: string },
): Promise<OperationResult> {
  return withLifecycle(ctx, 'revert', request.stack, () => runRevert(ctx, request));
}

async function runRevert(
  ctx: OperationContext,
  request: { stack: string },
): Promise<OperationResult> {
  let versions: Partial<Record<Colour, Record<string, string | undefined>>> = {};
  let target: Colour | undefined;
  let from: Colour | undefined;
  let undone: string | undefined;
  const onNotice = valuesNotices(ctx);
  const outcome = await commitStep(ctx, `revert ${request.stack}`, async (tx) => {
    const stack = stackOf(await loadStructuralConfig(tx), request.stack);
    const state = await readStackState(tx, stack);
    const last = lastLiveChange(
      historyFromCommits(await tx.log({ maxCount: HISTORY_DEPTH }), stack.name),
    );
    if (!last) {
      throw new PreconditionError(`nothing to revert: the history has no swap of ${stack.name}`, {
        hint: `to move traffic explicitly use: stackswap swap --stack ${stack.name} --to <colour>`,
      });
    }
    // After a swap X->Y the target is X; after a revert Y->X it is X again (already done).
    target = last.operation === 'swap' ? last.from! : last.to!;
    from = state.live;
    undone = last.sha;
    versions = { blue: state.colours.blue.versions, green: state.colours.green.versions };
    if (state.live === target) return { kind: 'noop', result: stack };
    const colour = state.colours[target];
    if (colour.replicas === 0) {
      const versions = Object.entries(colour.versions)
        .map(([c, v]) => `--set ${c}=${v ?? '<version>'}`)
        .join(' ');
      throw new PreconditionError(`cannot revert to ${target}: it has been scaled to 0 replicas`, {
        hint: `bring it back first: stackswap deploy --stack ${stack.name} ${versions}, wait for it, then stackswap swap --stack ${stack.name}`,
      });
    }
    const source = await tx.readFile(stack.liveFile);
    // The release reverted from is rejected (src/core/rejected.ts), in this same commit.
    const rejectedVersions = state.colours[state.live].versions;
    const rejection = await rejectionEdit(tx, stack.name, {
      versions: rejectedVersions,
      at: last.sha,
      operation: 'revert',
      actor: ctx.actor,
      reason: ctx.actor.reason ?? `reverted by hand (undoes ${last.sha.slice(0, 12)})`,
      now: ctx.now(),
    });
    return {
      kind: 'commit',
      files: {
        [stack.liveFile]: setValue(source, stack.liveKey, target, {
          file: stack.liveFile,
          onNotice,
        }),
        ...rejection,
      },
      message: commitMessage(
        `revert ${stack.name}: live ${state.live} -> ${target} (undoes ${last.sha.slice(0, 12)})`,
        'revert',
        stack.name,
        ctx.actor,
        {
          from: state.live,
          to: target,
          versions: formatVersions(colour.versions),
          ...(rejection ? { rejected: formatVersions(rejectedVersions) } : {}),
        },
      ),
      result: stack,
    };
  });
  const stack = outcome.result;
  const apps = await syncStep(ctx, stack.apps.ingress, outcome.sha);
  if (outcome.committed && !ctx.plan) {
    emitStackEvent(ctx, stack.name, 'revert', {
      type: 'revert.finished',
      live: target!,
      preview: otherColour(target!),
      versions: versionSets(versions),
      commit: { sha: outcome.sha },
      automatic: false,
      reason: ctx.actor.reason ?? `manual revert by ${ctx.actor.requestedBy}`,
      data: { from, to: target, undoes: undone },
    });
  }
  return operationResult(ctx, 'revert', stack.name, outcome, {
    summary: outcome.committed
      ? `${stack.name}: live ${from} -> ${target} (reverted ${undone?.slice(0, 12)})`
      : `${stack.name}: ${target} is already live; nothing to revert`,
    live: target!,
    preview: otherColour(target!),
    apps,
  });
}
