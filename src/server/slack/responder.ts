/**
 * Follow-up messages to a slash command's `response_url` (Slack allows 5 within 30 minutes):
 * the end of each step and the final result. Only https URLs on slack.com are called unless
 * the service is configured otherwise (tests point it at a local server). The URL is a
 * capability, so it is never logged.
 */
import type { StepTiming } from '../../shared/progress.ts';
import type { OperationEvent } from '../operations/manager.ts';

export interface SlackMessage {
  response_type: 'ephemeral' | 'in_channel';
  text: string;
  replace_original?: boolean;
}

export const SLACK_MAX_FOLLOW_UPS = 5;

export interface SlackResponderOptions {
  fetch?: typeof globalThis.fetch;
  /** Which response URLs may be called; default: https on slack.com and its subdomains. */
  allowUrl?: (url: URL) => boolean;
  timeoutMs?: number;
  logger: { warn(obj: object, msg: string): void };
  /** Called for each follow-up Slack did not take (the notification-failure metric). */
  onFailure?: () => void;
}

export const slackUrlAllowed = (url: URL): boolean =>
  url.protocol === 'https:' &&
  (url.hostname === 'slack.com' || url.hostname.endsWith('.slack.com'));

export class SlackResponder {
  private readonly fetchFn: typeof globalThis.fetch;

  constructor(private readonly options: SlackResponderOptions) {
    this.fetchFn = options.fetch ?? globalThis.fetch;
  }

  allowed(responseUrl: string | undefined): boolean {
    if (!responseUrl) return false;
    try {
      return (this.options.allowUrl ?? slackUrlAllowed)(new URL(responseUrl));
    } catch {
      return false;
    }
  }

  async post(responseUrl: string, message: SlackMessage): Promise<void> {
    try {
      const response = await this.fetchFn(responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(message),
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      await response.body?.cancel();
      if (!response.ok) {
        this.options.logger.warn({ status: response.status }, 'slack response_url refused');
        this.options.onFailure?.();
      }
    } catch (e) {
      this.options.onFailure?.();
      this.options.logger.warn(
        { reason: e instanceof Error ? e.name : 'error' },
        'slack response_url unreachable',
      );
    }
  }

  /**
   * A listener for an operation's events that posts step ends and the result, in order, and
   * never more than Slack accepts.
   */
  relay(responseUrl: string, title: string): (event: OperationEvent) => void {
    let chain = Promise.resolve();
    let sent = 0;
    const send = (text: string) => {
      if (sent >= SLACK_MAX_FOLLOW_UPS) return;
      sent++;
      chain = chain.then(() =>
        this.post(responseUrl, { response_type: 'ephemeral', replace_original: false, text }),
      );
    };
    return (event) => {
      if (event.type === 'step-end') {
        // Keep the last follow-up for the result.
        if (sent < SLACK_MAX_FOLLOW_UPS - 1) send(stepLine(event.data as unknown as StepTiming));
      } else if (event.type === 'result') {
        send(resultLine(title, event.data));
      }
    };
  }
}

function stepLine(step: StepTiming): string {
  const mark = step.ok ? ':white_check_mark:' : ':x:';
  const detail = step.detail ? `: ${step.detail}` : '';
  return `${mark} ${step.title}${detail} (${(step.durationMs / 1000).toFixed(1)} s)`;
}

export function resultLine(title: string, data: Record<string, unknown>): string {
  const result = data.result as { summary?: string; sha?: string } | undefined;
  const error = data.error as { message?: string; hint?: string } | undefined;
  const interrupted = data.interrupted as { reason?: string; resume?: string } | undefined;
  switch (data.state) {
    case 'succeeded':
      return `:large_green_circle: ${title} succeeded: ${result?.summary ?? ''} (commit ${result?.sha?.slice(0, 12) ?? '?'})`;
    case 'interrupted':
      return `:warning: ${title} was interrupted: ${interrupted?.reason ?? ''}. Run the same command again to resume.`;
    default:
      return `:red_circle: ${title} failed: ${error?.message ?? 'unknown error'}${error?.hint ? `\nhint: ${error.hint}` : ''}`;
  }
}
