/**
 * The `hooks` block of a stack in `stackswap.yaml` (issue 13): HTTP endpoints asked at the
 * lifecycle points of an operation, each able to veto it. Points follow AWS CodeDeploy's
 * lifecycle hooks; the answer contract is Flagger's synchronous webhook plus CodeDeploy/ECS's
 * delayed completion (see src/hooks/).
 *
 *   hooks:
 *     allowedHosts: [hooks.example.com, "*.internal:8443"]
 *     admins: [release-manager]        # may run the CLI with --no-hooks
 *     beforeSwap:
 *       - name: change-ticket
 *         url: https://hooks.example.com/stackswap
 *         secretEnv: CHANGE_TICKET_HOOK_SECRET
 *         timeout: 10s                  # for the HTTP answer
 *         pendingTimeout: 1h            # for a "pending" hook to report its verdict
 *         onTimeout: fail               # or pass; never silently passed by default
 *
 * Secrets are never inline: `secretEnv` names the environment variable that holds it.
 */
import { z } from 'zod';
import { ResourceName } from './names.ts';

export const HOOK_POINTS = [
  'beforeDeploy',
  'afterDeploy',
  'afterTestTraffic',
  'beforeSwap',
  'afterSwap',
  'beforeScaleDown',
] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

const DURATION = /^(\d+)(ms|s|m|h)$/;
const Duration = z
  .string()
  .regex(DURATION, 'a duration like "500ms", "10s", "5m" or "1h"')
  .transform((text) => {
    const [, n, unit] = DURATION.exec(text)!;
    return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  });

const HttpUrl = z
  .string()
  .min(1)
  .superRefine((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a URL` });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({
        code: 'custom',
        message: `a hook URL must be http or https, not ${url.protocol}`,
      });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: 'credentials in a hook URL are not allowed' });
    }
  });

export const HookEntry = z
  .object({
    name: ResourceName,
    url: HttpUrl,
    /** The environment variable holding the HMAC secret (never the secret itself). */
    secretEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'an environment variable name like MY_HOOK_SECRET'),
    /** Time for the HTTP answer (Flagger's default: 10 s). */
    timeout: Duration.pipe(z.number().min(100).max(600_000)).default(10_000),
    /** Time for a "pending" hook to report (CodeDeploy: one hour). */
    pendingTimeout: Duration.pipe(
      z
        .number()
        .min(1000)
        .max(7 * 24 * 3_600_000),
    ).default(3_600_000),
    onTimeout: z.enum(['fail', 'pass']).default('fail'),
    /** Largest answer read (bytes); a larger one fails the hook. */
    maxResponseBytes: z.number().int().min(64).max(1_048_576).default(65_536),
    /** Refused with a message that says what to do instead. */
    secret: z
      .never({
        error:
          'a hook secret is never written in stackswap.yaml: put it in an environment variable and name it in secretEnv',
      })
      .optional(),
  })
  .strict();
export type HookEntry = z.infer<typeof HookEntry>;

const PointList = z.array(HookEntry).default([]);

export const HooksConfig = z
  .object({
    /** Hosts hook URLs may point at (name, *.suffix, IP literal, optionally :port). */
    allowedHosts: z.array(z.string().min(1)).min(1, 'list the hosts hooks may call'),
    /** Requesters (as recorded in commits) who may run the CLI with --no-hooks. */
    admins: z.array(z.string().min(1)).default([]),
    beforeDeploy: PointList,
    afterDeploy: PointList,
    afterTestTraffic: PointList,
    beforeSwap: PointList,
    afterSwap: PointList,
    beforeScaleDown: PointList,
  })
  .strict()
  .superRefine((block, ctx) => {
    const names = new Set<string>();
    for (const point of HOOK_POINTS) {
      block[point].forEach((hook, i) => {
        const id = `${point}/${hook.name}`;
        if (names.has(id)) {
          ctx.addIssue({ code: 'custom', path: [point, i, 'name'], message: `duplicate ${id}` });
        }
        names.add(id);
      });
    }
  });
export type HooksConfigFile = z.infer<typeof HooksConfig>;

/**
 * A stack's hooks as the rest of the code sees them: every point present (possibly empty).
 * Hosts are checked against `allowedHosts` when the config is resolved.
 */
export type StackHooks = HooksConfigFile;
