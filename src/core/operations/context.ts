import type { Actor, OperationKind } from '../audit.ts';
import type { AppStatus, Deployer } from '../../shared/deployer.ts';
import type { Progress, StepTiming } from '../../shared/progress.ts';
import type { ConfigRepo, PlanOutcome } from '../../gitops/git/repo.ts';
import type { VerifyEnvironment } from '../../verify/runtime.ts';

/** Receives the plan an operation made instead of committing it (see `OperationContext.plan`). */
export type PlanSink = (planned: PlanOutcome<unknown>) => void;

/** Everything an operation needs, built once by the entry point (CLI or HTTP service). */
export interface OperationContext {
  repo: ConfigRepo;
  actor: Actor;
  progress: Progress;
  /** Absent when Argo CD is not configured or --no-sync was given: git-only. */
  deployer: Deployer | undefined;
  wait: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
  now: () => number;
  /** Dry runs: plan instead of committing (and never sync), so the real operation is previewed. */
  plan?: PlanSink;
  /** Verification gates: Prometheus and ingress URLs from the environment, a clock (issue 11). */
  verify?: VerifyEnvironment;
}

export interface OperationResult {
  operation: OperationKind;
  stack: string;
  operationId: string;
  /** false: the repo was already in the desired state; no commit was made. */
  committed: boolean;
  /** The commit the stack is now at (ours, or the head when nothing was committed). */
  sha: string;
  attempts: number;
  summary: string;
  live: string;
  preview: string;
  apps: AppStatus[];
  steps: StepTiming[];
  details?: Record<string, unknown>;
}
