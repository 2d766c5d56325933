/**
 * `stackswap verify [--colour C]`: the stack's checks and analysis on one colour, alone
 * (default the preview; the live colour is reached without the preview header). Changes
 * nothing. A failed verdict is `verification-failed` (exit 9) with nothing stopped or rolled
 * back; an interrupted one `verification-interrupted` (exit 11), never a pass.
 */
import { StackswapError, ValidationError } from '../../shared/errors.ts';
import type { Colour } from '../../config/names.ts';
import { loadConfig, stackOf } from '../load-config.ts';
import { readStackState } from '../stack-state.ts';
import type { OperationContext } from './context.ts';
import { runGate, type GateVerdict } from '../../verify/gate.ts';
import { allowedHostPatterns, templateValues } from '../../verify/validate.ts';
import { verifyRuntime } from '../../verify/runtime.ts';
import { summarise } from './gated-swap.ts';

export interface VerifyResult {
  stack: string;
  colour: Colour;
  live: Colour;
  verdict: ReturnType<typeof summarise>;
  summary: string;
}

export async function verifyColour(
  ctx: OperationContext,
  request: { stack: string; colour?: Colour },
): Promise<VerifyResult> {
  await ctx.repo.sync();
  const stack = stackOf(await loadConfig(ctx.repo), request.stack);
  const v = stack.verification;
  if (!v) {
    throw new ValidationError(`stack ${stack.name} has no verification block`, {
      where: { file: 'stackswap.yaml', key: `stacks.${stack.name}` },
      hint: 'add checks and analysis under verification (see the README)',
    });
  }
  const state = await readStackState(ctx.repo, stack);
  const colour = request.colour ?? state.preview;
  const runtime = verifyRuntime(v, ctx.verify);
  let verdict: GateVerdict;
  try {
    verdict = await ctx.progress.step(
      'verify',
      `verify ${colour}${colour === state.live ? ' (live)' : ' (preview)'}: ${v.checks.length} check(s), ${v.analysis.length} metric(s)`,
      () =>
        runGate({
          phase: `verify ${colour}`,
          checks: v.checks,
          analysis: v.analysis,
          target: {
            values: templateValues(stack, colour, undefined, state.colours[colour].versions),
            ingress: runtime.ingress,
            preview: colour !== state.live,
            allowed: allowedHostPatterns(v),
          },
          values: templateValues(stack, colour, undefined, state.colours[colour].versions),
          versions: state.colours[colour].versions,
          onInconclusive: v.onInconclusive,
          deadline: runtime.clock.now() + ctx.timeoutMs,
          prometheus: runtime.prometheus,
          dispatcher: runtime.dispatcher,
          clock: runtime.clock,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          onEvent: (e) => ctx.progress.info(e.text, 'verify'),
        }),
      (d) => (d.result === 'passed' ? 'passed' : `${d.result}: ${d.reason}`),
    );
  } finally {
    await runtime.close();
  }
  const summary = summarise(verdict);
  if (verdict.result === 'interrupted') {
    throw new StackswapError('verification-interrupted', `${verdict.reason}`, {
      details: { verification: [summary] },
    });
  }
  if (verdict.result !== 'passed') {
    throw new StackswapError(
      'verification-failed',
      `verification of ${colour} ${verdict.result}: ${verdict.reason}; nothing was changed`,
      { details: { verification: [summary] } },
    );
  }
  return {
    stack: stack.name,
    colour,
    live: state.live,
    verdict: summary,
    summary: `${stack.name}: ${colour} passed ${verdict.checks.length} check(s) and ${verdict.metrics.length} metric(s)${verdict.passedInconclusive ? ` (inconclusive passed: ${verdict.reason})` : ''}`,
  };
}
