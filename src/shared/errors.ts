/**
 * One error taxonomy for the whole tool. Every failure a user can meet is a StackswapError with
 * a stable `code`; the CLI maps it to an exit code and the HTTP service to a status, in one
 * place each (see `exitCodeOf` / `httpStatusOf`). Messages must never contain secrets: callers
 * pass text through the Redactor before it reaches an error.
 */

/** Process exit codes. Documented in README.md ("Exit codes"); never renumber. */
export const ExitCode = {
  ok: 0,
  /** The operation ran and failed (e.g. Argo CD reported the sync Failed or the app Degraded). */
  failure: 1,
  /** Bad command line, bad config file, bad plan, bad values file: nothing was changed. */
  usage: 2,
  /** Somebody else changed the stack meanwhile (precondition no longer holds), or retries ran out. */
  conflict: 3,
  /** Waited longer than --timeout; what was last seen is in the message. */
  timeout: 4,
  /** Credentials were refused (git remote or Argo CD). Never retried. */
  auth: 5,
  /** The operation refuses to run in the current state (e.g. swap to an unhealthy preview). */
  precondition: 6,
  /** The git remote is unreachable or refused the push for a reason other than a race. */
  remote: 7,
  /** Argo CD is unreachable or answered with an error we cannot act on. */
  argocd: 8,
  /** Verification failed; the release was stopped (nothing changed, or weight back to 0) or rolled back. */
  verification: 9,
  /** Verification failed and the automatic rollback failed too: traffic may still be on the bad colour. */
  rollbackFailed: 10,
  /** Verification was interrupted before it reached a verdict: the release is not verified. */
  verificationInterrupted: 11,
  /** A lifecycle hook vetoed the operation (or timed out with onTimeout: fail); nothing half-done. */
  hookVetoed: 12,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | 'usage'
  | 'validation'
  | 'not-found'
  | 'conflict'
  | 'retries-exhausted'
  | 'precondition'
  | 'timeout'
  | 'auth'
  | 'forbidden'
  | 'remote-unreachable'
  | 'push-rejected'
  | 'argocd-unavailable'
  | 'argocd-error'
  /**
   * Argo CD answered 403 (or 404 with a project) for an application: it does not exist or the
   * token may not see it, and Argo CD will not say which. An Argo CD error, not bad input: an
   * operation may already have pushed its commit when it meets this.
   */
  | 'argocd-forbidden'
  | 'operation-failed'
  | 'degraded'
  /** A verification gate failed; the release was stopped or rolled back (details say which). */
  | 'verification-failed'
  /** A gate failed and the rollback it triggered failed: traffic may be on the bad colour. */
  | 'rollback-failed'
  /** A gate was interrupted before its verdict: never reported as passed. */
  | 'verification-interrupted'
  /** deploy/swap of a version set recorded as rejected (src/core/rejected.ts), without force. */
  | 'release-rejected'
  /** A lifecycle hook answered fail (or timed out with onTimeout: fail): the operation stopped. */
  | 'hook-vetoed'
  | 'internal';

export interface ErrorOptions {
  /** Where the problem is: a file (relative to the config repo), a key path, a line. */
  where?: { file?: string; key?: string; line?: number };
  /** What the user can do about it, one sentence. */
  hint?: string;
  cause?: unknown;
  /** Structured detail for `--output json` and HTTP error bodies (never secrets). */
  details?: Record<string, unknown>;
}

const EXIT_BY_CODE: Record<ErrorCode, ExitCode> = {
  usage: ExitCode.usage,
  validation: ExitCode.usage,
  'not-found': ExitCode.usage,
  conflict: ExitCode.conflict,
  'retries-exhausted': ExitCode.conflict,
  precondition: ExitCode.precondition,
  timeout: ExitCode.timeout,
  auth: ExitCode.auth,
  forbidden: ExitCode.auth,
  'remote-unreachable': ExitCode.remote,
  'push-rejected': ExitCode.remote,
  'argocd-unavailable': ExitCode.argocd,
  'argocd-error': ExitCode.argocd,
  'argocd-forbidden': ExitCode.argocd,
  'operation-failed': ExitCode.failure,
  degraded: ExitCode.failure,
  'verification-failed': ExitCode.verification,
  'rollback-failed': ExitCode.rollbackFailed,
  'verification-interrupted': ExitCode.verificationInterrupted,
  'release-rejected': ExitCode.precondition,
  'hook-vetoed': ExitCode.hookVetoed,
  internal: ExitCode.failure,
};

const HTTP_BY_CODE: Record<ErrorCode, number> = {
  usage: 400,
  validation: 400,
  'not-found': 404,
  conflict: 409,
  'retries-exhausted': 409,
  precondition: 412,
  timeout: 504,
  auth: 502,
  forbidden: 502,
  'remote-unreachable': 502,
  'push-rejected': 502,
  'argocd-unavailable': 502,
  'argocd-error': 502,
  'argocd-forbidden': 502,
  'operation-failed': 500,
  degraded: 500,
  'verification-failed': 422,
  'rollback-failed': 500,
  'verification-interrupted': 503,
  'release-rejected': 412,
  'hook-vetoed': 422,
  internal: 500,
};

export class StackswapError extends Error {
  readonly code: ErrorCode;
  readonly where: ErrorOptions['where'];
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StackswapError';
    this.code = code;
    this.where = options.where;
    this.hint = options.hint;
    this.details = options.details;
  }

  get exitCode(): ExitCode {
    return EXIT_BY_CODE[this.code];
  }

  get httpStatus(): number {
    return HTTP_BY_CODE[this.code];
  }

  /** "file:line: key: message" — the form editors and CI logs make clickable. */
  describe(): string {
    const w = this.where;
    const location = w?.file ? `${w.file}${w.line ? `:${w.line}` : ''}: ` : '';
    const key = w?.key ? `${w.key}: ` : '';
    const hint = this.hint ? `\n  hint: ${this.hint}` : '';
    return `${location}${key}${this.message}${hint}`;
  }

  /**
   * Context added while the error propagates, by a caller that knows more than the thrower
   * (e.g. "the commit is already pushed"): appends `hint` to the hint and merges `details`.
   * Class, code, message and exit code stay as they are; adding the same hint twice is a no-op.
   * Returns the error, so callers can `throw e.addContext(...)`.
   */
  addContext(context: { hint?: string; details?: Record<string, unknown> }): this {
    const { hint, details } = context;
    const extended = {
      hint:
        hint === undefined || this.hint?.includes(hint)
          ? this.hint
          : this.hint
            ? `${this.hint}; ${hint}`
            : hint,
      details: details === undefined ? this.details : { ...this.details, ...details },
    };
    // hint and details are readonly to everyone else; this is the one place that extends them.
    Object.assign(this, extended);
    return this;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.where ? { where: this.where } : {}),
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** Bad input (config, plan, values file, command line). Nothing was changed. */
export class ValidationError extends StackswapError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('validation', message, options);
    this.name = 'ValidationError';
  }
}

export class UsageError extends StackswapError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('usage', message, options);
    this.name = 'UsageError';
  }
}

/** The state changed under us and the operation's preconditions no longer hold. */
export class ConflictError extends StackswapError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('conflict', message, options);
    this.name = 'ConflictError';
  }
}

/** The operation refuses to run in the current state. */
export class PreconditionError extends StackswapError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('precondition', message, options);
    this.name = 'PreconditionError';
  }
}

export class TimeoutError extends StackswapError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('timeout', message, options);
    this.name = 'TimeoutError';
  }
}

export class AuthError extends StackswapError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('auth', message, options);
    this.name = 'AuthError';
  }
}

export function isStackswapError(e: unknown): e is StackswapError {
  return e instanceof StackswapError;
}

export function exitCodeOf(e: unknown): ExitCode {
  return isStackswapError(e) ? e.exitCode : ExitCode.failure;
}

export function httpStatusOf(e: unknown): number {
  return isStackswapError(e) ? e.httpStatus : 500;
}

export function messageOf(e: unknown): string {
  if (isStackswapError(e)) return e.describe();
  if (e instanceof Error) return e.message;
  return String(e);
}
