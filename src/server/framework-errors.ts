/**
 * Requests refused before any route runs, in the service's error shape with the API's security
 * headers, and never echoing the request (a caller may have put a credential in the path):
 *
 * - fastify's router refusals (`frameworkErrors`): a malformed percent-encoding
 *   (FST_ERR_BAD_URL), a path parameter over the length limit (FST_ERR_MAX_PARAM_LENGTH);
 * - Node's HTTP parser refusals (`clientErrorHandler`, the server's 'clientError' event): raw
 *   bytes the parser does not take, headers over 16 KiB, a Content-Length that is not a
 *   number, a request that did not arrive within the request timeout. These never reach
 *   fastify: the answer is written on the socket, which is then closed (the parser cannot tell
 *   where the next request would start).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HeaderSet } from './security-headers.ts';

interface Refusal {
  status: number;
  code: string;
  message: string;
}

const ROUTER_REFUSALS: Record<string, Refusal> = {
  FST_ERR_BAD_URL: {
    status: 400,
    code: 'bad-url',
    message: 'the request path is not valid (malformed percent-encoding)',
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: 'uri-too-long',
    message: 'a path segment is longer than the service accepts',
  },
};

/** Node's llhttp error codes (and its request timeout) to an answer. */
export function parserRefusal(code: string | undefined): Refusal {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: 'request-timeout',
        message: 'the request did not arrive in time',
      };
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: 'headers-too-large',
        message: 'the request headers are larger than the service accepts (16 KiB)',
      };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return {
        status: 400,
        code: 'invalid-content-length',
        message: 'the Content-Length header is not a valid length',
      };
    case 'HPE_INVALID_URL':
      return {
        status: 400,
        code: 'bad-url',
        message:
          'the request target is not a valid URL (only ASCII is allowed; percent-encode the rest)',
      };
    default:
      return { status: 400, code: 'bad-request', message: 'the HTTP request could not be parsed' };
  }
}

export function errorJson(refusal: Refusal): string {
  return JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
}

/** fastify's `frameworkErrors` option: router refusals, through the reply (hooks did not run). */
export function frameworkErrorHandler(headers: HeaderSet) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const refusal = ROUTER_REFUSALS[error.code] ?? {
      status: 400,
      code: 'bad-request',
      message: 'the request could not be routed',
    };
    request.log.info({ code: refusal.code, status: refusal.status }, 'request refused');
    void reply
      .code(refusal.status)
      .headers(headers)
      .type('application/json; charset=utf-8')
      .send(errorJson(refusal) as never);
  };
}

/** fastify's `clientErrorHandler` option: Node's parser refusals, written on the socket. */
export function clientErrorHandler(
  headers: HeaderSet,
  log: (obj: object, msg: string) => void,
): (error: NodeJS.ErrnoException, socket: Duplex) => void {
  return (error, socket) => {
    // A reset connection has nobody to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const refusal = parserRefusal(error.code);
    log({ code: refusal.code, status: refusal.status, parser: error.code }, 'request refused');
    const body = errorJson(refusal);
    if (socket.writable) {
      const lines = [
        `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Bad Request'}`,
        'content-type: application/json; charset=utf-8',
        `content-length: ${Buffer.byteLength(body)}`,
        'connection: close',
        ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      ];
      // Ends the connection once the answer is written.
      socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
    } else {
      socket.destroy();
    }
  };
}
