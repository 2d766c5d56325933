/**
 * Judges a demo run: the whole-stack phases must have served every live request, none of them
 * mixed; the rolling phase must show mixed responses (otherwise the comparison says nothing);
 * and every CLI step must have succeeded.
 */
import type { PhaseTally } from '../sandbox/traffic/tally.ts';

export interface TrafficSummary {
  requests: number;
  failed: number;
  mixed: number;
}

export interface DemoVerdict {
  ok: boolean;
  /** e.g. `whole-stack swap: 0 failed, 0 mixed over 9876 requests; rolling update: ...` */
  line: string;
  /** Why it is not ok (empty when ok). */
  problems: string[];
  wholeStack: TrafficSummary;
  rolling: TrafficSummary | undefined;
}

export interface JudgedPhase {
  /** 'bad-release' phases are judged apart (run-demo.ts checkBadRelease). */
  kind: 'whole-stack' | 'rolling' | 'bad-release';
  live: PhaseTally;
}

export function judge(
  phases: readonly JudgedPhase[],
  failedStep?: { label: string; exitCode: number },
): DemoVerdict {
  const wholeStack = summarise(phases.filter((p) => p.kind === 'whole-stack'));
  const rollingPhases = phases.filter((p) => p.kind === 'rolling');
  const rolling = rollingPhases.length > 0 ? summarise(rollingPhases) : undefined;

  const problems: string[] = [];
  if (failedStep) problems.push(`step "${failedStep.label}" failed (exit ${failedStep.exitCode})`);
  if (wholeStack.failed > 0) problems.push(`${wholeStack.failed} whole-stack requests failed`);
  if (wholeStack.mixed > 0) problems.push(`${wholeStack.mixed} whole-stack responses were mixed`);
  if (!rolling) problems.push('the rolling update did not run');
  else if (rolling.mixed === 0) {
    problems.push('the rolling update showed no mixed responses, so the comparison means nothing');
  }

  const line =
    `whole-stack swap: ${wholeStack.failed} failed, ${wholeStack.mixed} mixed over ` +
    `${wholeStack.requests} requests; rolling update: ` +
    (rolling
      ? `${rolling.mixed} mixed, ${rolling.failed} failed over ${rolling.requests} requests`
      : 'not run');
  return { ok: problems.length === 0, line, problems, wholeStack, rolling };
}

function summarise(phases: readonly JudgedPhase[]): TrafficSummary {
  return phases.reduce(
    (s, p) => ({
      requests: s.requests + p.live.total,
      failed: s.failed + p.live.failed,
      mixed: s.mixed + p.live.mixed,
    }),
    { requests: 0, failed: 0, mixed: 0 },
  );
}
