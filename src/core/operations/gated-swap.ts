/**
 * A swap with verification gates (issue 11), used by `swap` when the stack has a
 * `verification` block or `--steps` is given:
 *
 * 1. pre-swap: the checks and analysis on the preview, before any user traffic. A failure
 *    stops here: nothing is committed.
 * 2. weighted steps: one commit per step setting `previewWeight`, each synced and waited at its
 *    SHA, then the analysis on the preview (compared with live). A failure sends the weight
 *    back to 0 in one commit (`swap-abort`) carrying the reason.
 * 3. 100 %: `global.live` flipped and `previewWeight` 0 in one commit (the `swap`).
 * 4. post-swap window: the new live colour is watched; a failure reverts to the colour that is
 *    still running, in one `revert` commit carrying the reason.
 *
 * Every stop exits with `verification-failed` (exit 9); a rollback that fails is
 * `rollback-failed` (exit 10, saying where traffic may be and how to move it); an interrupted
 * gate is `verification-interrupted` (exit 11), never a pass.
 */
import { StackswapError, isStackswapError } from '../../shared/errors.ts';
import { commitMessage } from '../audit.ts';
import { formatVersions, readStackState } from '../stack-state.ts';
import { otherColour, type Colour } from '../../config/names.ts';
import type { StackConfig, StackVerification } from '../../config/stackswap-config.ts';
import type { Transaction } from '../../gitops/git/repo.ts';
import { editValues, commitStep, operationResult, syncStep } from './commit-and-sync.ts';
import type { OperationContext, OperationResult } from './context.ts';
import { runGate, select, type GateEvent, type GateVerdict } from '../../verify/gate.ts';
import { allowedHostPatterns, templateValues, type ColourVersions } from '../../verify/validate.ts';
import { verifyRuntime, type VerifyRuntime } from '../../verify/runtime.ts';
import { fmt } from '../../verify/analysis.ts';
import { rejectionEdit } from '../rejected.ts';
import { hasHooks } from '../hook-gate.ts';
import { emitStackEvent, versionSets } from '../events.ts';
import { afterSwapGate, beforeTrafficGates, resumeAfterSwap, swapEvent } from './swap-lifecycle.ts';

export interface GatedSwapRequest {
  stack: string;
  to?: Colour;
  /** Weights in percent ending at 100; default the stack's `verification.steps.weights`. */
  steps?: number[];
}

/** Checks the target may be swapped to (from swap.ts) and resolves it. */
export type SwapPreconditions = (
  tx: Transaction,
  stack: StackConfig,
  to: Colour | undefined,
  checkArgo: boolean,
) => Promise<
  | {
      target: Colour;
      live: Colour;
      /** Image tag per component of each colour at that commit (`{version}` of the gates). */
      versions: Record<Colour, ColourVersions>;
    }
  | 'already-live'
>;

const DEFAULT_VERIFICATION_WEIGHT_KEY = ['global', 'previewWeight'];

export async function gatedSwap(
  ctx: OperationContext,
  request: GatedSwapRequest,
  stack: StackConfig,
  preconditions: SwapPreconditions,
): Promise<OperationResult | undefined> {
  const v = stack.verification;
  const weights = request.steps ?? v?.steps.weights ?? [];
  if (!v && weights.length === 0 && !hasHooks(stack)) return undefined;
  const weightKey = v?.weightKey ?? DEFAULT_VERIFICATION_WEIGHT_KEY;
  const runtime = v ? verifyRuntime(v, ctx.verify) : undefined;
  const verdicts: GateVerdict[] = [];
  try {
    // Preconditions (and the target) on the synced head, read-only: nothing changes before
    // the pre-swap gate passed.
    await ctx.repo.sync();
    const resolved = await ctx.repo.plan(async (tx) => ({
      kind: 'noop',
      result: await preconditions(tx, stack, request.to, true),
    }));
    const resolution = resolved.plan.result;
    if (resolution === 'already-live') {
      // An afterSwap hook cut off by a restart is resumed, never left open (issue 13).
      await resumeAfterSwap(ctx, stack, resolved.baseSha);
      return undefined; // plain swap reports the no-op
    }
    const { target, live, versions } = resolution;
    const deadline = (runtime?.clock.now() ?? ctx.now()) + ctx.timeoutMs;
    const gate = (phase: string, kind: 'preSwap' | 'steps' | 'postSwap', colourUnderTest: Colour) =>
      runPhase(ctx, v!, runtime!, stack, {
        phase,
        kind,
        colour: colourUnderTest,
        preview: kind !== 'postSwap',
        liveColour: kind === 'steps' ? live : undefined,
        versions,
        deadline,
      });

    if (v) {
      const pre = await gate(`pre-swap on ${target}`, 'preSwap', target);
      verdicts.push(pre);
      // A stop before any traffic commits only the rejected-release record (src/core/rejected.ts),
      // so that it shows in history and status and automation does not retry the same set.
      const recorded =
        pre.result === 'failed' || pre.result === 'inconclusive'
          ? await recordStop(ctx, stack, pre, { at: resolved.baseSha, target, live, versions })
          : '';
      stopUnlessPassed(pre, {
        stopped: `the swap to ${target} was stopped before any user traffic; ${recorded}`,
        stack,
        verdicts,
      });
    }
    // Hooks (issue 13): afterTestTraffic and beforeSwap, before any user traffic.
    const view = { live, target, versions };
    await beforeTrafficGates(
      ctx,
      stack,
      view,
      resolved.baseSha,
      verdicts[0] && summarise(verdicts[0]),
    );

    for (const weight of weights.filter((w) => w < 100)) {
      const phase = `step ${weight}% on ${target}`;
      const step = await commitStep(
        ctx,
        `swap ${stack.name}: ${weight}% to ${target}`,
        async (tx) => {
          const state = await readStackState(tx, stack);
          if (state.live === target) return { kind: 'noop', result: undefined };
          const source = await tx.readFile(stack.liveFile);
          return {
            kind: 'commit',
            files: {
              [stack.liveFile]: editValues(source, stack.liveFile, [[weightKey, weight]]),
            },
            message: commitMessage(
              `swap ${stack.name}: ${weight}% of traffic to ${target}`,
              'swap-step',
              stack.name,
              ctx.actor,
              { from: live, to: target, weight: String(weight) },
            ),
            result: undefined,
          };
        },
      );
      let verdict: GateVerdict | undefined;
      try {
        await syncStep(ctx, stack.apps.ingress, step.sha);
      } catch (e) {
        // Interrupted while the step synced: stopped like a gate that was interrupted.
        if (!ctx.signal?.aborted) throw e;
        const at = runtime?.clock.now() ?? ctx.now();
        verdict = {
          phase,
          result: 'interrupted',
          reason: `${phase} was interrupted before it finished: not verified`,
          checks: [],
          metrics: [],
          startedAt: at,
          endedAt: at,
        };
      }
      if (!verdict) {
        swapEvent(ctx, stack, view, {
          type: 'traffic.step',
          commit: { sha: step.sha },
          data: { weight, to: target },
        });
      }
      if (!v && !verdict) continue;
      verdict ??= await gate(phase, 'steps', target);
      verdicts.push(verdict);
      if (verdict.result === 'passed') continue;
      // Failed, inconclusive held to the timeout, or interrupted (Ctrl-C, shutdown: an unverified
      // share of users is not left on it): the weight goes back to 0 in one commit. Only a
      // verdict rejects the release; an interruption does not.
      const stoppedBy = verdict.result === 'interrupted' ? 'an interruption' : 'verification';
      const aborted = await rollBack(ctx, stack, verdict, verdicts, {
        title: `swap ${stack.name}: stop at ${weight}%, weight back to 0`,
        badColour: target,
        attempt: async (tx) => {
          const source = await tx.readFile(stack.liveFile);
          const rejection =
            verdict.result === 'interrupted'
              ? undefined
              : await rejectionEdit(tx, stack.name, {
                  versions: versions[target],
                  at: step.sha,
                  operation: 'swap-abort',
                  actor: ctx.actor,
                  reason: `${verdict.phase}: ${verdict.reason ?? verdict.result}`,
                  now: ctx.now(),
                });
          return {
            kind: 'commit',
            files: {
              [stack.liveFile]: editValues(source, stack.liveFile, [[weightKey, 0]]),
              ...rejection,
            },
            message: commitMessage(
              `swap ${stack.name}: stopped at ${weight}% by ${stoppedBy}, weight back to 0`,
              'swap-abort',
              stack.name,
              ctx.actor,
              {
                from: live,
                to: target,
                weight: '0',
                ...verificationTrailers(verdict),
                ...(rejection ? { rejected: formatVersions(versions[target]) } : {}),
              },
            ),
            result: undefined,
          };
        },
        howToMove: `stackswap values set ${stack.liveFile} '${weightKey.join('.')}:=0'`,
      });
      swapEvent(ctx, stack, view, {
        type: 'traffic.step',
        automatic: true,
        reason: verdict.reason,
        commit: { sha: aborted },
        data: { weight: 0, to: target, stoppedAt: weight },
      });
      if (verdict.result === 'interrupted') {
        throw interrupted(verdict, stack, verdicts, {
          where: `the weight is back to 0 (commit ${aborted.slice(0, 12)}), all traffic on ${live}`,
          hint: `run the swap again: stackswap swap --stack ${stack.name}`,
        });
      }
      throw verificationFailed(verdict, stack, verdicts, {
        stopped: `the swap to ${target} was stopped at ${weight}%: the weight is back to 0 (commit ${aborted.slice(0, 12)}), all traffic on ${live}`,
        rolledBackSha: aborted,
      });
    }

    // 100 %: flip live and reset the weight in one commit.
    const flip = await commitStep(ctx, `swap ${stack.name}`, async (tx) => {
      const state = await readStackState(tx, stack);
      if (state.live === target) return { kind: 'noop', result: undefined };
      if (weights.length <= 1) await preconditions(tx, stack, target, true);
      const source = await tx.readFile(stack.liveFile);
      const edits: [string[], string | number][] = [[stack.liveKey, target]];
      if (weights.length > 1 || (await hasKey(tx, stack, weightKey))) edits.push([weightKey, 0]);
      return {
        kind: 'commit',
        files: { [stack.liveFile]: editValues(source, stack.liveFile, edits) },
        message: commitMessage(
          `swap ${stack.name}: live ${state.live} -> ${target}`,
          'swap',
          stack.name,
          ctx.actor,
          {
            from: state.live,
            to: target,
            versions: formatVersions(state.colours[target].versions),
            ...(v ? { verification: 'passed' } : {}),
          },
        ),
        result: undefined,
      };
    });
    const apps = await syncStep(ctx, stack.apps.ingress, flip.sha);
    if (flip.committed) {
      swapEvent(ctx, stack, view, {
        type: 'swap.finished',
        live: target,
        commit: { sha: flip.sha },
        data: { from: live, to: target },
      });
      await afterSwapGate(ctx, stack, view, flip.sha);
    }

    if (v && v.postSwap.window > 0) {
      const post = await gate(`post-swap window on ${target}`, 'postSwap', target);
      verdicts.push(post);
      if (post.result === 'interrupted') {
        throw interrupted(post, stack, verdicts, {
          where: `${target} is live and its post-swap window did not finish`,
          hint: `check it with: stackswap verify --stack ${stack.name} --colour ${target}; revert with: stackswap revert --stack ${stack.name}`,
        });
      }
      if (post.result !== 'passed') {
        if (v.postSwap.onFailure === 'report') {
          throw verificationFailed(post, stack, verdicts, {
            stopped: `${target} stays live (postSwap.onFailure: report); revert with: stackswap revert --stack ${stack.name}`,
          });
        }
        const reverted = await rollBack(ctx, stack, post, verdicts, {
          title: `revert ${stack.name}: live ${target} -> ${live} (post-swap verification failed)`,
          badColour: target,
          attempt: async (tx) => {
            const state = await readStackState(tx, stack);
            if (state.live === live) return { kind: 'noop', result: undefined };
            const source = await tx.readFile(stack.liveFile);
            const rejection = await rejectionEdit(tx, stack.name, {
              versions: state.colours[target].versions,
              at: flip.sha,
              operation: 'revert',
              actor: ctx.actor,
              reason: `${post.phase}: ${post.reason ?? post.result}`,
              now: ctx.now(),
            });
            return {
              kind: 'commit',
              files: {
                [stack.liveFile]: editValues(source, stack.liveFile, [[stack.liveKey, live]]),
                ...rejection,
              },
              message: commitMessage(
                `revert ${stack.name}: live ${target} -> ${live} (post-swap verification failed; undoes ${flip.sha.slice(0, 12)})`,
                'revert',
                stack.name,
                ctx.actor,
                {
                  from: target,
                  to: live,
                  versions: formatVersions(state.colours[live].versions),
                  ...verificationTrailers(post),
                  ...(rejection
                    ? { rejected: formatVersions(state.colours[target].versions) }
                    : {}),
                },
              ),
              result: undefined,
            };
          },
          howToMove: `stackswap swap --stack ${stack.name} --to ${live}`,
        });
        swapEvent(ctx, stack, view, {
          type: 'revert.finished',
          automatic: true,
          reason: post.reason,
          commit: { sha: reverted },
          data: { from: target, to: live, undoes: flip.sha, trigger: 'post-swap verification' },
        });
        throw verificationFailed(post, stack, verdicts, {
          stopped: `${target} was reverted automatically: ${live} is live again (commit ${reverted.slice(0, 12)})`,
          rolledBackSha: reverted,
        });
      }
    }

    return operationResult(ctx, 'swap', stack.name, flip, {
      summary: flip.committed
        ? `${stack.name}: live ${live} -> ${target}${v ? ` (verified: ${verdicts.map((d) => d.phase).join(', ')})` : ''}`
        : `${stack.name}: ${target} is already live; nothing to swap`,
      live: target,
      preview: otherColour(target),
      apps,
      ...(v ? { details: { verification: verdicts.map(summarise) } } : {}),
    });
  } finally {
    await runtime?.close();
  }
}

interface PhaseRequest {
  phase: string;
  kind: 'preSwap' | 'steps' | 'postSwap';
  colour: Colour;
  preview: boolean;
  liveColour: Colour | undefined;
  /** Image tag per component of each colour, for `{version}`. */
  versions: Record<Colour, ColourVersions>;
  deadline: number;
}

/** Runs one phase as a progress step, each measurement an info line. */
export function runPhase(
  ctx: OperationContext,
  v: StackVerification,
  runtime: VerifyRuntime,
  stack: StackConfig,
  request: PhaseRequest,
): Promise<GateVerdict> {
  const selection = v[request.kind];
  const checks = select(v.checks, selection.checks);
  const analysis = select(v.analysis, selection.analysis);
  const window = request.kind === 'postSwap' ? v.postSwap.window : 0;
  const verdict = ctx.progress.step(
    'verify',
    `${request.phase}: ${checks.length} check(s), ${analysis.length} metric(s)${window ? ` for ${window / 1000}s` : ''}`,
    () =>
      runGate({
        phase: request.phase,
        checks,
        analysis,
        target: {
          values: templateValues(
            stack,
            request.colour,
            undefined,
            request.versions[request.colour],
          ),
          ingress: runtime.ingress,
          preview: request.preview,
          allowed: allowedHostPatterns(v),
        },
        values: templateValues(stack, request.colour, undefined, request.versions[request.colour]),
        versions: request.versions[request.colour],
        ...(request.liveColour
          ? {
              liveValues: templateValues(
                stack,
                request.liveColour,
                undefined,
                request.versions[request.liveColour],
              ),
              liveVersions: request.versions[request.liveColour],
            }
          : {}),
        ...(window ? { countOf: (m) => Math.max(1, Math.floor(window / m.interval)) } : {}),
        onInconclusive: v.onInconclusive,
        deadline: request.deadline,
        prometheus: runtime.prometheus,
        dispatcher: runtime.dispatcher,
        clock: runtime.clock,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onEvent: (e: GateEvent) => ctx.progress.info(e.text, 'verify'),
      }),
    (verdict) =>
      verdict.result === 'passed'
        ? verdict.passedInconclusive
          ? `passed with an inconclusive metric (onInconclusive: pass): ${verdict.reason}`
          : 'passed'
        : `${verdict.result}: ${verdict.reason}`,
  );
  // Each verdict is a lifecycle event (issue 13); the live colour is the one not under test,
  // except in the post-swap window.
  return verdict.then((d) => {
    const live = request.kind === 'postSwap' ? request.colour : otherColour(request.colour);
    emitStackEvent(ctx, stack.name, 'swap', {
      type: 'verification.result',
      live,
      preview: otherColour(live),
      versions: versionSets(request.versions),
      ...(d.result === 'passed' ? {} : { reason: d.reason }),
      data: { ...summarise(d), kind: request.kind, colour: request.colour },
    });
    return d;
  });
}

function stopUnlessPassed(
  verdict: GateVerdict,
  context: { stopped: string; stack: StackConfig; verdicts: GateVerdict[] },
): void {
  if (verdict.result === 'passed') return;
  if (verdict.result === 'interrupted') {
    throw interrupted(verdict, context.stack, context.verdicts, {
      where: 'nothing was committed',
      hint: `run the swap again: stackswap swap --stack ${context.stack.name}`,
    });
  }
  throw verificationFailed(verdict, context.stack, context.verdicts, { stopped: context.stopped });
}

async function rollBack(
  ctx: OperationContext,
  stack: StackConfig,
  verdict: GateVerdict,
  verdicts: GateVerdict[],
  options: {
    title: string;
    badColour: Colour;
    attempt: Parameters<typeof commitStep<undefined>>[2];
    howToMove: string;
  },
): Promise<string> {
  // The rollback must happen even when the run was asked to stop: a fresh context without it.
  const rollbackCtx: OperationContext = { ...ctx };
  delete rollbackCtx.signal;
  try {
    const outcome = await commitStep(rollbackCtx, options.title, options.attempt);
    await syncStep(rollbackCtx, stack.apps.ingress, outcome.sha);
    return outcome.sha;
  } catch (e) {
    throw new StackswapError(
      'rollback-failed',
      `verification failed (${verdict.reason}) and the rollback failed: ${isStackswapError(e) ? e.message : String(e)}; traffic may still be on ${options.badColour}`,
      {
        hint: `move it by hand: ${options.howToMove}`,
        details: { verification: verdicts.map(summarise), badColour: options.badColour },
        cause: e,
      },
    );
  }
}

function verificationFailed(
  verdict: GateVerdict,
  stack: StackConfig,
  verdicts: GateVerdict[],
  outcome: { stopped: string; rolledBackSha?: string },
): StackswapError {
  return new StackswapError(
    'verification-failed',
    `verification failed at ${verdict.phase}: ${verdict.reason}; ${outcome.stopped}`,
    {
      hint: `see why with: stackswap history --stack ${stack.name}; check a colour with: stackswap verify --stack ${stack.name} --colour <colour>`,
      details: {
        verification: verdicts.map(summarise),
        ...(outcome.rolledBackSha ? { rolledBack: outcome.rolledBackSha } : {}),
      },
    },
  );
}

function interrupted(
  verdict: GateVerdict,
  stack: StackConfig,
  verdicts: GateVerdict[],
  context: { where: string; hint: string },
): StackswapError {
  return new StackswapError(
    'verification-interrupted',
    `${verdict.phase} was interrupted after ${Math.round((verdict.endedAt - verdict.startedAt) / 1000)}s, before its verdict: not verified; ${context.where}`,
    { hint: context.hint, details: { verification: verdicts.map(summarise), stack: stack.name } },
  );
}

function verificationTrailers(verdict: GateVerdict): Partial<Record<string, string>> {
  return {
    verification: verdict.result,
    verificationPhase: verdict.phase,
    ...(verdict.metric ? { verificationMetric: verdict.metric } : {}),
    ...(verdict.value !== undefined ? { verificationValue: fmt(verdict.value) } : {}),
    ...(verdict.condition ? { verificationCondition: verdict.condition } : {}),
    ...(verdict.reason ? { verificationReason: verdict.reason } : {}),
  };
}

/** A verdict for JSON output and error details (measurements kept, bounded). */
export function summarise(verdict: GateVerdict) {
  return {
    phase: verdict.phase,
    result: verdict.result,
    ...(verdict.reason ? { reason: verdict.reason } : {}),
    ...(verdict.metric ? { metric: verdict.metric } : {}),
    ...(verdict.value !== undefined ? { value: verdict.value } : {}),
    ...(verdict.condition ? { condition: verdict.condition } : {}),
    durationMs: verdict.endedAt - verdict.startedAt,
    checks: verdict.checks.map((c) => ({
      name: c.name,
      phase: c.phase,
      attempts: c.attempts.length,
      ...(c.reason ? { reason: c.reason } : {}),
    })),
    metrics: verdict.metrics.map((m) => ({
      name: m.metric,
      phase: m.phase,
      query: m.query,
      measurements: m.measurements.slice(-10).map((x) => ({
        phase: x.phase,
        ...(x.value !== undefined ? { value: x.value } : {}),
        ...(x.live !== undefined ? { live: x.live } : {}),
        detail: x.detail,
      })),
    })),
  };
}

async function hasKey(tx: Transaction, stack: StackConfig, key: string[]): Promise<boolean> {
  const source = await tx.readFile(stack.liveFile);
  // A cheap test: the last segment appears as a key in the file.
  return new RegExp(`^\\s*${key.at(-1)!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`, 'm').test(
    source,
  );
}

/**
 * Commits the rejected-release record of a swap stopped before any traffic (kind `swap-stop`,
 * with the verification trailers): only `.stackswap/rejected/<stack>.yaml` changes, nothing
 * Argo CD renders, so nothing is synced. Returns what the error message says about it; a
 * record that cannot be pushed does not hide the verdict (still exit 9, traffic untouched).
 */
async function recordStop(
  ctx: OperationContext,
  stack: StackConfig,
  verdict: GateVerdict,
  context: { at: string; target: Colour; live: Colour; versions: Record<Colour, ColourVersions> },
): Promise<string> {
  const recordCtx: OperationContext = { ...ctx };
  delete recordCtx.signal;
  const versions = context.versions[context.target];
  try {
    const outcome = await commitStep(
      recordCtx,
      `swap ${stack.name}: record the stop (release rejected)`,
      async (tx) => {
        const rejection = await rejectionEdit(tx, stack.name, {
          versions,
          at: context.at,
          operation: 'swap-stop',
          actor: ctx.actor,
          reason: `${verdict.phase}: ${verdict.reason ?? verdict.result}`,
          now: ctx.now(),
        });
        if (!rejection) return { kind: 'noop', result: undefined };
        return {
          kind: 'commit',
          files: rejection,
          message: commitMessage(
            `swap ${stack.name}: stopped before any traffic by verification; ${formatVersions(versions)} rejected`,
            'swap-stop',
            stack.name,
            ctx.actor,
            {
              from: context.live,
              to: context.target,
              versions: formatVersions(versions),
              rejected: formatVersions(versions),
              ...verificationTrailers(verdict),
            },
          ),
          result: undefined,
        };
      },
    );
    return outcome.committed
      ? `no traffic moved; the release is recorded as rejected (commit ${outcome.sha.slice(0, 12)})`
      : 'no traffic moved; the release was already recorded as rejected';
  } catch (e) {
    return `no traffic moved; the stop could not be recorded in git (${isStackswapError(e) ? e.message : String(e)})`;
  }
}
