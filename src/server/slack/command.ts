/**
 * The Slack slash command: its form payload (zod, third-party: unknown fields kept) and the
 * text grammar
 *
 *   deploy <stack> [component=version ...]   versions on top of the stack's release plan
 *   swap <stack> [blue|green]
 *   revert <stack>
 *   status <stack>
 *   help
 *
 * The stack may be left out when stackswap.yaml has a single stack.
 */
import { z } from 'zod';
import { Colour, ImageTag, ResourceName } from '../../config/names.ts';
import { RESERVED_KEYS } from '../../config/names.ts';

export const SlashCommandPayload = z
  .object({
    command: z.string().max(100),
    text: z.string().max(2000).default(''),
    user_id: z.string().min(1).max(100),
    user_name: z.string().max(100).optional(),
    team_id: z.string().max(100).optional(),
    channel_id: z.string().max(100).optional(),
    response_url: z.string().max(2000).optional(),
    trigger_id: z.string().max(200).optional(),
  })
  .loose();
export type SlashCommandPayload = z.infer<typeof SlashCommandPayload>;

export type SlackCommand =
  | { kind: 'deploy'; stack?: string; overrides: Record<string, string> }
  | { kind: 'swap'; stack?: string; to?: Colour }
  | { kind: 'revert'; stack?: string }
  | { kind: 'status'; stack?: string }
  | { kind: 'help' };

export type ParsedCommand = { ok: true; command: SlackCommand } | { ok: false; message: string };

export const SLACK_USAGE = [
  '`/stackswap deploy <stack> [component=version ...]` deploy into the preview colour',
  '`/stackswap swap <stack> [blue|green]` make the preview live',
  '`/stackswap revert <stack>` back to the colour live before the last swap',
  '`/stackswap status <stack>` live/preview colours, versions, health',
].join('\n');

export function parseSlackCommand(text: string): ParsedCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [verb, ...args] = words;
  if (!verb || verb === 'help') return { ok: true, command: { kind: 'help' } };

  // The stack is the first argument that is not component=version nor a colour.
  const first = args[0];
  const hasStack = first !== undefined && !first.includes('=') && !Colour.safeParse(first).success;
  const stack = hasStack ? first : undefined;
  const rest = hasStack ? args.slice(1) : args;
  if (stack !== undefined && !ResourceName.safeParse(stack).success) {
    return { ok: false, message: `"${clip(stack)}" is not a stack name` };
  }
  const withStack = stack === undefined ? {} : { stack };

  switch (verb) {
    case 'deploy': {
      const overrides: Record<string, string> = {};
      for (const pair of rest) {
        const eq = pair.indexOf('=');
        const component = pair.slice(0, eq);
        const version = pair.slice(eq + 1);
        if (
          eq <= 0 ||
          !ResourceName.safeParse(component).success ||
          RESERVED_KEYS.has(component) ||
          !ImageTag.safeParse(version).success
        ) {
          return { ok: false, message: `"${clip(pair)}" is not component=version` };
        }
        overrides[component] = version;
      }
      return { ok: true, command: { kind: 'deploy', ...withStack, overrides } };
    }
    case 'swap': {
      if (rest.length > 1) return { ok: false, message: 'swap takes a stack and a colour' };
      if (rest[0] === undefined) return { ok: true, command: { kind: 'swap', ...withStack } };
      const to = Colour.safeParse(rest[0]);
      if (!to.success) return { ok: false, message: 'the colour must be blue or green' };
      return { ok: true, command: { kind: 'swap', ...withStack, to: to.data } };
    }
    case 'revert':
    case 'status':
      if (rest.length > 0) return { ok: false, message: `${verb} takes only a stack` };
      return { ok: true, command: { kind: verb, ...withStack } };
    default:
      return { ok: false, message: `unknown command "${clip(verb)}"` };
  }
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
