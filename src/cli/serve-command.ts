/**
 * `stackswap serve`: the HTTP service (src/server/). Reads the same STACKSWAP_* and ARGOCD_*
 * variables as the other commands (the global --repo, --branch, --cache-dir and --timeout
 * apply too), plus STACKSWAP_TOKENS_FILE / STACKSWAP_TOKENS (API tokens as SHA-256 digests),
 * STACKSWAP_SLACK_SIGNING_SECRET and STACKSWAP_DATA_DIR (the operation journal). Runs until
 * SIGTERM or SIGINT, then shuts down gracefully. Logs are JSON lines on stderr.
 */
import type { Command } from 'commander';
import { UsageError } from '../shared/errors.ts';
import { parsePositiveInt, type CliIo } from './io.ts';

interface ServeFlags {
  port: number;
  host: string;
  dataDir?: string;
}

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description(
      'run the HTTP service: status, deploy/swap/revert/scale-down as operations, Slack chatops, /healthz /readyz /metrics, OpenAPI at /docs',
    )
    .option(
      '--port <port>',
      'port to listen on (0: any free port; the address is printed)',
      parsePort,
      8080,
    )
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--data-dir <dir>', 'where the operation journal is kept (env STACKSWAP_DATA_DIR)')
    .action(async (flags: ServeFlags) => {
      const global = program.opts<{
        repo?: string;
        branch?: string;
        cacheDir?: string;
        timeout?: number;
      }>();
      const env: NodeJS.ProcessEnv = {
        ...io.env,
        ...(global.repo ? { STACKSWAP_REPO: global.repo } : {}),
        ...(global.branch ? { STACKSWAP_BRANCH: global.branch } : {}),
        ...(global.cacheDir ? { STACKSWAP_CACHE_DIR: global.cacheDir } : {}),
      };
      const { runServe } = await import('../server/serve.ts');
      await runServe({
        env,
        port: flags.port,
        host: flags.host,
        ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
        ...(program.getOptionValueSource('timeout') === 'cli' && global.timeout
          ? { timeoutSeconds: global.timeout }
          : {}),
        ...(io.now ? { now: io.now } : {}),
        onListening: (address) => io.stderr.write(`stackswap serve listening on ${address}\n`),
      });
    });
}

function parsePort(value: string): number {
  if (value === '0') return 0;
  const port = parsePositiveInt('--port')(value);
  if (port > 65_535) throw new UsageError('--port must be at most 65535');
  return port;
}
