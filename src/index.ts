/**
 * The library entry point: the pieces of stackswap that are useful on their own.
 * The CLI (`stackswap`) and the HTTP service are built from the same modules.
 */
export {
  setValue,
  setOrCreateValue,
  getScalar,
  type ScalarValue,
  type ValuesNotice,
} from './gitops/values-edit.ts';
export { changedValuePaths } from './gitops/values-diff.ts';
export { parseYamlDocument, parseYamlValue } from './gitops/yaml-parse.ts';
export { ConfigRepo, type RepoOptions } from './gitops/git/repo.ts';
export { ArgoCdClient } from './argocd/client.ts';
export { syncAndWait, waitForApp } from './argocd/wait.ts';
export { StackswapConfigFile, resolveConfig, type StackConfig } from './config/stackswap-config.ts';
export { ReleasePlanFile } from './config/release-plan.ts';
export {
  ExitCode,
  StackswapError,
  ValidationError,
  ConflictError,
  PreconditionError,
} from './shared/errors.ts';
export { Redactor } from './shared/redact.ts';
