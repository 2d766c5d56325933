/**
 * Validates the config repo's remote URL before git ever sees it. Git runs programs for some URL
 * forms (`ext::`, `fd::`, any `<helper>::<address>`, an ssh host starting with "-"), and a URL
 * with credentials in it ends up in `.git/config`, logs and error messages. So only plain https
 * and ssh remotes are accepted, plus local repositories (sandbox, tests) and plaintext http
 * (tests) when explicitly allowed.
 */
import path from 'node:path';
import { ValidationError } from '../../shared/errors.ts';

export type RemoteProtocol = 'https' | 'ssh' | 'file' | 'http';

export interface RemotePolicy {
  /** Local paths and file:// URLs (the sandbox's bare repo, tests). */
  allowFileProtocol?: boolean;
  /** Plaintext http:// (tests against a local smart-HTTP server only). */
  allowInsecureHttp?: boolean;
}

export interface RemoteUrl {
  /** Exactly what git is given; free of credentials, so it may appear in messages. */
  url: string;
  protocol: RemoteProtocol;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** scp-like ssh: `[user@]host:path`, where no "/" comes before the first ":". */
const SCP_LIKE = /^(?:([^@/:]+)@)?([^@/:[\]]+|\[[0-9A-Fa-f:.]+\]):(?!\/\/)(.+)$/;
const SSH_SCHEMES = new Set(['ssh', 'git+ssh', 'ssh+git']);
const MAX_URL_LENGTH = 2048;

/** Which transports git may use at all (GIT_ALLOW_PROTOCOL), from the same policy. */
export function allowedProtocols(policy: RemotePolicy): string[] {
  return [
    'https',
    'ssh',
    ...(policy.allowFileProtocol ? ['file'] : []),
    ...(policy.allowInsecureHttp ? ['http'] : []),
  ];
}

export function parseRemoteUrl(url: string, policy: RemotePolicy): RemoteUrl {
  const reject = (problem: string, hint?: string): never => {
    throw new ValidationError(`config repo URL: ${problem}`, {
      where: { key: 'repo.url' },
      ...(hint ? { hint } : {}),
    });
  };
  if (typeof url !== 'string' || url.length === 0) return reject('is empty');
  if (url.length > MAX_URL_LENGTH) return reject(`is longer than ${MAX_URL_LENGTH} characters`);
  if (/[\0-\x1f\x7f]/.test(url)) return reject('contains a control character');
  if (url.startsWith('-')) return reject('must not start with "-"');
  if (url.includes('::')) {
    return reject(
      'transport-helper URLs ("<helper>::<address>", e.g. ext::) are not allowed',
      'use an https:// or ssh:// URL',
    );
  }

  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) return parseSchemeUrl(url, scheme, policy, reject);
  if (path.isAbsolute(url)) return localPath(url, policy, reject);

  const scp = SCP_LIKE.exec(url);
  if (scp) {
    const [, user, host, repoPath] = scp;
    if (/\s/.test(url)) return reject('must not contain whitespace');
    if ([user, host, repoPath].some((part) => part?.startsWith('-'))) {
      return reject('user, host and path must not start with "-"');
    }
    return { url, protocol: 'ssh' };
  }
  return reject(
    'is neither an https:// or ssh:// URL, nor an absolute path',
    'relative paths are resolved by the caller; pass an absolute path',
  );
}

function parseSchemeUrl(
  url: string,
  scheme: string,
  policy: RemotePolicy,
  reject: (problem: string, hint?: string) => never,
): RemoteUrl {
  if (/\s/.test(url)) return reject('must not contain whitespace');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return reject('is not a valid URL');
  }
  if (parsed.password) {
    return reject(
      'must not contain credentials',
      'pass the token through STACKSWAP_GIT_TOKEN; it never goes into the URL',
    );
  }
  if (parsed.search || parsed.hash) return reject('must not have a query string or fragment');
  if (parsed.hostname.startsWith('-') || parsed.username.startsWith('-')) {
    return reject('host and user must not start with "-"');
  }

  if (scheme === 'https' || (scheme === 'http' && policy.allowInsecureHttp)) {
    if (parsed.username) {
      return reject(
        'must not contain credentials',
        'pass the username through STACKSWAP_GIT_USERNAME; it never goes into the URL',
      );
    }
    if (!parsed.hostname) return reject('has no host');
    return { url, protocol: scheme };
  }
  if (SSH_SCHEMES.has(scheme)) {
    if (!parsed.hostname) return reject('has no host');
    return { url, protocol: 'ssh' };
  }
  if (scheme === 'file') {
    if (parsed.host && parsed.host !== 'localhost') return reject('file:// URL must be local');
    return localPath(url, policy, reject);
  }
  return reject(
    `protocol "${scheme}" is not allowed`,
    scheme === 'http'
      ? 'use https (plaintext http is accepted only for local tests)'
      : 'use https:// or ssh://',
  );
}

function localPath(
  url: string,
  policy: RemotePolicy,
  reject: (problem: string, hint?: string) => never,
): RemoteUrl {
  if (!policy.allowFileProtocol) {
    return reject(
      'local repositories are allowed only in sandbox mode',
      'use an https:// or ssh:// remote',
    );
  }
  return { url, protocol: 'file' };
}
