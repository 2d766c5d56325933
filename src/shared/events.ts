/**
 * The one event model (issue 13). Every operation emits `StackEvent`s at the moments that
 * matter to people and to other systems: a deploy starting and finishing, each verification
 * result, each weighted step, a swap, a revert (manual or automatic, with the reason), a
 * scale-down, a failure, a hook's answer. The same object travels everywhere: the progress
 * stream (CLI output, SSE), the journal, notifications (Slack, signed webhooks) and the bodies
 * sent to lifecycle hooks. Nothing downstream invents its own shape.
 *
 * `id` is stable for one event of one operation (`<operationId>.<n>`), so receivers and the
 * notification outbox deduplicate on it across retries and restarts.
 */
import { z } from 'zod';

export const STACK_EVENT_TYPES = [
  'deploy.started',
  'deploy.finished',
  'verification.result',
  'traffic.step',
  'swap.finished',
  'revert.finished',
  'scale-down.finished',
  'operation.failed',
  'hook.result',
] as const;
export type StackEventType = (typeof STACK_EVENT_TYPES)[number];

// The colour names of src/config/names.ts, restated: src/shared depends on nothing else.
const EventColour = z.enum(['blue', 'green']);
const VersionSet = z.record(z.string(), z.string());

export const StackEvent = z.object({
  /** `<operationId>.<n>`: unique per event, the same on every redelivery. */
  id: z.string().min(1),
  type: z.enum(STACK_EVENT_TYPES),
  /** ISO 8601. */
  at: z.string(),
  stack: z.string(),
  operationId: z.string(),
  /** The operation kind that emitted it (deploy, swap, revert, scale-down, ...). */
  operation: z.string(),
  /** Who asked (recorded, never trusted for auth). */
  actor: z.string(),
  live: EventColour.optional(),
  preview: EventColour.optional(),
  /** Versions per colour as known when the event was emitted. */
  versions: z.object({ blue: VersionSet.optional(), green: VersionSet.optional() }).optional(),
  /** The commit the event is about, with a browsable link when the repo URL allows one. */
  commit: z.object({ sha: z.string(), url: z.string().optional() }).optional(),
  /** Failures, vetoes and reverts say why, in one line. */
  reason: z.string().optional(),
  /** A revert or abort stackswap did by itself (verification, afterSwap hook). */
  automatic: z.boolean().optional(),
  /** Event-specific figures: verification measurements, weights, hook answers, durations. */
  data: z.record(z.string(), z.unknown()).optional(),
  /**
   * Lifecycle hooks (issue 13). In a `hook.result` event: the hook's point, name and verdict.
   * In the body POSTed to a hook: the point it is asked at, its execution id and deadline,
   * and (service only) where to report a pending verdict.
   */
  hook: z
    .object({
      point: z.string(),
      name: z.string(),
      executionId: z.string().optional(),
      /** pass, fail, pending, timeout-pass, timeout-fail, skipped */
      result: z.string().optional(),
      message: z.string().optional(),
      durationMs: z.number().optional(),
      /** ISO 8601: when a pending verdict stops being waited for. */
      deadline: z.string().optional(),
      /** `POST <callbackUrl>` with `{"result","message","token"}` decides a pending hook. */
      callbackUrl: z.string().optional(),
      callbackToken: z.string().optional(),
    })
    .optional(),
});
export type StackEvent = z.infer<typeof StackEvent>;

/** What an operation supplies; the envelope (id, at, stack, operation id, actor) is filled in. */
export type StackEventInput = Omit<StackEvent, 'id' | 'at' | 'operationId' | 'actor' | 'stack'> & {
  stack?: string;
};
