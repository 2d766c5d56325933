/**
 * The `notifications` list of a stack in `stackswap.yaml`: where its lifecycle events
 * (src/shared/events.ts) are sent, chosen by event type. Only the shape lives here; the
 * delivery is src/notify.
 *
 * Webhook URLs are secrets (a Slack incoming-webhook URL is its own credential), so the config
 * never holds one: it names the environment variable that does, and that name must start with
 * `STACKSWAP_NOTIFY_`. Whoever can edit stackswap.yaml can therefore only pick among the
 * destinations the operator set up, never point a notification at another credential
 * (`urlEnv: STACKSWAP_GIT_TOKEN`) or at a host of their choosing.
 *
 * ```yaml
 * notifications:
 *   - name: team-slack
 *     slack: { urlEnv: STACKSWAP_NOTIFY_SLACK_URL }
 *     on: [swap.finished, revert.finished, operation.failed]
 *   - name: audit
 *     webhook: { urlEnv: STACKSWAP_NOTIFY_AUDIT_URL, secretEnv: STACKSWAP_NOTIFY_AUDIT_SECRET }
 *     on: ['*']
 * ```
 */
import { z } from 'zod';
import { STACK_EVENT_TYPES, type StackEventType } from '../shared/events.ts';
import { ResourceName } from './names.ts';

export const NOTIFY_ENV_PREFIX = 'STACKSWAP_NOTIFY_';

/** `what`: the field's meaning, for the message when it is missing or not such a name. */
const envName = (what: string) => {
  const message = `${what}: the name of an environment variable starting with ${NOTIFY_ENV_PREFIX} (upper case, digits, _); URLs and secrets are never written in stackswap.yaml`;
  return z.string({ error: message }).regex(/^STACKSWAP_NOTIFY_[A-Z0-9_]+$/, message);
};

/** What a notification is sent for when `on` is left out: outcomes, not every step. */
export const DEFAULT_NOTIFY_ON: readonly StackEventType[] = [
  'deploy.finished',
  'swap.finished',
  'revert.finished',
  'scale-down.finished',
  'operation.failed',
];

const EventSelector = z.union([z.literal('*'), z.enum(STACK_EVENT_TYPES)], {
  error: `an event type (${STACK_EVENT_TYPES.join(', ')}) or "*"`,
});

const Slack = z.object({ urlEnv: envName('urlEnv (the incoming-webhook URL)') }).strict();
const Webhook = z
  .object({
    urlEnv: envName('urlEnv (the webhook URL)'),
    /** The HMAC-SHA256 key the receiver checks (X-Stackswap-Signature-256). Required. */
    secretEnv: envName('secretEnv (the signing secret)'),
  })
  .strict();

export const NotificationEntry = z
  .object({
    /** Shown in metrics, records and the CLI's summary; default `<kind>-<n>`. */
    name: ResourceName.optional(),
    slack: Slack.optional(),
    webhook: Webhook.optional(),
    on: z.array(EventSelector).min(1).optional(),
  })
  .strict()
  .refine((e) => (e.slack ? 1 : 0) + (e.webhook ? 1 : 0) === 1, {
    message: 'each notification has exactly one of slack or webhook',
  });

export const NotificationsConfig = z.array(NotificationEntry);
export type NotificationsConfigFile = z.infer<typeof NotificationsConfig>;

/**
 * One destination, resolved: what an outbox entry stores (env var names only, never the URL
 * or the secret, so nothing secret reaches the disk or the database).
 */
export interface NotificationTarget {
  name: string;
  kind: 'slack' | 'webhook';
  urlEnv: string;
  secretEnv?: string;
  on: readonly (StackEventType | '*')[];
}

export function resolveNotifications(
  entries: NotificationsConfigFile | undefined,
  problems: { key: (string | number)[]; message: string }[],
  at: (...key: (string | number)[]) => (string | number)[],
): NotificationTarget[] {
  const targets: NotificationTarget[] = [];
  const seen = new Set<string>();
  (entries ?? []).forEach((entry, i) => {
    const kind = entry.slack ? 'slack' : 'webhook';
    const name = entry.name ?? `${kind}-${i + 1}`;
    if (seen.has(name)) {
      problems.push({ key: at('notifications', i, 'name'), message: `duplicate name ${name}` });
    }
    seen.add(name);
    const spec = entry.slack ?? entry.webhook!;
    targets.push({
      name,
      kind,
      urlEnv: spec.urlEnv,
      ...(entry.webhook ? { secretEnv: entry.webhook.secretEnv } : {}),
      on: entry.on ?? DEFAULT_NOTIFY_ON,
    });
  });
  return targets;
}

export function targetWants(target: NotificationTarget, type: StackEventType): boolean {
  return target.on.includes('*') || target.on.includes(type);
}
