/**
 * What a merged MR is told about its deploy (and auto-swap), per stack: ONE comment
 * (`stackswap:merge:<stack>`), edited in place at each step (queued, running, each finished
 * step, the result), never a note per step. One comment keeps the MR's conversation readable,
 * and a redelivery or a restart finds and edits the same comment (its hidden marker) instead
 * of adding another. The forge does not notify on edits, so the comment is created at the
 * start (a notification) and its final text says the outcome.
 *
 * Edits are serialised and coalesced: while one is in flight, only the newest text is sent
 * next. A forge that fails (5xx, 429, a hang past its timeout) is logged and skipped; the next
 * edit carries the whole state again.
 */
import type { Forge } from '../../forges/forge.ts';
import type { MergeRequestEvent } from '../../forges/webhooks.ts';
import type { OperationEvent } from '../operations/manager.ts';

/** What an operation ended as, read from its result event. */
export interface OperationEnd {
  id: string;
  state: 'succeeded' | 'failed' | 'interrupted';
  result?: Record<string, unknown>;
  error?: { code?: string; message?: string; hint?: string };
  interrupted?: { reason?: string; resume?: string };
}

type PhaseName = 'deploy' | 'swap';

interface Phase {
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'interrupted' | 'not-started';
  operationId?: string;
  steps: string[];
  summary?: string;
  error?: string;
}

export interface MergeReportOptions {
  forge: Forge;
  project: string;
  number: number;
  stack: string;
  mergedSha: string | undefined;
  mergedShaSource: MergeRequestEvent['mergedShaSource'];
  link: (operationId: string) => string;
  logger: { warn(obj: object, msg: string): void };
}

const ICON: Record<Phase['state'], string> = {
  queued: '⏳ queued',
  running: '🔄 running',
  succeeded: '✅ done',
  failed: '❌ failed',
  interrupted: '⚠️ interrupted',
  'not-started': '⚠️ not started',
};

const TITLE: Record<PhaseName, string> = {
  deploy: 'Deploy into the preview colour',
  swap: 'Swap with verification (promotion.autoSwap)',
};

export function mergeCommentKey(stack: string): string {
  return `stackswap:merge:${stack}`;
}

export class MergeReport {
  private readonly phases = new Map<PhaseName, Phase>();
  private readonly notes: string[] = [];
  private sending: Promise<void> | undefined;
  private dirty = false;

  constructor(private readonly options: MergeReportOptions) {}

  phase(name: PhaseName, update: Partial<Phase> & { state: Phase['state'] }): void {
    const current = this.phases.get(name) ?? { state: 'queued', steps: [] };
    this.phases.set(name, { ...current, ...update });
    if (update.state === 'running') void this.flush();
  }

  /** A finished step of the running operation: one line in the comment. */
  step(name: PhaseName, event: OperationEvent): void {
    if (event.type !== 'step-end') return;
    const d = event.data as { title?: string; ok?: boolean; detail?: string; durationMs?: number };
    const phase = this.phases.get(name);
    if (!phase) return;
    const seconds =
      typeof d.durationMs === 'number' ? ` (${(d.durationMs / 1000).toFixed(1)} s)` : '';
    phase.steps.push(
      `${d.ok ? '✔' : '✖'} ${d.title ?? 'step'}${d.detail ? `: ${d.detail}` : ''}${seconds}`,
    );
    void this.flush();
  }

  end(name: PhaseName, end: OperationEnd): void {
    const summary = typeof end.result?.summary === 'string' ? end.result.summary : undefined;
    const error =
      end.state === 'failed'
        ? `${end.error?.code ?? 'error'}: ${end.error?.message ?? ''}${end.error?.hint ? ` (${end.error.hint})` : ''}`
        : end.state === 'interrupted'
          ? `${end.interrupted?.reason ?? 'interrupted'}${end.interrupted?.resume ? `; ${end.interrupted.resume}` : ''}`
          : undefined;
    this.phase(name, {
      state: end.state,
      operationId: end.id,
      ...(summary ? { summary } : {}),
      ...(error ? { error } : {}),
    });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  body(): string {
    const o = this.options;
    const merged = o.mergedSha
      ? `\`${o.mergedSha.slice(0, 12)}\`${o.mergedShaSource === 'head (fast-forward)' ? ' (fast-forward)' : ''}`
      : 'the branch head';
    const lines = [`### stackswap: \`${o.stack}\` after this merge (${merged})`, ''];
    for (const name of ['deploy', 'swap'] as const) {
      const p = this.phases.get(name);
      if (!p) continue;
      const op = p.operationId
        ? ` · [operation \`${p.operationId.slice(0, 8)}\`](${o.link(p.operationId)})`
        : '';
      lines.push(`**${TITLE[name]}**: ${ICON[p.state]}${op}`);
      for (const s of p.steps) lines.push(`- ${s}`);
      if (p.summary) lines.push('', p.summary);
      if (p.error) lines.push('', `> ${p.error.replace(/\n/g, ' ')}`);
      if (p.state === 'not-started') {
        lines.push(
          '',
          '> the service stopped before it could start; redeliver this webhook from the forge once it is back',
        );
      }
      lines.push('');
    }
    for (const n of this.notes) lines.push(n, '');
    return lines.join('\n').trimEnd();
  }

  /** Sends the current text (after any edit in flight); never throws. */
  async flush(): Promise<void> {
    this.dirty = true;
    while (this.sending) await this.sending;
    if (!this.dirty) return;
    this.dirty = false;
    const body = this.body();
    this.sending = this.options.forge
      .syncComments(
        this.options.project,
        this.options.number,
        mergeCommentKey(this.options.stack),
        [body],
      )
      .then(
        () => undefined,
        (e: unknown) =>
          this.options.logger.warn(
            { stack: this.options.stack, mr: this.options.number, error: (e as Error).message },
            'the MR comment could not be updated; the next update carries the whole state',
          ),
      )
      .finally(() => {
        this.sending = undefined;
      });
    await this.sending;
  }
}
