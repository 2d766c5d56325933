/**
 * Dry runs: the real operation runs against the config repo up to the point where it would
 * commit. Its compare-and-swap attempt (state read, preconditions checked, files edited) runs
 * once on the current remote head through a read-only transaction; the plan it returns is
 * captured and diffed instead of committed, and the operation stops there (no push, no sync).
 *
 * This wraps `ConfigRepo.transact` without touching core: the context gets a view of the repo
 * whose `transact` captures the plan. (A `ConfigRepo.plan(attempt)` in core would make the
 * seam explicit; see the report.)
 */
import { randomUUID } from 'node:crypto';
import type { Deployer } from '../../core/deployer.ts';
import type { OperationContext } from '../../core/operations/context.ts';
import { Progress } from '../../core/progress.ts';
import type { ConfigRepo, Plan, Transaction } from '../../gitops/git/repo.ts';
import { callCore } from '../operations/core-call.ts';
import type { DryRunResult, OperationKind } from '../schemas.ts';
import { unifiedDiff } from './diff.ts';

class PlanCaptured extends Error {
  constructor(
    readonly plan: Plan<unknown>,
    readonly baseSha: string,
  ) {
    super('dry run: plan captured');
  }
}

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
  const { repo } = input;
  for (let round = 1; ; round++) {
    const captured = await capturePlan(input);
    // Another read may have fetched meanwhile; a plan is exact only for one head throughout.
    if (repo.headSha !== captured.baseSha && round < 3) continue;
    const { plan, baseSha } = captured;
    const files: DryRunResult['files'] = [];
    if (plan.kind === 'commit') {
      for (const [file, content] of Object.entries(plan.files)) {
        const exists = await repo.fileExists(file);
        const before = exists ? await repo.readFile(file) : '';
        if (before === content) continue;
        files.push({ file, created: !exists, diff: unifiedDiff(file, before, content, !exists) });
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
}

async function capturePlan(input: DryRunInput): Promise<PlanCaptured> {
  const { repo } = input;
  const planning = Object.create(repo) as ConfigRepo;
  Object.defineProperty(planning, 'transact', {
    value: async (attempt: (tx: Transaction) => Promise<Plan<unknown>>) => {
      const headSha = repo.headSha;
      const tx: Transaction = {
        headSha,
        attempt: 1,
        readFile: (file, options) => repo.readFile(file, options),
        fileExists: (file) => repo.fileExists(file),
        log: (options) => repo.log(options),
      };
      throw new PlanCaptured(await attempt(tx), headSha);
    },
  });
  const ctx: OperationContext = {
    repo: planning,
    actor: {
      requestedBy: input.requestedBy,
      operationId: randomUUID(),
      ...(input.reason ? { reason: input.reason } : {}),
    },
    progress: new Progress(),
    deployer: input.deployer,
    wait: false,
    timeoutMs: input.timeoutMs,
    ...(input.signal ? { signal: input.signal } : {}),
    now: input.now,
  };
  try {
    await callCore(ctx, input.kind, input.stack, input.body);
  } catch (e) {
    if (e instanceof PlanCaptured) return e;
    throw e;
  }
  throw new Error('dry run: the operation finished without planning a commit');
}
