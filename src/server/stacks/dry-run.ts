/**
 * Dry runs: the real core operation runs in plan mode (`OperationContext.plan`). Its commit
 * step runs the compare-and-swap attempt (state read, preconditions checked, files edited) once
 * on the synced head through `ConfigRepo.plan`, a read-only transaction that commits and pushes
 * nothing, and hands the plan to the sink; in plan mode the sync step syncs nothing. The plan is
 * then diffed against the base commit.
 */
import { randomUUID } from 'node:crypto';
import type { Deployer } from '../../shared/deployer.ts';
import type { OperationContext } from '../../core/operations/context.ts';
import { Progress } from '../../shared/progress.ts';
import type { ConfigRepo, PlanOutcome } from '../../gitops/git/repo.ts';
import { callCore } from '../operations/core-call.ts';
import type { DryRunResult, OperationKind } from '../schemas.ts';
import { unifiedDiff } from './diff.ts';

export interface DryRunInput {
  /** A synced clone; its head is the commit the plan is made on. */
  repo: ConfigRepo;
  /** Syncs `repo` to the remote tip (shared with status reads). */
  refresh: () => Promise<unknown>;
  kind: OperationKind;
  stack: string;
  body: unknown;
  deployer: Deployer | undefined;
  requestedBy: string;
  reason?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  now: () => number;
}

export async function dryRun(input: DryRunInput): Promise<DryRunResult> {
  await input.refresh();
  // Every read of the plan and of the files it changes is pinned to one commit (baseSha), so
  // the diff is exact even if another read moves the clone's head meanwhile.
  const { plan, baseSha, previous } = await capturePlan(input);
  const files: DryRunResult['files'] = [];
  if (plan.kind === 'commit') {
    for (const [file, content] of Object.entries(plan.files)) {
      const before = previous[file] ?? null;
      if (before === content) continue;
      const created = before === null;
      files.push({ file, created, diff: unifiedDiff(file, before ?? '', content, created) });
    }
  }
  const commit = plan.kind === 'commit' && files.length > 0 ? plan : undefined;
  return {
    dryRun: true,
    stack: input.stack,
    kind: input.kind,
    baseSha,
    wouldCommit: commit !== undefined,
    ...(commit
      ? { subject: commit.message.subject, trailers: { ...commit.message.trailers } }
      : {}),
    files,
  };
}

/** Runs the operation in plan mode; its own errors (refused preconditions) propagate. */
async function capturePlan(input: DryRunInput): Promise<PlanOutcome<unknown>> {
  let captured: PlanOutcome<unknown> | undefined;
  const ctx: OperationContext = {
    repo: input.repo,
    actor: {
      requestedBy: input.requestedBy,
      operationId: randomUUID(),
      ...(input.reason ? { reason: input.reason } : {}),
    },
    progress: new Progress(),
    // Kept for read-only precondition checks (swap asks Argo CD whether the target is live at
    // the head); plan mode never syncs.
    deployer: input.deployer,
    wait: false,
    timeoutMs: input.timeoutMs,
    ...(input.signal ? { signal: input.signal } : {}),
    now: input.now,
    plan: (planned) => {
      captured = planned;
    },
  };
  await callCore(ctx, input.kind, input.stack, input.body);
  if (!captured) throw new Error('dry run: the operation finished without planning a commit');
  return captured;
}
