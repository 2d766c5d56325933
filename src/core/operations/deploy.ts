/**
 * deploy: put a release plan into the preview colour (replicas up, every component's tag), then
 * have Argo CD apply it. Only the preview colour's values file changes, so the live colour and
 * the ingress are never touched, whatever happens later.
 */
import { ConflictError } from '../../shared/errors.ts';
import { commitMessage } from '../audit.ts';
import { emitStackEvent } from '../events.ts';
import { loadStructuralConfig, loadPlanFromRepo, stackOf } from '../config-file.ts';
import { formatVersions, readStackState } from '../stack-state.ts';
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

export async function deploy(
  ctx: OperationContext,
  request: DeployRequest,
): Promise<OperationResult> {
  let target: Colour | undefined;
  let live: Colour = 'blue';
  let versions: Versions = {};
  const onNotice = valuesNotices(ctx);
  const outcome = await commitStep(
    ctx,
    `deploy ${request.stack} to the preview colour`,
    async (tx) => {
      const stack = stackOf(await loadStructuralConfig(tx), request.stack);
      const state = await readStackState(tx, stack);
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
      versions = await resolveVersions(tx, stack, request);
      await refuseRejected(tx, stack.name, versions, { force: request.force, action: 'deploy' });
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
      if (updated !== source) files[file] = updated;
      // Versions given on the command line become the stack's release plan in the same commit,
      // so the plan in git always says what the preview runs (and what swap will check).
      const plan = await recordPlan(tx, stack, versions);
      if (plan) files[stack.planFile] = plan;
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
  emitStackEvent(ctx, stack.name, 'deploy', {
    type: 'deploy.finished',
    live,
    preview,
    versions: { [preview]: versions },
    commit: { sha: outcome.sha },
    data: { committed: outcome.committed, replicas: stack.replicas },
  });
  return operationResult(ctx, 'deploy', stack.name, outcome, {
    summary: `${stack.name}: ${preview} (preview) runs ${formatVersions(versions)}; ${live} stays live`,
    live,
    preview,
    apps,
    details: { versions, colour: preview, replicas: stack.replicas },
  });
}

async function recordPlan(
  repo: RepoReader,
  stack: StackConfig,
  versions: Versions,
): Promise<string | undefined> {
  const exists = await repo.fileExists(stack.planFile);
  const source = exists
    ? await repo.readFile(stack.planFile)
    : `# Release plan of ${stack.name}: component -> version (image tag).\nstack: ${stack.name}\ncomponents:\n`;
  const written = editValues(
    source,
    stack.planFile,
    stack.components.map((c) => [['components', c.name], versions[c.name]!] as const),
  );
  return written === source ? undefined : written;
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
