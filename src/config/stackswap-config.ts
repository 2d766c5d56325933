/**
 * `stackswap.yaml` at the root of the config repo: which stacks exist, their components, and
 * where their files, keys and Argo CD Applications are. Everything has a conventional default
 * (the layout of DESIGN.md), so a minimal stack entry is just its components; other layouts
 * (one shared ingress file with `global.<stack>Live`, one ingress app per stack) are spelled out.
 *
 * Templates: `{stack}`, `{colour}` and `{component}` are substituted in paths, keys and app names.
 */
import { z } from 'zod';
import { RESERVED_KEYS } from './names.ts';
import { COLOURS, type Colour, KeyPath, RepoPath, ResourceName } from './names.ts';
import { VerificationConfig, type VerificationConfigFile } from './verification-config.ts';
import {
  NotificationsConfig,
  resolveNotifications,
  type NotificationTarget,
} from './notifications-config.ts';
import { ViaMergeRequestSetting, type ViaMergeRequest } from './promotion-config.ts';
import { HOOK_POINTS, HooksConfig, type StackHooks } from './hooks-config.ts';
import { checkUrl, parseHostPattern, type HostPattern } from '../shared/hosts.ts';

const Template = z.string().min(1);

/** Also a key in values files (`{component}.image.tag`), where the YAML parser refuses these. */
const ComponentName = ResourceName.refine(
  (name) => !RESERVED_KEYS.has(name),
  'component name not allowed',
);

const ComponentSettings = z
  .object({
    /** Key path of the image tag in values-<colour>.yaml. Default: `{component}.image.tag`. */
    tagKey: Template.optional(),
  })
  .strict();

const Components = z.union([
  z.array(ComponentName).min(1, 'a stack needs at least one component'),
  z.record(ComponentName, ComponentSettings.nullable()),
]);

const Duration = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'a duration like "90s", "30m" or "2h"')
  .transform(parseDuration);

export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

const StackEntry = z
  .object({
    components: Components,
    /** Replicas of every component in the colour being deployed (the preview). */
    replicas: z.number().int().min(1).max(1000).default(2),
    namespaces: z
      .object({ blue: Template.default('{stack}-blue'), green: Template.default('{stack}-green') })
      .strict()
      .default({ blue: '{stack}-blue', green: '{stack}-green' }),
    values: z
      .object({
        /** Per-colour values file (replicas and image tags live here, never in a shared file). */
        colourFile: Template.default('apps/{stack}/values-{colour}.yaml'),
        replicasKey: Template.default('global.replicas'),
        tagKey: Template.default('{component}.image.tag'),
      })
      .strict()
      .default({
        colourFile: 'apps/{stack}/values-{colour}.yaml',
        replicasKey: 'global.replicas',
        tagKey: '{component}.image.tag',
      }),
    live: z
      .object({
        file: Template.default('apps/ingress/values.yaml'),
        key: Template.default('global.live'),
      })
      .strict()
      .default({ file: 'apps/ingress/values.yaml', key: 'global.live' }),
    plan: Template.default('releases/{stack}.yaml'),
    argocd: z
      .object({
        apps: z
          .object({
            blue: Template.default('{stack}-blue'),
            green: Template.default('{stack}-green'),
            ingress: Template.default('ingress'),
          })
          .strict()
          .default({ blue: '{stack}-blue', green: '{stack}-green', ingress: 'ingress' }),
        /** The app-of-apps that creates the others (optional; waited on with its children). */
        root: Template.optional(),
        /** A sync refused by an Argo CD sync window waits for it to open (within --timeout). */
        waitForWindow: z.boolean().default(false),
      })
      .strict()
      .default({
        apps: { blue: '{stack}-blue', green: '{stack}-green', ingress: 'ingress' },
        waitForWindow: false,
      }),
    /**
     * How long a colour must have been idle before `scale-down` takes its replicas to zero: a
     * duration ("30m"), or `{window, autoScaleDown}` where `autoScaleDown: true` has the service
     * scale the idle colour down itself once the window has passed.
     */
    retention: z
      .union([
        Duration.transform((window) => ({ window, autoScaleDown: false })),
        z
          .object({
            window: Duration.default(parseDuration('30m')),
            autoScaleDown: z.boolean().default(false),
          })
          .strict(),
      ])
      .default({ window: parseDuration('30m'), autoScaleDown: false }),
    // --- verification (issue 11): gates before, during and after a swap; see verification-config.ts
    verification: VerificationConfig.optional(),
    // --- notifications (issue 13): Slack and signed webhooks per event type; notifications-config.ts
    notifications: NotificationsConfig.optional(),
    // --- promotion (issue 12): how changes reach the branch; see promotion-config.ts
    promotion: z
      .object({
        viaMergeRequest: ViaMergeRequestSetting.default('never'),
        /** After a merge request's deploy into the preview, the service swaps (with verification). */
        autoSwap: z.boolean().default(false),
      })
      .strict()
      .default({ viaMergeRequest: 'never', autoSwap: false }),
    // --- lifecycle hooks (issue 13): HTTP endpoints that can veto; see hooks-config.ts
    hooks: HooksConfig.optional(),
  })
  .strict();

export const StackswapConfigFile = z
  .object({
    version: z.literal(1, { error: 'version must be 1' }),
    argocd: z
      .object({
        /** Namespace the Applications live in (Argo CD's `appNamespace`), when not Argo CD's own. */
        appNamespace: ResourceName.optional(),
        project: ResourceName.optional(),
      })
      .strict()
      .default({}),
    stacks: z.record(ResourceName, StackEntry).refine((s) => Object.keys(s).length > 0, {
      message: 'at least one stack is required',
    }),
  })
  .strict();
export type StackswapConfigFile = z.infer<typeof StackswapConfigFile>;

/** A stack with every template resolved and validated: what the rest of the code works with. */
export interface StackConfig {
  name: string;
  components: { name: string; tagKey: string[] }[];
  replicas: number;
  namespaces: Record<Colour, string>;
  colourValuesFile: Record<Colour, string>;
  replicasKey: string[];
  liveFile: string;
  liveKey: string[];
  planFile: string;
  apps: Record<Colour | 'ingress', string>;
  rootApp: string | undefined;
  retentionMs: number;
  /** Verification gates (absent: a swap flips at once, as before). */
  verification?: StackVerification | undefined;
  /** stacks.<name>.argocd.waitForWindow: wait for a closed sync window instead of failing. */
  waitForWindow?: boolean;
  /** `retention.autoScaleDown`: the service scales the idle colour down once the window passed. */
  autoScaleDown: boolean;
  /** Where the stack's events are sent (issue 13); absent: nowhere. */
  notifications?: NotificationTarget[];
  /** `promotion.viaMergeRequest`: push, or land changes through a merge request (issue 12). */
  viaMergeRequest: ViaMergeRequest;
  /** `promotion.autoSwap`: a merge request's deploy is followed by a verified swap (the service). */
  autoSwap?: boolean;
  /** Lifecycle hooks (absent: none), with their allowed hosts parsed. */
  hooks?: (StackHooks & { allowed: HostPattern[] }) | undefined;
}

/** The verification block with its weight key parsed (in `liveFile`). */
export type StackVerification = Omit<VerificationConfigFile, 'weightKey'> & {
  weightKey: string[];
};

export interface StackswapConfig {
  appNamespace: string | undefined;
  project: string | undefined;
  stacks: Map<string, StackConfig>;
}

export interface ResolveProblem {
  key: (string | number)[];
  message: string;
}

/**
 * Substitutes the templates and validates what they produce (paths stay in the repo, names are
 * DNS labels, keys parse). Problems are returned with the key path they come from.
 */
/** The app-of-apps of every stack (waited on with their children). */
export function rootApps(config: StackswapConfig): string[] {
  return [...config.stacks.values()].flatMap((s) => (s.rootApp ? [s.rootApp] : []));
}

/** Every Argo CD app of the stacks with `argocd.waitForWindow`: they wait for a closed sync window. */
export function appsWaitingForSyncWindows(config: StackswapConfig): string[] {
  return [...config.stacks.values()]
    .filter((s) => s.waitForWindow)
    .flatMap((s) => [s.apps.blue, s.apps.green, s.apps.ingress, ...(s.rootApp ? [s.rootApp] : [])]);
}

export function resolveConfig(file: StackswapConfigFile): StackswapConfig | ResolveProblem[] {
  const problems: ResolveProblem[] = [];
  const stacks = new Map<string, StackConfig>();
  for (const [name, entry] of Object.entries(file.stacks)) {
    const at = (...key: (string | number)[]) => ['stacks', name, ...key];
    const fill = (template: string, vars: Record<string, string> = {}) =>
      template.replace(/\{(stack|colour|component)\}/g, (m, v: string) =>
        v === 'stack' ? name : (vars[v] ?? m),
      );
    const check = <T>(schema: z.ZodType<T>, value: unknown, key: (string | number)[]): T => {
      const result = schema.safeParse(value);
      if (result.success) return result.data;
      problems.push({
        key,
        message: `${result.error.issues[0]?.message} (got "${String(value)}")`,
      });
      return value as T;
    };
    const path = (template: string, key: (string | number)[], vars?: Record<string, string>) =>
      check(RepoPath, fill(template, vars), key);
    const keyPath = (template: string, key: (string | number)[], vars?: Record<string, string>) => {
      const segments = check(KeyPath, fill(template, vars), key);
      const reserved = Array.isArray(segments) && segments.find((s) => RESERVED_KEYS.has(s));
      // The values files could never hold such a key: the YAML parser refuses it.
      if (reserved) problems.push({ key, message: `key ${reserved} is not allowed` });
      return segments;
    };
    const resource = (template: string, key: (string | number)[], vars?: Record<string, string>) =>
      check(ResourceName, fill(template, vars), key);

    const componentEntries: [string, z.infer<typeof ComponentSettings> | null][] = Array.isArray(
      entry.components,
    )
      ? entry.components.map((c) => [c, null])
      : Object.entries(entry.components);
    const components = componentEntries.map(([component, settings]) => ({
      name: component,
      tagKey: keyPath(
        settings?.tagKey ?? entry.values.tagKey,
        settings?.tagKey ? at('components', component, 'tagKey') : at('values', 'tagKey'),
        { component },
      ),
    }));

    const perColour = <T>(f: (colour: Colour) => T) =>
      Object.fromEntries(COLOURS.map((c) => [c, f(c)])) as Record<Colour, T>;
    const namespaces = perColour((c) => resource(entry.namespaces[c], at('namespaces', c)));
    if (namespaces.blue === namespaces.green) {
      problems.push({
        key: at('namespaces'),
        message: 'blue and green must be different namespaces',
      });
    }
    const colourValuesFile = perColour((c) =>
      path(entry.values.colourFile, at('values', 'colourFile'), { colour: c }),
    );
    if (colourValuesFile.blue === colourValuesFile.green) {
      problems.push({
        key: at('values', 'colourFile'),
        message: 'must contain {colour}: each colour needs its own values file',
      });
    }
    stacks.set(name, {
      name,
      components,
      replicas: entry.replicas,
      namespaces,
      colourValuesFile,
      replicasKey: keyPath(entry.values.replicasKey, at('values', 'replicasKey')),
      liveFile: path(entry.live.file, at('live', 'file')),
      liveKey: keyPath(entry.live.key, at('live', 'key')),
      planFile: path(entry.plan, at('plan')),
      apps: {
        ...perColour((c) => resource(entry.argocd.apps[c], at('argocd', 'apps', c))),
        ingress: resource(entry.argocd.apps.ingress, at('argocd', 'apps', 'ingress')),
      },
      rootApp:
        entry.argocd.root === undefined
          ? undefined
          : resource(entry.argocd.root, at('argocd', 'root')),
      retentionMs: entry.retention.window,
      autoScaleDown: entry.retention.autoScaleDown,
      verification: resolveVerification(
        entry.verification,
        (t, k) => keyPath(t, at('verification', ...k)),
        problems,
        at,
      ),
      waitForWindow: entry.argocd.waitForWindow,
      ...(entry.notifications
        ? { notifications: resolveNotifications(entry.notifications, problems, at) }
        : {}),
      viaMergeRequest: entry.promotion.viaMergeRequest,
      autoSwap: entry.promotion.autoSwap,
      ...(entry.hooks ? { hooks: resolveHooks(entry.hooks, problems, at) } : {}),
    });
  }
  checkSharedLiveKeys(stacks, problems);
  if (problems.length > 0) return problems;
  return { appNamespace: file.argocd.appNamespace, project: file.argocd.project, stacks };
}

// --- verification (issue 11)
function resolveVerification(
  block: VerificationConfigFile | undefined,
  keyPath: (template: string, key: (string | number)[]) => string[],
  problems: ResolveProblem[],
  at: (...key: (string | number)[]) => (string | number)[],
): StackVerification | undefined {
  if (!block) return undefined;
  const weights = block.steps.weights;
  if (weights.some((w, i) => i > 0 && w <= weights[i - 1]!)) {
    problems.push({
      key: at('verification', 'steps', 'weights'),
      message: 'weights must increase',
    });
  } else if (weights.length > 0 && weights.at(-1) !== 100) {
    problems.push({
      key: at('verification', 'steps', 'weights'),
      message: 'the last weight must be 100',
    });
  }
  return { ...block, weightKey: keyPath(block.weightKey, ['weightKey']) };
}

// --- lifecycle hooks (issue 13)
function resolveHooks(
  block: StackHooks | undefined,
  problems: ResolveProblem[],
  at: (...key: (string | number)[]) => (string | number)[],
): (StackHooks & { allowed: HostPattern[] }) | undefined {
  if (!block) return undefined;
  const allowed: HostPattern[] = [];
  block.allowedHosts.forEach((text, i) => {
    const parsed = parseHostPattern(text);
    if (typeof parsed === 'string')
      problems.push({ key: at('hooks', 'allowedHosts', i), message: parsed });
    else allowed.push(parsed);
  });
  for (const point of HOOK_POINTS) {
    block[point].forEach((hook, i) => {
      const verdict = checkUrl(hook.url, allowed, 'hooks.allowedHosts');
      if (!verdict.ok)
        problems.push({ key: at('hooks', point, i, 'url'), message: verdict.reason });
    });
  }
  return { ...block, allowed };
}

/** Two stacks writing the same live key would swap each other. */
function checkSharedLiveKeys(stacks: Map<string, StackConfig>, problems: ResolveProblem[]) {
  const seen = new Map<string, string>();
  for (const stack of stacks.values()) {
    const id = `${stack.liveFile}#${stack.liveKey.join('\u0000')}`;
    const other = seen.get(id);
    if (other) {
      problems.push({
        key: ['stacks', stack.name, 'live', 'key'],
        message: `stacks "${other}" and "${stack.name}" share the live key ${stack.liveKey.join('.')} in ${stack.liveFile}; give each stack its own key (e.g. global.{stack}Live)`,
      });
    }
    seen.set(id, stack.name);
  }
}
