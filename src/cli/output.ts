/**
 * How the CLI shows progress and results. Progress goes to stderr (so stdout stays clean for
 * `--output json` and for values piped to other tools): on a TTY as readable step lines, in CI
 * as plain lines, wrapped in collapsible sections under GitLab CI.
 */
import type { Writable } from 'node:stream';
import type { ProgressEvent, ProgressListener } from '../shared/progress.ts';
import type { DryRun } from '../core/plan-diff.ts';

export type OutputFormat = 'text' | 'json';

export interface Terminal {
  stdout: Writable;
  stderr: Writable;
  isTTY: boolean;
  gitlab: boolean;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function progressRenderer(term: Terminal, format: OutputFormat): ProgressListener {
  const write = (line: string) => term.stderr.write(`${line}\n`);
  return (event: ProgressEvent) => {
    switch (event.type) {
      case 'step-start':
        if (term.gitlab) {
          write(
            `\x1b[0Ksection_start:${Math.floor(event.at / 1000)}:${event.step}[collapsed=false]\r\x1b[0K${event.title}`,
          );
        } else if (format === 'text') {
          write(term.isTTY ? `… ${event.title}` : `[stackswap] ${event.step}: ${event.title}`);
        } else {
          write(`[stackswap] ${event.step}: ${event.title}`);
        }
        return;
      case 'step-end': {
        const mark = event.ok ? (term.isTTY ? '✔' : 'ok') : term.isTTY ? '✖' : 'FAILED';
        write(
          term.isTTY
            ? `${mark} ${event.title} (${seconds(event.durationMs)})${event.detail ? `: ${event.detail}` : ''}`
            : `[stackswap] ${event.step}: ${mark} in ${seconds(event.durationMs)}${event.detail ? `: ${event.detail}` : ''}`,
        );
        if (term.gitlab)
          write(`\x1b[0Ksection_end:${Math.floor(event.at / 1000)}:${event.step}\r\x1b[0K`);
        return;
      }
      case 'info':
        write(term.isTTY ? `  ${event.message}` : `[stackswap] ${event.message}`);
        return;
      case 'event':
        // Lifecycle events are for machines (notifications, hooks, --output json); the step
        // lines already tell a person the same story.
        if (format === 'json') write(JSON.stringify({ event: event.event }));
    }
  };
}

export function printResult(
  term: Terminal,
  format: OutputFormat,
  result: unknown,
  text: string,
): void {
  if (format === 'json') term.stdout.write(`${JSON.stringify({ ok: true, result }, null, 2)}\n`);
  else term.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printError(
  term: Terminal,
  format: OutputFormat,
  error: Record<string, unknown>,
  text: string,
  exitCode: number,
) {
  if (format === 'json')
    term.stdout.write(`${JSON.stringify({ ok: false, exitCode, error }, null, 2)}\n`);
  term.stderr.write(`stackswap: ${text}\n`);
}

/** A small aligned table for text output. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * A dry run as text: the commit it was planned on, the message the commit would carry, one
 * unified diff per file (`git apply`-able), and a last line saying nothing was committed.
 */
export function describeDryRun({ report, message, messages }: DryRun): string {
  const lines = [
    `dry run: ${report.kind} of stack ${report.stack}`,
    `base commit: ${report.baseSha}`,
  ];
  if (report.steps && messages && messages.length > 1) {
    // A weighted swap: each commit in order, with its message and its diff.
    report.steps.forEach((step, i) => {
      lines.push(`commit ${i + 1} of ${report.steps!.length}:`, ...messageLines(messages[i]!), '');
      for (const file of step.files) lines.push(file.diff.replace(/\n$/, ''));
      lines.push('');
    });
  } else if (!message) {
    lines.push('already in the desired state: the real run would commit nothing');
  } else {
    lines.push('commit message:', ...messageLines(message), '');
    for (const file of report.files) lines.push(file.diff.replace(/\n$/, ''));
  }
  lines.push('nothing committed (dry run)');
  return `${lines.join('\n')}\n`;
}

function messageLines(message: NonNullable<DryRun['message']>): string[] {
  const body = message.body?.trim();
  const text = [
    message.subject,
    ...(body ? ['', body] : []),
    '',
    ...Object.entries(message.trailers).map(([key, value]) => `${key}: ${value}`),
  ];
  return text.map((line) => (line ? `    ${line}` : ''));
}
