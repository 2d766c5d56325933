/**
 * `stackswap app get|sync|wait NAME`: the Argo CD calls a pipeline needs, without an argocd
 * binary. `wait --revision SHA` only succeeds once the app is synced at exactly that commit,
 * its operation finished, and it is Healthy.
 */
import type { Command } from 'commander';
import { UsageError } from '../shared/errors.ts';
import type { ArgoProgressEvent } from '../argocd/progress.ts';
import { printResult, type OutputFormat } from './output.ts';
import { parsePositiveInt, type CliIo } from './io.ts';
import type { Session } from './session.ts';

const SHA = /^[0-9a-f]{40}$/;

/** The Argo CD client (undici and its schemas), imported when an app command runs. */
const argo = async () => {
  const [appState, client, config, wait, text] = await Promise.all([
    import('../argocd/app-state.ts'),
    import('../argocd/client.ts'),
    import('../argocd/config.ts'),
    import('../argocd/wait.ts'),
    import('../argocd/progress-text.ts'),
  ]);
  return { ...appState, ...client, ...config, ...wait, ...text };
};
type Argo = Awaited<ReturnType<typeof argo>>;

export function registerAppCommands(
  program: Command,
  session: () => Promise<Session>,
  io: CliIo,
): void {
  const app = program.command('app').description('Argo CD applications: get, sync, wait');
  const client = (a: Argo, s: Session) => {
    const config = a.argoCdConfigFromEnv(io.env, s.redactor);
    if (!config)
      throw new UsageError('ARGOCD_SERVER is not set', {
        hint: 'set ARGOCD_SERVER and ARGOCD_AUTH_TOKEN',
      });
    return new a.ArgoCdClient({ config, redactor: s.redactor });
  };
  const progress = (a: Argo, format: OutputFormat) => (e: ArgoProgressEvent) => {
    const line = a.describeArgoEvent(e);
    if (line)
      io.stderr.write(format === 'json' || !io.isTTY ? `[stackswap] ${line}\n` : `  ${line}\n`);
  };
  const revisionOf = (value: string | undefined, required: boolean) => {
    if (value === undefined && !required) return undefined;
    if (!value || !SHA.test(value))
      throw new UsageError('--revision must be a full 40-character commit SHA');
    return value;
  };

  app
    .command('get <name>')
    .description('sync status, revision, health and operation of an application')
    .option('--refresh', 'ask Argo CD to compare with git first')
    .action(async (name: string, opts: { refresh?: boolean }) => {
      const [a, s] = await Promise.all([argo(), session()]);
      const found = await client(a, s).getApplication(
        name,
        opts.refresh ? { refresh: 'normal' } : {},
      );
      const snap = a.snapshot(found);
      printResult(
        io,
        s.options.output,
        snap,
        `${snap.app}: ${snap.syncStatus} at ${snap.revision ?? '?'}, health ${snap.health}` +
          (snap.phase
            ? `, operation ${snap.phase}${snap.operationMessage ? `: ${snap.operationMessage}` : ''}`
            : '') +
          (snap.unhealthy.length ? `\n  ${snap.unhealthy.join('\n  ')}` : ''),
      );
    });

  app
    .command('sync <name>')
    .description(
      'sync an application (at --revision) and wait until it is synced there and healthy',
    )
    .option('--revision <sha>', "the commit to sync to (default: the app's target revision)")
    .option('--timeout <seconds>', 'how long to wait', parsePositiveInt('--timeout'))
    .action(async (name: string, opts: { revision?: string; timeout?: number }) => {
      const [a, s] = await Promise.all([argo(), session()]);
      const { snapshot, triggerSync, syncAndWait } = a;
      const api = client(a, s);
      const timeoutMs = (opts.timeout ?? s.options.timeout) * 1000;
      let revision = revisionOf(opts.revision, false);
      if (!revision) {
        revision = snapshot(await api.getApplication(name, { refresh: 'normal' })).revision;
        if (!revision)
          throw new UsageError(`${name} has no resolved revision yet: pass --revision`);
      }
      const common = {
        app: name,
        revision,
        timeoutMs,
        degradedGraceMs: s.options.degradedGrace * 1000,
        crashGraceMs: s.options.crashGrace * 1000,
        retryWait: s.options.retryWait,
        waitForWindow: s.options.waitForWindow === true,
        onProgress: progress(a, s.options.output),
        redact: (t: string) => s.redactor.redact(t),
      };
      if (!s.options.wait) {
        const trigger = await triggerSync(api, common);
        printResult(
          io,
          s.options.output,
          { outcome: trigger.outcome, ...snapshot(trigger.app) },
          `${name}: sync ${trigger.outcome} at ${revision}`,
        );
        return;
      }
      const result = await syncAndWait(api, { ...common, children: true });
      printResult(
        io,
        s.options.output,
        result,
        `${name}: ${result.syncStatus} at ${result.revision}, ${result.health}`,
      );
    });

  app
    .command('wait <name>')
    .description(
      'wait until an application is synced at --revision, its operation finished, and Healthy',
    )
    .requiredOption('--revision <sha>', 'the commit that must be live')
    .option('--timeout <seconds>', 'how long to wait', parsePositiveInt('--timeout'))
    .action(async (name: string, opts: { revision: string; timeout?: number }) => {
      const [a, s] = await Promise.all([argo(), session()]);
      const result = await a.waitForApp(client(a, s), {
        app: name,
        revision: revisionOf(opts.revision, true)!,
        timeoutMs: (opts.timeout ?? s.options.timeout) * 1000,
        degradedGraceMs: s.options.degradedGrace * 1000,
        crashGraceMs: s.options.crashGrace * 1000,
        retryWait: s.options.retryWait,
        waitForWindow: s.options.waitForWindow === true,
        onProgress: progress(a, s.options.output),
        redact: (t) => s.redactor.redact(t),
      });
      printResult(
        io,
        s.options.output,
        result,
        `${name}: ${result.syncStatus} at ${result.revision}, ${result.health}`,
      );
    });
}
