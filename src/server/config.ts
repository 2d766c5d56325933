/**
 * The service's own environment, on top of the CLI's STACKSWAP_* and ARGOCD_* variables.
 * Secrets have no defaults and are registered with the redactor as soon as they are read.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
import type { Redactor } from '../shared/redact.ts';

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
  STACKSWAP_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .optional(),
  XDG_STATE_HOME: z.string().optional(),
});
export type ServeEnvironment = z.infer<typeof ServeEnvironment>;

export function readServeEnvironment(env: NodeJS.ProcessEnv, redactor: Redactor): ServeEnvironment {
  // Register before validating, so no message below can carry the secret.
  redactor.add(env.STACKSWAP_SLACK_SIGNING_SECRET);
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
