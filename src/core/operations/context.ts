import type { Actor, OperationKind } from '../audit.ts';
import type { AppStatus, Deployer } from '../../shared/deployer.ts';
import type { Progress, StepTiming } from '../../shared/progress.ts';
import type { ConfigRepo, PlanOutcome } from '../../gitops/git/repo.ts';
import type { VerifyEnvironment } from '../../verify/runtime.ts';
import type { Forge } from '../../forges/forge.ts';
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
   * The forge the config repo lives on: changes land through a merge request there when the
   * stack's `promotion.viaMergeRequest` says so (issue 12). Absent: no forge is configured.
   */
  forge?: ForgeTarget;
  /**
   * Lifecycle hooks (issue 13): how to call them and wait for pending ones. Absent: a stack
   * that declares hooks refuses to run (hooks are never skipped by omission).
   */
  hooks?: HookEnvironment;
  /** Hook results not yet written into a commit's trailers (see commit-and-sync.ts). */
  hookLedger?: HookLedger;
}

/** What an operation's commit step did. */
export interface CommitOutcome<T> {
  sha: string;
  committed: boolean;
  attempts: number;
  result: T;
  /** Set when the commit landed through a merge request (promotion.viaMergeRequest). */
  mergeRequest?: MergeRequestInfo;
}

/** The merge request a commit landed through. */
export interface MergeRequestInfo {
  number: number;
  url: string;
  branch: string;
  /** The commit proposed (the head of the MR branch). */
  headSha: string;
  /** The commit that landed on the configured branch. */
  mergedSha?: string;
  /** false: an MR already open for the branch was reused. */
  created: boolean;
}

/** A forge and the config repo's project on it. */
export interface ForgeTarget {
  forge: Forge;
  /** group/sub/project (GitLab) or owner/repo (GitHub). */
  project: string;
  /** How often an MR is looked at while stackswap waits for its merge; default 5 s. */
  pollMs?: number;
  /** Waits between looks (tests inject one); default a timer, ended early by the signal. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
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
