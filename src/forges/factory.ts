/**
 * Builds the Forge for a forge name from the settings read from the environment: the one
 * place the composition roots (service, CLI) turn configuration into an adapter.
 */
import { ValidationError } from '../shared/errors.ts';
import type { ForgeSettings } from './config.ts';
import type { ForgeName } from './errors.ts';
import type { Forge } from './forge.ts';
import { GithubForge } from './github.ts';
import { GitlabForge } from './gitlab.ts';
import type { ForgeFetchOptions } from './http.ts';

export interface CreateForgeOptions {
  /** Retry policy, clock, onRetry hook (for logs and metrics). */
  http?: Omit<ForgeFetchOptions, 'forge'>;
}

const TOKEN_VAR: Record<ForgeName, string> = {
  gitlab: 'STACKSWAP_GITLAB_TOKEN',
  github: 'STACKSWAP_GITHUB_TOKEN',
};

/** The forge, or a ValidationError naming the variable when its token is not set. */
export function createForge(
  name: ForgeName,
  settings: ForgeSettings,
  options: CreateForgeOptions = {},
): Forge {
  const token = name === 'gitlab' ? settings.gitlab.token : settings.github.token;
  if (!token) {
    throw new ValidationError(
      `${TOKEN_VAR[name]} is not set: stackswap needs a ${name === 'gitlab' ? 'GitLab' : 'GitHub'} token to comment, set statuses and merge`,
      {
        where: { key: TOKEN_VAR[name] },
        hint:
          name === 'gitlab'
            ? 'a project or group access token with the api scope and the Developer role (Maintainer to merge into a protected branch)'
            : 'a token with Pull requests: write, Commit statuses: write and Contents: write (classic: repo)',
      },
    );
  }
  return name === 'gitlab'
    ? new GitlabForge({
        url: settings.gitlab.url,
        token,
        ...(options.http ? { http: options.http } : {}),
      })
    : new GithubForge({
        apiUrl: settings.github.apiUrl,
        token,
        ...(options.http ? { http: options.http } : {}),
      });
}
