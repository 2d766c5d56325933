/**
 * From an HTTP request to the core operation the CLI runs: the validated body becomes the
 * operation's request, the reason goes to the actor (commit message and trailers).
 */
import { deploy, type DeployRequest } from '../../core/operations/deploy.ts';
import { revert } from '../../core/operations/revert.ts';
import { scaleDown } from '../../core/operations/scale-down.ts';
import { swap } from '../../core/operations/swap.ts';
import type { OperationContext, OperationResult } from '../../core/operations/context.ts';
import {
  DeployBody,
  RevertBody,
  ReviewBody,
  ScaleDownBody,
  SwapBody,
  type OperationKind,
} from '../schemas.ts';

export const BODY_SCHEMAS = {
  deploy: DeployBody,
  swap: SwapBody,
  revert: RevertBody,
  'scale-down': ScaleDownBody,
  review: ReviewBody,
} as const;

/** The reason of a request body (journaled bodies are re-validated before use). */
export function reasonOf(kind: OperationKind, body: unknown): string | undefined {
  return BODY_SCHEMAS[kind].parse(body ?? {}).reason;
}

export function callCore(
  ctx: OperationContext,
  kind: OperationKind,
  stack: string,
  body: unknown,
): Promise<OperationResult> {
  switch (kind) {
    case 'deploy': {
      const b = DeployBody.parse(body ?? {});
      const plan: DeployRequest['plan'] = b.versions
        ? { source: 'versions', versions: b.versions }
        : { source: 'repo' };
      return deploy(ctx, {
        stack,
        plan,
        overrides: b.overrides ?? {},
        ...(b.force ? { force: true } : {}),
      });
    }
    case 'swap': {
      const b = SwapBody.parse(body ?? {});
      return swap(ctx, {
        stack,
        ...(b.to ? { to: b.to } : {}),
        ...(b.steps ? { steps: b.steps } : {}),
        ...(b.verify === false ? { verify: false } : {}),
        ...(b.force ? { force: true } : {}),
      });
    }
    case 'revert':
      RevertBody.parse(body ?? {});
      return revert(ctx, { stack });
    case 'scale-down': {
      const b = ScaleDownBody.parse(body ?? {});
      return scaleDown(ctx, { stack, force: b.force });
    }
    case 'review':
      // A webhook's review: run by the service's review executor (server/webhooks), not here.
      return Promise.reject(new Error('review operations run through the webhook review executor'));
  }
}
