/**
 * The service's own environment, on top of the CLI's STACKSWAP_* and ARGOCD_* variables.
 * Secrets have no defaults and are registered with the redactor as soon as they are read.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
import type { Redactor } from '../shared/redact.ts';
import type { Environment } from '../config/environment.ts';

const Seconds = z
  .string()
  .regex(/^\d+$/, 'a whole number of seconds')
  .transform(Number)
  .refine((n) => n > 0 && n <= 86_400, 'between 1 and 86400');

const PerMinute = z
  .string()
  .regex(/^\d+$/, 'a whole number')
  .transform(Number)
  .refine((n) => n > 0 && n <= 1_000_000, 'between 1 and 1000000');

const ServeEnvironment = z.object({
  /** Where the operation journal lives (default $XDG_STATE_HOME/stackswap). */
  STACKSWAP_DATA_DIR: z.string().min(1).optional(),
  /** YAML or JSON: [{name, sha256, scopes}]. */
  STACKSWAP_TOKENS_FILE: z.string().min(1).optional(),
  /** JSON: [{name, sha256, scopes}]. */
  STACKSWAP_TOKENS: z.string().min(1).optional(),
  STACKSWAP_SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  /** GitLab webhooks: the hook's secret token, compared with X-Gitlab-Token. */
  STACKSWAP_GITLAB_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** GitHub webhooks: the hook's secret, the key of X-Hub-Signature-256. */
  STACKSWAP_GITHUB_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** How long an operation waits for Argo CD (default 600). */
  STACKSWAP_TIMEOUT: Seconds.optional(),
  /** How long stack status is served from memory (default 5). */
  STACKSWAP_STATUS_CACHE_SECONDS: Seconds.optional(),
  /** How long SIGTERM waits for running operations before stopping them (default 30). */
  STACKSWAP_SHUTDOWN_GRACE_SECONDS: Seconds.optional(),
  /** Requests per minute per token (per IP without one), default 300. */
  STACKSWAP_RATE_LIMIT: PerMinute.optional(),
  /** Trust X-Forwarded-For from the ingress in front (for per-IP limits); default false. */
  STACKSWAP_TRUST_PROXY: z.enum(['true', 'false']).optional(),
  /**
   * With STACKSWAP_DATABASE_URL: how long a replica that lost its database connection may keep
   * a stack before another replica may take it (its lock's heartbeat runs every third); 15.
   */
  STACKSWAP_LOCK_LEASE_SECONDS: Seconds.optional(),
  /** How often stacks with retention.autoScaleDown are checked for a due scale-down; 60. */
  STACKSWAP_SCALE_DOWN_INTERVAL_SECONDS: Seconds.optional(),
  /**
   * The service's URL as hooks reach it (e.g. https://stackswap.example.com): pending hooks
   * report to <it>/v1/hooks/<id>/result. Unset: pending hooks must give a statusUrl to poll.
   */
  STACKSWAP_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  STACKSWAP_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .optional(),
  XDG_STATE_HOME: z.string().optional(),
});
export type ServeEnvironment = z.infer<typeof ServeEnvironment>;

/** ARGOCD_* as src/argocd/config.ts reads them (the argocd CLI's names). */
const ARGOCD_VARIABLES = [
  'ARGOCD_SERVER',
  'ARGOCD_AUTH_TOKEN',
  'ARGOCD_USERNAME',
  'ARGOCD_PASSWORD',
  'ARGOCD_INSECURE',
  'ARGOCD_PLAINTEXT',
  'ARGOCD_APP_NAMESPACE',
  'ARGOCD_PROJECT',
] as const;

/**
 * How a deployment provides a variable: `value` (the chart sets it from its values), `secret`
 * (from the Secret the chart references; never a value in the chart), or `none` (not for a
 * cluster: set by a CI job or the OS, or sandbox-only).
 */
export type EnvironmentSource = 'value' | 'secret' | 'none';

/**
 * Every variable `stackswap serve` reads, and how the chart provides it: the one list the chart
 * is checked against (test/integration/deploy). Exhaustive by type: a variable added to the
 * CLI's, the service's or Argo CD's schema without an entry here does not compile.
 */
export const SERVICE_ENVIRONMENT: Readonly<
  Record<
    keyof Environment | keyof ServeEnvironment | (typeof ARGOCD_VARIABLES)[number],
    EnvironmentSource
  >
> = {
  STACKSWAP_REPO: 'value',
  STACKSWAP_BRANCH: 'value',
  STACKSWAP_CACHE_DIR: 'value',
  STACKSWAP_GIT_TOKEN: 'secret',
  STACKSWAP_GIT_USERNAME: 'value',
  STACKSWAP_GIT_AUTHOR_NAME: 'value',
  STACKSWAP_GIT_AUTHOR_EMAIL: 'value',
  STACKSWAP_DATABASE_URL: 'secret',
  STACKSWAP_DATA_DIR: 'value',
  STACKSWAP_TOKENS_FILE: 'value',
  STACKSWAP_SLACK_SIGNING_SECRET: 'secret',
  // The forges (issue 12): MR comments, statuses, merges, and their webhooks.
  STACKSWAP_GITLAB_URL: 'value',
  STACKSWAP_GITLAB_TOKEN: 'secret',
  STACKSWAP_GITLAB_WEBHOOK_SECRET: 'secret',
  STACKSWAP_GITHUB_API_URL: 'value',
  STACKSWAP_GITHUB_TOKEN: 'secret',
  STACKSWAP_GITHUB_WEBHOOK_SECRET: 'secret',
  STACKSWAP_TIMEOUT: 'value',
  STACKSWAP_STATUS_CACHE_SECONDS: 'value',
  STACKSWAP_SHUTDOWN_GRACE_SECONDS: 'value',
  STACKSWAP_RATE_LIMIT: 'value',
  STACKSWAP_TRUST_PROXY: 'value',
  STACKSWAP_LOCK_LEASE_SECONDS: 'value',
  STACKSWAP_SCALE_DOWN_INTERVAL_SECONDS: 'value',
  STACKSWAP_LOG_LEVEL: 'value',
  // Verification: override the stack's verification.prometheus.url and verification.ingress.url.
  STACKSWAP_PROMETHEUS_URL: 'value',
  STACKSWAP_INGRESS_URL: 'value',
  ARGOCD_SERVER: 'value',
  ARGOCD_AUTH_TOKEN: 'secret',
  ARGOCD_INSECURE: 'value',
  ARGOCD_PLAINTEXT: 'value',
  ARGOCD_APP_NAMESPACE: 'value',
  ARGOCD_PROJECT: 'value',
  // Tokens as a file mounted from the Secret (STACKSWAP_TOKENS_FILE), not inline JSON.
  STACKSWAP_TOKENS: 'none',
  // A session login: the chart uses an Argo CD account token (ARGOCD_AUTH_TOKEN).
  ARGOCD_USERNAME: 'none',
  ARGOCD_PASSWORD: 'none',
  // A local config repo: sandbox only. Plain http: local test servers only.
  STACKSWAP_SANDBOX: 'none',
  STACKSWAP_GIT_ALLOW_HTTP: 'none',
  // The CLI's: a default stack and who asks (CI jobs); the service takes both per request.
  STACKSWAP_STACK: 'none',
  STACKSWAP_REQUESTED_BY: 'none',
  GITLAB_USER_LOGIN: 'none',
  CI_PIPELINE_URL: 'none',
  USER: 'none',
  XDG_CACHE_HOME: 'none',
  XDG_STATE_HOME: 'none',
  // Merge requests (issue 12): which forge and project (usually read from the repo URL); the
  // webhooks ignore events of any other project.
  STACKSWAP_FORGE: 'value',
  STACKSWAP_FORGE_PROJECT: 'value',
  // The service as users and hooks reach it: hook callbacks (issue 13), MR status links.
  STACKSWAP_PUBLIC_URL: 'value',
};

export function readServeEnvironment(env: NodeJS.ProcessEnv, redactor: Redactor): ServeEnvironment {
  // Register before validating, so no message below can carry the secret.
  redactor.add(env.STACKSWAP_SLACK_SIGNING_SECRET);
  redactor.add(env.STACKSWAP_GITLAB_WEBHOOK_SECRET);
  redactor.add(env.STACKSWAP_GITHUB_WEBHOOK_SECRET);
  const parsed = ServeEnvironment.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0]);
    throw new ValidationError(`environment variable ${key}: ${redactor.redact(issue.message)}`, {
      where: { key },
    });
  }
  return parsed.data;
}

export function defaultDataDir(env: ServeEnvironment): string {
  return (
    env.STACKSWAP_DATA_DIR ??
    path.join(env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state'), 'stackswap')
  );
}
