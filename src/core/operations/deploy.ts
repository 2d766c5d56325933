/**
 * deploy: put a release plan into the preview colour (replicas up, every component's tag), then
 * have Argo CD apply it. Only the preview colour's values file changes, so the live colour and
 * the ingress are never touched, whatever happens later.
 */
import { ConflictError, isStackswapError } from '../../shared/errors.ts';
import { commitMessage } from '../audit.ts';
import { emitStackEvent, versionSets, withLifecycle } from '../events.ts';
import { gateAt, hasHooks, vetoWithUndo } from '../hook-gate.ts';
import { loadStructuralConfig, loadPlanFromRepo, stackOf } from '../config-file.ts';
import { formatVersions, readStackState, type StackState } from '../stack-state.ts';
import { refuseRejected } from '../rejected.ts';
import type { Colour } from '../../config/names.ts';
import { checkPlanAgainstStack, type Versions } from '../../config/release-plan.ts';
import type { StackConfig } from '../../config/stackswap-config.ts';
import type { RepoReader } from '../../shared/repo-files.ts';
import type { OperationContext, OperationResult } from './context.ts';
import {
  commitStep,
  editValues,
  operationResult,
  syncStep,
  valuesNotices,
} from './commit-and-sync.ts';

export interface DeployRequest {
  stack: string;
  /** Where the versions come from; `overrides` (--set) apply on top of the file or repo plan. */
  plan: { source: 'repo' } | { source: 'versions'; versions: Versions; file?: string };
  overrides?: Record<string, string>;
  /**
   * true: deploy even a version set recorded as rejected (src/core/rejected.ts; CLI --force).
   * Default false: such a set is refused with `release-rejected` (exit 6, HTTP 412).
   */
  force?: boolean;
}

export function deploy(ctx: OperationContext, request: DeployRequest): Promise<OperationResult> {
  return withLifecycle(ctx, 'deploy', request.stack, () => runDeploy(ctx, request));
}

async function runDeploy(ctx: OperationContext, request: DeployRequest): Promise<OperationResult> {
  let target: Colour | undefined;
  let live: Colour = 'blue';
  let versions: Versions = {};
  let state: StackState | undefined;
  const onNotice = valuesNotices(ctx);
  // What is about to happen, before anything changes: deploy.started and the beforeDeploy
  // hooks. With hooks the clone is synced first (hooks must judge the truth) and the target
  // is fixed here; without, the first attempt fixes it as before.
  const ahead = await lookAhead(ctx, request);
  if (ahead) {
    if (ahead.synced) target = ahead.state.preview;
    const started = {
      type: 'deploy.started' as const,
      live: ahead.state.live,
      preview: ahead.state.preview,
      versions: versionSets({
        [ahead.state.live]: ahead.state.colours[ahead.state.live].versions,
        [ahead.state.preview]: ahead.versions,
      }),
      commit: { sha: ctx.repo.headSha },
      data: { replicas: ahead.stack.replicas },
    };
    if (!ctx.plan) emitStackEvent(ctx, request.stack, 'deploy', started);
    await gateAt(ctx, ahead.stack, { point: 'beforeDeploy', operation: 'deploy', event: started });
  } else if (!ctx.plan) {
    emitStackEvent(ctx, request.stack, 'deploy', { type: 'deploy.started' });
  }
  // The files as they were and as this deploy wrote them (the committed attempt's), so a
  // veto at afterDeploy can put the preview back exactly.
  let before: Record<string, string> = {};
  let written: Record<string, string> = {};
  const outcome = await commitStep(
    ctx,
    `deploy ${request.stack} to the preview colour`,
    async (tx) => {
      // At the head the look-ahead read, its reads stand (the warm path: no second parse of
      // stackswap.yaml and the colour files); after a fetch, everything is read again.
      const seen = ahead?.sha === tx.headSha ? ahead : undefined;
      const stack = seen?.stack ?? stackOf(await loadStructuralConfig(tx), request.stack);
      state = seen?.state ?? (await readStackState(tx, stack));
      // The target is fixed by the first attempt; a retry must never deploy into a colour that
      // became live meanwhile (that would change what users see).
      target ??= state.preview;
      if (state.live === target) {
        throw new ConflictError(
          `${target} became live (at ${tx.headSha.slice(0, 12)}) while this deploy was running; deploying into it would change live traffic`,
          { hint: `run deploy again: it will target ${state.preview}` },
        );
      }
      live = state.live;
      versions = seen?.versions ?? (await resolveVersions(tx, stack, request));
      await refuseRejected(tx, stack.name, versions, { force: request.force, action: 'deploy' });
      before = {};
      written = {};
      const file = stack.colourValuesFile[target];
      const source = await tx.readFile(file);
      const updated = editValues(
        source,
        file,
        [
          [stack.replicasKey, stack.replicas],
          ...stack.components.map((c) => [c.tagKey, versions[c.name]!] as const),
        ],
        onNotice,
      );
      const files: Record<string, string> = {};
      if (updated !== source) {
        files[file] = updated;
        before[file] = source;
      }
      // Versions given on the command line become the stack's release plan in the same commit,
      // so the plan in git always says what the preview runs (and what swap will check).
      const plan = await recordPlan(tx, stack, versions);
      if (plan) {
        files[stack.planFile] = plan.text;
        if (plan.previous !== undefined) before[stack.planFile] = plan.previous;
      }
      written = files;
      if (Object.keys(files).length === 0) return { kind: 'noop', result: stack };
      return {
        kind: 'commit',
        files,
        message: commitMessage(
          `deploy ${stack.name} to ${target} (preview): ${formatVersions(versions)}`,
          'deploy',
          stack.name,
          ctx.actor,
          { colour: target, versions: formatVersions(versions) },
        ),
        result: stack,
      };
    },
  );
  const stack = outcome.result;
  const preview = target!;
  const apps = await syncStep(ctx, stack.apps[preview], outcome.sha);
  const finished = {
    type: 'deploy.finished' as const,
    live,
    preview,
    versions: versionSets({
      ...(state ? { [live]: state.colours[live].versions } : {}),
      [preview]: versions,
    }),
    commit: { sha: outcome.sha },
    data: { committed: outcome.committed, replicas: stack.replicas },
  };
  if (!ctx.plan) emitStackEvent(ctx, stack.name, 'deploy', finished);
  try {
    await gateAt(ctx, stack, { point: 'afterDeploy', operation: 'deploy', event: finished });
  } catch (e) {
    if (!isStackswapError(e) || e.code !== 'hook-vetoed' || !outcome.committed) throw e;
    const undone = await undoDeploy(ctx, stack, preview, outcome.sha, before, written);
    throw vetoWithUndo(
      e,
      `the deploy was undone: ${preview} (preview) is back to what it ran before (commit ${undone.slice(0, 12)}); ${live} stays live`,
      undone,
    );
  }
  return operationResult(ctx, 'deploy', stack.name, outcome, {
    summary: `${stack.name}: ${preview} (preview) runs ${formatVersions(versions)}; ${live} stays live`,
    live,
    preview,
    apps,
    details: { versions, colour: preview, replicas: stack.replicas },
  });
}

/** The stack, its state and the versions to deploy, read before the commit (see above). */
async function lookAhead(
  ctx: OperationContext,
  request: DeployRequest,
): Promise<
  | { stack: StackConfig; state: StackState; versions: Versions; synced: boolean; sha: string }
  | undefined
> {
  try {
    let stack = stackOf(await loadStructuralConfig(ctx.repo), request.stack);
    const synced = hasHooks(stack) || (ctx.hooks?.skip !== undefined && !ctx.plan);
    if (synced) {
      await ctx.repo.sync();
      stack = stackOf(await loadStructuralConfig(ctx.repo), request.stack);
    }
    const sha = ctx.repo.headSha;
    const state = await readStackState(ctx.repo, stack);
    return { stack, state, versions: await resolveVersions(ctx.repo, stack, request), synced, sha };
  } catch (e) {
    // Without hooks the look-ahead is only for the event: the commit attempt reports errors.
    if (isStackswapError(e)) return undefined;
    throw e;
  }
}

/**
 * A veto at afterDeploy: the files the deploy wrote go back to what they were, in one commit,
 * unless someone changed them since (then nothing is overwritten and the error says so).
 */
async function undoDeploy(
  ctx: OperationContext,
  stack: StackConfig,
  preview: Colour,
  deploySha: string,
  before: Record<string, string>,
  written: Record<string, string>,
): Promise<string> {
  const undoCtx: OperationContext = { ...ctx };
  delete undoCtx.signal; // the undo must happen even when the run is being stopped
  const outcome = await commitStep(
    undoCtx,
    `undo the deploy of ${stack.name} to ${preview} (vetoed by a hook)`,
    async (tx) => {
      const files: Record<string, string> = {};
      for (const [file, text] of Object.entries(written)) {
        const now = await tx.readFile(file);
        if (now !== text) {
          throw new ConflictError(
            `${file} changed after the deploy (${deploySha.slice(0, 12)}); the vetoed deploy was not undone`,
            { hint: `put ${preview} back by hand, or deploy the previous release` },
          );
        }
        // A release plan this deploy created stays: it then names versions the preview does
        // not run, so a swap refuses until the next deploy.
        if (before[file] !== undefined) files[file] = before[file];
      }
      if (Object.keys(files).length === 0) return { kind: 'noop', result: undefined };
      return {
        kind: 'commit',
        files,
        message: commitMessage(
          `undo deploy ${stack.name} to ${preview}: vetoed by a hook (undoes ${deploySha.slice(0, 12)})`,
          'deploy-undo',
          stack.name,
          ctx.actor,
          { colour: preview },
        ),
        result: undefined,
      };
    },
  );
  await syncStep(undoCtx, stack.apps[preview], outcome.sha);
  return outcome.sha;
}

async function recordPlan(
  repo: RepoReader,
  stack: StackConfig,
  versions: Versions,
): Promise<{ text: string; previous: string | undefined } | undefined> {
  const exists = await repo.fileExists(stack.planFile);
  const source = exists
    ? await repo.readFile(stack.planFile)
    : `# Release plan of ${stack.name}: component -> version (image tag).\nstack: ${stack.name}\ncomponents:\n`;
  const written = editValues(
    source,
    stack.planFile,
    stack.components.map((c) => [['components', c.name], versions[c.name]!] as const),
  );
  return written === source ? undefined : { text: written, previous: exists ? source : undefined };
}

async function resolveVersions(
  repo: RepoReader,
  stack: StackConfig,
  request: DeployRequest,
): Promise<Versions> {
  const planless = request.plan.source === 'repo' && !(await repo.fileExists(stack.planFile));
  const base =
    request.plan.source === 'repo'
      ? planless
        ? {}
        : await loadPlanFromRepo(repo, stack)
      : checkPlanAgainstStack(
          request.plan.versions,
          stack,
          request.plan.file ? { file: request.plan.file } : {},
        );
  return checkPlanAgainstStack({ ...base, ...request.overrides }, stack, { file: '--set' });
}
