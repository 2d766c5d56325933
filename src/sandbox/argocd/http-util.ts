/** Response writers with Argo CD's headers, and a size-capped body reader. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, GrpcCode } from './grpc-errors.ts';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** grpc-gateway forwards the gRPC response header metadata like this on every gateway answer. */
export const GATEWAY_HEADERS = { 'Grpc-Metadata-Content-Type': 'application/grpc' } as const;

/**
 * `JSON.stringify` with Go's `json.Marshal` escaping: <, >, & and U+2028/U+2029 as \uXXXX.
 * These characters only ever occur inside strings, so replacing them everywhere is safe.
 */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) {
      throw new ApiError(GrpcCode.invalidArgument, 'request body too large');
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  const payload = goJson(body);
  res.writeHead(status, {
    ...GATEWAY_HEADERS,
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

/** Go's `http.Error`: plain text, newline-terminated, nosniff. */
export function sendText(res: ServerResponse, status: number, text: string): void {
  const payload = `${text}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

export function sendError(res: ServerResponse, error: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.httpStatus, error.body());
}
