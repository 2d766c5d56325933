/**
 * How Argo CD's answers become stackswap errors, and the few Argo CD refusals the sync logic
 * acts on. Argo CD's error body is grpc-gateway's `{error, code, message}` where `code` is the
 * gRPC code; the gateway's own refusals (unknown route, content type) are plain text.
 */
import { StackswapError, type ErrorOptions } from '../shared/errors.ts';

/** gRPC codes that matter here (HTTP mapping in parentheses). */
export const GrpcCode = {
  invalidArgument: 3, // 400
  notFound: 5, // 404
  permissionDenied: 7, // 403
  failedPrecondition: 9, // 400 (not 412)
  aborted: 10, // 409
  unavailable: 14, // 503
  unauthenticated: 16, // 401
} as const;

/** An error answer from Argo CD (code 'argocd-error' unless a subclass of meaning applies). */
export class ArgoCdApiError extends StackswapError {
  constructor(
    message: string,
    readonly status: number,
    /** Argo CD's own message (redacted), or the plain-text body for non-gateway answers. */
    readonly argocdMessage: string,
    /** The gRPC code from the JSON body; undefined when the body was not a gateway error. */
    readonly grpcCode: number | undefined,
    options: ErrorOptions & { code?: ConstructorParameters<typeof StackswapError>[0] } = {},
  ) {
    super(options.code ?? 'argocd-error', message, {
      ...options,
      details: { status, ...(grpcCode === undefined ? {} : { grpcCode }), ...options.details },
    });
    this.name = 'ArgoCdApiError';
  }

  /** The gateway answered "no such route": not Argo CD's API, or an endpoint it lacks. */
  get isRouteMissing(): boolean {
    return this.grpcCode === undefined && [404, 405, 501].includes(this.status);
  }
}

/** A watch stream ended with an in-band error or a message we could not parse. */
export class ArgoCdStreamError extends StackswapError {
  constructor(
    message: string,
    readonly httpCode: number | undefined,
    options: ErrorOptions = {},
  ) {
    super('argocd-unavailable', message, options);
    this.name = 'ArgoCdStreamError';
  }
}

/** 400 FailedPrecondition `another operation is already in progress` (util/argo/argo.go). */
export function isOperationInProgress(e: unknown): e is ArgoCdApiError {
  return (
    e instanceof ArgoCdApiError &&
    (e.status === 400 || e.grpcCode === GrpcCode.failedPrecondition) &&
    /another operation is already in progress/i.test(e.argocdMessage)
  );
}

/** 400 `Cannot sync to <rev>: auto-sync currently set to <target>`. */
export function isAutoSyncRefusal(e: unknown): e is ArgoCdApiError {
  return (
    e instanceof ArgoCdApiError &&
    (e.status === 400 || e.grpcCode === GrpcCode.failedPrecondition) &&
    /auto-sync currently set to/i.test(e.argocdMessage)
  );
}

/**
 * 403 `permission denied: applications, override, <project>/<app>, sub: ...`: a revision other
 * than targetRevision needs `override` when argocd-cm sets
 * `application.sync.requireOverridePrivilegeForRevisionSync: "true"`.
 */
export function isOverrideRefusal(e: unknown): e is ArgoCdApiError {
  return (
    e instanceof ArgoCdApiError &&
    (e.status === 403 || e.grpcCode === GrpcCode.permissionDenied) &&
    /permission denied: applications, override,/i.test(e.argocdMessage)
  );
}

/** 403 `cannot sync: blocked by sync window` (server/application/application.go ~2096). */
export function isSyncWindowRefusal(e: unknown): e is ArgoCdApiError {
  return (
    e instanceof ArgoCdApiError &&
    (e.status === 403 || e.grpcCode === GrpcCode.permissionDenied) &&
    /blocked by sync window/i.test(e.argocdMessage)
  );
}
