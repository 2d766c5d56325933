/**
 * A deploy body checked against the stack before it is accepted (202): the versions it names
 * must be the stack's components, and together with the plan they must name every component.
 * The same rules the core's deploy applies (checkPlanAgainstStack, on the plan in the repo
 * unless `versions` is given, then the overrides on top), on the reader clone, so a request
 * that cannot succeed is a 400 at once, as its dry run would be, not a failed operation later.
 * The operation checks again on the state it commits on.
 */
import { loadPlanFromRepo } from '../../core/load-config.ts';
import { checkPlanAgainstStack } from '../../config/release-plan.ts';
import type { StackConfig } from '../../config/stackswap-config.ts';
import type { RepoReader } from '../../shared/repo-files.ts';
import type { DeployBody } from '../schemas.ts';

export async function checkDeployBody(
  repo: RepoReader,
  stack: StackConfig,
  body: Pick<DeployBody, 'versions' | 'overrides'>,
): Promise<void> {
  const overrides = body.overrides ?? {};
  let base: Record<string, string>;
  if (body.versions) {
    base = checkPlanAgainstStack(body.versions, stack, { file: 'versions' });
  } else if (await repo.fileExists(stack.planFile)) {
    base = await loadPlanFromRepo(repo, stack);
  } else {
    base = {};
  }
  checkPlanAgainstStack({ ...base, ...overrides }, stack, { file: 'overrides' });
}
