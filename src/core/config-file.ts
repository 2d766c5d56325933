/**
 * Loads `stackswap.yaml` and release plans from the config repo and checks their structure
 * (the zod schemas, stack references, plans against stacks), but not the meaning of a
 * verification block: that needs the PromQL grammar and the CEL checker, which only the
 * commands that verify load (src/core/load-config.ts). Deploy, revert, scale-down and status
 * read the config through here, so they never load either.
 */
import { ValidationError } from '../shared/errors.ts';
import type { RepoReader } from '../shared/repo-files.ts';
import { parseYamlDocument, parseYamlValue, lineOfPath } from '../gitops/yaml-parse.ts';
import {
  StackswapConfigFile,
  resolveConfig,
  type StackConfig,
  type StackswapConfig,
} from '../config/stackswap-config.ts';
import { ReleasePlanFile, checkPlanAgainstStack, type Versions } from '../config/release-plan.ts';

export const CONFIG_FILE = 'stackswap.yaml';

/** The config at the repo's root, structurally checked (see the module comment). */
export async function loadStructuralConfig(repo: RepoReader): Promise<StackswapConfig> {
  return parseStructuralConfig(await readConfigSource(repo));
}

export async function readConfigSource(repo: RepoReader): Promise<string> {
  if (!(await repo.fileExists(CONFIG_FILE))) {
    throw new ValidationError(`the config repo has no ${CONFIG_FILE} at its root`, {
      where: { file: CONFIG_FILE },
      hint: 'is --repo / STACKSWAP_REPO the config repo, and --branch the right branch?',
    });
  }
  return repo.readFile(CONFIG_FILE);
}

export function parseStructuralConfig(source: string): StackswapConfig {
  const file = parseYamlValue(source, StackswapConfigFile, { file: CONFIG_FILE });
  const resolved = resolveConfig(file);
  if (!Array.isArray(resolved)) return resolved;
  return reportProblems(source, resolved);
}

/** Throws a ValidationError for the first problem (with its line), listing the others. */
export function reportProblems(
  source: string,
  resolved: { key: (string | number)[]; message: string }[],
): never {
  const doc = parseYamlDocument(source, { file: CONFIG_FILE });
  const [first, ...rest] = resolved;
  throw new ValidationError(first!.message, {
    where: {
      file: CONFIG_FILE,
      key: first!.key.join('.'),
      line: lineOfPath(doc, source, first!.key.map(String)),
    },
    ...(rest.length > 0
      ? { details: { moreProblems: rest.map((p) => `${p.key.join('.')}: ${p.message}`) } }
      : {}),
  });
}

export function stackOf(config: StackswapConfig, name: string): StackConfig {
  const stack = config.stacks.get(name);
  if (!stack) {
    throw new ValidationError(
      `unknown stack "${name}" (stacks in ${CONFIG_FILE}: ${[...config.stacks.keys()].join(', ')})`,
      { where: { file: CONFIG_FILE, key: 'stacks' } },
    );
  }
  return stack;
}

/** Reads the stack's release plan file (`releases/<stack>.yaml`) from the repo. */
export async function loadPlanFromRepo(repo: RepoReader, stack: StackConfig): Promise<Versions> {
  if (!(await repo.fileExists(stack.planFile))) {
    throw new ValidationError(`release plan ${stack.planFile} does not exist`, {
      where: { file: stack.planFile },
      hint: 'create it, or pass --plan FILE or --set component=version',
    });
  }
  return parsePlan(await repo.readFile(stack.planFile), stack, stack.planFile);
}

export function parsePlan(source: string, stack: StackConfig, file: string): Versions {
  const plan = parseYamlValue(source, ReleasePlanFile, { file });
  if (plan.stack !== undefined && plan.stack !== stack.name) {
    const doc = parseYamlDocument(source, { file });
    throw new ValidationError(`the plan is for stack "${plan.stack}", not "${stack.name}"`, {
      where: { file, key: 'stack', line: lineOfPath(doc, source, ['stack']) },
    });
  }
  try {
    return checkPlanAgainstStack(plan.components, stack, { file });
  } catch (e) {
    if (e instanceof ValidationError && e.where?.key) {
      const doc = parseYamlDocument(source, { file });
      const line = lineOfPath(doc, source, e.where.key.split('.'));
      throw new ValidationError(e.message, { where: { ...e.where, line } });
    }
    throw e;
  }
}
