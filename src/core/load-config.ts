/**
 * Loads and validates `stackswap.yaml` completely: its structure (src/core/config-file.ts) and
 * the meaning of every verification block (PromQL, CEL conditions, templates, hosts). For the
 * commands that verify (swap, verify, plan validate) and the service; the others read the
 * config through config-file.ts and never load the grammar.
 */
import type { RepoReader } from '../shared/repo-files.ts';
import type { StackswapConfig } from '../config/stackswap-config.ts';
import { verificationProblems } from '../verify/validate.ts';
import { parseStructuralConfig, readConfigSource, reportProblems } from './config-file.ts';

export {
  CONFIG_FILE,
  loadPlanFromRepo,
  loadStructuralConfig,
  parsePlan,
  parseStructuralConfig,
  stackOf,
} from './config-file.ts';

export async function loadConfig(repo: RepoReader): Promise<StackswapConfig> {
  return parseConfig(await readConfigSource(repo));
}

export function parseConfig(source: string): StackswapConfig {
  const resolved = parseStructuralConfig(source);
  // Verification gates (PromQL, conditions, hosts) fail here, before any release uses them.
  const problems = [...resolved.stacks.values()].flatMap(verificationProblems);
  if (problems.length === 0) return resolved;
  return reportProblems(source, problems);
}
