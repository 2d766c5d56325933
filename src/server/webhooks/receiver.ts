/**
 * A webhook delivery from GitLab or GitHub, from the raw request to an answer, in this order:
 *
 * 1. the secret (GitLab `X-Gitlab-Token`) or the HMAC over the raw body (GitHub
 *    `X-Hub-Signature-256`), in constant time: 401 otherwise, and nothing is read further;
 * 2. the event type (`X-Gitlab-Event`, `X-GitHub-Event`): GitHub's `ping` is answered 200; an
 *    event stackswap does not take (issues, notes, pipelines…) is a 400 naming the events to
 *    subscribe to; the body must be JSON (GitHub's form encoding `payload=<json>` too) whose
 *    shape is that event's: 400 otherwise;
 * 3. the delivery id: a redelivery of one seen before is answered 200 `duplicate`;
 * 4. the scope: other projects, other target branches, forks, MRs closed without merging,
 *    MR updates that change no commit are answered 202 `ignored` with the reason, logged;
 * 5. the rest is handed to the processor (202 `accepted`), which does the work in the
 *    background as journaled operations.
 */
import { z } from 'zod';
import type { ForgeName } from '../../forges/errors.ts';
import {
  headerValue,
  parseGithubWebhook,
  parseGitlabWebhook,
  scopeEvent,
  verifyGithubSignature,
  verifyGitlabToken,
  type ForgeEvent,
  type HeaderBag,
  type MergeRequestEvent,
} from '../../forges/webhooks.ts';
import { ApiError } from '../errors.ts';
import type { DeliveryStore } from './deliveries.ts';

export const WebhookAnswer = z.object({
  status: z.enum(['accepted', 'ignored', 'duplicate', 'pong']),
  deliveryId: z.string().optional(),
  reason: z.string().optional(),
});
export type WebhookAnswer = z.infer<typeof WebhookAnswer>;

export interface WebhookScopeSettings {
  /** The config repo on the forge; undefined: not configured, every event is ignored. */
  project: string | undefined;
  branch: string;
}

export interface WebhookLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface WebhookSubmitter {
  /**
   * Queues the event's work (in arrival order). `release` forgets the delivery id again if
   * the work could not even be started, so a redelivery runs it; `done` marks it finished (no
   * longer taken up again at a restart).
   */
  submit(event: MergeRequestEvent, release: () => Promise<void>, done: () => Promise<void>): void;
}

export interface WebhookReceiverOptions {
  secrets: Partial<Record<ForgeName, string>>;
  scope: WebhookScopeSettings;
  deliveries: DeliveryStore;
  processor: WebhookSubmitter;
  logger: WebhookLogger;
}

const SUPPORTED: Record<ForgeName, { header: string; events: string[]; subscribe: string }> = {
  gitlab: {
    header: 'X-Gitlab-Event',
    events: ['Merge Request Hook', 'Push Hook'],
    subscribe:
      'enable "Merge request events" on the GitLab webhook (push events are accepted and ignored)',
  },
  github: {
    header: 'X-GitHub-Event',
    events: ['pull_request', 'push', 'ping'],
    subscribe: 'select the "Pull requests" event on the GitHub webhook',
  },
};

export interface RawDelivery {
  headers: HeaderBag;
  body: Buffer;
}

export class WebhookReceiver {
  constructor(private readonly options: WebhookReceiverOptions) {}

  /** Whether a secret is configured for `forge` (the route answers 401 without one). */
  configured(forge: ForgeName): boolean {
    return Boolean(this.options.secrets[forge]);
  }

  async receive(
    forge: ForgeName,
    delivery: RawDelivery,
  ): Promise<{ statusCode: 200 | 202; answer: WebhookAnswer }> {
    const { headers, body } = delivery;
    const log = this.options.logger;
    const verdict =
      forge === 'gitlab'
        ? verifyGitlabToken(headers, this.options.secrets.gitlab)
        : verifyGithubSignature(headers, body, this.options.secrets.github);
    if (!verdict.ok) {
      log.warn({ security: true, forge, reason: verdict.reason }, 'webhook refused');
      throw new ApiError(
        401,
        'unauthorized',
        forge === 'gitlab'
          ? 'X-Gitlab-Token missing or wrong (or no STACKSWAP_GITLAB_WEBHOOK_SECRET configured)'
          : 'X-Hub-Signature-256 missing or not the HMAC of the body (or no STACKSWAP_GITHUB_WEBHOOK_SECRET configured)',
      );
    }

    const supported = SUPPORTED[forge];
    const eventName = headerValue(headers, supported.header);
    if (!eventName) {
      throw new ApiError(400, 'webhook-event-missing', `${supported.header} header missing`);
    }
    if (!supported.events.includes(eventName)) {
      throw new ApiError(
        400,
        'webhook-event-unsupported',
        `${supported.header} "${eventName}" is not an event stackswap takes; ${supported.subscribe}`,
        { event: eventName },
      );
    }
    if (forge === 'github' && eventName === 'ping') {
      log.info({ forge, event: eventName }, 'webhook ping');
      return { statusCode: 200, answer: { status: 'pong' } };
    }

    const json = jsonText(headers, body);
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (e) {
      throw new ApiError(
        400,
        'webhook-not-json',
        `the body is not JSON (${(e as Error).message.slice(0, 120)})`,
      );
    }
    const mismatch = shapeMismatch(forge, eventName, value);
    if (mismatch) {
      throw new ApiError(400, 'webhook-wrong-event', mismatch, { event: eventName });
    }

    const parsed =
      forge === 'gitlab' ? parseGitlabWebhook(headers, json) : parseGithubWebhook(headers, json);
    if (parsed.kind === 'ignored' && parsed.reason.startsWith('not a ')) {
      throw new ApiError(400, 'webhook-payload-invalid', parsed.reason, { event: eventName });
    }
    const deliveryId = parsed.deliveryId;
    if (!deliveryId) {
      throw new ApiError(
        400,
        'webhook-delivery-id-missing',
        forge === 'gitlab'
          ? 'Idempotency-Key / X-Gitlab-Event-UUID header missing: the delivery cannot be deduplicated'
          : 'X-GitHub-Delivery header missing: the delivery cannot be deduplicated',
      );
    }

    const event = this.narrow(parsed);
    const acted = event.kind === 'opened' || event.kind === 'updated' || event.kind === 'merged';
    const first = await this.options.deliveries
      .claim(forge, deliveryId, acted ? event : undefined)
      .catch((e: unknown) => {
        log.warn({ forge, deliveryId, error: (e as Error).message }, 'delivery store failed');
        throw new ApiError(
          503,
          'delivery-store-unavailable',
          'the delivery could not be recorded; nothing was started, the forge may redeliver',
          {},
          { 'retry-after': '5' },
        );
      });
    if (!first) {
      log.info({ forge, deliveryId, event: eventName }, 'webhook redelivered: already handled');
      return { statusCode: 200, answer: { status: 'duplicate', deliveryId } };
    }

    if (event.kind !== 'opened' && event.kind !== 'updated' && event.kind !== 'merged') {
      const reason =
        event.kind === 'ignored'
          ? event.reason
          : event.kind === 'closed'
            ? `MR !${event.number} was closed without merging: nothing deploys`
            : 'pushes are not acted on: merges arrive as merge request events';
      log.info(
        { forge, deliveryId, event: eventName, action: parsed.action, reason },
        'webhook ignored',
      );
      return { statusCode: 202, answer: { status: 'ignored', deliveryId, reason } };
    }
    log.info(
      {
        forge,
        deliveryId,
        event: eventName,
        action: event.action,
        kind: event.kind,
        mr: event.number,
        headSha: event.headSha,
        ...(event.mergedSha ? { mergedSha: event.mergedSha } : {}),
      },
      'webhook accepted',
    );
    this.options.processor.submit(
      event,
      () => this.options.deliveries.release(forge, deliveryId),
      () => this.options.deliveries.done(forge, deliveryId),
    );
    return { statusCode: 202, answer: { status: 'accepted', deliveryId } };
  }

  private narrow(event: ForgeEvent): ForgeEvent {
    const { project, branch } = this.options.scope;
    if (event.kind === 'ignored') return event;
    if (!project) {
      return {
        kind: 'ignored',
        forge: event.forge,
        deliveryId: event.deliveryId,
        event: event.event,
        action: event.action,
        reason:
          'no forge project configured (STACKSWAP_FORGE_PROJECT, or an https STACKSWAP_REPO): every event is ignored',
      };
    }
    const scoped = scopeEvent(event, { project, branch });
    if (scoped.kind === 'opened' || scoped.kind === 'updated') {
      if (scoped.fork) {
        return {
          kind: 'ignored',
          forge: scoped.forge,
          deliveryId: scoped.deliveryId,
          event: scoped.event,
          action: scoped.action,
          reason: `MR !${scoped.number} comes from a fork: stackswap reviews only branches of ${project}`,
        };
      }
    }
    return scoped;
  }
}

/** The JSON text of the body: as sent, or GitHub's form field `payload`. */
function jsonText(headers: HeaderBag, body: Buffer): string {
  const type = (headerValue(headers, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const text = body.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') {
    return new URLSearchParams(text).get('payload') ?? '';
  }
  return text;
}

/** A JSON body that is another event than its header says (a misrouted or forged delivery). */
function shapeMismatch(forge: ForgeName, event: string, value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'the body is JSON but not an object';
  }
  const body = value as Record<string, unknown>;
  if (forge === 'gitlab') {
    const want = event === 'Merge Request Hook' ? 'merge_request' : 'push';
    if (body.object_kind !== want) {
      return `X-Gitlab-Event says "${event}" but the body's object_kind is ${JSON.stringify(body.object_kind ?? null)}, not "${want}"`;
    }
    return undefined;
  }
  if (event === 'pull_request' && typeof body.pull_request !== 'object') {
    return 'X-GitHub-Event says "pull_request" but the body has no pull_request object';
  }
  if (event === 'push' && (typeof body.ref !== 'string' || !Array.isArray(body.commits))) {
    return 'X-GitHub-Event says "push" but the body has no ref and commits';
  }
  return undefined;
}
