/**
 * POST /v1/chatops/slack: the `/stackswap` slash command. Slack's signature is checked over the
 * raw form body before anything is parsed (401 otherwise); the answer comes at once, in Slack's
 * message format (an ephemeral ack with the operation id), and the steps and the result follow
 * on the command's `response_url`. Retries (`X-Slack-Retry-Num`, or the same command delivered
 * twice) map to the operation the first delivery started, through the command's `trigger_id`
 * as the idempotency key, so they never start a second one.
 *
 * Slack users act with the read, deploy and swap scopes (deploy, swap, revert, status); the
 * signing secret is what authenticates them, so restrict the slash command in Slack itself.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps, Limits } from '../app-deps.ts';
import { ApiError } from '../errors.ts';
import { fingerprint } from './stacks.ts';
import {
  parseSlackCommand,
  SLACK_USAGE,
  SlashCommandPayload,
  type SlackCommand,
} from '../slack/command.ts';
import { slackErrorText } from '../slack/error-text.ts';
import type { SlackMessage } from '../slack/responder.ts';
import { verifySlackRequest } from '../slack/signature.ts';
import { ErrorResponse, type StackStatus } from '../schemas.ts';

const SlackReply = z.object({
  response_type: z.enum(['ephemeral', 'in_channel']),
  text: z.string(),
});

/** Slack wants an answer within 3 s; a status read slower than this is posted later. */
const STATUS_DEADLINE_MS = 2_000;

export async function registerSlackRoutes(app: FastifyInstance, deps: AppDeps, limits: Limits) {
  await app.register(async (scope) => {
    // Only Slack's form encoding here, kept raw for the signature; nothing else is parsed.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: limits.slackBodyLimit },
      (_request, body, done) => done(null, body),
    );
    scope.withTypeProvider<ZodTypeProvider>().post(
      '/v1/chatops/slack',
      {
        bodyLimit: limits.slackBodyLimit,
        schema: {
          operationId: 'slackCommand',
          tags: ['chatops'],
          summary:
            'Slack slash command (/stackswap deploy|swap|revert|status <stack> ...), verified with Slack request signing',
          consumes: ['application/x-www-form-urlencoded'],
          body: z.string().describe('the raw form-encoded slash command payload'),
          response: { 200: SlackReply, 400: ErrorResponse, 401: ErrorResponse },
        },
      },
      async (request) => handleSlack(deps, request, request.body),
    );
  });
}

async function handleSlack(
  deps: AppDeps,
  request: FastifyRequest,
  rawBody: string,
): Promise<SlackMessage> {
  const header = (name: string) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const verdict = verifySlackRequest({
    secret: deps.slack.signingSecret,
    timestamp: header('x-slack-request-timestamp'),
    signature: header('x-slack-signature'),
    rawBody,
    now: deps.now(),
  });
  if (!verdict.ok) {
    request.log.warn({ security: true, reason: verdict.reason }, 'slack request refused');
    throw new ApiError(
      401,
      'unauthorized',
      'Slack request signature missing, invalid, or outside the 5-minute window',
    );
  }
  const parsed = SlashCommandPayload.safeParse(Object.fromEntries(new URLSearchParams(rawBody)));
  if (!parsed.success) {
    throw new ApiError(400, 'validation', 'not a Slack slash command payload');
  }
  const payload = parsed.data;
  const requestedBy = `slack:${payload.user_name ? `${payload.user_name} (${payload.user_id})` : payload.user_id}`;
  const command = parseSlackCommand(payload.text);
  if (!command.ok) return ephemeral(`${command.message}\n${SLACK_USAGE}`);
  if (command.command.kind === 'help') return ephemeral(SLACK_USAGE);

  let stack: string;
  try {
    stack = await resolveStack(deps, command.command);
  } catch (e) {
    return ephemeral(messageOf(deps, request, e));
  }
  const canFollowUp = deps.slack.responder.allowed(payload.response_url);

  if (command.command.kind === 'status') {
    const read = deps.status.get(stack);
    const quick = await Promise.race([
      read.then(
        (s) => ({ status: s.value }),
        (e: unknown) => ({ error: e }),
      ),
      new Promise<undefined>((resolve) =>
        setTimeout(() => resolve(undefined), STATUS_DEADLINE_MS).unref(),
      ),
    ]);
    if (quick && 'status' in quick) return ephemeral(describeStatus(quick.status));
    if (quick) return ephemeral(messageOf(deps, request, quick.error));
    if (canFollowUp) {
      void read.then(
        (s) => deps.slack.responder.post(payload.response_url!, ephemeral(describeStatus(s.value))),
        (e: unknown) =>
          deps.slack.responder.post(payload.response_url!, ephemeral(messageOf(deps, request, e))),
      );
    }
    return ephemeral(`reading the status of ${stack}…`);
  }

  const { kind } = command.command;
  const body =
    command.command.kind === 'deploy'
      ? Object.keys(command.command.overrides).length > 0
        ? { overrides: command.command.overrides }
        : {}
      : command.command.kind === 'swap' && command.command.to
        ? { to: command.command.to }
        : {};
  const retry = header('x-slack-retry-num');
  try {
    const { operation, replayed } = await deps.operations.start({
      stack,
      kind,
      requestedBy,
      request: { method: 'POST', path: `/v1/stacks/${stack}/${kind}`, body },
      idempotency: {
        scope: 'slack',
        // The same command delivered again (a retry) carries the same trigger_id and body.
        key: payload.trigger_id ?? createHash('sha256').update(rawBody).digest('hex'),
        fingerprint: fingerprint({ kind, stack, body, user: payload.user_id }),
      },
    });
    request.log.info(
      {
        audit: true,
        caller: requestedBy,
        operation: kind,
        stack,
        operationId: operation.id,
        replayed,
        ...(retry ? { slackRetry: retry } : {}),
      },
      replayed ? 'slack command replayed' : 'slack command started an operation',
    );
    const title = `${kind} ${stack}`;
    if (!replayed && canFollowUp) {
      void deps.operations.follow(
        operation.id,
        0,
        deps.slack.responder.relay(payload.response_url!, title),
      );
    }
    return ephemeral(
      `${replayed ? 'already started' : 'started'}: ${title} (operation \`${operation.id}\`)${canFollowUp ? '; progress follows here' : ''}`,
    );
  } catch (e) {
    return ephemeral(messageOf(deps, request, e));
  }
}

async function resolveStack(deps: AppDeps, command: SlackCommand): Promise<string> {
  if ('stack' in command && command.stack) {
    await deps.status.assertStack(command.stack);
    return command.stack;
  }
  const names = await deps.status.stackNames();
  if (names.length === 1) return names[0]!;
  throw new ApiError(400, 'usage', `which stack? (${names.join(', ')})`);
}

function ephemeral(text: string): SlackMessage {
  return { response_type: 'ephemeral', text };
}

/** Shown as the HTTP answer would show it (see slackErrorText); server faults are logged. */
function messageOf(deps: AppDeps, request: FastifyRequest, e: unknown): string {
  const { text, serverFault } = slackErrorText(e, request.id, deps.redactor);
  if (serverFault) request.log.error({ err: e }, 'slack command failed');
  return text;
}

function describeStatus(s: Omit<StackStatus, 'runningOperation'>): string {
  const colour = (c: 'blue' | 'green') => {
    const v = s.colours[c];
    const versions = Object.entries(v.versions)
      .map(([k, tag]) => `${k}=${tag ?? '-'}`)
      .join(' ');
    return `• ${c} (${v.role}, ${s.traffic[c]} %): ${v.replicas} replicas, ${versions}`;
  };
  const apps = s.apps
    .map((a) => ('error' in a ? `${a.app}: error` : `${a.app}: ${a.syncStatus}/${a.health}`))
    .join(', ');
  return [
    `*${s.stack}* at \`${s.headSha.slice(0, 12)}\`: live *${s.live}*, preview ${s.preview}`,
    colour(s.live),
    colour(s.preview),
    ...(apps ? [`apps: ${apps}`] : []),
  ].join('\n');
}
