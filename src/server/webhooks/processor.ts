/**
 * The work behind an accepted merge request webhook, in the background of its 202:
 *
 * 1. Resolution, one delivery at a time in arrival order: the MR's changed files (the forge
 *    API; webhooks carry none), ignored when none is a file stackswap owns
 *    (releases/*.yaml, stackswap.yaml); then the stacks it touches (a plan file names one
 *    stack, stackswap.yaml all of them).
 * 2. Per stack, a FIFO of tasks run one after the other, so two MRs merged in quick succession
 *    are deployed in merge order and none is lost. Each task is a journaled operation of the
 *    manager, idempotent on the delivery (`webhook:<forge>:<delivery>:<stack>:<step>`): a
 *    redelivery or a restart never runs a step twice. When the stack is busy (409: an
 *    operation from the API, Slack or an earlier task), the task waits for that operation to
 *    end and starts then, rather than being dropped.
 *    - opened / updated: a `review` operation (the values and manifest diff comment, the
 *      `stackswap/<stack>` commit status), by the review code (core/review).
 *    - merged: a `deploy` of the plan at the config branch head (it contains the merge) into
 *      the preview colour; with `promotion.autoSwap: true`, then a `swap` with its
 *      verification. Progress and the result go to the MR in one comment per stack
 *      (`stackswap:merge:<stack>`), edited at each step.
 *
 * Forge failures while reporting are logged and never fail an operation (the deploy happened;
 * the comment says so the next time the forge answers).
 */
import { createHash } from 'node:crypto';
import type { StackswapConfig } from '../../config/stackswap-config.ts';
import type { ForgeName } from '../../forges/errors.ts';
import { FORGE_TITLE } from '../../forges/errors.ts';
import type { Forge } from '../../forges/forge.ts';
import { defaultOwnedPath, ignoreUnowned, type MergeRequestEvent } from '../../forges/webhooks.ts';
import { ApiError } from '../errors.ts';
import type { OperationEvent, OperationManager, StartInput } from '../operations/manager.ts';
import type { OperationKind } from '../schemas.ts';
import { MergeReport, type OperationEnd } from './merge-report.ts';
import type { WebhookSubmitter } from './receiver.ts';

export interface ProcessorLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WebhookProcessorOptions {
  forges: Partial<Record<ForgeName, Forge>>;
  operations: Pick<OperationManager, 'start' | 'follow' | 'get'>;
  /** The config at the config branch head (fresh: a merge has just landed). */
  config: () => Promise<StackswapConfig>;
  /** The service's external address, for links to operations; undefined: relative links. */
  publicUrl: string | undefined;
  logger: ProcessorLogger;
  /** Extra deploy/swap body fields for automated runs (e.g. the rejected-release guard). */
  automatedBody?: Record<string, unknown>;
  /** How long to wait before asking again about a busy stack held by another replica. */
  busyRetryMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Body of a journaled review operation: which MR, at which head. */
export interface ReviewRequestBody extends Record<string, unknown> {
  forge: ForgeName;
  project: string;
  number: number;
  headSha: string;
  sourceBranch: string;
  targetBranch: string;
  deliveryId: string;
}

export class WebhookProcessor implements WebhookSubmitter {
  private resolving: Promise<void> = Promise.resolve();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<void>>();
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: WebhookProcessorOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
  }

  submit(
    event: MergeRequestEvent,
    release: () => Promise<void>,
    done: () => Promise<void> = async () => {},
  ): void {
    const finished = () =>
      done().catch((e: unknown) =>
        this.options.logger.warn(
          { deliveryId: event.deliveryId, error: (e as Error).message },
          'the delivery could not be marked done; a restart takes it up again (harmless: its work is idempotent)',
        ),
      );
    const next = this.resolving.then(async () => {
      const tasks = await this.resolve(event, release);
      // Marked done once every task of the delivery has ended (not merely started).
      if (tasks) void Promise.allSettled(tasks).then(finished);
    });
    this.resolving = next.catch((e: unknown) =>
      this.options.logger.error(
        { err: e, deliveryId: event.deliveryId },
        'webhook processing failed',
      ),
    );
    this.track(this.resolving);
  }

  /** Resolves once every accepted delivery so far has been processed (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** The delivery's tasks once queued; undefined when released (nothing to mark done). */
  private async resolve(
    event: MergeRequestEvent,
    release: () => Promise<void>,
  ): Promise<Array<Promise<void>> | undefined> {
    const log = this.options.logger;
    const where = { forge: event.forge, deliveryId: event.deliveryId, mr: event.number };
    const forge = this.options.forges[event.forge];
    if (!forge) {
      log.warn(
        where,
        `webhook not acted on: no ${event.forge === 'gitlab' ? 'STACKSWAP_GITLAB_TOKEN' : 'STACKSWAP_GITHUB_TOKEN'} to read the MR and answer on it`,
      );
      return [];
    }
    let files: string[];
    try {
      files = await forge.listChangedFiles(event.project, event.number);
    } catch (e) {
      log.error(
        { ...where, error: (e as Error).message },
        `webhook not acted on: ${FORGE_TITLE[event.forge]} did not list the MR's files; redeliver it from the forge once it answers`,
      );
      await release().catch(() => undefined);
      return undefined;
    }
    const owned = ignoreUnowned(event, files, defaultOwnedPath);
    if (owned.kind === 'ignored') {
      log.info({ ...where, reason: owned.reason }, 'webhook ignored');
      return [];
    }
    let config: StackswapConfig;
    try {
      config = await this.options.config();
    } catch (e) {
      log.error(
        { ...where, error: (e as Error).message },
        'webhook not acted on: the config at the branch head cannot be read',
      );
      await release().catch(() => undefined);
      return undefined;
    }
    const stacks = touchedStacks(config, files);
    if (stacks.length === 0) {
      log.info(
        { ...where, reason: `no stack's plan file is among ${files.join(', ')}` },
        'webhook ignored',
      );
      return [];
    }
    log.info({ ...where, kind: event.kind, stacks }, 'webhook work queued');
    return stacks.map((stack) =>
      this.enqueue(stack, () =>
        event.kind === 'merged'
          ? this.mergeTask(forge, event, stack)
          : this.reviewTask(event, stack),
      ),
    );
  }

  private enqueue(stack: string, task: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(stack) ?? Promise.resolve();
    const next = previous
      .then(task)
      .catch((e: unknown) => this.options.logger.error({ err: e, stack }, 'webhook task failed'));
    this.queues.set(stack, next);
    this.track(next);
    void next.then(() => {
      if (this.queues.get(stack) === next) this.queues.delete(stack);
    });
    return next;
  }

  private async reviewTask(event: MergeRequestEvent, stack: string): Promise<void> {
    const body: ReviewRequestBody = {
      forge: event.forge,
      project: event.project,
      number: event.number,
      headSha: event.headSha,
      sourceBranch: event.sourceBranch,
      targetBranch: event.targetBranch,
      deliveryId: event.deliveryId!,
    };
    const end = await this.run(event, stack, 'review', body);
    if (end) this.logEnd(event, stack, end);
  }

  private async mergeTask(forge: Forge, event: MergeRequestEvent, stack: string): Promise<void> {
    const report = new MergeReport({
      forge,
      project: event.project,
      number: event.number,
      stack,
      mergedSha: event.mergedSha,
      mergedShaSource: event.mergedShaSource,
      link: (id) => this.link(id),
      logger: this.options.logger,
    });
    const automated = this.options.automatedBody ?? {};
    const reason = `${mrRef(event)} merged${event.mergedSha ? ` (${event.mergedSha.slice(0, 12)})` : ''}`;
    report.phase('deploy', { state: 'queued' });
    await report.flush();
    const deployed = await this.run(
      event,
      stack,
      'deploy',
      { reason, ...automated },
      (id) => report.phase('deploy', { state: 'running', operationId: id }),
      (e) => report.step('deploy', e),
    );
    if (!deployed) {
      report.phase('deploy', { state: 'not-started' });
      await report.flush();
      return;
    }
    report.end('deploy', deployed);
    this.logEnd(event, stack, deployed);
    if (deployed.state !== 'succeeded') {
      await report.flush();
      return;
    }
    let autoSwap = false;
    try {
      autoSwap = (await this.options.config()).stacks.get(stack)?.autoSwap === true;
    } catch (e) {
      this.options.logger.warn(
        { stack, error: (e as Error).message },
        'promotion.autoSwap not read: the config cannot be loaded; no swap',
      );
    }
    if (!autoSwap) {
      report.note(
        `\`promotion.autoSwap\` is off for ${stack}: swap when the preview looks right (\`stackswap swap ${stack}\`, \`POST /v1/stacks/${stack}/swap\` or Slack).`,
      );
      await report.flush();
      return;
    }
    report.phase('swap', { state: 'queued' });
    await report.flush();
    const swapped = await this.run(
      event,
      stack,
      'swap',
      { reason: `promotion.autoSwap after ${reason}`, ...automated },
      (id) => report.phase('swap', { state: 'running', operationId: id }),
      (e) => report.step('swap', e),
    );
    if (!swapped) {
      report.phase('swap', { state: 'not-started' });
    } else {
      report.end('swap', swapped);
      this.logEnd(event, stack, swapped);
    }
    await report.flush();
  }

  /**
   * Starts the operation (waiting while the stack is busy), follows it to its end. Undefined
   * when it could not be started (the service is stopping): logged, the comment says so.
   */
  private async run(
    event: MergeRequestEvent,
    stack: string,
    kind: OperationKind,
    body: Record<string, unknown>,
    onStart?: (id: string) => void,
    onEvent?: (event: OperationEvent) => void,
  ): Promise<OperationEnd | undefined> {
    const key = `${event.forge}:${event.deliveryId}:${stack}:${kind}`;
    const input: StartInput = {
      stack,
      kind,
      requestedBy: `${event.forge}:${mrRef(event)}`,
      request: { method: 'POST', path: `/v1/stacks/${stack}/${kind}`, body },
      idempotency: {
        scope: 'webhook',
        key,
        fingerprint: createHash('sha256')
          .update(JSON.stringify({ kind, stack, body }))
          .digest('hex'),
      },
    };
    let delay = 500;
    for (;;) {
      let id: string;
      try {
        const { operation, replayed } = await this.options.operations.start(input);
        if (replayed && operation.state === 'interrupted') {
          // The service stopped during it (a restart took the delivery up again): run it again
          // under a key of its own; the core operation skips what the first run had done.
          input.idempotency = { ...input.idempotency!, key: `${key}:after:${operation.id}` };
          continue;
        }
        id = operation.id;
      } catch (e) {
        if (e instanceof ApiError && e.code === 'stack-busy') {
          const running = e.extra.operationId;
          this.options.logger.info(
            { stack, kind, mr: event.number, waitingFor: running },
            'stack busy: the webhook task waits for the running operation',
          );
          if (typeof running === 'string') await this.waitEnd(running);
          else await this.sleep(this.options.busyRetryMs ?? 1_000);
          continue;
        }
        if (e instanceof ApiError && e.code === 'database-unavailable') {
          await this.sleep(delay);
          delay = Math.min(delay * 2, 10_000);
          continue;
        }
        this.options.logger.warn(
          { stack, kind, mr: event.number, error: (e as Error).message },
          'the webhook task could not start its operation',
        );
        return undefined;
      }
      onStart?.(id);
      return this.waitEnd(id, onEvent);
    }
  }

  /** Follows an operation to its result event. */
  private async waitEnd(
    id: string,
    onEvent?: (event: OperationEvent) => void,
  ): Promise<OperationEnd> {
    return new Promise<OperationEnd>((resolve, reject) => {
      let stop: (() => void) | undefined;
      let done = false;
      this.options.operations
        .follow(id, 0, (event) => {
          if (event.type !== 'result') {
            onEvent?.(event);
            return;
          }
          done = true;
          stop?.();
          resolve({ id, ...(event.data as Omit<OperationEnd, 'id'>) });
        })
        .then((s) => {
          stop = s;
          if (done) s?.();
          if (!s) reject(new Error(`operation ${id} is not known`));
        }, reject);
    });
  }

  private link(id: string): string {
    const base = this.options.publicUrl?.replace(/\/+$/, '') ?? '';
    return `${base}/v1/operations/${id}`;
  }

  private logEnd(event: MergeRequestEvent, stack: string, end: OperationEnd): void {
    this.options.logger.info(
      {
        forge: event.forge,
        mr: event.number,
        stack,
        operationId: end.id,
        state: end.state,
        ...(end.error?.code ? { error: end.error.code } : {}),
      },
      'webhook operation finished',
    );
  }
}

/** A pending delivery's recorded event, when it is one this processor takes up again. */
export function pendingEvent(value: unknown): MergeRequestEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const e = value as Partial<MergeRequestEvent>;
  const ok =
    (e.forge === 'gitlab' || e.forge === 'github') &&
    (e.kind === 'opened' || e.kind === 'updated' || e.kind === 'merged') &&
    typeof e.project === 'string' &&
    typeof e.number === 'number' &&
    typeof e.headSha === 'string' &&
    typeof e.deliveryId === 'string';
  return ok ? (e as MergeRequestEvent) : undefined;
}

/** The stacks an MR touches: those whose plan file changed; all of them for stackswap.yaml. */
export function touchedStacks(config: StackswapConfig, files: readonly string[]): string[] {
  const all = [...config.stacks.values()];
  if (files.includes('stackswap.yaml')) return all.map((s) => s.name);
  return all.filter((s) => files.includes(s.planFile)).map((s) => s.name);
}

export function mrRef(event: { forge: ForgeName; number: number }): string {
  return event.forge === 'gitlab' ? `MR !${event.number}` : `PR #${event.number}`;
}
