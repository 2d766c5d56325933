/**
 * The `stackswap` command line. Each action builds its context through `Session`, runs one core
 * operation, and hands the result to the output layer; exit codes come from the error taxonomy
 * (src/shared/errors.ts) and are documented in the README.
 *
 * Start-up: this module imports commander and a few small modules only. What the commands run
 * (git, config, core operations: ./runtime.ts; Argo CD, the service, the sandbox) is imported
 * when an action starts, so `--help`, `--version` and usage errors answer in about the time node
 * itself takes to start.
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import {
  ExitCode,
  StackswapError,
  UsageError,
  ValidationError,
  exitCodeOf,
  messageOf,
} from '../shared/errors.ts';
import { Redactor } from '../shared/redact.ts';
import { Progress } from '../shared/progress.ts';
import type { RepoReader } from '../shared/repo-files.ts';
import type { DeployRequest } from '../core/operations/deploy.ts';
import type { StackReport } from '../core/operations/inspect.ts';
import type { OperationContext, OperationResult } from '../core/operations/context.ts';
import type { PlannedKind } from '../core/plan-diff.ts';
import {
  describeDryRun,
  printError,
  printResult,
  progressRenderer,
  table,
  type OutputFormat,
} from './output.ts';
import type { GlobalOptions, Session } from './session.ts';
import { parsePositiveInt, type CliIo } from './io.ts';
export type { CliIo } from './io.ts';
import { registerAppCommands } from './app-commands.ts';
import { registerSandboxCommands } from './sandbox-commands.ts';
import { registerPlanCommentCommand } from './plan-comment-command.ts';
import { registerServeCommand } from './serve-command.ts';
import { parseSteps, registerVerifyCommand } from './verify-command.ts';
import { withInterrupt } from './interrupt.ts';

/** The command implementations, loaded when an action runs (see the module comment). */
const runtime = () => import('./runtime.ts');
type Runtime = Awaited<ReturnType<typeof runtime>>;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const redactor = new Redactor();
  let format: OutputFormat =
    argv.includes('--output=json') || hasPair(argv, '--output', 'json') ? 'json' : 'text';
  let exitCode: number = ExitCode.ok;
  const sessions: Session[] = [];
  const program = buildProgram(
    io,
    redactor,
    (code) => (exitCode = code),
    (f) => (format = f),
    sessions,
  );
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; everything else is a usage error.
      return e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    const error =
      e instanceof StackswapError ? e : new StackswapError('internal', messageOf(e), { cause: e });
    exitCode = exitCodeOf(error);
    printError(
      io,
      format,
      redactJson(redactor, error.toJSON()),
      redactor.redact(error.describe()),
      exitCode,
    );
  } finally {
    // Notifications: a bounded wait, then a line per one that was not delivered (issue 13).
    for (const s of sessions) await s.finishNotifications();
    // Nothing of a finished command may keep running (the config repo's git reader child).
    for (const s of sessions) s.close();
  }
  return exitCode;
}

/** The version in package.json (two folders up from both src/cli and dist/cli). */
function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

function hasPair(argv: readonly string[], flag: string, value: string): boolean {
  const i = argv.indexOf(flag);
  return i >= 0 && argv[i + 1] === value;
}

function redactJson(redactor: Redactor, value: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(redactor.redact(JSON.stringify(value))) as Record<string, unknown>;
}

function buildProgram(
  io: CliIo,
  redactor: Redactor,
  setExit: (code: number) => void,
  setFormat: (format: OutputFormat) => void,
  sessions: Session[],
): Command {
  const program = new Command('stackswap')
    .description('Whole-stack blue/green promotion through git and Argo CD')
    .version(packageVersion())
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .option('--repo <url>', 'config repo: path, file://, ssh or https URL (env STACKSWAP_REPO)')
    .option('--branch <name>', 'config repo branch (env STACKSWAP_BRANCH)', undefined)
    .option(
      '--stack <name>',
      'stack to act on (env STACKSWAP_STACK; optional when stackswap.yaml has one stack)',
    )
    .addOption(
      new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'),
    )
    .option('--cache-dir <dir>', 'where working clones are kept (env STACKSWAP_CACHE_DIR)')
    .option('--requested-by <who>', 'recorded in the commit trailers (env STACKSWAP_REQUESTED_BY)')
    .option('--reason <text>', 'why: recorded in the commit')
    .option('--no-sync', 'git only: commit and push, do not ask Argo CD to sync')
    .option(
      '--no-hooks',
      "skip the stack's lifecycle hooks (only for requesters in hooks.admins; recorded in the commit trailers)",
    )
    .option('--no-wait', 'request the sync but do not wait for it to be healthy')
    .option(
      '--timeout <seconds>',
      'how long to wait for Argo CD',
      parsePositiveInt('--timeout'),
      600,
    )
    .option(
      '--degraded-grace <seconds>',
      'how long an app may stay Degraded before the wait fails (it can recover while pods start)',
      parsePositiveInt('--degraded-grace'),
      30,
    )
    .option(
      '--crash-grace <seconds>',
      'how long a pod of the new release may crash-loop or fail to pull its image before the wait fails (0: do not check pods)',
      (value: string) => {
        if (!/^\d+$/.test(value)) throw new UsageError('--crash-grace must be a whole number');
        return Number(value);
      },
      30,
    )
    .option(
      '--no-retry-wait',
      "fail as soon as Argo CD's sync attempt fails, instead of waiting for its retries (syncPolicy.retry)",
    )
    .option(
      '--wait-for-window',
      'when an Argo CD sync window forbids syncing, wait for it to open (within --timeout) instead of failing',
    )
    .option('--verbose', 'debug logs on stderr')
    .hook('preAction', (cmd) => setFormat(cmd.opts<GlobalOptions>().output));

  const session = async (): Promise<Session> => {
    const s = new (await runtime()).Session(program.opts<GlobalOptions>(), io, redactor);
    sessions.push(s);
    return s;
  };

  /**
   * Runs a changing operation with a fresh context and prints its result. With --dry-run the
   * same operation runs in plan mode (nothing committed, pushed or synced) and the diff it would
   * commit is printed instead; refused preconditions fail with the same exit codes.
   */
  const operate = async (
    kind: PlannedKind,
    dryRun: boolean | undefined,
    fn: (rt: Runtime, ctx: OperationContext, stack: string) => Promise<OperationResult>,
    options: { interruptible?: boolean } = {},
  ) => {
    const [rt, s] = await Promise.all([runtime(), session()]);
    const format = s.options.output;
    const ctx = await s.operationContext(new Progress(progressRenderer(io, format), io.now));
    const stack = await s.stackName(ctx.repo);
    if (dryRun) {
      const planned = await rt.planOperation(ctx, { kind, stack }, (c) => fn(rt, c, stack));
      printResult(io, format, planned.report, describeDryRun(planned));
      setExit(ExitCode.ok);
      return;
    }
    // Operations that run verification turn Ctrl-C/SIGTERM into an interrupted verdict
    // (exit 11) with traffic left safe (./interrupt.ts); the others keep Node's default.
    const result = options.interruptible
      ? await withInterrupt(io.stderr, (signal) => fn(rt, { ...ctx, signal }, stack))
      : await fn(rt, ctx, stack);
    printResult(
      io,
      format,
      result,
      `${result.summary}\ncommit: ${result.sha}${result.committed ? '' : ' (unchanged)'}`,
    );
    setExit(ExitCode.ok);
  };
  const dryRunOption = () =>
    new Option(
      '--dry-run',
      'print the diff that would be committed, with its base commit and message; commit, push and sync nothing',
    );

  program
    .command('init')
    .description(
      'read and report the live and preview colours, versions and health (changes nothing)',
    )
    .option(
      '--dotenv <file>',
      'also write LIVE_COLOR, PREVIEW_COLOR, ... as a GitLab dotenv report',
    )
    .action(async (opts: { dotenv?: string }) => {
      const { inspectStack, stackOf, loadStructuralConfig, dotenvFor } = await runtime();
      const s = await session();
      const repo = await s.openRepo();
      const stack = await s.stackName(repo);
      const report = await inspectStack(repo, stack, await s.deployer(), { refresh: true });
      const config = stackOf(await loadStructuralConfig(repo), stack);
      const dotenv = dotenvFor(report, config);
      if (opts.dotenv) await writeFile(opts.dotenv, dotenv);
      printResult(
        io,
        s.options.output,
        report,
        `${describeState(report)}${opts.dotenv ? `\nwrote ${opts.dotenv}` : ''}`,
      );
    });

  program
    .command('deploy')
    .description('deploy a release plan into the preview colour (the live colour never changes)')
    .option('--plan <file>', "a release plan file (default: the stack's plan in the config repo)")
    .option('--set <component=version>', 'override one component (repeatable)', collect, [])
    .addOption(dryRunOption())
    .option('--force', FORCE_HELP)
    .action(async (opts: { plan?: string; set: string[]; dryRun?: boolean; force?: boolean }) => {
      const overrides = (await runtime()).parseSetPairs(opts.set);
      await operate('deploy', opts.dryRun, async (rt, ctx, stackName) => {
        let plan: DeployRequest['plan'] = { source: 'repo' };
        if (opts.plan) {
          const source = await readLocalFile(opts.plan);
          const stack = rt.stackOf(await rt.loadStructuralConfig(ctx.repo), stackName);
          plan = {
            source: 'versions',
            versions: rt.parsePlan(source, stack, opts.plan),
            file: opts.plan,
          };
        }
        return rt.deploy(ctx, {
          stack: stackName,
          plan,
          overrides,
          ...(opts.force ? { force: true } : {}),
        });
      });
    });

  program
    .command('swap')
    .description('send live traffic to the preview colour (the whole stack at once)')
    .addOption(
      new Option('--to <colour>', 'the colour to make live (idempotent)').choices([
        'blue',
        'green',
      ]),
    )
    .addOption(dryRunOption())
    .option(
      '--steps <weights>',
      "weighted steps in percent, e.g. 10,50,100 (default: the stack's verification.steps)",
      parseSteps,
    )
    .option('--no-verify', "flip at once, without the stack's verification gates")
    .option('--force', FORCE_HELP)
    .action(
      async (opts: {
        to?: string;
        dryRun?: boolean;
        steps?: number[];
        verify: boolean;
        force?: boolean;
      }) => {
        const to = opts.to === undefined ? undefined : (await runtime()).Colour.parse(opts.to);
        await operate(
          'swap',
          opts.dryRun,
          (rt, ctx, stack) =>
            rt.swap(ctx, {
              stack,
              ...(to ? { to } : {}),
              ...(opts.steps ? { steps: opts.steps } : {}),
              ...(opts.verify ? {} : { verify: false }),
              ...(opts.force ? { force: true } : {}),
            }),
          { interruptible: true },
        );
      },
    );

  registerVerifyCommand(program, io, session, setExit);

  program
    .command('revert')
    .description('send live traffic back to the colour that was live before the last swap')
    .addOption(dryRunOption())
    .action(async (opts: { dryRun?: boolean }) => {
      await operate('revert', opts.dryRun, (rt, ctx, stack) => rt.revert(ctx, { stack }));
    });

  program
    .command('scale-down')
    .description('scale the idle colour to zero replicas once the retention window has passed')
    .option('--force', 'skip the retention window')
    .addOption(dryRunOption())
    .action(async (opts: { force?: boolean; dryRun?: boolean }) => {
      await operate('scale-down', opts.dryRun, (rt, ctx, stack) =>
        rt.scaleDown(ctx, { stack, force: opts.force === true }),
      );
    });

  program
    .command('status')
    .description('current state from git and Argo CD')
    .action(async () => {
      const { inspectStack } = await runtime();
      const s = await session();
      const repo = await s.openRepo();
      const report = await inspectStack(repo, await s.stackName(repo), await s.deployer());
      printResult(io, s.options.output, report, describeState(report));
    });

  program
    .command('history')
    .description('past promotions, rebuilt from the commit trailers')
    .option('--limit <n>', 'how many commits to read', parsePositiveInt('--limit'), 50)
    .option('--all-stacks', 'every stack, not just --stack')
    .action(async (opts: { limit: number; allStacks?: boolean }) => {
      const { history } = await runtime();
      const s = await session();
      const repo = await s.openRepo();
      const stack = opts.allStacks ? undefined : await s.stackName(repo);
      const entries = await history(repo, stack, opts.limit);
      const rows = [
        ['date', 'commit', 'operation', 'stack', 'by', 'what'],
        ...entries.map((e) => [
          e.date,
          e.sha.slice(0, 12),
          e.operation,
          e.stack,
          e.requestedBy ?? '',
          // A verification stop or revert says why, with the figures (metric, value, condition).
          e.verification?.reason && e.verification.result !== 'passed'
            ? `${e.subject}: ${e.verification.reason}`
            : e.subject,
        ]),
      ];
      printResult(
        io,
        s.options.output,
        entries,
        entries.length > 0 ? table(rows) : 'no promotions yet',
      );
    });

  const plan = program.command('plan').description('release plans');
  plan
    .command('validate [files...]')
    .description(
      "validate release plans against stackswap.yaml (default: every stack's plan in the repo)",
    )
    .option(
      '--dir <dir>',
      'read stackswap.yaml and the plans from this checkout instead of the config repo (no git; e.g. a merge request job: --dir .)',
    )
    .action(async (files: string[], opts: { dir?: string }) => {
      const { WorktreeReader, loadConfig, stackOf, parsePlan } = await runtime();
      const s = await session();
      const repo: RepoReader = opts.dir
        ? new WorktreeReader(path.resolve(opts.dir))
        : await s.openRepo();
      const config = await loadConfig(repo);
      const checked: { file: string; stack: string; versions: Record<string, string> }[] = [];
      if (files.length > 0) {
        const stack = stackOf(config, await s.stackName(repo));
        for (const file of files) {
          checked.push({
            file,
            stack: stack.name,
            versions: parsePlan(await readLocalFile(file), stack, file),
          });
        }
      } else {
        for (const stack of config.stacks.values()) {
          if (!(await repo.fileExists(stack.planFile))) continue;
          const versions = parsePlan(await repo.readFile(stack.planFile), stack, stack.planFile);
          checked.push({ file: stack.planFile, stack: stack.name, versions });
        }
      }
      printResult(
        io,
        s.options.output,
        checked,
        checked.map((c) => `ok ${c.file} (${c.stack})`).join('\n') || 'no plans',
      );
    });

  registerPlanCommentCommand(plan, session, io);

  const values = program.command('values').description('edit values files in the config repo');
  values
    .command('set <file> <assignments...>')
    .description(
      'set scalars: KEY=VALUE (a string) or KEY:=JSON (number, true/false, null); escape dots in keys as \\.',
    )
    .action(async (file: string, assignments: string[]) => {
      const rt = await runtime();
      const problem = rt.repoPathProblem(file);
      if (problem) throw new ValidationError(problem, { where: { file } });
      const edits = assignments.map((a) => parseAssignment(a, rt.parseKeyPath));
      const s = await session();
      const ctx = await s.operationContext(
        new Progress(progressRenderer(io, s.options.output), io.now),
      );
      const result = await rt.valuesSet(ctx, {
        file,
        edits,
        ...(s.options.stack ? { stack: s.options.stack } : {}),
      });
      printResult(
        io,
        s.options.output,
        result,
        `${result.committed ? 'committed' : 'unchanged'} ${result.sha}`,
      );
    });

  registerAppCommands(program, session, io);
  registerSandboxCommands(program, io);
  registerServeCommand(program, io);
  return program;
}

const FORCE_HELP =
  'go ahead even when this version set was rejected (reverted or stopped by verification; see status)';

function describeState(report: StackReport): string {
  const rows = [['colour', 'role', 'namespace', 'replicas', 'versions']];
  for (const colour of [report.live, report.preview]) {
    const c = report.colours[colour];
    rows.push([
      colour,
      colour === report.live ? 'live' : 'preview',
      c.namespace,
      String(c.replicas),
      Object.entries(c.versions)
        .map(([k, v]) => `${k}=${v ?? '-'}`)
        .join(' '),
    ]);
  }
  const apps = Object.values(report.apps).map((a) =>
    'error' in a
      ? [a.app, 'error', a.error]
      : [a.app, `${a.syncStatus}@${a.revision?.slice(0, 12) ?? '?'}`, a.health],
  );
  // The last release verification stopped or reverted (issue 11), from the trailers.
  const stopped = report.lastPromotions.find((e) => e.verification);
  return [
    `stack ${report.stack} at ${report.headSha.slice(0, 12)}: live ${report.live}, preview ${report.preview}`,
    table(rows),
    ...(apps.length > 0 ? ['', table([['app', 'sync', 'health'], ...apps])] : []),
    ...(stopped?.verification && stopped.verification.result !== 'passed'
      ? [
          '',
          `last verification stop: ${stopped.operation} ${stopped.sha.slice(0, 12)} at ${stopped.verification.phase ?? '?'}: ${stopped.verification.reason ?? stopped.verification.result}`,
        ]
      : []),
    // Version sets deploy and swap refuse without --force (src/core/rejected.ts), newest first.
    ...(report.rejected.length > 0
      ? [
          '',
          'rejected releases (deploy and swap refuse them without --force):',
          ...[...report.rejected]
            .reverse()
            .slice(0, 5)
            .map(
              (r) =>
                `  ${Object.entries(r.versions)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(
                    ' ',
                  )}: ${r.operation} at ${r.at.slice(0, 12)} by ${r.by} on ${r.date}: ${r.reason}`,
            ),
        ]
      : []),
  ].join('\n');
}

function parseAssignment(
  text: string,
  parseKeyPath: Runtime['parseKeyPath'],
): {
  path: string[];
  value: string | number | boolean | null;
} {
  const keyPath = (key: string): string[] => {
    try {
      return parseKeyPath(key);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  };
  const json = text.indexOf(':=');
  const eq = text.indexOf('=');
  if (json > 0 && json < eq) {
    const raw = text.slice(json + 2);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new UsageError(
        `"${text}": the value after := must be JSON (a number, true, false or null)`,
      );
    }
    if (value !== null && !['number', 'boolean', 'string'].includes(typeof value)) {
      throw new UsageError(`"${text}": only scalars can be set`);
    }
    return { path: keyPath(text.slice(0, json)), value: value as string | number | boolean | null };
  }
  if (eq <= 0) throw new UsageError(`"${text}" must be KEY=VALUE or KEY:=JSON`);
  return { path: keyPath(text.slice(0, eq)), value: text.slice(eq + 1) };
}

async function readLocalFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new ValidationError(
      `cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        where: { file },
        cause,
      },
    );
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
