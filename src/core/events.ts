/**
 * Builds lifecycle events (src/shared/events.ts) from an operation's context: the envelope
 * (stack, operation id, actor, time) and a browsable commit link are filled in here, so the
 * operations only say what happened.
 */
import type { StackEvent, StackEventInput } from '../shared/events.ts';
import { isStackswapError } from '../shared/errors.ts';
import type { OperationContext, OperationResult } from './operations/context.ts';
import type { OperationKind } from './audit.ts';

type EventContext = Pick<OperationContext, 'progress' | 'actor' | 'now' | 'repo'>;

export function emitStackEvent(
  ctx: EventContext,
  stack: string,
  operation: OperationKind,
  input: Omit<StackEventInput, 'operation' | 'stack'>,
): StackEvent {
  return ctx.progress.event(buildStackEvent(ctx, stack, operation, input));
}

/** The event with its envelope, not emitted (the body of a hook request is built this way). */
export function buildStackEvent(
  ctx: EventContext,
  stack: string,
  operation: OperationKind,
  input: Omit<StackEventInput, 'operation' | 'stack'>,
): Omit<StackEvent, 'id'> {
  const commit = input.commit
    ? { ...input.commit, ...linkTo(ctx.repo.remoteUrl, input.commit.sha) }
    : undefined;
  return {
    ...input,
    ...(commit ? { commit } : {}),
    type: input.type,
    at: new Date(ctx.now()).toISOString(),
    stack,
    operation,
    operationId: ctx.actor.operationId,
    actor: ctx.actor.requestedBy,
  };
}

/** Versions per colour for an event: unknown tags (a colour never deployed) are left out. */
export function versionSets(
  versions: Partial<Record<'blue' | 'green', Readonly<Record<string, string | undefined>>>>,
): NonNullable<StackEvent['versions']> {
  const out: NonNullable<StackEvent['versions']> = {};
  for (const colour of ['blue', 'green'] as const) {
    const set = versions[colour];
    if (!set) continue;
    out[colour] = Object.fromEntries(
      Object.entries(set).filter((e): e is [string, string] => e[1] !== undefined),
    );
  }
  return out;
}

/**
 * The one wrapper every changing operation runs in (deploy, swap, revert, scale-down), for
 * the CLI and the service alike: a failure becomes one `operation.failed` event with its
 * reason and code, and the result carries the operation's events. Dry runs emit nothing.
 */
export async function withLifecycle(
  ctx: OperationContext,
  operation: OperationKind,
  stack: string,
  run: () => Promise<OperationResult>,
): Promise<OperationResult> {
  ctx.hookLedger ??= { unrecorded: [] };
  try {
    const result = await run();
    return { ...result, events: ctx.progress.events };
  } catch (e) {
    if (!ctx.plan) {
      emitStackEvent(ctx, stack, operation, {
        type: 'operation.failed',
        reason: e instanceof Error ? e.message.split('\n')[0]! : String(e),
        data: { code: isStackswapError(e) ? e.code : 'internal' },
      });
    }
    throw e;
  }
}

/**
 * A web link to a commit for the forges' URL shapes: GitHub `/commit/<sha>`, GitLab (and
 * anything else served over https) `/-/commit/<sha>`. Local and file remotes get none.
 */
export function commitWebUrl(remoteUrl: string, sha: string): string | undefined {
  let web: URL | undefined;
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/\/)(.+)$/.exec(remoteUrl);
  try {
    if (/^(https?|ssh):\/\//i.test(remoteUrl)) {
      const u = new URL(remoteUrl);
      web = new URL(
        `https://${u.hostname}${u.protocol === 'ssh:' ? '' : u.port ? `:${u.port}` : ''}${u.pathname}`,
      );
      if (u.protocol === 'http:') web.protocol = 'http:';
    } else if (scp && !remoteUrl.startsWith('/')) {
      web = new URL(`https://${scp[1]}/${scp[2]}`);
    }
  } catch {
    return undefined;
  }
  if (!web) return undefined;
  const repoPath = web.pathname.replace(/\.git$/, '').replace(/\/+$/, '');
  const commitPath = web.hostname === 'github.com' ? '/commit/' : '/-/commit/';
  return `${web.origin}${repoPath}${commitPath}${sha}`;
}

function linkTo(remoteUrl: string, sha: string): { url?: string } {
  const url = commitWebUrl(remoteUrl, sha);
  return url ? { url } : {};
}
