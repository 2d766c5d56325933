/**
 * The CLI sends the same notifications as the service (issue 13: a CI job is often the only
 * runner a team has): each lifecycle event of the command's operation goes to the targets of
 * its stack in stackswap.yaml, in the background, from an in-memory outbox. At exit the CLI
 * waits at most STACKSWAP_NOTIFY_WAIT_SECONDS (default 15) for the deliveries, then writes
 * one line on stderr per notification it could not deliver (given up, or still pending). The
 * exit code never changes for a notification.
 *
 * The notify module is imported only when a stack has notifications to send.
 */
import type { StackEvent } from '../shared/events.ts';
import type { Redactor } from '../shared/redact.ts';
import type { RepoReader } from '../shared/repo-files.ts';
import type { NotificationTarget } from '../config/notifications-config.ts';
import { loadStructuralConfig } from '../core/config-file.ts';
import type { Notifier } from '../notify/notifier.ts';

export const DEFAULT_WAIT_SECONDS = 15;

export class CliNotifications {
  private chain: Promise<void> = Promise.resolve();
  private notifier: Notifier | undefined;
  private targets: Map<string, NotificationTarget[]> | undefined;

  constructor(
    private readonly options: {
      env: NodeJS.ProcessEnv;
      redactor: Redactor;
      repo: RepoReader;
      write: (line: string) => void;
    },
  ) {}

  /** Progress.onEvent: queued in emission order; never throws into the operation. */
  readonly onEvent = (event: StackEvent): void => {
    this.chain = this.chain
      .then(async () => {
        const targets = await this.targetsOf(event.stack);
        if (targets.length === 0) return;
        const notifier = await this.ensureNotifier();
        const { registerTargetSecrets } = await import('../notify/deliver.ts');
        registerTargetSecrets(targets, this.options.env, this.options.redactor);
        await notifier.publish(event, targets);
      })
      .catch((e: unknown) => {
        this.options.write(
          `notifications: ${this.options.redactor.redact((e as Error).message ?? String(e))}`,
        );
      });
  };

  /** Waits (bounded) for the deliveries and reports what did not make it. */
  async finish(): Promise<void> {
    await this.chain;
    const notifier = this.notifier;
    if (!notifier) return;
    const waitSeconds = Number(this.options.env.STACKSWAP_NOTIFY_WAIT_SECONDS);
    const boundMs =
      (Number.isFinite(waitSeconds) && waitSeconds >= 0 ? waitSeconds : DEFAULT_WAIT_SECONDS) *
      1000;
    const pending = await notifier.drain(boundMs);
    await notifier.close();
    const failed = notifier.settled.filter((e) => e.state === 'failed');
    const { describeUndelivered } = await import('../notify/summary.ts');
    for (const line of describeUndelivered(failed, pending)) {
      this.options.write(this.options.redactor.redact(line));
    }
  }

  private async targetsOf(stack: string): Promise<NotificationTarget[]> {
    this.targets ??= new Map(
      [...(await loadStructuralConfig(this.options.repo)).stacks.values()].map((s) => [
        s.name,
        s.notifications ?? [],
      ]),
    );
    return this.targets.get(stack) ?? [];
  }

  private async ensureNotifier(): Promise<Notifier> {
    if (!this.notifier) {
      const [{ Notifier }, { MemoryOutbox }] = await Promise.all([
        import('../notify/notifier.ts'),
        import('../notify/outbox.ts'),
      ]);
      this.notifier = new Notifier({
        store: new MemoryOutbox(),
        env: this.options.env,
        redactor: this.options.redactor,
      });
    }
    return this.notifier;
  }
}
