/**
 * The forge the config repo lives on, and its project there: what the CLI and the service put
 * in an operation's context so a change can land through a merge request (issue 12). Told by
 * STACKSWAP_FORGE / STACKSWAP_FORGE_PROJECT, else read from the repo URL when its host is the
 * configured GitLab (STACKSWAP_GITLAB_URL) or GitHub (github.com, or the host of
 * STACKSWAP_GITHUB_API_URL).
 */
import { ValidationError } from '../shared/errors.ts';
import type { Redactor } from '../shared/redact.ts';
import { readForgeSettings, type ForgeSettings } from './config.ts';
import type { ForgeName } from './errors.ts';
import { createForge, type CreateForgeOptions } from './factory.ts';
import type { Forge } from './forge.ts';

export interface ForgeChoice {
  /** STACKSWAP_FORGE */
  forge?: ForgeName | undefined;
  /** STACKSWAP_FORGE_PROJECT */
  project?: string | undefined;
}

/** Which forge and project a remote URL names, if its host is a configured forge. */
export function forgeOfRepoUrl(
  repoUrl: string,
  settings: ForgeSettings,
): { forge: ForgeName; project: string } | undefined {
  const remote = hostAndPath(repoUrl);
  if (!remote) return undefined;
  const gitlab = safeUrl(settings.gitlab.url);
  if (gitlab && gitlab.host === remote.host) {
    const prefix = gitlab.pathname.replace(/^\/+|\/+$/g, '');
    const rest =
      prefix && remote.path.startsWith(`${prefix}/`)
        ? remote.path.slice(prefix.length + 1)
        : remote.path;
    return rest.includes('/') ? { forge: 'gitlab', project: rest } : undefined;
  }
  const api = safeUrl(settings.github.apiUrl);
  const githubHost = api?.host === 'api.github.com' ? 'github.com' : api?.host;
  if (remote.host === githubHost || remote.host === 'github.com') {
    return /^[^/]+\/[^/]+$/.test(remote.path)
      ? { forge: 'github', project: remote.path }
      : undefined;
  }
  return undefined;
}

/**
 * The forge and project for the config repo, or undefined when none can be told (then an
 * operation that needs a merge request says how to configure one). A forge that is named
 * (STACKSWAP_FORGE) but has no token is an error now; one only inferred from the URL without a
 * token is left out.
 */
export function forgeForConfigRepo(
  repoUrl: string,
  choice: ForgeChoice,
  env: Readonly<Record<string, string | undefined>>,
  redactor: Redactor,
  options: CreateForgeOptions = {},
): { forge: Forge; project: string } | undefined {
  const settings = readForgeSettings(env, redactor);
  const inferred = forgeOfRepoUrl(repoUrl, settings);
  const name = choice.forge ?? inferred?.forge;
  if (!name) return undefined;
  const project = choice.project ?? (inferred?.forge === name ? inferred.project : undefined);
  if (!project) {
    throw new ValidationError(
      `STACKSWAP_FORGE is ${name} but the config repo URL does not name a ${name} project`,
      {
        where: { key: 'STACKSWAP_FORGE_PROJECT' },
        hint: 'set STACKSWAP_FORGE_PROJECT (group/project or owner/repo)',
      },
    );
  }
  const token = name === 'gitlab' ? settings.gitlab.token : settings.github.token;
  if (!token && !choice.forge) return undefined;
  return { forge: createForge(name, settings, options), project };
}

function hostAndPath(url: string): { host: string; path: string } | undefined {
  const clean = (p: string) =>
    p
      .replace(/^\/+/, '')
      .replace(/\/+$/, '')
      .replace(/\.git$/, '');
  const scheme = /^(https?|ssh|git):\/\//i.exec(url);
  if (scheme) {
    const u = safeUrl(url);
    if (!u) return undefined;
    const host = scheme[1]!.toLowerCase().startsWith('http') ? u.host : u.hostname;
    return { host: host.toLowerCase(), path: clean(decodeURIComponent(u.pathname)) };
  }
  const scp = /^(?:[^@/:]+@)?([^/:]+):(.+)$/.exec(url);
  return scp ? { host: scp[1]!.toLowerCase(), path: clean(scp[2]!) } : undefined;
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
