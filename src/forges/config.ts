/**
 * Where the forges are and the tokens to call them with, read from a given environment object
 * (never process.env directly). The tokens are registered with the Redactor as they are read.
 * To join the central list in src/config/environment.ts when that file is free.
 */
import { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
import type { Redactor } from '../shared/redact.ts';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** https, or http to a loopback address (a local fake forge in tests); no credentials in it. */
const ForgeUrl = z
  .string()
  .trim()
  .superRefine((raw, ctx) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a URL such as https://gitlab.example.com' });
      return;
    }
    if (!(u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.has(u.hostname)))) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be https (plain http only to 127.0.0.1 or localhost)',
      });
    } else if (u.username !== '' || u.password !== '') {
      ctx.addIssue({
        code: 'custom',
        message: 'must not carry credentials; set the token variable instead',
      });
    }
  })
  .transform((raw) => raw.replace(/\/+$/, ''));

const Token = z.string().trim().min(1).optional();

const ForgeEnvironmentSchema = z.object({
  STACKSWAP_GITLAB_URL: ForgeUrl.default('https://gitlab.com'),
  STACKSWAP_GITLAB_TOKEN: Token,
  STACKSWAP_GITHUB_API_URL: ForgeUrl.default('https://api.github.com'),
  STACKSWAP_GITHUB_TOKEN: Token,
});

export const FORGE_ENV_VARS = Object.keys(ForgeEnvironmentSchema.shape) as ReadonlyArray<
  keyof z.infer<typeof ForgeEnvironmentSchema>
>;

export interface GitlabSettings {
  /** The instance, e.g. https://gitlab.com (no trailing slash, no /api/v4). */
  url: string;
  token: string | undefined;
}

export interface GithubSettings {
  /** The REST API root: https://api.github.com, or https://ghe.example.com/api/v3. */
  apiUrl: string;
  token: string | undefined;
}

export interface ForgeSettings {
  gitlab: GitlabSettings;
  github: GithubSettings;
}

/** Reads STACKSWAP_GITLAB_URL/_TOKEN and STACKSWAP_GITHUB_API_URL/_TOKEN from `env`. */
export function readForgeSettings(
  env: Readonly<Record<string, string | undefined>>,
  redactor: Redactor,
): ForgeSettings {
  // Empty strings mean "unset" (CI systems export empty variables).
  const present = Object.fromEntries(
    FORGE_ENV_VARS.map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const parsed = ForgeEnvironmentSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0]);
    throw new ValidationError(`environment variable ${key}: ${issue.message}`, {
      where: { key },
    });
  }
  const e = parsed.data;
  redactor.add(e.STACKSWAP_GITLAB_TOKEN, { username: 'oauth2' });
  redactor.add(e.STACKSWAP_GITHUB_TOKEN, { username: 'x-access-token' });
  return {
    gitlab: { url: e.STACKSWAP_GITLAB_URL, token: e.STACKSWAP_GITLAB_TOKEN },
    github: { apiUrl: e.STACKSWAP_GITHUB_API_URL, token: e.STACKSWAP_GITHUB_TOKEN },
  };
}
