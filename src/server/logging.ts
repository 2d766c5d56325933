/**
 * The service's logger: the core's pino logger (secret-named keys censored by path, every line
 * through the Redactor) with a redactor that also knows the service's secrets: the Slack
 * signing secret, and each API token once it has been presented and verified. Bearer
 * credentials of any `Authorization`-like text are scrubbed too, since a wrong token is never
 * registered (registering whatever callers send would grow without bound).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, DestinationStream, Logger } from 'pino';
import { createLogger } from '../shared/logger.ts';
import { REDACTED, Redactor } from '../shared/redact.ts';

export class ServiceRedactor extends Redactor {
  override redact(text: string): string {
    return (
      super
        .redact(text)
        // Credentials are long; the words "bearer token" in our own messages are not scrubbed.
        .replace(/\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1$2${REDACTED}`)
    );
  }
}

export function createServiceLogger(options: {
  redactor: Redactor;
  level?: string;
  destination?: DestinationStream;
}): Logger {
  return createLogger({ ...options, name: 'stackswap-serve' });
}

/** A request URL for the log: its path, without the query string (it may hold a credential). */
export function logPath(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * fastify's per-request logger, created on first use: building a pino child (with its redaction
 * of the bindings) for every request costs more than a status read itself, and most reads
 * never log. Given to fastify as `childLoggerFactory`. A class, not closures: one small object
 * per request (this runs on every request, and allocation shows up as GC time under load).
 */
export function lazyChildLogger(
  parent: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyChildLogger(parent, bindings, options);
}

class LazyChildLogger implements FastifyBaseLogger {
  private real: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private logger(): FastifyBaseLogger {
    return (this.real ??= this.parent.child(this.bindings, this.options));
  }

  private forward(method: LogMethod, args: unknown[]): void {
    const logger = this.logger();
    (logger[method] as (...a: unknown[]) => void).apply(logger, args);
  }

  get level(): string {
    return this.real?.level ?? this.parent.level;
  }

  set level(value: string) {
    this.logger().level = value;
  }

  fatal(...args: unknown[]): void {
    this.forward('fatal', args);
  }
  error(...args: unknown[]): void {
    this.forward('error', args);
  }
  warn(...args: unknown[]): void {
    this.forward('warn', args);
  }
  info(...args: unknown[]): void {
    this.forward('info', args);
  }
  debug(...args: unknown[]): void {
    this.forward('debug', args);
  }
  trace(...args: unknown[]): void {
    this.forward('trace', args);
  }
  silent(...args: unknown[]): void {
    this.forward('silent', args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger().child(bindings, options);
  }
}
