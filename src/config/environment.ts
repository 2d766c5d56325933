/**
 * The process environment the CLI (and the service) reads, validated in one place. Secrets have
 * no defaults and are registered with the redactor as soon as they are read.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
import type { Redactor } from '../shared/redact.ts';

/** A yes/no switch: 1/true on, 0/false/empty (or unset) off; anything else is a mistake. */
const Switch = z
  .enum(['1', 'true', '0', 'false', ''], { error: 'must be 1, true, 0, false or empty' })
  .optional()
  .transform((value) => value === '1' || value === 'true');

const Environment = z.object({
  STACKSWAP_REPO: z.string().min(1).optional(),
  /**
   * Sandbox mode: only then may the config repo be a local path or file:// URL. Local clones
   * have had their own git vulnerabilities (CVE-2022-39253, CVE-2024-32021), and git itself
   * allows the file protocol only when asked (protocol.file.allow=user since 2.38.1).
   */
  STACKSWAP_SANDBOX: Switch,
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
  /** Verification (issue 11): override verification.prometheus.url and verification.ingress.url. */
  STACKSWAP_PROMETHEUS_URL: z.string().url().optional(),
  STACKSWAP_INGRESS_URL: z.string().url().optional(),
  /**
   * The forge the config repo lives on, for changes landing through a merge request (issue 12,
   * promotion.viaMergeRequest); default: read from the repo URL. Tokens: src/forges/config.ts.
   */
  STACKSWAP_FORGE: z.enum(['gitlab', 'github'], { error: 'must be gitlab or github' }).optional(),
  /** Its project: group/sub/project (GitLab) or owner/repo (GitHub); default from the repo URL. */
  STACKSWAP_FORGE_PROJECT: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$|^\d+$/, {
      error: 'must be group/project, owner/repo or a numeric project id',
    })
    .optional(),
  /**
   * PostgreSQL for several service replicas (journal, idempotency keys, per-stack locks):
   * postgres://user:password@host:5432/db?sslmode=require. Unset: the file journal (one replica).
   */
  STACKSWAP_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/[^\s]+$/, {
      error: 'must be a postgres:// or postgresql:// URL',
    })
    .optional(),
  /**
   * The forges (issue 12), for MR comments, statuses and merges; src/forges/config.ts checks
   * the URLs. GitLab: the instance (default https://gitlab.com); GitHub: the REST API root
   * (default https://api.github.com; GHES: https://ghe.example.com/api/v3).
   */
  STACKSWAP_GITLAB_URL: z.string().min(1).optional(),
  STACKSWAP_GITLAB_TOKEN: z.string().min(1).optional(),
  STACKSWAP_GITHUB_API_URL: z.string().min(1).optional(),
  STACKSWAP_GITHUB_TOKEN: z.string().min(1).optional(),
});
export type Environment = z.infer<typeof Environment>;

/** The names of the variables above (the service's list is built from it: server/config.ts). */
export const ENVIRONMENT_VARIABLES = Object.keys(Environment.shape) as (keyof Environment)[];

export function readEnvironment(env: NodeJS.ProcessEnv, redactor: Redactor): Environment {
  // Registered before validating: the URL carries the database password.
  registerDatabaseUrl(env.STACKSWAP_DATABASE_URL, redactor);
  redactor.add(env.STACKSWAP_GITLAB_TOKEN);
  redactor.add(env.STACKSWAP_GITHUB_TOKEN);
  const parsed = Environment.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(
      `environment variable ${issue.path.join('.')}: ${redactor.redact(issue.message)}`,
      {
        where: { key: String(issue.path[0]) },
      },
    );
  }
  redactor.add(parsed.data.STACKSWAP_GIT_TOKEN, { username: parsed.data.STACKSWAP_GIT_USERNAME });
  redactor.add(parsed.data.STACKSWAP_GITLAB_TOKEN, { username: 'oauth2' });
  redactor.add(parsed.data.STACKSWAP_GITHUB_TOKEN, { username: 'x-access-token' });
  return parsed.data;
}

/** The whole URL, and its password alone (as written and decoded), become secrets. */
function registerDatabaseUrl(url: string | undefined, redactor: Redactor): void {
  if (!url) return;
  redactor.add(url);
  const password = /^[a-z]+:\/\/[^:/@\s]*:([^@/\s]*)@/i.exec(url)?.[1];
  if (password) {
    redactor.add(password);
    try {
      redactor.add(decodeURIComponent(password));
    } catch {
      // not percent-encoded
    }
  }
}

/** The config repo as ConfigRepo.open takes it. */
export interface RepoLocation {
  /** A local path made absolute; any other URL as given (ConfigRepo.open validates it). */
  url: string;
  /** A local path or file:// URL: git may use the file protocol for it (sandbox mode only). */
  local: boolean;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
const CONTROL = /[\0-\x1f\x7f]/g;

/**
 * Where the config repo is, from --repo or STACKSWAP_REPO (`source` names which, for the
 * message). A local repository outside sandbox mode is refused here, before any git runs.
 * Local means what git takes as local: a file:// URL, or a path with no scheme that is not
 * scp-like ssh (git reads `host:path` as ssh when no "/" comes before the first ":").
 */
export function locateConfigRepo(url: string, env: Environment, source: string): RepoLocation {
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  const scpLike = scheme === undefined && /^[^/]*:/.test(url);
  // file://host/… or file://user@…: not a local path; ConfigRepo.open refuses it either way,
  // and without echoing what could be credentials.
  const authority = scheme === 'file' ? /^[^:]+:\/\/([^/]*)/.exec(url)![1]! : '';
  const remote =
    scheme !== undefined &&
    (scheme !== 'file' || !['', 'localhost'].includes(authority.toLowerCase()));
  if (remote || scpLike) return { url, local: false };
  if (!env.STACKSWAP_SANDBOX) {
    // A local path carries no credentials; control characters are shown, not obeyed.
    const shown = url.replace(
      CONTROL,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    );
    throw new ValidationError(
      `local repositories are allowed only in sandbox mode (STACKSWAP_SANDBOX=1): ${shown}`,
      {
        where: { key: source },
        hint: 'use an https:// or ssh:// remote; for a local try-out, stackswap sandbox up prints the environment to use',
      },
    );
  }
  return { url: scheme === 'file' ? url : path.resolve(url), local: true };
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
