/**
 * pino with secrets removed in two layers: secret-named keys are censored by path, and every
 * serialized line passes through the Redactor, which knows every registered secret value (and
 * its encodings) wherever it appears: message, error, stack, URL.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Redactor } from './redact.ts';

const SECRET_KEYS = ['token', 'password', 'secret', 'authorization', 'auth', 'apiKey', 'cookie'];
const redactPaths = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]).concat([
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
]);

export function createLogger(options: {
  redactor: Redactor;
  level?: string;
  destination?: DestinationStream;
  name?: string;
}): Logger {
  return pino(
    {
      name: options.name ?? 'stackswap',
      level: options.level ?? 'info',
      redact: { paths: redactPaths, censor: '[REDACTED]' },
      hooks: { streamWrite: (line) => options.redactor.redact(line) },
    },
    options.destination ?? pino.destination(2),
  );
}
