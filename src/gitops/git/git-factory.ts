/**
 * The environment of every git child (run by git-process.ts): built from an allow-list (never a
 * spread of process.env: a CI image's PAGER, GIT_SSH_COMMAND or CI_JOB_TOKEN must not reach
 * git), with a private HOME whose .gitconfig this module writes. Git's argv is built by the git
 * layer from validated values only, and never passes through a shell.
 *
 * With an https token, GIT_ASKPASS points at bin/git-askpass: a constant helper shipped with
 * stackswap (never a path from input) that answers git's username/password prompts from two
 * variables of the git child's environment. The token thus lives only in memory and in that
 * child env: not in the URL, argv (`ps`, GIT_TRACE), the cache repo's config or any file, and
 * git hands it out only when the server asks for credentials, including on the lazy fetches of
 * the partial clone, which inherit the environment. This is the pattern Kargo and Argo CD use,
 * and the one exception the reliability notes (§1.2) accept.
 *
 * Over http(s) the same credentials also go out on the first request, so git does not pay a
 * 401 round trip (and two askpass runs) per fetch and push: an `Authorization: Basic` header
 * for the remote's URL only (`http.<remote url>.extraHeader`), passed as env-borne config
 * (GIT_CONFIG_COUNT/KEY/VALUE) in the git child's environment, as the askpass variables were:
 * never in argv, a config file or the cache repo. Its base64 form is registered with the redactor
 * with the token (Redactor.add), and git's traces redact Authorization headers. The header
 * rides on every request of that git session, so redirects are not followed for that URL
 * (`followRedirects = false`): a remote answering with a redirect fails instead of receiving
 * the token elsewhere. Askpass is then not set: a server that answers 401 to the header refused
 * the token, and git fails at once (classified as an authentication failure, one attempt).
 * Askpass remains for a token without an http(s) URL to scope the header to.
 */
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackswapError } from '../../shared/errors.ts';

/** The shipped askpass helper; its path is a constant of the installation, never configurable. */
export const ASKPASS_HELPER = fileURLToPath(new URL('../../../bin/git-askpass', import.meta.url));

/** Environment variables the askpass helper reads (set in the git child env only). */
export const ASKPASS_USERNAME_VAR = 'STACKSWAP_ASKPASS_USERNAME';
export const ASKPASS_PASSWORD_VAR = 'STACKSWAP_ASKPASS_PASSWORD';

/** Variables passed through from the parent because networks need them (proxies, CAs, agent). */
const PASS_THROUGH = [
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'SSH_AUTH_SOCK',
] as const;

export interface GitEnvironmentOptions {
  /** Private HOME (its .gitconfig is written by `preparePrivateHome`). */
  home: string;
  /** Git never searches for a repository at or above this directory. */
  ceiling: string;
  /** GIT_ALLOW_PROTOCOL entries, e.g. ["https", "ssh"]. */
  protocols: readonly string[];
  author: { name: string; email: string };
  /** https credentials for the askpass helper; omitted when no token is configured. */
  credentials?: { username: string; password: string };
  /**
   * The http(s) remote URL the credentials are for: they are then sent on the first request
   * (see above). Omitted for ssh and file remotes.
   */
  preemptiveAuthUrl?: string;
  /** Abort a transfer slower than `limitBytesPerSecond` for `seconds`. */
  lowSpeed?: { limitBytesPerSecond: number; seconds: number };
  parentEnv?: NodeJS.ProcessEnv;
}

export function buildGitEnv(options: GitEnvironmentOptions): Record<string, string> {
  const parent = options.parentEnv ?? process.env;
  const env: Record<string, string> = {
    PATH: parent.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: options.home,
    // Fixed locale: the error classifier matches git's English messages.
    LANG: 'C',
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_ALLOW_PROTOCOL: options.protocols.join(':'),
    GIT_CEILING_DIRECTORIES: options.ceiling,
    // Paths are data, never pathspec magic (":(glob)", ":(top)").
    GIT_LITERAL_PATHSPECS: '1',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_HTTP_LOW_SPEED_LIMIT: String(options.lowSpeed?.limitBytesPerSecond ?? 1000),
    GIT_HTTP_LOW_SPEED_TIME: String(options.lowSpeed?.seconds ?? 30),
    // The configured identity, not whatever the machine's git config says.
    GIT_AUTHOR_NAME: options.author.name,
    GIT_AUTHOR_EMAIL: options.author.email,
    GIT_COMMITTER_NAME: options.author.name,
    GIT_COMMITTER_EMAIL: options.author.email,
  };
  for (const name of PASS_THROUGH) {
    const value = parent[name];
    if (value) env[name] = value;
  }
  if (options.credentials) {
    const url = options.preemptiveAuthUrl;
    if (url && /^https?:\/\/[^\s@]+$/.test(url)) {
      // http(s): the header goes with every request; a server that still answers 401 refused
      // it, and git fails at once (no prompt to answer): one authenticated attempt, as before.
      const basic = Buffer.from(
        `${options.credentials.username}:${options.credentials.password}`,
      ).toString('base64');
      const config: [string, string][] = [
        [`http.${url}.extraHeader`, `Authorization: Basic ${basic}`],
        [`http.${url}.followRedirects`, 'false'],
      ];
      env.GIT_CONFIG_COUNT = String(config.length);
      config.forEach(([key, value], i) => {
        env[`GIT_CONFIG_KEY_${i}`] = key;
        env[`GIT_CONFIG_VALUE_${i}`] = value;
      });
    } else {
      env.GIT_ASKPASS = ASKPASS_HELPER;
      env[ASKPASS_USERNAME_VAR] = options.credentials.username;
      env[ASKPASS_PASSWORD_VAR] = options.credentials.password;
    }
  }
  return env;
}

/**
 * The private HOME's .gitconfig: constant settings written by stackswap itself. core.sshCommand
 * is a key git-wrapping libraries refuse on the command line, where it could carry attacker input; here its
 * value is a fixed string. With a local (file://) remote, git runs the "server" side with this
 * environment too, so nothing here may change how the remote behaves (allowing filters only
 * lets it send less): hooks are kept out of the cache repo by checking it (see CacheClone), not
 * by core.hooksPath, which would also switch off the remote's own hooks.
 */
export function privateGitConfig(options: { ssh: boolean }): string {
  const lines = [
    '# Written by stackswap; rewritten on every run. Do not edit.',
    '[core]',
    '\tfsmonitor = false',
    '\tquotePath = false',
    ...(options.ssh ? ['\tsshCommand = ssh -o BatchMode=yes'] : []),
    '[commit]',
    '\tgpgSign = false',
    '[tag]',
    '\tgpgSign = false',
    '[transfer]',
    // A URL with embedded credentials is refused outright (git >= 2.37).
    '\tcredentialsInUrl = die',
    '[credential]',
    // No helper: nothing is stored, nothing is read from a keychain.
    '\thelper =',
    '[safe]',
    '\tbareRepository = explicit',
    '[uploadpack]',
    // Only a local (file://) remote is served by a git child with this HOME: let it honour the
    // partial clone's filter, as GitLab and GitHub do.
    '\tallowFilter = true',
    '[gc]',
    '\tauto = 0',
    '[maintenance]',
    '\tauto = false',
    '[advice]',
    '\tdetachedHead = false',
    '[init]',
    '\tdefaultBranch = main',
    '',
  ];
  return lines.join('\n');
}

/** Creates the private HOME (0700) with its .gitconfig. */
export async function preparePrivateHome(home: string, options: { ssh: boolean }): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  const config = privateGitConfig(options);
  const file = path.join(home, '.gitconfig');
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === config) return;
  // Write then rename: a concurrent process never reads half a file.
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, config, { mode: 0o600 });
  await rename(tmp, file);
}

export async function assertAskpassHelperUsable(): Promise<void> {
  try {
    await access(ASKPASS_HELPER, fsConstants.X_OK);
  } catch (cause) {
    throw new StackswapError(
      'internal',
      `the git askpass helper ${ASKPASS_HELPER} is not executable`,
      {
        cause,
        hint: `reinstall stackswap, or: chmod 755 ${ASKPASS_HELPER}`,
      },
    );
  }
}
