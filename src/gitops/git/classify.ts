/**
 * Turns git's failure text into the error taxonomy, in one place. Git runs with LC_ALL=C, so the
 * English wordings below are stable. The push classifier decides the retry policy: only a lost
 * compare-and-swap (the remote moved) and a transfer cut off mid-push (it may or may not have
 * landed) are retried, each from a fresh fetch; auth, permission, policy and hook rejections are
 * terminal. Callers pass text that has already been through the Redactor.
 */
import { AuthError, StackswapError } from '../../shared/errors.ts';

/**
 * A rejected compare-and-swap, in every wording seen from git, GitHub, GitLab and go-git
 * servers: `[rejected] (fetch first)`, `(non-fast-forward)`, `(stale info)`, and server-side
 * ref-update races `[remote rejected] (cannot lock ref …)`, `(incorrect old value provided)`,
 * `(failed to update ref)`, `(reference already exists)`, and go-git's `(object not found)`
 * (Gitea/Forgejo go-git builds). "object not found" counts only as a ref status or as the
 * remote's unpack status of this push, never as free text: elsewhere it is a local problem.
 */
const RACE_STATUS =
  /\[(?:remote )?rejected\][^\n]*\((?:fetch first|non-fast-forward|stale info|cannot lock ref[^\n]*|incorrect old value provided|failed to update ref|reference already exists|object not found)\)/i;
const RACE_DETAIL =
  /cannot lock ref '[^'\n]*': is at [0-9a-f]+ but expected [0-9a-f]+|incorrect old value provided|Updates were rejected because the (?:remote contains work|tip of your current branch is behind)|remote unpack failed: object not found/i;

/** Server policy: branch protection, rulesets, hooks. Terminal. */
const HOOK_DECLINED = /\[remote rejected\][^\n]*\([^)\n]*hook declined\)/i;
const PROTECTED =
  /protected branch|GH006|GH013|not allowed to (?:force )?push code to protected|Changes must be made through a pull request|repository rule violations?/i;
const ANY_REJECTION = /\[(?:remote )?rejected\]/i;

const NO_CREDENTIALS = /could not read (?:Username|Password)|terminal prompts disabled/i;
const AUTH_FAILED =
  /Authentication failed|HTTP Basic: Access denied|Invalid username or password|returned error: 401|Permission denied \(publickey|Bad credentials|invalid credentials/i;
const FORBIDDEN =
  /returned error: 403|Permission to \S+ denied|You are not allowed to (?:push code to this project|download code)|insufficient (?:scope|permission)/i;
const NOT_FOUND_REMOTE =
  /Repository not found|repository '[^'\n]*' does not exist|does not appear to be a git repository|returned error: 404|project you were looking for could not be found/i;
const MISSING_BRANCH =
  /Remote branch \S+ not found in upstream|couldn't find remote ref|fatal: invalid refspec/i;
const UNREACHABLE =
  /Could not resolve host|Could not resolve hostname|Failed to connect|Connection refused|Connection timed out|Connection reset|Operation timed out|timed out after|Network is unreachable|No route to host|unable to access|Could not read from remote repository|returned error: 5\d\d|Host key verification failed|SSL certificate problem|server certificate verification failed|the remote end hung up unexpectedly|early EOF|RPC failed|unexpected disconnect|Empty reply from server|block timeout reached|transfer rate .* below|too slow/i;

export interface GitFailureContext {
  /** "clone", "fetch", "push", … */
  operation: string;
  /** The remote URL (credential-free by validation). */
  remote: string;
  branch: string;
  /** Credentials went with the request (an Authorization header): a prompt means refused. */
  sentCredentials?: boolean;
}

export type PushFailure =
  /** The remote moved: fetch, re-run the attempt, push again. */
  | { kind: 'race' }
  /**
   * The connection failed mid-push or the server answered 5xx; the ref may have been updated.
   * The next fetch tells. `error` is what to report if it keeps failing.
   */
  | { kind: 'maybe-landed'; reason: string; error: StackswapError }
  | { kind: 'terminal'; error: StackswapError };

export function classifyPushFailure(text: string, ctx: GitFailureContext): PushFailure {
  const remoteError = classifyCredentialFailure(text, ctx);
  if (remoteError) return { kind: 'terminal', error: remoteError };
  if (HOOK_DECLINED.test(text) || (ANY_REJECTION.test(text) && PROTECTED.test(text))) {
    return { kind: 'terminal', error: pushRejected(text, ctx) };
  }
  if (RACE_STATUS.test(text) || RACE_DETAIL.test(text)) return { kind: 'race' };
  if (ANY_REJECTION.test(text)) return { kind: 'terminal', error: pushRejected(text, ctx) };
  if (NOT_FOUND_REMOTE.test(text)) return { kind: 'terminal', error: remoteNotFound(ctx) };
  if (UNREACHABLE.test(text)) {
    return {
      kind: 'maybe-landed',
      reason: firstMeaningfulLine(text),
      error: unreachable(text, ctx),
    };
  }
  return {
    kind: 'terminal',
    error: new StackswapError(
      'push-rejected',
      `git push to ${ctx.remote} (${ctx.branch}) failed: ${firstMeaningfulLine(text)}`,
      { details: { git: gitLines(text) } },
    ),
  };
}

/**
 * Classifies a failed clone/fetch/ls-remote: the remote's fault or ours to fix in config.
 * Undefined means the failure looks local (a corrupt or locked clone): the caller re-clones.
 */
export function classifyRemoteFailure(
  text: string,
  ctx: GitFailureContext,
): StackswapError | undefined {
  const credentialError = classifyCredentialFailure(text, ctx);
  if (credentialError) return credentialError;
  if (NOT_FOUND_REMOTE.test(text)) return remoteNotFound(ctx);
  if (MISSING_BRANCH.test(text)) {
    return new StackswapError('not-found', `branch ${ctx.branch} does not exist in ${ctx.remote}`, {
      where: { key: 'repo.branch' },
      hint: 'create the branch in the config repo, or pass --branch',
    });
  }
  if (UNREACHABLE.test(text)) return unreachable(text, ctx);
  return undefined;
}

export function unreachable(text: string, ctx: GitFailureContext): StackswapError {
  const stalled = /block timeout reached/i.test(text);
  return new StackswapError(
    'remote-unreachable',
    stalled
      ? `git ${ctx.operation} from ${ctx.remote} stalled (no progress before the timeout)`
      : `git ${ctx.operation}: cannot reach ${ctx.remote}: ${firstMeaningfulLine(text)}`,
    {
      hint: 'check the URL, the network and any proxy; retry when the remote is back',
      details: { git: gitLines(text) },
    },
  );
}

function classifyCredentialFailure(
  text: string,
  ctx: GitFailureContext,
): StackswapError | undefined {
  if (NO_CREDENTIALS.test(text) && !ctx.sentCredentials) {
    return new AuthError(
      `git ${ctx.operation}: ${ctx.remote} asked for credentials and none are configured`,
      { hint: 'set STACKSWAP_GIT_TOKEN (and STACKSWAP_GIT_USERNAME if the host needs one)' },
    );
  }
  if (AUTH_FAILED.test(text) || (ctx.sentCredentials && NO_CREDENTIALS.test(text))) {
    return new AuthError(`git authentication failed for ${ctx.remote}`, {
      hint: 'check the token scope and expiry; stackswap does not retry authentication failures',
    });
  }
  if (FORBIDDEN.test(text)) {
    return new StackswapError(
      'forbidden',
      `git ${ctx.operation}: ${ctx.remote} refused access (permission denied)`,
      { hint: 'the credentials are valid but lack access; check the token scope / project role' },
    );
  }
  return undefined;
}

function pushRejected(text: string, ctx: GitFailureContext): StackswapError {
  const messages = remoteMessages(text);
  const protectedBranch = PROTECTED.test(text);
  const headline = protectedBranch
    ? `push refused by branch protection on ${ctx.branch}`
    : `push to ${ctx.branch} refused by the remote (${refStatusReason(text) ?? 'rejected'})`;
  return new StackswapError(
    'push-rejected',
    messages.length > 0 ? `${headline}: ${messages.join(' | ')}` : headline,
    {
      hint: protectedBranch
        ? 'stackswap needs a token allowed to push to this branch, or a merge-request flow'
        : 'the remote (a hook or a policy) refused the commit; see its message',
      details: {
        remote: ctx.remote,
        branch: ctx.branch,
        remoteMessages: messages,
        // Read by the merge-request fallback (promotion.viaMergeRequest: fallback).
        ...(protectedBranch ? { protectedBranch: true } : {}),
      },
    },
  );
}

/** A push refused by branch protection (not another hook or policy): the MR fallback's cue. */
export function isProtectedBranchRejection(e: unknown): boolean {
  return (
    e instanceof StackswapError && e.code === 'push-rejected' && e.details?.protectedBranch === true
  );
}

function remoteNotFound(ctx: GitFailureContext): StackswapError {
  return new StackswapError(
    'remote-unreachable',
    `git ${ctx.operation}: no repository at ${ctx.remote} (or no access to it)`,
    { where: { key: 'repo.url' }, hint: 'check the config repo URL and the token’s access' },
  );
}

/** The lines a server hook or policy printed (`remote: …`), without git's own noise. */
export function remoteMessages(text: string): string[] {
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const m = /^remote:\s?(.*)$/.exec(raw.replace(/\r/g, ''));
    if (!m) continue;
    // Strip terminal escapes and the padding git adds to clear the progress line.
    const line = m[1]!.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trimEnd();
    if (line.trim() === '' || /^(?:Counting|Compressing|Resolving|Total|Writing)/.test(line))
      continue;
    lines.push(line.trim());
  }
  return lines.slice(0, 20);
}

function refStatusReason(text: string): string | undefined {
  return /\[(?:remote )?rejected\][^\n]*\(([^)\n]*)\)/i.exec(text)?.[1];
}

function firstMeaningfulLine(text: string): string {
  const lines = gitLines(text);
  return (
    lines.find((l) => /^(?:fatal|error):/.test(l))?.replace(/^(?:fatal|error):\s*/, '') ??
    lines[0] ??
    'unknown error'
  );
}

/** Git's output as trimmed non-empty lines, hints dropped, capped (for error details). */
export function gitLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r/g, '').trim())
    .filter((l) => l.length > 0 && !l.startsWith('hint:'))
    .slice(0, 30);
}
