import type { Actor, OperationKind } from '../audit.ts';
import type { AppStatus, Deployer } from '../../shared/deployer.ts';
import type { Progress, StepTiming } from '../../shared/progress.ts';
import type { ConfigRepo, PlanOutcome } from '../../gitops/git/repo.ts';
import type { VerifyEnvironment } from '../../verify/runtime.ts';
import type { StackEvent } from '../../shared/events.ts';
import type { HookEnvironment } from '../../hooks/runner.ts';
import type { HookResult } from '../../hooks/contract.ts';

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
  /**
   * Lifecycle hooks (issue 13): how to call them and wait for pending ones. Absent: a stack
   * that declares hooks refuses to run (hooks are never skipped by omission).
   */
  hooks?: HookEnvironment;
  /** Hook results not yet written into a commit's trailers (see commit-and-sync.ts). */
  hookLedger?: HookLedger;
}

/** Per operation: hook verdicts waiting for the next commit, and a --no-hooks skip. */
export interface HookLedger {
  unrecorded: HookResult[];
  /** `--no-hooks by <who>`: on every commit of the operation. */
  skipped?: string;
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
  /** The lifecycle events the operation emitted, in order (src/shared/events.ts). */
  events?: StackEvent[];
}
