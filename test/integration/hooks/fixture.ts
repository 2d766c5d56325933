/**
 * A config repo whose stack `shop` declares hooks, and an operation context for the core
 * operations (git only: no Argo CD), with the hook environment a CLI run has.
 */
import { randomUUID } from 'node:crypto';
import { configRepoFiles, openLocalRepo, seedBareRepo } from '../../helpers/config-repo.ts';
import type { OperationContext } from '../../../src/core/operations/context.ts';
import type { HookEnvironment } from '../../../src/hooks/runner.ts';
import { Progress, type ProgressEvent } from '../../../src/shared/progress.ts';

export const SECRET = 'hook-secret-5f2b9c81d0e4a7';

export interface HookDecl {
  point: string;
  name: string;
  url: string;
  extra?: Record<string, string | number>;
}

export function hooksYaml(
  hooks: HookDecl[],
  options: { admins?: string[]; allowed?: string[] } = {},
): string {
  const byPoint = new Map<string, HookDecl[]>();
  for (const h of hooks) byPoint.set(h.point, [...(byPoint.get(h.point) ?? []), h]);
  let text = `    hooks:\n      allowedHosts: [${(options.allowed ?? ['127.0.0.1']).map((h) => JSON.stringify(h)).join(', ')}]\n`;
  if (options.admins) text += `      admins: [${options.admins.join(', ')}]\n`;
  for (const [point, list] of byPoint) {
    text += `      ${point}:\n`;
    for (const h of list) {
      text += `        - name: ${h.name}\n          url: ${JSON.stringify(h.url)}\n          secretEnv: HOOK_SECRET\n`;
      for (const [k, v] of Object.entries(h.extra ?? {}))
        text += `          ${k}: ${JSON.stringify(v)}\n`;
    }
  }
  return text;
}

/** The test stack `shop` (blue live 1.0.0, plan 1.1.0) with `hooks` appended to its entry. */
export function repoWithHooks(hooksBlock: string): { bare: string; files: Record<string, string> } {
  const files = configRepoFiles([{ name: 'shop' }]);
  files['stackswap.yaml'] = `${files['stackswap.yaml']!}${hooksBlock}`;
  return { bare: seedBareRepo(files).bare, files };
}

export async function context(
  bare: string,
  options: {
    hooks?: Partial<HookEnvironment>;
    requestedBy?: string;
    events?: ProgressEvent[];
  } = {},
): Promise<OperationContext> {
  const repo = await openLocalRepo(bare);
  return {
    repo,
    actor: { requestedBy: options.requestedBy ?? 'alice', operationId: randomUUID() },
    progress: new Progress((e) => options.events?.push(e)),
    deployer: undefined,
    wait: false,
    timeoutMs: 30_000,
    now: Date.now,
    hooks: {
      secret: (name) => (name === 'HOOK_SECRET' ? SECRET : undefined),
      pending: { kind: 'poll', intervalMs: 20 },
      ...options.hooks,
    },
  };
}
