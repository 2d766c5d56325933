/**
 * Scheduled scale-down: for each stack with `retention.autoScaleDown: true`, once the idle
 * colour has been idle for the retention window (since the last swap or revert, or since it was
 * last deployed, whichever is later), start the same
 * scale-down operation a caller would (`POST /v1/stacks/<stack>/scale-down`), recorded in git
 * with the scheduler as the requester.
 *
 * Exactly once across replicas: every replica ticks, but the operation carries an idempotency
 * key made of the stack, the live change it follows and the idle colour, so whichever replica
 * records it first runs it and the others (and later ticks) find it recorded. The per-stack
 * guard keeps it from running while another operation runs on the stack (the tick skips that
 * stack and tries again on the next one). A stack whose idle colour is already at zero is left
 * alone.
 */
import { history } from '../../core/operations/inspect.ts';
import { readStackState } from '../../core/stack-state.ts';
import type { ConfigRepo } from '../../gitops/git/repo.ts';
import type { StackswapConfig } from '../../config/stackswap-config.ts';
import { ApiError } from '../errors.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { OperationManager } from './manager.ts';

export const SCHEDULER_REQUESTER = 'stackswap-scheduler';

export interface ScaleDownSchedulerOptions {
  operations: OperationManager;
  /** A freshly synced config (the reader clone's). */
  config: () => Promise<StackswapConfig>;
  /** The reader clone, synced by `config()`. */
  repo: () => Promise<ConfigRepo>;
  metrics: ServerMetrics;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  now: () => number;
}

export type TickOutcome =
  | { stack: string; action: 'started' | 'recorded-already'; operationId: string }
  | { stack: string; action: 'not-due' | 'idle-at-zero' | 'busy' };

export class ScaleDownScheduler {
  private ticking: Promise<TickOutcome[]> | undefined;

  constructor(private readonly options: ScaleDownSchedulerOptions) {}

  /** One pass over the stacks; concurrent calls share one pass. */
  tick(): Promise<TickOutcome[]> {
    this.ticking ??= this.pass().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async pass(): Promise<TickOutcome[]> {
    const { operations, metrics, logger } = this.options;
    const config = await this.options.config();
    const outcomes: TickOutcome[] = [];
    for (const stack of config.stacks.values()) {
      if (!stack.autoScaleDown || operations.isClosing) continue;
      if (operations.runningOn(stack.name)) {
        outcomes.push({ stack: stack.name, action: 'busy' });
        continue;
      }
      const repo = await this.options.repo();
      const state = await readStackState(repo, stack);
      const idle = state.preview;
      if (state.colours[idle].replicas === 0) {
        outcomes.push({ stack: stack.name, action: 'idle-at-zero' });
        continue;
      }
      // Idle since the last change of the live colour, or since the idle colour was last
      // deployed (a preview deployed a minute ago is about to be swapped to, not idle).
      const last = (await history(repo, stack.name)).find(
        (e) =>
          ((e.operation === 'swap' || e.operation === 'revert') && e.from && e.to) ||
          (e.operation === 'deploy' && e.colour === idle),
      );
      if (last && this.options.now() < Date.parse(last.date) + stack.retentionMs) {
        outcomes.push({ stack: stack.name, action: 'not-due' });
        continue;
      }
      const key = `scale-down:${stack.name}:${last?.sha ?? 'never-swapped'}:${idle}`;
      try {
        const { operation, replayed } = await operations.start({
          stack: stack.name,
          kind: 'scale-down',
          requestedBy: SCHEDULER_REQUESTER,
          request: {
            method: 'POST',
            path: `/v1/stacks/${stack.name}/scale-down`,
            body: {
              force: false,
              reason: `scheduled: ${idle} idle for the retention window (retention.autoScaleDown)`,
            },
          },
          idempotency: { scope: 'scheduler', key, fingerprint: key },
        });
        if (!replayed) {
          metrics.scheduledScaleDown(stack.name, 'started');
          logger.info(
            { stack: stack.name, colour: idle, operationId: operation.id },
            'scheduled scale-down started',
          );
        }
        outcomes.push({
          stack: stack.name,
          action: replayed ? 'recorded-already' : 'started',
          operationId: operation.id,
        });
      } catch (e) {
        if (e instanceof ApiError && (e.statusCode === 409 || e.statusCode === 503)) {
          outcomes.push({ stack: stack.name, action: 'busy' });
          continue;
        }
        metrics.scheduledScaleDown(stack.name, 'failed');
        logger.warn(
          { stack: stack.name, error: e instanceof Error ? e.message : String(e) },
          'scheduled scale-down could not start',
        );
      }
    }
    return outcomes;
  }
}
