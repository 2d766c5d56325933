/** What the HTTP app is built from: its collaborators and its limits (routes read these too). */
import type { FastifyBaseLogger } from 'fastify';
import type { Redactor } from '../shared/redact.ts';
import type { PendingHookStore } from '../hooks/pending.ts';
import type { TokenStore } from './auth/tokens.ts';
import type { ServerMetrics } from './metrics.ts';
import type { OperationManager } from './operations/manager.ts';
import type { DryRunResult, ReadyResponse } from './schemas.ts';
import type { SlackResponder } from './slack/responder.ts';
import type { DryRunInput } from './stacks/dry-run.ts';
import type { StackStatusService } from './stacks/status.ts';
import type { WebhookReceiver } from './webhooks/receiver.ts';

export interface Limits {
  /** JSON API bodies; default 64 KiB. */
  bodyLimit: number;
  /** Slack's form bodies; default 16 KiB. */
  slackBodyLimit: number;
  /** Forge webhook bodies (GitLab and GitHub MR payloads); default 5 MiB. */
  webhookBodyLimit: number;
  /** Requests per window per token (per IP without one); default 300 per minute. */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  /** Whole request (headers and body) must arrive within this; default 30 s. */
  requestTimeoutMs: number;
  /** Idle socket timeout; default 60 s (SSE streams send a keepalive well within it). */
  connectionTimeoutMs: number;
  keepAliveTimeoutMs: number;
  sseKeepAliveMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  bodyLimit: 64 * 1024,
  slackBodyLimit: 16 * 1024,
  webhookBodyLimit: 5 * 1024 * 1024,
  rateLimitMax: 300,
  rateLimitWindowMs: 60_000,
  requestTimeoutMs: 30_000,
  connectionTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  sseKeepAliveMs: 15_000,
};

export interface AppDeps {
  logger: FastifyBaseLogger;
  redactor: Redactor;
  tokens: TokenStore;
  operations: OperationManager;
  status: StackStatusService;
  dryRun: (
    input: Pick<DryRunInput, 'kind' | 'stack' | 'body' | 'requestedBy' | 'reason'>,
  ) => Promise<DryRunResult>;
  readiness: () => Promise<ReadyResponse>;
  metrics: ServerMetrics;
  slack: { signingSecret: string | undefined; responder: SlackResponder };
  /** Forge webhooks (POST /v1/webhooks/gitlab|github); absent: they answer 401. */
  webhooks?: { receiver: WebhookReceiver };
  now: () => number;
  limits?: Partial<Limits>;
  /** Pending lifecycle hooks (issue 13): where `POST /v1/hooks/:id/result` records verdicts. */
  hookCallbacks?: PendingHookStore;
  /** Behind an ingress: take the client address from X-Forwarded-For (per-IP rate limits). */
  trustProxy?: boolean;
}
