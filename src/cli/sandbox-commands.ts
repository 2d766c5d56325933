/** `stackswap sandbox up`: the local config repo and Argo CD stand-in, for trying the CLI by hand. */
import type { Command } from 'commander';
import { parsePositiveInt, type CliIo } from './io.ts';

export function registerSandboxCommands(program: Command, io: CliIo): void {
  const sandbox = program.command('sandbox').description('the embedded sandbox: no cluster needed');
  sandbox
    .command('up')
    .description(
      'seed a local config repo, start the Argo CD stand-in, print the export lines, run until Ctrl-C',
    )
    .option('--dir <dir>', 'an empty folder to keep the sandbox in (default: a temporary folder)')
    .option(
      '--port <port>',
      'port of the Argo CD stand-in (default: any free port)',
      parsePositiveInt('--port'),
    )
    .option('--fault-pattern <regex>', 'image tags matching it become Degraded', 'fail|bad')
    .action(async (opts: { dir?: string; port?: number; faultPattern: string }) => {
      const { startSandbox } = await import('../sandbox/sandbox.ts');
      const running = await startSandbox({
        ...(opts.dir ? { dir: opts.dir } : {}),
        ...(opts.port ? { port: opts.port } : {}),
        argocd: { faultPattern: new RegExp(opts.faultPattern) },
        traffic: { backends: { faultPattern: new RegExp(opts.faultPattern) } },
        // The example's verification gates, with a real Prometheus when it is installed.
        verification: true,
        prometheus: 'if-installed',
      });
      const metrics = running.prometheus
        ? `Prometheus: ${running.prometheus.url.href} (scraping the sandbox pods every 1 s)\n`
        : 'Prometheus is not installed (apt-get install prometheus): metric analysis is unavailable, so swap fails its analysis closed; the checks still run (or swap --no-verify)\n';
      const exports = Object.entries(running.env)
        .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
        .join('\n');
      io.stdout.write(
        `sandbox running in ${running.dir}\nArgo CD stand-in: ${running.argocd.url}\n${metrics}` +
          `gateway: ${running.traffic!.url.href}  (try: curl -H 'Host: my-app.example.com' ${running.traffic!.url.href}; ` +
          `add -H 'x-stackswap-preview: true' for the preview colour)\n\n${exports}\n\n` +
          `# paste the lines above into a shell, then: stackswap init; stackswap deploy --set my-frontend=1.1.0 ...\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await running.close();
    });
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
