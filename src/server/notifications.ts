/**
 * The service's notifications (issue 13): the outbox next to the operations journal (a file
 * in the data dir, or the PostgreSQL table of the shared store), the notifier delivering it,
 * and the two hooks the operation manager calls: each journaled lifecycle event (published to
 * the targets of the operation's stack, as loaded by that operation) and the deliveries of an
 * operation (for `GET /v1/operations/:id`).
 *
 * A delivery that is given up is logged (warn), counted in /metrics
 * (`stackswap_notification_deliveries_total{result="failed"}`,
 * `stackswap_notification_failures_total`) and recorded in the outbox with its reason, where
 * the operation's view reads it. Undelivered entries survive a restart: `start()` resumes them.
 */
import type { Logger } from 'pino';
import type { StackEvent } from '../shared/events.ts';
import type { Redactor } from '../shared/redact.ts';
import type { NotificationTarget } from '../config/notifications-config.ts';
import { FileOutbox } from '../notify/file-outbox.ts';
import { Notifier, type NotifierOptions } from '../notify/notifier.ts';
import { registerTargetSecrets } from '../notify/deliver.ts';
import { deliveryView, type OutboxStore } from '../notify/outbox.ts';
import type { ServerMetrics } from './metrics.ts';
import type { OperationView } from './schemas.ts';
import { PostgresOutbox } from './store/notification-outbox.ts';

export type NotifyTuning = Partial<Pick<NotifierOptions, 'clock' | 'policy' | 'random'>>;

export interface ServiceNotifications {
  notifier: Notifier;
  /** The manager's hooks (OperationManagerOptions.notifications). */
  hooks: {
    onEvent(event: StackEvent): void;
    deliveries(operationId: string): Promise<OperationView['notifications']>;
  };
  /** Called by the operation's execute with its stack's targets, before the core runs. */
  targetsFor(operationId: string, targets: readonly NotificationTarget[] | undefined): void;
  forget(operationId: string): void;
  close(): Promise<void>;
}

const SWEEP_MS = 30_000;

export async function openNotifications(options: {
  env: NodeJS.ProcessEnv;
  dataDir: string;
  databaseUrl: string | undefined;
  replica: string;
  redactor: Redactor;
  metrics: ServerMetrics;
  logger: Logger;
  tuning?: NotifyTuning;
}): Promise<ServiceNotifications> {
  const { logger, metrics } = options;
  let store: OutboxStore;
  let pg: PostgresOutbox | undefined;
  if (options.databaseUrl) {
    pg = new PostgresOutbox({ url: options.databaseUrl, replica: options.replica });
    store = pg;
  } else {
    const { outbox, load } = await FileOutbox.open(options.dataDir);
    if (load.tornTail || load.skippedLines > 0) {
      logger.warn(
        { tornTail: load.tornTail, skippedLines: load.skippedLines },
        'the notification outbox had unreadable lines; they were skipped',
      );
    }
    store = outbox;
  }
  const notifier = new Notifier({
    store,
    env: options.env,
    redactor: options.redactor,
    ...options.tuning,
    onSettled: (entry) => {
      metrics.notificationSettled(
        entry.stack,
        entry.target.name,
        entry.target.kind,
        entry.state === 'delivered' ? 'delivered' : 'failed',
      );
      if (entry.state === 'failed') {
        logger.warn(
          {
            operationId: entry.operationId,
            stack: entry.stack,
            target: entry.target.name,
            event: entry.event.id,
            eventType: entry.event.type,
            attempts: entry.attempts,
            reason: entry.lastError,
          },
          'notification not delivered; given up',
        );
      }
    },
    onRetry: (entry, reason, delayMs) => {
      metrics.notificationRetried(entry.stack, entry.target.name, entry.target.kind);
      logger.info(
        {
          target: entry.target.name,
          event: entry.event.id,
          attempts: entry.attempts,
          reason,
          delayMs,
        },
        'notification attempt failed; retrying',
      );
    },
    onError: (error, entry) =>
      logger.warn(
        { error: (error as Error).message, event: entry?.event.id },
        'the notification outbox could not record a delivery (it goes on from memory)',
      ),
  });
  const resumed = await notifier.start().catch((e: unknown) => {
    logger.warn({ error: (e as Error).message }, 'pending notifications could not be read yet');
    return 0;
  });
  if (resumed > 0) logger.info({ resumed }, 'resuming undelivered notifications');
  // With several replicas: keep this replica's hold on its rows, and take over those of a
  // replica that died.
  const sweeper = pg
    ? setInterval(() => {
        void pg
          .renew()
          .then(() => notifier.start())
          .catch(() => undefined);
      }, SWEEP_MS)
    : undefined;
  sweeper?.unref();

  const targets = new Map<string, readonly NotificationTarget[]>();
  return {
    notifier,
    hooks: {
      onEvent: (event) => {
        const wanted = targets.get(event.operationId);
        if (!wanted || wanted.length === 0) return;
        void notifier.publish(event, wanted);
      },
      deliveries: async (operationId) => {
        try {
          return (await store.byOperation(operationId)).map(deliveryView);
        } catch {
          return undefined; // the outbox is away: the operation is shown without them
        }
      },
    },
    targetsFor: (operationId, list) => {
      if (!list || list.length === 0) return;
      registerTargetSecrets(list, options.env, options.redactor);
      targets.set(operationId, list);
    },
    forget: (operationId) => targets.delete(operationId),
    async close() {
      clearInterval(sweeper);
      await notifier.close();
      await store.close();
    },
  };
}
