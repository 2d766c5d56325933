/**
 * How a forge (GitLab, GitHub) failed, in one vocabulary for both. Every failure leaving
 * src/forges is a ForgeError: `kind` says what happened (the caller branches on it), `code`
 * (from src/shared/errors.ts) decides the exit code and HTTP status. Messages name the forge,
 * the call and what to do; they never carry a token (the caller's Redactor scrubs the rest).
 */
import { StackswapError, type ErrorCode } from '../shared/errors.ts';

export type ForgeName = 'gitlab' | 'github';

export const FORGE_TITLE: Record<ForgeName, string> = { gitlab: 'GitLab', github: 'GitHub' };

export type ForgeFailureKind =
  /** 5xx or a refused/broken connection, still failing when the retry budget ran out. */
  | 'unavailable'
  /** 429, or GitHub's 403 with x-ratelimit-remaining: 0 or a secondary rate limit. */
  | 'rate-limited'
  /** No answer within the per-call timeout. */
  | 'timeout'
  /** 401: the token is missing, wrong or expired. Never retried. */
  | 'auth'
  /** 403: the token lacks a scope or permission (named in the message when the forge says). */
  | 'forbidden'
  | 'not-found'
  /** 409: e.g. the MR/PR head moved away from the SHA a merge was pinned to. */
  | 'conflict'
  /** 405/406/422 on a merge: draft, closed, conflicts, pipeline pending or failed. */
  | 'not-mergeable'
  /** Another 4xx: the forge refused the request as invalid. */
  | 'rejected'
  /** The forge answered 2xx with a body we cannot read. */
  | 'bad-response';

const CODE_BY_KIND: Record<ForgeFailureKind, ErrorCode> = {
  unavailable: 'remote-unreachable',
  'rate-limited': 'remote-unreachable',
  timeout: 'remote-unreachable',
  auth: 'auth',
  forbidden: 'forbidden',
  'not-found': 'not-found',
  conflict: 'conflict',
  'not-mergeable': 'precondition',
  rejected: 'remote-unreachable',
  'bad-response': 'remote-unreachable',
};

export interface ForgeErrorDetails {
  forge: ForgeName;
  kind: ForgeFailureKind;
  /** e.g. "PUT /projects/:id/merge_requests/:iid/merge" or "pulls.merge". */
  call?: string;
  status?: number;
  attempts?: number;
  /** The scope (GitLab) or scopes/permissions (GitHub) the call needs, when the forge says. */
  neededScope?: string;
  /** For rate limits: when the forge says the limit resets (ms since the epoch). */
  resetAt?: number;
}

export class ForgeError extends StackswapError {
  readonly forge: ForgeName;
  readonly kind: ForgeFailureKind;
  readonly status: number | undefined;
  readonly neededScope: string | undefined;

  constructor(
    details: ForgeErrorDetails,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(CODE_BY_KIND[details.kind], message, {
      ...options,
      details: { ...details } as unknown as Record<string, unknown>,
    });
    this.name = 'ForgeError';
    this.forge = details.forge;
    this.kind = details.kind;
    this.status = details.status;
    this.neededScope = details.neededScope;
  }
}

export function isForgeError(e: unknown, kind?: ForgeFailureKind): e is ForgeError {
  return e instanceof ForgeError && (kind === undefined || e.kind === kind);
}

/** A response header by name, case-insensitively, from a Headers or a plain record. */
export function header(
  headers: Headers | Record<string, string | number | undefined> | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === wanted && v !== undefined) return String(v);
  }
  return undefined;
}

/** The message a forge put in an error body: GitLab `message`/`error`, GitHub `message`. */
export function bodyMessage(body: unknown): string {
  if (typeof body === 'string') return body.slice(0, 500);
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    for (const key of ['message', 'error_description', 'error']) {
      const v = b[key];
      if (typeof v === 'string' && v) return v.slice(0, 500);
      if (v && typeof v === 'object') return JSON.stringify(v).slice(0, 500);
    }
  }
  return '';
}

/** GitLab: `WWW-Authenticate: Bearer ... error="insufficient_scope" ... scope="api"`, or the body. */
function gitlabNeededScope(headers: Headers, body: unknown): string | undefined {
  const auth = headers.get('www-authenticate') ?? '';
  const fromHeader = /scope="([^"]+)"/.exec(auth)?.[1];
  if (fromHeader) return fromHeader;
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (b.error === 'insufficient_scope' && typeof b.scope === 'string') return b.scope;
  }
  return undefined;
}

/**
 * GitHub: classic tokens get `x-accepted-oauth-scopes` (what the call needs) and `x-oauth-scopes`
 * (what the token has); fine-grained tokens and Apps get `x-accepted-github-permissions`.
 */
function githubNeededScope(headers: Headers): { needed?: string; has?: string } {
  const accepted = headers.get('x-accepted-oauth-scopes')?.trim();
  const permissions = headers.get('x-accepted-github-permissions')?.trim();
  const has = headers.get('x-oauth-scopes')?.trim();
  const needed = accepted || permissions || undefined;
  return { ...(needed ? { needed } : {}), ...(has !== undefined ? { has } : {}) };
}

const SCOPE_HINT: Record<ForgeName, string> = {
  gitlab:
    'use a project, group or personal access token with the `api` scope (read_repository is not enough for notes, statuses and merges) and at least the Developer role',
  github:
    'a classic token needs `repo` (or `public_repo` and `repo:status`); a fine-grained token or App needs Pull requests: write, Commit statuses: write, Contents: read (write to merge)',
};

/**
 * Turns a final (not retried, or out of retries) HTTP error answer into a ForgeError.
 * `mergeCall` marks merge endpoints, where 405/406/422 mean "not mergeable".
 */
export function classifyHttpError(
  forge: ForgeName,
  call: string,
  status: number,
  headers: Headers,
  body: unknown,
  options: { mergeCall?: boolean; attempts?: number } = {},
): ForgeError {
  const title = FORGE_TITLE[forge];
  const said = bodyMessage(body);
  const saying = said ? `: ${said}` : '';
  const base = { forge, call, status, ...(options.attempts ? { attempts: options.attempts } : {}) };
  if (status === 401) {
    return new ForgeError(
      { ...base, kind: 'auth' },
      `${title} refused the token (401) for ${call}${saying}`,
      {
        hint: `check STACKSWAP_${forge.toUpperCase()}_TOKEN: it is missing, wrong, expired or revoked`,
      },
    );
  }
  if (status === 403) {
    if (forge === 'gitlab') {
      const scope = gitlabNeededScope(headers, body);
      const insufficient =
        scope !== undefined || /insufficient_scope/.test(headers.get('www-authenticate') ?? '');
      return new ForgeError(
        { ...base, kind: 'forbidden', ...(scope ? { neededScope: scope } : {}) },
        insufficient
          ? `GitLab: the token lacks the scope ${scope ? `\`${scope}\`` : 'it needs'} for ${call} (403 insufficient_scope)`
          : `GitLab refused ${call} (403): the token's user lacks the permission${saying}`,
        { hint: SCOPE_HINT.gitlab },
      );
    }
    const { needed, has } = githubNeededScope(headers);
    const hasText = has !== undefined ? `; the token has ${has ? `\`${has}\`` : 'no scopes'}` : '';
    return new ForgeError(
      { ...base, kind: 'forbidden', ...(needed ? { neededScope: needed } : {}) },
      needed
        ? `GitHub: ${call} needs \`${needed}\`${hasText} (403)${saying}`
        : `GitHub refused ${call} (403)${hasText}${saying}`,
      { hint: SCOPE_HINT.github },
    );
  }
  if (status === 404) {
    return new ForgeError(
      { ...base, kind: 'not-found' },
      `${title}: not found (404) for ${call}${saying}`,
      {
        hint: 'check the project/repository path and number; private projects answer 404 to tokens that cannot see them',
      },
    );
  }
  if (status === 409) {
    return new ForgeError(
      { ...base, kind: 'conflict' },
      `${title}: conflict (409) for ${call}${saying}`,
    );
  }
  if (options.mergeCall && (status === 405 || status === 406 || status === 422)) {
    return new ForgeError(
      { ...base, kind: 'not-mergeable' },
      `${title}: not mergeable (${status}) for ${call}${saying}`,
    );
  }
  if (status === 429) {
    return new ForgeError(
      { ...base, kind: 'rate-limited' },
      `${title} rate limit (429) for ${call}${saying}`,
    );
  }
  if (status >= 500) {
    return new ForgeError(
      { ...base, kind: 'unavailable' },
      `${title} answered ${status} for ${call}${options.attempts ? ` after ${options.attempts} attempts` : ''}${saying}`,
    );
  }
  return new ForgeError(
    { ...base, kind: 'rejected' },
    `${title} refused ${call} (${status})${saying}`,
  );
}
