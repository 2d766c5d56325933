/**
 * What the commands need beyond parsing their arguments: the config, git, the core operations
 * and the dry-run diff. program.ts imports this module only when a command runs (not for
 * `--help`, `--version` or a usage error), so start-up pays for commander alone. The Argo CD
 * client, the HTTP service and the sandbox are imported later still, by the commands that use
 * them.
 */
import type { StackswapConfig } from '../config/stackswap-config.ts';
import type { RepoReader } from '../shared/repo-files.ts';

export { loadStructuralConfig, parsePlan, stackOf } from '../core/config-file.ts';
export { WorktreeReader } from '../gitops/worktree-reader.ts';
export { deploy } from '../core/operations/deploy.ts';
export { revert } from '../core/operations/revert.ts';
export { scaleDown } from '../core/operations/scale-down.ts';
export { valuesSet } from '../core/operations/values-set.ts';
export { dotenvFor, history, inspectStack } from '../core/operations/inspect.ts';
export { planOperation } from '../core/plan-diff.ts';
export { Colour, parseKeyPath, repoPathProblem } from '../config/names.ts';
export { parseSetPairs } from '../config/release-plan.ts';
export { Session } from './session.ts';

// The verification grammar (PromQL) and the CEL checker load only for the commands that use
// them: swap and plan validate check the verification block, deploy and status do not.

/** The config with its verification blocks checked (src/core/load-config.ts). */
export async function loadConfig(repo: RepoReader): Promise<StackswapConfig> {
  return (await import('../core/load-config.ts')).loadConfig(repo);
}

type SwapModule = typeof import('../core/operations/swap.ts');

export async function swap(
  ...args: Parameters<SwapModule['swap']>
): ReturnType<SwapModule['swap']> {
  return (await import('../core/operations/swap.ts')).swap(...args);
}
