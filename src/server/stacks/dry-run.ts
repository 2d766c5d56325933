/**
 * Dry runs over HTTP: the operation runs in plan mode on the service's synced clone and the plan
 * is diffed by the core (src/core/plan-diff.ts, the same code the CLI's --dry-run uses). A swap
 * with weighted steps (`steps`, or the stack's verification.steps) answers every commit the
 * real run makes in `steps` (each step's weight, then the flip), not a plain flip; a rejected
 * release is refused (412 release-rejected) unless `force: true`, as in the real run.
 */
import { randomUUID } from 'node:crypto';
import type { Deployer } from '../../shared/deployer.ts';
import { Progress } from '../../shared/progress.ts';
import type { ConfigRepo } from '../../gitops/git/repo.ts';
import { planOperation } from '../../core/plan-diff.ts';
import { callCore } from '../operations/core-call.ts';
import type { DryRunResult, OperationKind } from '../schemas.ts';

export interface DryRunInput {
  /** A synced clone; its head is the commit the plan is made on. */
  repo: ConfigRepo;
  /** Syncs `repo` to the remote tip (shared with status reads). */
  refresh: () => Promise<unknown>;
  kind: Exclude<OperationKind, 'review'>;
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
  const { report } = await planOperation(
    {
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
    },
    { kind: input.kind, stack: input.stack },
    (ctx) => callCore(ctx, input.kind, input.stack, input.body),
  );
  return report;
}
