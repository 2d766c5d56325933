/** Turns Argo CD wait events into one-line progress notes (only the ones a person cares about). */
import type { ArgoProgressEvent } from './progress.ts';

const short = (sha: string | undefined) => sha?.slice(0, 12) ?? '?';

export function describeArgoEvent(e: ArgoProgressEvent): string | undefined {
  const state = `${e.sync ?? '?'} at ${short(e.revision)}, ${e.health ?? '?'}${e.phase ? `, operation ${e.phase}` : ''}`;
  switch (e.type) {
    case 'sync-requested':
      return `argo: ${e.app}: sync requested at ${short(e.operationRevision ?? e.targetRevision)}`;
    case 'operation-adopted':
      return `argo: ${e.app}: an operation at ${short(e.operationRevision)} is already running; following it`;
    case 'operation-wait':
      return `argo: ${e.app}: waiting for ${e.initiatedBy ?? 'another'} operation at ${short(e.operationRevision)} to finish`;
    case 'auto-sync':
      return `argo: ${e.app}: ${e.reason}`;
    case 'observed':
      return `argo: ${e.app}: ${state}`;
    case 'stream-reconnect':
      return `argo: ${e.app}: watch stream dropped (${e.reason}); reconnecting in ${e.delayMs} ms`;
    case 'poll-fallback':
      return `argo: ${e.app}: watch unavailable (${e.reason}); polling`;
    case 'sync-window-wait':
    case 'override-fallback':
    case 'head-moved':
      return `argo: ${e.app}: ${e.reason}`;
    case 'operation-retry':
      return `argo: ${e.app}: sync attempt failed, Argo CD retries it: ${e.reason}`;
    case 'pods':
      return `argo: ${e.app}: ${e.problems.slice(0, 3).join('; ')}${e.problems.length > 3 ? ` (+${e.problems.length - 3} more)` : ''}`;
    case 'children':
      return `argo: ${e.app}: child applications ${e.children.join(', ')}`;
    case 'done':
      return `argo: ${e.app}: live (${state}) after ${(e.durationMs / 1000).toFixed(1)}s`;
    default:
      return undefined;
  }
}
