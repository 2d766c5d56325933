/**
 * `stackswap app get|sync|wait NAME`: the Argo CD calls a pipeline needs, without an argocd
 * binary. `wait --revision SHA` only succeeds once the app is synced at exactly that commit,
 * its operation finished, and it is Healthy.
 */
import type { Command } from 'commander';
import { UsageError } from '../shared/errors.ts';
import { snapshot } from '../argocd/app-state.ts';
import { ArgoCdClient } from '../argocd/client.ts';
import { argoCdConfigFromEnv } from '../argocd/config.ts';
import { syncAndWait, triggerSync, waitForApp } from '../argocd/wait.ts';
import { describeArgoEvent } from '../argocd/progress-text.ts';
import { printResult, type OutputFormat } from './output.ts';
import { parsePositiveInt, type CliIo } from './io.ts';
import type { Session } from './session.ts';

const SHA = /^[0-9a-f]{40}$/;

export function registerAppCommands(program: Command, session: () => Session, io: CliIo): void {
  const app = program.command('app').description('Argo CD applications: get, sync, wait');
  const client = (s: Session) => {
    const config = argoCdConfigFromEnv(io.env, s.redactor);
    if (!config)
      throw new UsageError('ARGOCD_SERVER is not set', {
        hint: 'set ARGOCD_SERVER and ARGOCD_AUTH_TOKEN',
      });
    return new ArgoCdClient({ config, redactor: s.redactor });
  };
  const progress = (format: OutputFormat) => (e: Parameters<typeof describeArgoEvent>[0]) => {
    const line = describeArgoEvent(e);
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
      const s = session();
      const found = await client(s).getApplication(name, opts.refresh ? { refresh: 'normal' } : {});
      const snap = snapshot(found);
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
      const s = session();
      const api = client(s);
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
        onProgress: progress(s.options.output),
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
      const s = session();
      const result = await waitForApp(client(s), {
        app: name,
        revision: revisionOf(opts.revision, true)!,
        timeoutMs: (opts.timeout ?? s.options.timeout) * 1000,
        degradedGraceMs: s.options.degradedGrace * 1000,
        crashGraceMs: s.options.crashGrace * 1000,
        retryWait: s.options.retryWait,
        waitForWindow: s.options.waitForWindow === true,
        onProgress: progress(s.options.output),
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
