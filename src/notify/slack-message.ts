/**
 * A StackEvent as a Slack incoming-webhook message (Block Kit): a headline saying what
 * happened to which stack, the versions of each colour (before and after when the event
 * carries both), who asked, the commit link, why (for reverts and failures) and the figures of
 * `event.data` (verification measurements, weights). `text` is the fallback Slack shows in
 * notifications and to clients without blocks.
 *
 * Limits kept (Slack's Block Kit reference): a section's text at most 3000 characters, at most
 * 10 fields of 2000 each, at most 50 blocks per message.
 */
import type { StackEvent } from '../shared/events.ts';

export interface SlackMessage {
  text: string;
  blocks: Record<string, unknown>[];
}

const ICONS: Record<StackEvent['type'], string> = {
  'deploy.started': ':arrow_forward:',
  'deploy.finished': ':package:',
  'verification.result': ':mag:',
  'traffic.step': ':twisted_rightwards_arrows:',
  'swap.finished': ':white_check_mark:',
  'revert.finished': ':rewind:',
  'scale-down.finished': ':zzz:',
  'operation.failed': ':x:',
  'hook.result': ':hook:',
};

export function headline(event: StackEvent): string {
  const live = event.live ? `${event.live} is live` : '';
  switch (event.type) {
    case 'deploy.started':
      return `${event.stack}: deploying into ${event.preview ?? 'the preview'}`;
    case 'deploy.finished':
      return `${event.stack}: deployed into ${event.preview ?? 'the preview'}${live ? `; ${live}` : ''}`;
    case 'verification.result':
      return `${event.stack}: verification ${String(event.data?.phase ?? '')} ${String(event.data?.result ?? '')}`.replace(
        /\s+/g,
        ' ',
      );
    case 'traffic.step':
      return `${event.stack}: ${event.preview ?? 'preview'} at ${String(event.data?.weight ?? '?')}% of traffic`;
    case 'swap.finished':
      return `${event.stack}: swapped; ${live || 'the new colour is live'}`;
    case 'revert.finished':
      return `${event.stack}: ${event.automatic ? 'automatically reverted' : 'reverted'}; ${live || 'the previous colour is live'}`;
    case 'scale-down.finished':
      return `${event.stack}: scaled down ${event.preview ?? 'the idle colour'}`;
    case 'operation.failed':
      return `${event.stack}: ${event.operation} failed`;
    case 'hook.result':
      return `${event.stack}: hook ${String(event.data?.hook ?? '')} ${String(event.data?.result ?? '')}`;
  }
}

export function slackMessage(event: StackEvent): SlackMessage {
  const title = headline(event);
  const blocks: Record<string, unknown>[] = [
    { type: 'section', text: mrkdwn(`${ICONS[event.type]} *${escape(title)}*`) },
  ];
  const fields: string[] = [
    `*Stack*\n${escape(event.stack)}`,
    `*Operation*\n${escape(event.operation)} (${escape(event.type)})`,
    `*Who*\n${escape(event.actor)}`,
  ];
  if (event.live || event.preview) {
    fields.push(`*Colours*\nlive ${event.live ?? '?'}, preview ${event.preview ?? '?'}`);
  }
  const versions = versionLines(event);
  if (versions) fields.push(`*Versions*\n${versions}`);
  if (event.commit) {
    const short = event.commit.sha.slice(0, 12);
    fields.push(
      `*Commit*\n${event.commit.url ? `<${event.commit.url}|${short}>` : `\`${short}\``}`,
    );
  }
  blocks.push({ type: 'section', fields: fields.slice(0, 10).map((f) => mrkdwn(cut(f, 2000))) });
  if (event.reason) {
    blocks.push({ type: 'section', text: mrkdwn(cut(`*Why*\n${escape(event.reason)}`, 3000)) });
  }
  const figures = figureLines(event.data);
  if (figures.length > 0) {
    blocks.push({
      type: 'section',
      text: mrkdwn(cut(`*Figures*\n${figures.join('\n')}`, 3000)),
    });
  }
  blocks.push({
    type: 'context',
    elements: [
      mrkdwn(`operation ${escape(event.operationId)} · event ${escape(event.id)} · ${event.at}`),
    ],
  });
  return {
    text: `${title}${event.reason ? ` (${event.reason})` : ''}`,
    blocks: blocks.slice(0, 50),
  };
}

/** One line per colour; "before → after" per component when both colours are known. */
function versionLines(event: StackEvent): string {
  const v = event.versions;
  if (!v) return '';
  const { live, preview } = event;
  // After a swap or revert the live colour runs what was the preview: show old -> new.
  const before = live && preview ? v[preview] : undefined;
  const after = live ? v[live] : undefined;
  if (before && after && (event.type === 'swap.finished' || event.type === 'revert.finished')) {
    const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return names
      .map((n) => `${escape(n)}: ${escape(before[n] ?? '-')} → ${escape(after[n] ?? '-')}`)
      .join('\n');
  }
  return (['blue', 'green'] as const)
    .filter((c) => v[c])
    .map(
      (c) =>
        `${c}: ${Object.entries(v[c]!)
          .map(([n, ver]) => `${escape(n)} ${escape(ver)}`)
          .join(', ')}`,
    )
    .join('\n');
}

/**
 * `event.data` as lines: scalars as `key: value`, and verification metrics
 * (`metrics: [{name, result?, measurements: [{value}]}]`) as `name: last value (result)`.
 */
export function figureLines(data: Record<string, unknown> | undefined): string[] {
  if (!data) return [];
  const lines: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (value === null || value === undefined) continue;
    if (['string', 'number', 'boolean'].includes(typeof value)) {
      lines.push(`${escape(key)}: ${escape(String(value))}`);
    } else if (key === 'metrics' && Array.isArray(value)) {
      for (const metric of value as Record<string, unknown>[]) {
        const measurements = Array.isArray(metric.measurements)
          ? (metric.measurements as Record<string, unknown>[])
          : [];
        const last = measurements.findLast((m) => typeof m.value === 'number');
        const shown = last ? formatNumber(last.value as number) : 'no data';
        const verdict = metric.result ?? metric.phase;
        lines.push(
          `${escape(String(metric.name))}: ${shown}${verdict ? ` (${escape(String(verdict))})` : ''}`,
        );
      }
    } else {
      lines.push(`${escape(key)}: ${escape(cut(JSON.stringify(value), 300))}`);
    }
  }
  return lines.slice(0, 30);
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toPrecision(4);
}

function mrkdwn(text: string) {
  return { type: 'mrkdwn', text };
}

/** Slack's three control characters in mrkdwn. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
