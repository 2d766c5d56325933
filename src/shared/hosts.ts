/**
 * The SSRF guard for everything stackswap calls out to (HTTP checks, hooks, notifications): a URL (after templating) is reached only when it is http or
 * https, has no credentials, and its host (and port, when the pattern gives one) matches an
 * allowed pattern: an exact name, `*.suffix` (one or more labels), or an IP literal.
 * Redirects are never followed by any caller, so an allowed host cannot hand us on.
 */
export interface HostPattern {
  host: string;
  wildcard: boolean;
  port: string | undefined;
}

export function parseHostPattern(text: string): HostPattern | string {
  const match = /^(\*\.)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}|\*))?$/.exec(text.trim());
  if (!match) return `"${text}" is not a host pattern (name, *.suffix, optionally :port)`;
  const port = match[3] === '*' ? undefined : match[3];
  return { host: match[2]!.toLowerCase(), wildcard: match[1] !== undefined, port };
}

export type UrlVerdict = { ok: true; url: URL } | { ok: false; reason: string };

export function checkUrl(
  text: string,
  allowed: readonly HostPattern[],
  /** The setting that lists the allowed hosts, for the error message. */
  listName = 'verification.allowedHosts',
): UrlVerdict {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: `"${text}" is not a URL` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: `only http and https are allowed, not ${url.protocol}` };
  }
  if (url.username || url.password) {
    return { ok: false, reason: 'credentials in the URL are not allowed (use headers)' };
  }
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const fits = allowed.some((p) => {
    const hostFits = p.wildcard ? host.endsWith(`.${p.host}`) : host === p.host;
    return hostFits && (p.port === undefined || p.port === port);
  });
  if (!fits) {
    return {
      ok: false,
      reason: `host ${url.host} is not in ${listName} (${allowed.map(show).join(', ') || 'none'})`,
    };
  }
  return { ok: true, url };
}

function show(p: HostPattern): string {
  return `${p.wildcard ? '*.' : ''}${p.host}${p.port ? `:${p.port}` : ''}`;
}
