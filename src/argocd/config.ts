/**
 * Argo CD connection settings from the environment, with the argocd CLI's variable names so a
 * CI job that already runs `argocd` needs nothing new:
 *   ARGOCD_SERVER       https://host[:port][/root-path], or host[:port] (https unless PLAINTEXT)
 *   ARGOCD_AUTH_TOKEN   bearer token (an account or project-role API token); wins when set
 *   ARGOCD_USERNAME / ARGOCD_PASSWORD   local account; a session token is requested at first use
 *   ARGOCD_INSECURE     skip TLS certificate verification
 *   ARGOCD_PLAINTEXT    plain http (for host[:port] values)
 *   ARGOCD_APP_NAMESPACE / ARGOCD_PROJECT   defaults for `appNamespace` / `project` on app calls
 * No ARGOCD_SERVER means git-only mode: `undefined`, not an error.
 */
import { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
import type { Redactor } from '../shared/redact.ts';

export type ArgoCdAuth =
  { kind: 'token'; token: string } | { kind: 'session'; username: string; password: string };

export interface ArgoCdConfig {
  /** Scheme, host, port and optional root path, without a trailing slash. */
  baseUrl: string;
  auth: ArgoCdAuth;
  /** Skip TLS certificate verification (ARGOCD_INSECURE). */
  insecure: boolean;
  appNamespace?: string;
  project?: string;
}

const FLAG_VALUES: Record<string, boolean> = {
  '': false,
  '0': false,
  false: false,
  no: false,
  off: false,
  '1': true,
  true: true,
  yes: true,
  on: true,
};

const Flag = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const value = FLAG_VALUES[(v ?? '').trim().toLowerCase()];
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected true/false, 1/0, yes/no or on/off' });
      return z.NEVER;
    }
    return value;
  });

/** Trimmed, non-empty, or absent. A value read from a file often ends in a newline. */
const Text = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/**
 * A bearer token goes into an HTTP header: printable ASCII only. Checked here because a header
 * with a bad character makes fetch throw an error that quotes the whole header value.
 */
const HeaderSafe = Text.refine((v) => v === undefined || /^[\x21-\x7e]+$/.test(v), {
  message: 'contains spaces or non-printable characters (is it the token, and only the token?)',
});

/** Kubernetes names (DNS-1123 label) for appNamespace and project. */
const K8sName = Text.refine(
  (v) => v === undefined || /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v),
  {
    message: 'must be a Kubernetes name (lower-case letters, digits and -)',
  },
);

const ArgoCdEnv = z.object({
  ARGOCD_SERVER: Text,
  ARGOCD_AUTH_TOKEN: HeaderSafe,
  ARGOCD_USERNAME: Text,
  ARGOCD_PASSWORD: z.string().optional(),
  ARGOCD_INSECURE: Flag,
  ARGOCD_PLAINTEXT: Flag,
  ARGOCD_APP_NAMESPACE: K8sName,
  ARGOCD_PROJECT: K8sName,
});

export function argoCdConfigFromEnv(
  env: NodeJS.ProcessEnv,
  redactor: Redactor,
): ArgoCdConfig | undefined {
  // Register secrets before validation, so no message below can carry them.
  redactor.add(env.ARGOCD_AUTH_TOKEN?.trim());
  redactor.add(env.ARGOCD_PASSWORD, { username: env.ARGOCD_USERNAME });
  // Git-only mode: the other ARGOCD_* variables are not ours to judge then.
  if (!env.ARGOCD_SERVER?.trim()) return undefined;

  const parsed = ArgoCdEnv.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0]);
    throw new ValidationError(`environment variable ${key}: ${redactor.redact(issue.message)}`, {
      where: { key },
    });
  }
  const e = parsed.data;
  if (e.ARGOCD_SERVER === undefined) return undefined;

  return {
    baseUrl: serverUrl(e.ARGOCD_SERVER, e.ARGOCD_PLAINTEXT),
    auth: authFrom(e.ARGOCD_AUTH_TOKEN, e.ARGOCD_USERNAME, e.ARGOCD_PASSWORD),
    insecure: e.ARGOCD_INSECURE,
    ...(e.ARGOCD_APP_NAMESPACE ? { appNamespace: e.ARGOCD_APP_NAMESPACE } : {}),
    ...(e.ARGOCD_PROJECT ? { project: e.ARGOCD_PROJECT } : {}),
  };
}

function serverUrl(server: string, plaintext: boolean): string {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(server);
  const candidate = hasScheme ? server : `${plaintext ? 'http' : 'https'}://${server}`;
  const unusable = (why: string) =>
    new ValidationError(`environment variable ARGOCD_SERVER: ${why}`, {
      where: { key: 'ARGOCD_SERVER' },
      hint: 'use host[:port] (as for the argocd CLI) or a URL such as https://argocd.example.com',
    });
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw unusable('not a host[:port] or URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw unusable(`scheme ${url.protocol.replace(':', '')} is not http or https`);
  }
  if (url.username || url.password) {
    throw unusable('must not contain credentials; use ARGOCD_AUTH_TOKEN');
  }
  if (url.search || url.hash) throw unusable('must not contain a query or fragment');
  if (!url.hostname) throw unusable('has no host');
  if (plaintext && url.protocol === 'https:' && hasScheme) {
    throw unusable('is an https URL but ARGOCD_PLAINTEXT is set');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function authFrom(
  token: string | undefined,
  username: string | undefined,
  password: string | undefined,
): ArgoCdAuth {
  if (token !== undefined) return { kind: 'token', token };
  if (username !== undefined && password) return { kind: 'session', username, password };
  if (username !== undefined) {
    throw new ValidationError(
      'environment variable ARGOCD_PASSWORD: required with ARGOCD_USERNAME',
      {
        where: { key: 'ARGOCD_PASSWORD' },
      },
    );
  }
  throw new ValidationError(
    'ARGOCD_SERVER is set but there are no Argo CD credentials: set ARGOCD_AUTH_TOKEN (or ARGOCD_USERNAME and ARGOCD_PASSWORD)',
    {
      where: { key: 'ARGOCD_AUTH_TOKEN' },
      hint: 'create a token with `argocd account generate-token --account <name>`; unset ARGOCD_SERVER for git-only runs',
    },
  );
}
