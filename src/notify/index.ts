/** Notifications (issue 13): Slack incoming webhooks and signed generic webhooks, from an outbox. */
export {
  Notifier,
  realClock,
  DEFAULT_POLICY,
  type NotifyClock,
  type RetryPolicy,
} from './notifier.ts';
export type { NotifierOptions } from './notifier.ts';
export {
  MemoryOutbox,
  OutboxEntry,
  deliveryView,
  newEntry,
  outboxKey,
  type DeliveryView,
  type OutboxStore,
  type OutboxUpdate,
} from './outbox.ts';
export { FileOutbox, OUTBOX_FILE } from './file-outbox.ts';
export {
  attemptDelivery,
  parseRetryAfter,
  payloadFor,
  registerTargetSecrets,
  type AttemptOutcome,
} from './deliver.ts';
export { slackMessage, headline, type SlackMessage } from './slack-message.ts';
export { describeUndelivered } from './summary.ts';
