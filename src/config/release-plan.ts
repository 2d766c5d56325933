/**
 * Release plans (`releases/<stack>.yaml`): the version of every component of a stack, changed
 * by merge requests and deployed as one unit.
 *
 *   stack: my-app            # optional; must match when present
 *   components:
 *     my-frontend: "1.4.0"   # versions are image tags, always strings (quote them)
 *     my-backend: "2.0.1"
 */
import { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
import { RESERVED_KEYS } from './names.ts';
import { ImageTag, ResourceName } from './names.ts';
import type { StackConfig } from './stackswap-config.ts';

export const COMPONENT_NAME_NOT_ALLOWED = 'component name not allowed';

/**
 * component -> version. `__proto__`, `constructor` and `prototype` are refused by name: a zod
 * record silently drops an own `__proto__` key, so it is checked on the input, before the record.
 * (Plan files never get this far with one: the YAML parser refuses those keys first.)
 */
const ComponentVersions = z.preprocess(
  (value, ctx) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const key of Object.keys(value)) {
        if (RESERVED_KEYS.has(key)) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: COMPONENT_NAME_NOT_ALLOWED,
            input: key,
          });
        }
      }
    }
    return value;
  },
  z.record(ResourceName, ImageTag),
);

export const ReleasePlanFile = z
  .object({
    stack: ResourceName.optional(),
    components: ComponentVersions,
  })
  .strict();
export type ReleasePlanFile = z.infer<typeof ReleasePlanFile>;

/** component -> version, complete for the stack. */
export type Versions = Record<string, string>;

/**
 * Checks a plan against the stack: every component present, no unknown ones, and the `stack`
 * field (when present) naming this stack. `where` names the file the plan came from.
 */
export function checkPlanAgainstStack(
  versions: Readonly<Record<string, string>>,
  stack: StackConfig,
  where: { file?: string },
): Versions {
  const known = new Set(stack.components.map((c) => c.name));
  for (const name of Object.keys(versions)) {
    if (!known.has(name)) {
      throw new ValidationError(
        `unknown component "${name}" for stack ${stack.name} (components: ${[...known].join(', ')})`,
        { where: { ...where, key: `components.${name}` } },
      );
    }
  }
  const missing = [...known].filter((c) => versions[c] === undefined);
  if (missing.length > 0) {
    throw new ValidationError(
      `the plan has no version for ${missing.join(', ')}: a release plan names every component of ${stack.name}`,
      { where: { ...where, key: 'components' } },
    );
  }
  return Object.fromEntries(stack.components.map((c) => [c.name, versions[c.name]!]));
}

/** `--set my-frontend=2.1.0` pairs, validated like plan entries. */
export function parseSetPairs(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new ValidationError(`--set "${pair}" must be component=version`, {
        where: { key: '--set' },
      });
    }
    const component = pair.slice(0, eq);
    const version = pair.slice(eq + 1);
    if (RESERVED_KEYS.has(component)) {
      throw new ValidationError(`--set "${pair}": ${COMPONENT_NAME_NOT_ALLOWED}`, {
        where: { key: '--set' },
      });
    }
    const name = ResourceName.safeParse(component);
    if (!name.success) {
      throw new ValidationError(`--set "${pair}": component ${name.error.issues[0]?.message}`, {
        where: { key: '--set' },
      });
    }
    const tag = ImageTag.safeParse(version);
    if (!tag.success) {
      throw new ValidationError(`--set "${pair}": ${tag.error.issues[0]?.message}`, {
        where: { key: '--set' },
      });
    }
    out[component] = version;
  }
  return out;
}
