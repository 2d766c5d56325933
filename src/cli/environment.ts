/**
 * The process environment the CLI reads, validated in one place. Secrets have no defaults and
 * are registered with the redactor as soon as they are read.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import type { Redactor } from '../core/redact.ts';

const Environment = z.object({
  STACKSWAP_REPO: z.string().min(1).optional(),
  STACKSWAP_BRANCH: z.string().min(1).optional(),
  STACKSWAP_STACK: z.string().min(1).optional(),
  STACKSWAP_CACHE_DIR: z.string().min(1).optional(),
  /** https token for the config repo (a GitLab project/deploy token, a GitHub token). */
  STACKSWAP_GIT_TOKEN: z.string().min(1).optional(),
  STACKSWAP_GIT_USERNAME: z.string().min(1).optional(),
  /** Allow a plain-http remote (local test servers only). */
  STACKSWAP_GIT_ALLOW_HTTP: z.enum(['true', 'false']).optional(),
  STACKSWAP_GIT_AUTHOR_NAME: z.string().min(1).optional(),
  STACKSWAP_GIT_AUTHOR_EMAIL: z.string().email().optional(),
  STACKSWAP_REQUESTED_BY: z.string().min(1).optional(),
  GITLAB_USER_LOGIN: z.string().min(1).optional(),
  CI_PIPELINE_URL: z.string().optional(),
  USER: z.string().optional(),
  XDG_CACHE_HOME: z.string().optional(),
});
export type Environment = z.infer<typeof Environment>;

export function readEnvironment(env: NodeJS.ProcessEnv, redactor: Redactor): Environment {
  const parsed = Environment.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(`environment variable ${issue.path.join('.')}: ${issue.message}`, {
      where: { key: String(issue.path[0]) },
    });
  }
  redactor.add(parsed.data.STACKSWAP_GIT_TOKEN, { username: parsed.data.STACKSWAP_GIT_USERNAME });
  return parsed.data;
}

export function defaultCacheDir(env: Environment): string {
  return (
    env.STACKSWAP_CACHE_DIR ??
    path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'stackswap')
  );
}

/** Who is asking, for the commit trailers: explicit flag, then CI identity, then the OS user. */
export function requesterFrom(flag: string | undefined, env: Environment): string {
  return flag ?? env.STACKSWAP_REQUESTED_BY ?? env.GITLAB_USER_LOGIN ?? env.USER ?? 'unknown';
}
