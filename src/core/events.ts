/**
 * Builds lifecycle events (src/shared/events.ts) from an operation's context: the envelope
 * (stack, operation id, actor, time) and a browsable commit link are filled in here, so the
 * operations only say what happened.
 */
import type { StackEvent, StackEventInput } from '../shared/events.ts';
import type { OperationContext } from './operations/context.ts';
import type { OperationKind } from './audit.ts';

export function emitStackEvent(
  ctx: Pick<OperationContext, 'progress' | 'actor' | 'now' | 'repo'>,
  stack: string,
  operation: OperationKind,
  input: Omit<StackEventInput, 'operation' | 'stack'>,
): StackEvent {
  const commit = input.commit
    ? { ...input.commit, ...linkTo(ctx.repo.remoteUrl, input.commit.sha) }
    : undefined;
  return ctx.progress.event({
    ...input,
    ...(commit ? { commit } : {}),
    type: input.type,
    at: new Date(ctx.now()).toISOString(),
    stack,
    operation,
    operationId: ctx.actor.operationId,
    actor: ctx.actor.requestedBy,
  });
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
