/**
 * The service's logger: the core's pino logger (secret-named keys censored by path, every line
 * through the Redactor) with a redactor that also knows the service's secrets: the Slack
 * signing secret, and each API token once it has been presented and verified. Bearer
 * credentials of any `Authorization`-like text are scrubbed too, since a wrong token is never
 * registered (registering whatever callers send would grow without bound).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, DestinationStream, LogFn, Logger } from 'pino';
import { createLogger } from '../core/logger.ts';
import { REDACTED, Redactor } from '../core/redact.ts';

export class ServiceRedactor extends Redactor {
  override redact(text: string): string {
    return super
      .redact(text)
      .replace(/\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]+/gi, `$1$2${REDACTED}`);
  }
}

export function createServiceLogger(options: {
  redactor: Redactor;
  level?: string;
  destination?: DestinationStream;
}): Logger {
  return createLogger({ ...options, name: 'stackswap-serve' });
}

type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * fastify's per-request logger, created on first use: building a pino child (with its redaction
 * of the bindings) for every request costs more than a status read itself, and most reads
 * never log. Given to fastify as `childLoggerFactory`.
 */
export function lazyChildLogger(
  parent: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  let child: FastifyBaseLogger | undefined;
  const real = () => (child ??= parent.child(bindings, options));
  const forward = (method: LogMethod) =>
    ((...args: unknown[]) => (real()[method] as (...a: unknown[]) => void)(...args)) as LogFn;
  return {
    get level() {
      return child?.level ?? parent.level;
    },
    set level(value: string) {
      real().level = value;
    },
    fatal: forward('fatal'),
    error: forward('error'),
    warn: forward('warn'),
    info: forward('info'),
    debug: forward('debug'),
    trace: forward('trace'),
    silent: forward('silent'),
    child: (b: Bindings, o?: ChildLoggerOptions) => real().child(b, o),
  };
}
