/**
 * The git path on a big config repo: how long does a deploy take against the job it replaces?
 *
 * Builds (once, cached) a config repo of --files files and --commits commits with the example
 * stack in it, serves it over smart HTTP (git http-backend, Basic auth, byte counting), then
 * alternates, round by round, three fresh processes:
 *   A  seed job: git clone --depth 1, edit the green frontend's tag with sed, commit, push
 *   B  stackswap deploy --no-sync --set my-frontend=<v>, cold (empty STACKSWAP_CACHE_DIR)
 *   C  the same, warm (the cache of the previous warm run)
 * and finally starts 20 deploys at once on 20 stacks of one repo, each with its own empty
 * cache (20 CI jobs), and checks that every commit landed with its trailers.
 *
 *   npx tsx bench/git-path/main.ts [--files 20000] [--commits 20000] [--rounds 5]
 *     [--concurrent 20] [--cli "node bin/stackswap.js"] [--json]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { median, percentile, printTable } from '../stats.ts';
import {
  buildConfigRepo,
  buildMultiStackRepo,
  concurrentStackName,
  copyRepo,
  exampleStack,
  git,
  gitEnv,
} from './build-repo.ts';
import { startGitServer, type GitServer, type Traffic } from './http-server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TOKEN = 'bench-token-0123456789';
const PROCESS_TIMEOUT_MS = 600_000;

const { values: opts } = parseArgs({
  options: {
    files: { type: 'string', default: '20000' },
    commits: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
    concurrent: { type: 'string', default: '20' },
    cli: { type: 'string', default: 'node bin/stackswap.js' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const positive = (name: string, text: string | undefined, min: number) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
  return n;
};
const params = {
  files: positive('files', opts.files, 100),
  commits: positive('commits', opts.commits, 1),
};
const rounds = positive('rounds', opts.rounds, 1);
const concurrent = positive('concurrent', opts.concurrent, 0);
const cli = opts.cli!.split(/\s+/).filter(Boolean);
/** Progress goes to stderr, so that --json leaves stdout to the JSON document. */
const log = (line: string) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------

interface ProcessResult {
  code: number | null;
  wallMs: number;
  /** User + system CPU time of the process and every child it waited for (git, ...). */
  cpuMs: number;
  stdout: string;
  stderr: string;
}

/** bash's `times` prints the CPU time of its children last: that is the command's. */
const WITH_TIMES = '"$@"; rc=$?; times >&2; exit $rc';
const TIMES_LINE = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/gm;

/**
 * Runs one fresh process; wall time is from spawn to the process's exit, CPU time is what the
 * process tree used (robust to a loaded machine, where wall time is not).
 */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    // Its own process group, so that a timeout also ends the git processes it started.
    const child = spawn('bash', ['-c', WITH_TIMES, 'bench', command, ...args], {
      ...options,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let wallMs = Number.NaN;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      stderr += `\nkilled by the bench after ${PROCESS_TIMEOUT_MS / 1000} s`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, PROCESS_TIMEOUT_MS);
    child.on('exit', () => (wallMs = performance.now() - started));
    child.on('close', (code) => {
      clearTimeout(timer);
      const times = [...stderr.matchAll(TIMES_LINE)].at(-1);
      const cpuMs = times
        ? (Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4])) *
          1000
        : Number.NaN;
      resolve({ code, wallMs, cpuMs, stdout, stderr: stderr.replace(TIMES_LINE, '') });
    });
  });
}

interface Sample {
  variant: Variant;
  round: number;
  version: string;
  wallMs: number;
  cpuMs: number;
  traffic: Traffic;
  /** Seed job only: seconds per step, from the script's own clock. */
  steps?: Record<string, number>;
  attempts?: number;
}
type Variant = 'seed' | 'cold' | 'warm';

/** The seed pipeline's naive job, as one shell process. */
const SEED_SCRIPT = `set -eu
t() { echo "step $1 $EPOCHREALTIME" >&2; }
t start
git clone --quiet --depth 1 --branch main "$SEED_URL" work
t clone
cd work
sed -i "/^my-frontend:/,/tag:/ s/tag: .*/tag: '$SEED_VERSION'/" apps/my-app/values-green.yaml
git commit --quiet -am "seed: my-frontend $SEED_VERSION"
t commit
git push --quiet origin HEAD:main
t push
`;

async function seedJob(url: string, version: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-seed-'));
  const authed = url.replace('http://', `http://oauth2:${TOKEN}@`);
  try {
    const result = await run('bash', ['-c', SEED_SCRIPT], {
      cwd: dir,
      env: { ...gitEnv, SEED_URL: authed, SEED_VERSION: version },
    });
    if (result.code !== 0) throw new Error(`seed job failed (${result.code}):\n${result.stderr}`);
    const marks = [...result.stderr.matchAll(/^step (\w+) ([\d.]+)$/gm)].map(
      (m) => [m[1]!, Number(m[2])] as const,
    );
    const steps: Record<string, number> = {};
    for (let i = 1; i < marks.length; i++) steps[marks[i]![0]] = marks[i]![1] - marks[i - 1]![1];
    return { wallMs: result.wallMs, cpuMs: result.cpuMs, steps };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface CliOutcome {
  wallMs: number;
  cpuMs: number;
  sha: string;
  operationId: string;
  attempts: number;
}

function cliEnv(url: string, cacheDir: string, extra: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('STACKSWAP_') && !k.startsWith('ARGOCD_')) env[k] = v;
  }
  return {
    ...env,
    STACKSWAP_REPO: url,
    STACKSWAP_GIT_TOKEN: TOKEN,
    STACKSWAP_GIT_ALLOW_HTTP: 'true',
    STACKSWAP_CACHE_DIR: cacheDir,
    STACKSWAP_REQUESTED_BY: 'bench',
    ...extra,
  };
}

async function deploy(
  url: string,
  cacheDir: string,
  version: string,
  stack?: string,
): Promise<CliOutcome> {
  const result = await run(
    cli[0]!,
    [...cli.slice(1), 'deploy', '--no-sync', '--set', `my-frontend=${version}`, '--output', 'json'],
    { cwd: ROOT, env: cliEnv(url, cacheDir, stack ? { STACKSWAP_STACK: stack } : {}) },
  );
  let parsed: { committed?: boolean; sha?: string; operationId?: string; attempts?: number } = {};
  try {
    parsed = (JSON.parse(result.stdout) as { result?: typeof parsed }).result ?? {};
  } catch {
    // reported below
  }
  if (result.code !== 0 || parsed.committed !== true || !parsed.sha) {
    let reason = `${result.stdout}\n${result.stderr}`.trim().slice(-2000);
    try {
      const { error } = JSON.parse(result.stdout) as {
        error?: { code?: string; message?: string };
      };
      if (error) reason = `${error.code}: ${error.message}`;
    } catch {
      // not JSON: show the output as it is
    }
    throw new Error(
      `deploy ${version}${stack ? ` (${stack})` : ''}: exit ${result.code} after ${Math.round(result.wallMs)} ms: ${reason}`,
    );
  }
  return {
    wallMs: result.wallMs,
    cpuMs: result.cpuMs,
    sha: parsed.sha,
    operationId: parsed.operationId ?? '',
    attempts: parsed.attempts ?? 0,
  };
}

const tipOf = (bare: string) => git(bare, 'rev-parse', 'refs/heads/main');
const showAt = (bare: string, file: string) => git(bare, 'show', `refs/heads/main:${file}`);

/** The change really landed: the remote tip has the new tag in the green values file. */
function expectLanded(bare: string, version: string, file = 'apps/my-app/values-green.yaml') {
  if (!showAt(bare, file).includes(`tag: '${version}'`)) {
    throw new Error(`${version} is not in ${file} at the remote tip`);
  }
}

// ---------------------------------------------------------------------------------------------

interface Summary {
  n: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  medianCpuMs: number;
  medianFetchedBytes: number;
  medianSentBytes: number;
  medianRequests: number;
}

function summarise(samples: readonly Sample[]): Summary {
  const wall = samples.map((s) => s.wallMs);
  return {
    n: samples.length,
    medianMs: median(wall),
    p90Ms: percentile(wall, 90),
    minMs: Math.min(...wall),
    medianCpuMs: median(samples.map((s) => s.cpuMs)),
    medianFetchedBytes: median(samples.map((s) => s.traffic.fetched)),
    medianSentBytes: median(samples.map((s) => s.traffic.sent)),
    medianRequests: median(samples.map((s) => s.traffic.requests)),
  };
}

async function alternate(server: GitServer, bare: string, url: string, work: string) {
  const warmCache = path.join(work, 'warm-cache');
  mkdirSync(warmCache);
  // Prime the warm cache (and tsx's compile cache); not measured.
  log('priming the warm cache (not measured)...');
  const primed = await deploy(url, warmCache, 'prime-warm');
  expectLanded(bare, 'prime-warm');
  log(`  primed in ${(primed.wallMs / 1000).toFixed(2)} s`);

  const samples: Sample[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const variant of ['seed', 'cold', 'warm'] as const) {
      const version = `r${round}-${variant}`;
      const before = tipOf(bare);
      const traffic = server.meter();
      let sample: Sample;
      if (variant === 'seed') {
        const r = await seedJob(url, version);
        sample = { variant, round, version, wallMs: r.wallMs, cpuMs: r.cpuMs, traffic };
        sample.steps = r.steps;
      } else {
        const cache = variant === 'warm' ? warmCache : path.join(work, `cold-${round}`);
        const r = await deploy(url, cache, version);
        if (variant === 'cold') rmSync(cache, { recursive: true, force: true });
        if (r.sha !== tipOf(bare))
          throw new Error(`${version}: pushed ${r.sha}, remote is at ${tipOf(bare)}`);
        sample = { variant, round, version, wallMs: r.wallMs, cpuMs: r.cpuMs, traffic };
        sample.attempts = r.attempts;
      }
      // The previous run's files (a 20,000-file checkout, removed again) are written back by
      // the kernel later; flush them now so that cost does not land on the next measurement.
      execFileSync('sync');
      if (tipOf(bare) === before) throw new Error(`${version}: the remote tip did not move`);
      expectLanded(bare, version);
      samples.push(sample);
      log(
        `  round ${round} ${variant.padEnd(4)} ${(sample.wallMs / 1000).toFixed(3)} s (CPU ${(sample.cpuMs / 1000).toFixed(3)} s), fetched ${kib(traffic.fetched)}, sent ${kib(traffic.sent)}, ${traffic.requests} requests`,
      );
    }
  }
  return samples;
}

interface ConcurrencyReport {
  stacks: number;
  wallMs: number;
  processWallMs: { median: number; max: number };
  /** CPU time of all the processes that finished, summed. */
  cpuMsTotal: number;
  attempts: { total: number; max: number };
  failures: string[];
  landed: number;
  problems: string[];
  fetchedBytes: number;
  sentBytes: number;
  requests: number;
}

async function concurrency(server: GitServer, bare: string, url: string, work: string) {
  const base = tipOf(bare);
  const names = Array.from({ length: concurrent }, (_, i) => concurrentStackName(i));
  const traffic = server.meter();
  const started = performance.now();
  const settled = await Promise.allSettled(
    names.map((name, i) => {
      const cache = path.join(work, `concurrent-${i}`);
      return deploy(url, cache, `conc-${name}`, name);
    }),
  );
  const wallMs = performance.now() - started;

  const failures: string[] = [];
  const outcomes = new Map<string, CliOutcome>();
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') outcomes.set(names[i]!, s.value);
    else failures.push(String((s.reason as Error).message).slice(0, 600));
  });

  // Every stack: exactly one deploy commit with its trailers, and its tag at the tip.
  const log = git(bare, 'log', '--format=%H%x1f%B%x1e', `${base}..refs/heads/main`);
  const commits = log
    .split('\x1e')
    .map((c) => c.trim())
    .filter(Boolean)
    .map((c) => {
      const [sha, body] = c.split('\x1f') as [string, string];
      const trailers: Record<string, string> = {};
      for (const m of body.matchAll(/^(Stackswap-[A-Za-z-]+): (.*)$/gm)) trailers[m[1]!] = m[2]!;
      return { sha, trailers };
    });
  const problems: string[] = [];
  let landed = 0;
  for (const name of names) {
    const version = `conc-${name}`;
    const mine = commits.filter((c) => c.trailers['Stackswap-Stack'] === name);
    const outcome = outcomes.get(name);
    const expected: Record<string, string | undefined> = {
      'Stackswap-Operation': 'deploy',
      'Stackswap-Colour': 'green',
      'Stackswap-Versions': `my-frontend=${version},my-backend=1.0.0`,
      'Stackswap-Requested-By': 'bench',
      'Stackswap-Operation-Id': outcome?.operationId,
    };
    const wrong =
      mine.length === 1
        ? Object.entries(expected).filter(([k, v]) => v !== undefined && mine[0]!.trailers[k] !== v)
        : [];
    let atTip = true;
    try {
      expectLanded(bare, version, `apps/${name}/values-green.yaml`);
    } catch {
      atTip = false;
    }
    if (mine.length !== 1) problems.push(`${name}: ${mine.length} commits`);
    else if (wrong.length)
      problems.push(`${name}: trailers ${wrong.map(([k]) => k).join(', ')} wrong`);
    else if (outcome && mine[0]!.sha !== outcome.sha)
      problems.push(`${name}: reported ${outcome.sha}, landed ${mine[0]!.sha}`);
    else if (!atTip) problems.push(`${name}: ${version} not at the tip`);
    else landed++;
  }
  const walls = [...outcomes.values()].map((o) => o.wallMs);
  const attempts = [...outcomes.values()].map((o) => o.attempts);
  return {
    stacks: concurrent,
    wallMs,
    processWallMs: { median: median(walls), max: walls.length ? Math.max(...walls) : Number.NaN },
    cpuMsTotal: [...outcomes.values()].reduce((sum, o) => sum + o.cpuMs, 0),
    attempts: { total: attempts.reduce((a, b) => a + b, 0), max: Math.max(0, ...attempts) },
    failures,
    landed,
    problems,
    fetchedBytes: traffic.fetched,
    sentBytes: traffic.sent,
    requests: traffic.requests,
  } satisfies ConcurrencyReport;
}

const kib = (bytes: number) =>
  bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v)} ms` : 'n/a');
const yes = (ok: boolean) => (ok ? 'met' : 'NOT met');

type Result = {
  params: typeof params & { rounds: number; concurrent: number; cli: string };
  machine: { loadAverage: { start: number; end: number } };
  variants: Record<Variant, Summary>;
  seedStepsMedianMs: Record<string, number>;
  ratios: Record<'seedOverCold' | 'seedOverWarm' | 'cpuSeedOverCold' | 'cpuSeedOverWarm', number>;
  targets: Record<'warm' | 'cold', { rule: string; met: boolean }>;
  concurrency:
    (ConcurrencyReport & { limitMs: number; limitBySeedPushMs: number; met: boolean }) | undefined;
};

/** The human-readable report (stdout, unless --json). */
function report(result: Result): void {
  const {
    variants: stats,
    seedStepsMedianMs: seedSteps,
    ratios,
    targets,
    concurrency: conc,
  } = result;
  printTable(
    `git-path: ${params.files} files, ${params.commits} commits, ${rounds} rounds, cli: ${cli.join(' ')}`,
    [
      [
        'variant',
        'median',
        'p90',
        'min',
        'CPU (median)',
        'fetched (median)',
        'sent (median)',
        'requests',
      ],
      ...(['seed', 'cold', 'warm'] as const).map((v) => [
        v,
        ms(stats[v].medianMs),
        ms(stats[v].p90Ms),
        ms(stats[v].minMs),
        ms(stats[v].medianCpuMs),
        kib(stats[v].medianFetchedBytes),
        kib(stats[v].medianSentBytes),
        String(stats[v].medianRequests),
      ]),
    ],
  );
  console.log(
    `seed job steps (median): clone ${ms(seedSteps.clone!)}, edit+commit ${ms(seedSteps.commit!)}, push ${ms(seedSteps.push!)}`,
  );
  console.log(
    `seed/cold = ${ratios.seedOverCold.toFixed(2)}x, seed/warm = ${ratios.seedOverWarm.toFixed(2)}x (by CPU time: ${ratios.cpuSeedOverCold.toFixed(2)}x, ${ratios.cpuSeedOverWarm.toFixed(2)}x)`,
  );
  console.log(`target ${targets.warm.rule}: ${yes(targets.warm.met)}`);
  console.log(`target ${targets.cold.rule}: ${yes(targets.cold.met)}`);
  if (conc) {
    console.log(
      `\nconcurrency: ${conc.stacks} deploys on ${conc.stacks} stacks at once: ${conc.landed}/${conc.stacks} landed with their trailers in ${ms(conc.wallMs)} (per process: median ${ms(conc.processWallMs.median)}, max ${ms(conc.processWallMs.max)}; CPU ${ms(conc.cpuMsTotal)} in all; attempts ${conc.attempts.total}, max ${conc.attempts.max}; fetched ${kib(conc.fetchedBytes)} in all)`,
    );
    for (const f of conc.failures) console.log(`  failed: ${f}`);
    for (const p of conc.problems) console.log(`  problem: ${p}`);
    console.log(
      `target all land in <= 2 x (${conc.stacks} x one cold deploy, ${ms(stats.cold.medianMs)}) = ${ms(conc.limitMs)}: ${yes(conc.met)}`,
    );
    console.log(
      `  (stricter reading, one push = the seed job's git push step: 2 x ${conc.stacks} x ${ms(seedSteps.push!)} = ${ms(conc.limitBySeedPushMs)}: ${yes(conc.landed === conc.stacks && conc.wallMs <= conc.limitBySeedPushMs)})`,
    );
  }
  console.log(
    `load average (1 min) at start ${result.machine.loadAverage.start.toFixed(1)}, at end ${result.machine.loadAverage.end.toFixed(1)}, on ${os.cpus().length} cores`,
  );
}

async function main() {
  const stack = exampleStack(ROOT);
  log(`building (or reusing) the config repo: ${params.files} files, ${params.commits} commits...`);
  const repo = await buildConfigRepo(params, stack);
  log(
    `  ${repo.buildSeconds ? `built in ${repo.buildSeconds.toFixed(1)} s` : 'cached'}: ${repo.bare} (${kib(repo.sizeBytes)})`,
  );
  const multi = concurrent > 0 ? await buildMultiStackRepo(repo, concurrent, ROOT) : undefined;

  const work = mkdtempSync(path.join(os.tmpdir(), 'bench-git-path-run-'));
  const served = path.join(work, 'served');
  mkdirSync(served);
  const bare = copyRepo(repo, served, 'config');
  const server = await startGitServer(served, TOKEN);
  try {
    const url = server.urlOf('config');
    const loadAtStart = os.loadavg()[0]!;
    log(`serving ${url} (git http-backend, Basic auth); ${rounds} rounds of seed, cold, warm`);
    const samples = await alternate(server, bare, url, work);
    const stats = {
      seed: summarise(samples.filter((s) => s.variant === 'seed')),
      cold: summarise(samples.filter((s) => s.variant === 'cold')),
      warm: summarise(samples.filter((s) => s.variant === 'warm')),
    };
    const seedSteps = Object.fromEntries(
      ['clone', 'commit', 'push'].map((step) => [
        step,
        median(samples.filter((s) => s.steps).map((s) => s.steps![step]! * 1000)),
      ]),
    );
    const ratios = {
      seedOverCold: stats.seed.medianMs / stats.cold.medianMs,
      seedOverWarm: stats.seed.medianMs / stats.warm.medianMs,
      /** The same by CPU time: what a loaded machine changes least. */
      cpuSeedOverCold: stats.seed.medianCpuMs / stats.cold.medianCpuMs,
      cpuSeedOverWarm: stats.seed.medianCpuMs / stats.warm.medianCpuMs,
    };
    const targets = {
      warm: {
        rule: 'warm >= 10x faster than seed, and <= 300 ms for the whole process',
        met: ratios.seedOverWarm >= 10 && stats.warm.medianMs <= 300,
      },
      cold: { rule: 'cold >= 3x faster than seed', met: ratios.seedOverCold >= 3 },
    };

    let conc: Result['concurrency'];
    if (multi) {
      const multiBare = copyRepo(multi, served, 'multi');
      log(`${concurrent} concurrent deploys on ${concurrent} stacks, each with an empty cache...`);
      const report = await concurrency(server, multiBare, server.urlOf('multi'), work);
      // One push = what one of these jobs costs alone: a cold deploy (median of the rounds).
      const limitMs = 2 * concurrent * stats.cold.medianMs;
      conc = {
        ...report,
        limitMs,
        // The stricter reading: one push = the seed job's `git push` step alone.
        limitBySeedPushMs: 2 * concurrent * seedSteps.push!,
        met:
          report.landed === concurrent && report.failures.length === 0 && report.wallMs <= limitMs,
      };
    }

    const result = {
      bench: 'git-path',
      params: { ...params, rounds, concurrent, cli: cli.join(' ') },
      machine: {
        cpus: os.cpus().length,
        node: process.version,
        git: git(os.tmpdir(), '--version'),
        /** 1-minute load average when the measurements started and ended (a shared machine). */
        loadAverage: { start: loadAtStart, end: os.loadavg()[0]! },
      },
      repo: {
        sizeBytes: repo.sizeBytes,
        buildSeconds: repo.buildSeconds,
        cached: repo.buildSeconds === 0,
      },
      variants: stats,
      seedStepsMedianMs: seedSteps,
      ratios,
      targets,
      concurrency: conc,
      samples,
    };

    if (opts.json) {
      // The JSON document alone on stdout; the human report goes to stderr with the progress.
      const stdoutLog = console.log;
      console.log = (...args: unknown[]) => log(args.join(' '));
      report(result);
      console.log = stdoutLog;
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else report(result);
  } finally {
    await server.close();
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

await main();
