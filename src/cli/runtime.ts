/**
 * What the commands need beyond parsing their arguments: the config, git, the core operations
 * and the dry-run diff. program.ts imports this module only when a command runs (not for
 * `--help`, `--version` or a usage error), so start-up pays for commander alone. The Argo CD
 * client, the HTTP service and the sandbox are imported later still, by the commands that use
 * them.
 */
export { loadConfig, parsePlan, stackOf } from '../core/load-config.ts';
export { WorktreeReader } from '../gitops/worktree-reader.ts';
export { deploy } from '../core/operations/deploy.ts';
export { swap } from '../core/operations/swap.ts';
export { revert } from '../core/operations/revert.ts';
export { scaleDown } from '../core/operations/scale-down.ts';
export { valuesSet } from '../core/operations/values-set.ts';
export { dotenvFor, history, inspectStack } from '../core/operations/inspect.ts';
export { planOperation } from '../core/plan-diff.ts';
export { Colour, parseKeyPath, repoPathProblem } from '../config/names.ts';
export { parseSetPairs } from '../config/release-plan.ts';
export { Session } from './session.ts';
