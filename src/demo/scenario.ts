/**
 * What the demo does, as data: the phases (each tallied under its name by the load), the CLI
 * calls of each phase, and the one-line description of each call's result. The whole-stack
 * phases go through stackswap's own commands; the rolling phase edits the live colour in place,
 * one service at a time, as a per-service pipeline would.
 */
import { z } from 'zod';
import { Colour } from '../config/names.ts';

export type DemoOperation =
  'init' | 'deploy' | 'swap' | 'revert' | 'scale-down' | 'rolling' | 'bad-release';

/** What the scenario knows about the stack between steps (from the CLI's results). */
export interface ScenarioState {
  live: Colour;
}

export interface StepSpec {
  label: string;
  /** CLI calls, in order (most steps make one). */
  calls: string[][];
  /** Moves the CLI's clock forward before the first call. */
  advanceClockMs?: number;
  /** The exit code this step must end with (a release verification stops: 9). Default 0. */
  expectExit?: number;
  /** One line about the results; may update `state`. */
  describe(results: unknown[], state: ScenarioState): string;
}

export interface PhaseSpec {
  /** The load's phase label. */
  name: string;
  kind: 'whole-stack' | 'rolling' | 'bad-release';
  operation: DemoOperation;
  /** Moves live traffic to the other colour (swap, revert). */
  switchesTraffic: boolean;
  /** Printed before the phase's first step. */
  intro?: string;
  steps(state: ScenarioState): StepSpec[];
}

export const STACK = 'my-app';
export const HOST = 'my-app.example.com';
export const COMPONENTS = ['my-frontend', 'my-backend'] as const;
/** Apps synced once to reach the deployed start state (blue live at 1.0.0). */
export const START_APPS = ['my-app-blue', 'my-app-green', 'ingress'] as const;
/** stackswap.yaml keeps an idle colour for 30m; the CLI's clock jumps past that. */
export const RETENTION_JUMP_MS = 31 * 60_000;

/** Brings the sandbox to the deployed start state: every app synced once. */
export const SETUP_STEP: StepSpec = {
  label: 'sync apps',
  calls: START_APPS.map((app) => ['app', 'sync', app]),
  describe: (results) => describeStartSync(results),
};

/** The bad release of the demo: Healthy in Argo CD, failing a share of requests. */
export interface BadRelease {
  version: string;
  /** With Prometheus: weighted steps catch it; without, the pre-swap checks do. */
  analysis: boolean;
  /** The first step's share of traffic (the stack's first weight). */
  firstStep: number;
}

export function demoPhases(
  versions: { first: string; second: string; rolling: string },
  bad?: BadRelease,
): PhaseSpec[] {
  // With the verification gates on, a good swap runs the pre-swap checks and the post-swap
  // window (one flip: --steps 100); without Prometheus the window could only fail closed.
  const swapArgs = bad?.analysis ? ['swap', '--steps', '100'] : ['swap', '--no-verify'];
  const badPhase: PhaseSpec[] = bad
    ? [
        {
          name: `bad ${bad.version}`,
          kind: 'bad-release',
          operation: 'bad-release',
          switchesTraffic: false,
          intro: bad.analysis
            ? `a bad release: Healthy in Argo CD, its health check passes, but it fails a share of user requests; swapped with steps`
            : `a bad release: Healthy in Argo CD, answering 500 (Prometheus is not installed: the checks must catch it)`,
          steps: () => [
            deployStep(bad.version),
            {
              label: 'swap (gated)',
              calls: [['swap']],
              expectExit: 9,
              describe: () => '',
            },
          ],
        },
      ]
    : [];
  return [
    phase('init', 'init', [step('init', ['init'], describeInit)]),
    phase(`deploy ${versions.first}`, 'deploy', [deployStep(versions.first)]),
    phase(`swap ${versions.first}`, 'swap', [step('swap', swapArgs, describeOperation)]),
    phase('revert', 'revert', [step('revert', ['revert'], describeOperation)]),
    phase(`deploy ${versions.second}`, 'deploy', [deployStep(versions.second)]),
    phase(`swap ${versions.second}`, 'swap', [step('swap', swapArgs, describeOperation)]),
    ...badPhase,
    {
      ...phase('scale-down', 'scale-down', [
        {
          ...step('scale-down', ['scale-down'], describeOperation),
          advanceClockMs: RETENTION_JUMP_MS,
        },
      ]),
      // The real retention check, not --force: the CLI's injected clock jumps ahead.
      intro: `the CLI's clock moves ${RETENTION_JUMP_MS / 60_000}m ahead, past the idle colour's retention window (30m)`,
    },
    {
      name: 'rolling',
      kind: 'rolling',
      operation: 'rolling',
      switchesTraffic: false,
      intro: 'the peer, a rolling update: the live colour updated in place, one service at a time',
      steps: (state) =>
        // Backend first, as a per-service pipeline that keeps the API compatible would.
        (['my-backend', 'my-frontend'] as const).flatMap((component) => {
          const file = `apps/${STACK}/values-${state.live}.yaml`;
          const app = `${STACK}-${state.live}`;
          return [
            step(
              `set ${component} ${versions.rolling}`,
              ['values', 'set', file, `${component}.image.tag=${versions.rolling}`],
              describeValuesSet,
            ),
            step(`sync ${app}`, ['app', 'sync', app], describeAppSync),
          ];
        }),
    },
  ];
}

function phase(name: string, operation: DemoOperation, steps: StepSpec[]): PhaseSpec {
  return {
    name,
    kind: 'whole-stack',
    operation,
    switchesTraffic: operation === 'swap' || operation === 'revert',
    steps: () => steps,
  };
}

function step(
  label: string,
  argv: string[],
  describe: (result: unknown, state: ScenarioState) => string,
): StepSpec {
  return { label, calls: [argv], describe: (results, state) => describe(results[0], state) };
}

function deployStep(version: string): StepSpec {
  return step(
    `deploy ${version}`,
    ['deploy', ...COMPONENTS.flatMap((c) => ['--set', `${c}=${version}`])],
    describeOperation,
  );
}

// The parts of the CLI's JSON results the demo reads (the CLI prints more).
const AppStatus = z.object({ app: z.string(), syncStatus: z.string(), health: z.string() }).loose();
const OperationResult = z
  .object({
    operation: z.string(),
    committed: z.boolean(),
    sha: z.string(),
    summary: z.string(),
    live: Colour,
    preview: Colour,
    apps: z.array(AppStatus),
    details: z
      .object({ versions: z.record(z.string(), z.string()).optional() })
      .loose()
      .optional(),
  })
  .loose();
const ColourState = z
  .object({ replicas: z.number(), versions: z.record(z.string(), z.string().nullable()) })
  .loose();
const InitResult = z
  .object({
    live: Colour,
    preview: Colour,
    colours: z.object({ blue: ColourState, green: ColourState }),
  })
  .loose();
const ValuesSetResult = z
  .object({ committed: z.boolean(), sha: z.string(), file: z.string() })
  .loose();
const AppSyncResult = z
  .object({ app: z.string(), revision: z.string(), syncStatus: z.string(), health: z.string() })
  .loose();

const UNREADABLE = '(result not readable)';

function describeInit(result: unknown, state: ScenarioState): string {
  const parsed = InitResult.safeParse(result);
  if (!parsed.success) return UNREADABLE;
  const r = parsed.data;
  state.live = r.live;
  const colour = (c: Colour) =>
    `${c} ${versionsText(r.colours[c].versions)} (${r.colours[c].replicas} replicas)`;
  return `live ${colour(r.live)}, preview ${colour(r.preview)}`;
}

/** deploy, swap, revert, scale-down: what changed, the commit, and the apps it synced. */
function describeOperation(result: unknown, state: ScenarioState): string {
  const parsed = OperationResult.safeParse(result);
  if (!parsed.success) return UNREADABLE;
  const r = parsed.data;
  state.live = r.live;
  const what =
    r.operation === 'deploy' && r.details?.versions
      ? `${r.preview} (preview) runs ${versionsText(r.details.versions)}`
      : // The CLI's own summary without the stack name, up to its first clause.
        r.summary.replace(/^[^:]*: /, '').split(';')[0]!;
  const commit = r.committed ? `pushed ${short(r.sha)}` : `unchanged at ${short(r.sha)}`;
  const apps = r.apps.map((a) => `${a.app} ${a.syncStatus}, ${a.health}`).join('; ');
  return [what, commit, apps].filter(Boolean).join('; ');
}

function describeStartSync(results: unknown[]): string {
  const apps = results.map((r) => AppSyncResult.safeParse(r));
  const states = apps.map((a) =>
    a.success ? `${a.data.syncStatus}, ${a.data.health} at ${short(a.data.revision)}` : undefined,
  );
  if (states.some((s) => s === undefined)) return UNREADABLE;
  // One clause when every app ended the same way (the usual case), else one per app.
  if (new Set(states).size === 1) return `${START_APPS.join(', ')} ${states[0]!}`;
  return START_APPS.map((app, i) => `${app} ${states[i]!}`).join('; ');
}

function describeValuesSet(result: unknown): string {
  const parsed = ValuesSetResult.safeParse(result);
  if (!parsed.success) return UNREADABLE;
  const r = parsed.data;
  return `${r.committed ? 'pushed' : 'unchanged at'} ${short(r.sha)} (${r.file})`;
}

function describeAppSync(result: unknown): string {
  const parsed = AppSyncResult.safeParse(result);
  if (!parsed.success) return UNREADABLE;
  const r = parsed.data;
  return `${r.syncStatus} at ${short(r.revision)}, ${r.health}`;
}

/** `1.1.0` when every component runs it, else `my-frontend=1.1.0 my-backend=1.0.0`. */
function versionsText(versions: Record<string, string | null>): string {
  const distinct = new Set(Object.values(versions));
  if (distinct.size === 1) return String([...distinct][0] ?? '-');
  return Object.entries(versions)
    .map(([c, v]) => `${c}=${v ?? '-'}`)
    .join(' ');
}

function short(sha: string): string {
  return sha.slice(0, 12);
}
