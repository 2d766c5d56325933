/**
 * What a Slack user reads when a command fails before an operation runs (stack lookup, status,
 * a refused start). The decision what is safe to show is the HTTP answers' (`mapError`), not a
 * second rule: refusals and classified upstream failures (502/504: git remote or Argo CD
 * unreachable, refused, timed out; already redacted) keep their message and hint; 500s and
 * internal errors say only "internal error" with the request id that finds the logged cause.
 */
import type { Redactor } from '../../shared/redact.ts';
import { mapError } from '../errors.ts';

export interface SlackErrorText {
  text: string;
  /** Worth an error-level log line with the cause (5xx), as for HTTP answers. */
  serverFault: boolean;
}

export function slackErrorText(
  error: unknown,
  requestId: string,
  redactor: Redactor,
): SlackErrorText {
  const mapped = mapError(error, requestId, redactor);
  const { message, hint } = mapped.body.error;
  return {
    text: `:no_entry: ${message}${typeof hint === 'string' && hint ? `\nhint: ${hint}` : ''}`,
    serverFault: mapped.serverFault,
  };
}
