/**
 * Errors as Argo CD's REST gateway (grpc-gateway v1.16 `DefaultHTTPError`) returns them: a gRPC
 * status code mapped to an HTTP status, and the body `{"error", "code", "message"}` where
 * `error` and `message` are the same string. Streams that fail after their first message carry
 * `{"error": {"grpc_code", "http_code", "message", "http_status"}}` instead.
 */

export const GrpcCode = {
  unknown: 2,
  invalidArgument: 3,
  notFound: 5,
  permissionDenied: 7,
  failedPrecondition: 9,
  aborted: 10,
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** `HTTPStatusFromCode` of grpc-gateway v1.16 (FailedPrecondition is 400, not 412). */
const HTTP_STATUS: Record<GrpcCode, number> = {
  2: 500,
  3: 400,
  5: 404,
  7: 403,
  9: 400,
  10: 409,
  13: 500,
  14: 503,
  16: 401,
};

const HTTP_STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export class ApiError extends Error {
  readonly code: GrpcCode;

  constructor(code: GrpcCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  /** The unary error body, keys in grpc-gateway's order. */
  body(): { error: string; code: number; message: string } {
    return { error: this.message, code: this.code, message: this.message };
  }

  /** The in-band error chunk of a stream (`runtimeStreamError`). */
  streamBody(): {
    error: { grpc_code: number; http_code: number; message: string; http_status: string };
  } {
    const http = this.httpStatus;
    return {
      error: {
        grpc_code: this.code,
        http_code: http,
        message: this.message,
        http_status: HTTP_STATUS_TEXT[http] ?? '',
      },
    };
  }
}

export const permissionDenied = () => new ApiError(GrpcCode.permissionDenied, 'permission denied');

export const appNotFound = (name: string) =>
  new ApiError(GrpcCode.notFound, `applications.argoproj.io "${name}" not found`);

export const anotherOperationInProgress = () =>
  new ApiError(GrpcCode.failedPrecondition, 'another operation is already in progress');

export const noSession = () => new ApiError(GrpcCode.unauthenticated, 'no session information');

/** Any non-status error reaches the client as code 2 Unknown (HTTP 500), as in Argo CD. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(GrpcCode.unknown, error instanceof Error ? error.message : String(error));
}
