/** Read-only views: the state of a stack (init, status) and its promotion history. */
import { historyFromCommits, type HistoryEntry } from '../audit.ts';
import type { AppStatus, Deployer } from '../../shared/deployer.ts';
import { loadStructuralConfig, stackOf } from '../config-file.ts';
import { readStackState, type StackState } from '../stack-state.ts';
import type { ConfigRepo } from '../../gitops/git/repo.ts';
import { HISTORY_DEPTH } from './revert.ts';
import { readRejected, type RejectedRelease } from '../rejected.ts';

export interface StackReport extends StackState {
  apps: Record<string, AppStatus | { app: string; error: string }>;
  lastPromotions: HistoryEntry[];
  /** Version sets deploy and swap refuse without force (src/core/rejected.ts), oldest first. */
  rejected: RejectedRelease[];
}

export async function inspectStack(
  repo: ConfigRepo,
  stackName: string,
  deployer: Deployer | undefined,
  options: { refresh?: boolean; historyLimit?: number; signal?: AbortSignal } = {},
): Promise<StackReport> {
  const stack = stackOf(await loadStructuralConfig(repo), stackName);
  const state = await readStackState(repo, stack);
  const appNames = [
    stack.apps.blue,
    stack.apps.green,
    stack.apps.ingress,
    ...(stack.rootApp ? [stack.rootApp] : []),
  ];
  const apps: StackReport['apps'] = {};
  if (deployer) {
    const statuses = await Promise.all(
      appNames.map(async (app) => {
        try {
          return await deployer.appStatus(app, {
            refresh: options.refresh ?? false,
            ...(options.signal ? { signal: options.signal } : {}),
          });
        } catch (e) {
          return { app, error: e instanceof Error ? e.message : String(e) };
        }
      }),
    );
    for (const s of statuses) apps[s.app] = s;
  }
  const lastPromotions = (await history(repo, stack.name)).slice(0, options.historyLimit ?? 5);
  const rejected = await readRejected(repo, stack.name);
  return { ...state, apps, lastPromotions, rejected };
}

export async function history(
  repo: ConfigRepo,
  stack?: string,
  limit = HISTORY_DEPTH,
): Promise<HistoryEntry[]> {
  return historyFromCommits(await repo.log({ maxCount: limit }), stack);
}

/** GitLab dotenv report (KEY=VALUE per line; values single-line) for later pipeline jobs. */
export function dotenvFor(report: StackReport, stack: { apps: Record<string, string> }): string {
  const vars: Record<string, string> = {
    STACKSWAP_STACK: report.stack,
    LIVE_COLOR: report.live,
    PREVIEW_COLOR: report.preview,
    LIVE_NAMESPACE: report.colours[report.live].namespace,
    PREVIEW_NAMESPACE: report.colours[report.preview].namespace,
    LIVE_APP: report.colours[report.live].app,
    PREVIEW_APP: report.colours[report.preview].app,
    INGRESS_APP: stack.apps.ingress ?? '',
    CONFIG_SHA: report.headSha,
  };
  for (const [colour, prefix] of [
    [report.live, 'LIVE'],
    [report.preview, 'PREVIEW'],
  ] as const) {
    vars[`${prefix}_REPLICAS`] = String(report.colours[colour].replicas);
    for (const [component, version] of Object.entries(report.colours[colour].versions)) {
      vars[`${prefix}_VERSION_${component.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] =
        version ?? '';
    }
  }
  return Object.entries(vars)
    .map(([k, v]) => `${k}=${v.replace(/[\r\n]/g, ' ')}`)
    .join('\n')
    .concat('\n');
}
