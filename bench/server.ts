/**
 * `stackswap serve` under load. The service runs in a child process of its own, as in
 * production (its RSS is its own). Status load comes from a load-generator child of its own, so
 * that this process, which runs the sandbox, never pauses its clock; the deploys of part B are
 * sent from this process.
 *
 *   A. 200 concurrent GET /v1/stacks/my-app against the sandbox (git + the Argo CD stand-in):
 *      - the target: 200 connections polling, each with one request in flight at all times,
 *        for `rounds` x 5 s, state cached (autocannon, the load generator fastify's own
 *        benchmarks use; latencies in whole ms);
 *      - bursts of 200 requests sent at once on warm keep-alive sockets (undici, each answer
 *        parsed as a bot would);
 *      - a burst right after the cache was dropped (the 200 then share one read of git and
 *        Argo CD).
 *      For reference, the same loads against a bare fastify route answering the same JSON in
 *      the same kind of child: the floor of this machine and these clients.
 *   B. 10 concurrent deploys on the 10 stacks of one config repo (git-only), with status
 *      requests running meanwhile.
 *
 * The service runs compiled (`tsc -p tsconfig.build.json` into a temporary folder, plain node:
 * what a production image runs) and, with --runtime tsx, from the sources through tsx (as
 * a dev checkout with a stale build does; tsx alone adds about 35 MB of RSS). Peak RSS is sampled in the
 * service process every 5 ms. Targets: status p99 < 50 ms with the state cached, RSS < 150 MB.
 *
 *   npx tsx bench/server.ts [--rounds 5] [--runtime compiled|tsx|both] [--semi-space 4|0]
 *                           [--profile DIR]
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { runCli } from '../test/helpers/cli.ts';
import { configRepoFiles, seedBareRepo } from '../test/helpers/config-repo.ts';
import { median, percentile, printTable } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'bench-token-0123456789';
const HEADERS = { authorization: `Bearer ${TOKEN}` };

/**
 * The child, in plain JS so that the compiled service runs without tsx: it starts the service
 * (or a bare fastify reference), samples its RSS, and answers commands over IPC.
 */
const CHILD_SCRIPT = `
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

let peak = process.memoryUsage.rss();
setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 5).unref();
const answer = (handle) =>
  process.on('message', async (m) => process.send({ id: m.id, ...(await handle(m)) }));

if (process.argv[2] === 'service') {
  const { createService } = await import(process.env.BENCH_SERVICE_MODULE);
  const service = await createService({
    env: process.env,
    dataDir: mkdtempSync(path.join(os.tmpdir(), 'stackswap-bench-data-')),
    logDestination: new Writable({ write: (_c, _e, done) => done() }),
    limits: { rateLimitMax: 1000000 },
  });
  const base = await service.app.listen({ port: 0, host: '127.0.0.1' });
  answer(async (m) => {
    if (m.cmd === 'invalidate') service.status.invalidate(m.stack);
    if (m.cmd === 'stop') {
      await service.shutdown({ graceMs: 1000, settleMs: 1000 });
      // A normal exit, so that --cpu-prof (bench --profile) writes its profile.
      setTimeout(() => process.exit(0), 50);
    }
    return { peakRss: peak };
  });
  process.send({ base, rss: process.memoryUsage.rss() });
} else if (process.argv[2] === 'load') {
  // The load generator: bursts of concurrent GETs over keep-alive sockets, each answer read and
  // parsed as a bot would. A process of its own, so that neither the sandbox's work nor its
  // garbage collections (git, helm renders, the Argo CD stand-in) pause the clock of a burst.
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: 512, keepAliveTimeout: 30_000 });
  const headers = JSON.parse(process.env.BENCH_HEADERS);
  const timed = async (url) => {
    const started = performance.now();
    const res = await request(url, { dispatcher: agent, headers });
    const body = await res.body.json();
    return { ms: performance.now() - started, status: res.statusCode, body };
  };
  answer(async (m) => {
    if (m.cmd === 'sustain') {
      // autocannon: m.connections sockets, each with one request in flight, for m.seconds.
      const { default: autocannon } = await import('autocannon');
      const r = await autocannon({ url: m.url, connections: m.connections, duration: m.seconds, headers });
      const { p50, p99, max } = r.latency;
      return { sustained: { p50, p99, max, requests: r.requests.total, failed: r.non2xx + r.errors + r.timeouts } };
    }
    if (m.cmd === 'burst') {
      const results = await Promise.all(Array.from({ length: m.n }, () => timed(m.url)));
      const bad = results.find((r) => r.status !== 200);
      return bad ? { error: JSON.stringify(bad) } : { ms: results.map((r) => r.ms) };
    }
    if (m.cmd === 'stop') {
      await agent.close();
      setTimeout(() => process.exit(0), 50);
    }
    return { peakRss: peak };
  });
  process.send({ base: '', rss: process.memoryUsage.rss() });
} else {
  // The reference: a bare fastify route answering the same JSON the service answers.
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  const body = process.env.BENCH_BODY;
  app.get('/v1/stacks/:stack', (_request, reply) => {
    reply.type('application/json; charset=utf-8').send(body);
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  answer(async (m) => {
    if (m.cmd === 'stop') await app.close();
    return { peakRss: peak };
  });
  process.send({ base, rss: process.memoryUsage.rss() });
}
`;

type Runtime = 'compiled' | 'tsx';

/** How the service child runs: from which build, with which extra node flags. */
interface Variant {
  label: string;
  runtime: Runtime;
  nodeFlags: string[];
}

const prepared = new Map<Runtime, { dir: string; serviceModule: string }>();
const prepareOnce = (runtime: Runtime) => {
  if (!prepared.has(runtime)) prepared.set(runtime, prepare(runtime));
  return prepared.get(runtime)!;
};

/** A folder with the child script, node_modules, and (compiled) the built service. */
function prepare(runtime: Runtime): { dir: string; serviceModule: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `stackswap-bench-${runtime}-`));
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  writeFileSync(path.join(dir, 'child.mjs'), CHILD_SCRIPT);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  if (runtime === 'tsx') {
    return { dir, serviceModule: pathToFileURL(path.join(ROOT, 'src/server/service.ts')).href };
  }
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  const out = path.join(dir, 'dist');
  execFileSync(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json', '--outDir', out, '--declaration', 'false'],
    {
      cwd: ROOT,
    },
  );
  return { dir, serviceModule: pathToFileURL(path.join(out, 'server/service.js')).href };
}

interface Answer {
  peakRss: number;
  /** A burst's latencies (load child), or why it failed. */
  ms?: number[];
  error?: string;
  /** A sustained run (load child): latency percentiles in whole ms (autocannon's histogram). */
  sustained?: { p50: number; p99: number; max: number; requests: number; failed: number };
}

interface Child {
  base: string;
  startRss: number;
  call(cmd: string, extra?: Record<string, unknown>): Promise<Answer>;
  stop(): Promise<number>;
}

async function spawnChild(
  role: 'service' | 'baseline' | 'load',
  variant: Variant,
  env: NodeJS.ProcessEnv,
): Promise<Child> {
  const { dir, serviceModule } = prepareOnce(variant.runtime);
  const child: ChildProcess = fork(path.join(dir, 'child.mjs'), [role], {
    cwd: ROOT,
    env: { ...env, BENCH_SERVICE_MODULE: serviceModule },
    execArgv: [
      ...(variant.runtime === 'tsx' && role === 'service' ? ['--import', 'tsx'] : []),
      ...variant.nodeFlags,
    ],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ base: string; rss: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { base: string; rss: number }));
    child.once('exit', (code) => reject(new Error(`the ${role} child exited with ${code}`)));
  });
  const pending = new Map<string, (value: Answer) => void>();
  child.on('message', (m: Answer & { id?: string }) => {
    if (m.id) pending.get(m.id)?.(m);
  });
  const call: Child['call'] = (cmd, extra = {}) => {
    const id = randomUUID();
    return new Promise((resolve) => {
      pending.set(id, resolve);
      child.send({ id, cmd, ...extra });
    });
  };
  return {
    base: ready.base,
    startRss: ready.rss,
    call,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const { peakRss } = await call('stop');
      // The service and load children exit by themselves (writing a CPU profile if asked).
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      child.kill();
      return peakRss;
    },
  };
}

const agent = new Agent({ connections: 512, keepAliveTimeout: 30_000 });

async function timed(
  url: string,
  options: { method?: 'GET' | 'POST'; body?: string } = {},
): Promise<{ ms: number; status: number; body: unknown }> {
  const started = performance.now();
  const res = await request(url, {
    dispatcher: agent,
    method: options.method ?? 'GET',
    headers: { ...HEADERS, ...(options.body ? { 'content-type': 'application/json' } : {}) },
    ...(options.body ? { body: options.body } : {}),
  });
  const body = await res.body.json();
  return { ms: performance.now() - started, status: res.statusCode, body };
}

async function burst(url: string, n: number): Promise<number[]> {
  const results = await Promise.all(Array.from({ length: n }, () => timed(url)));
  const bad = results.find((r) => r.status !== 200);
  if (bad) throw new Error(`a request failed: ${JSON.stringify(bad)}`);
  return results.map((r) => r.ms);
}

/** A burst from the load child: `n` concurrent GETs of `url`, their latencies. */
async function loadBurst(load: Child, url: string, n: number): Promise<number[]> {
  const answer = await load.call('burst', { url, n });
  if (!answer.ms) throw new Error(`a request failed: ${answer.error}`);
  return answer.ms;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const ms = (v: number) => `${v.toFixed(1)} ms`;
const row = (label: string, values: readonly number[]) => [
  label,
  ms(median(values)),
  ms(percentile(values, 99)),
  ms(Math.max(...values)),
  String(values.length),
];

function serviceEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GIT_CONFIG_GLOBAL: '/dev/null',
    STACKSWAP_TOKENS: JSON.stringify([
      {
        name: 'bench',
        sha256: createHash('sha256').update(TOKEN).digest('hex'),
        scopes: ['admin'],
      },
    ]),
    STACKSWAP_STATUS_CACHE_SECONDS: '60',
    STACKSWAP_CACHE_DIR: mkdtempSync(path.join(os.tmpdir(), 'stackswap-bench-cache-')),
    ...extra,
  };
}

type Sustained = NonNullable<Answer['sustained']>;

/** 200 connections polling for `seconds`, each with one request in flight (after a warm-up). */
async function sustain(load: Child, target: Child, seconds: number): Promise<Sustained> {
  const url = `${target.base}/v1/stacks/my-app`;
  await load.call('sustain', { url, connections: 200, seconds: 2 });
  const { sustained } = await load.call('sustain', { url, connections: 200, seconds });
  if (!sustained || sustained.failed > 0) {
    throw new Error(`requests failed: ${JSON.stringify(sustained)}`);
  }
  return sustained;
}

/**
 * Bursts of 200 concurrent GETs on warm sockets: with the state cached, and right after the
 * cache was dropped (the 200 then share one read of git and Argo CD).
 */
async function statusBursts(load: Child, target: Child, rounds: number, cold: boolean) {
  const url = `${target.base}/v1/stacks/my-app`;
  for (let i = 0; i < 5; i++) await loadBurst(load, url, 200);
  const out = { cached: [] as number[], cold: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    out.cached.push(...(await loadBurst(load, url, 200)));
    if (cold) {
      await target.call('invalidate', { stack: 'my-app' });
      out.cold.push(...(await loadBurst(load, url, 200)));
    }
  }
  return out;
}

const sustainedRow = (label: string, r: Sustained, seconds: number) => [
  label,
  `${r.p50} ms`,
  `${r.p99} ms`,
  `${r.max} ms`,
  `${r.requests} (${Math.round(r.requests / seconds)}/s)`,
];

async function partStatus(rounds: number, variants: Variant[]): Promise<string[][]> {
  const sandbox = await startSandbox({ argocd: { progressingMs: 150, pollIntervalMs: 0 } });
  const compiled: Variant = { label: 'reference', runtime: 'compiled', nodeFlags: [] };
  const load = await spawnChild('load', compiled, {
    PATH: process.env.PATH,
    BENCH_HEADERS: JSON.stringify(HEADERS),
  });
  try {
    for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
      const r = await runCli(['app', 'sync', app], { env: sandbox.env });
      if (r.code !== 0) throw new Error(r.stderr);
    }
    const seconds = rounds * 5;
    const rows: string[][] = [
      ['A: 200 concurrent GET /v1/stacks/my-app', 'p50', 'p99', 'max', 'samples'],
    ];
    let statusBody = '';
    for (const variant of variants) {
      const service = await spawnChild('service', variant, serviceEnv(sandbox.env));
      statusBody = JSON.stringify((await timed(`${service.base}/v1/stacks/my-app`)).body);
      const polled = await sustain(load, service, seconds);
      const bursts = await statusBursts(load, service, rounds, true);
      const peak = await service.stop();
      const tag = `[${variant.label}]`;
      rows.push(
        sustainedRow(
          `${tag} state cached: 200 connections polling for ${seconds} s`,
          polled,
          seconds,
        ),
        row(`${tag} state cached: bursts of 200 (undici)`, bursts.cached),
        row(`${tag} cache dropped before a burst of 200`, bursts.cold),
        [`${tag} peak RSS of the service`, mb(peak), `at start ${mb(service.startRss)}`],
      );
    }
    const baseline = await spawnChild('baseline', compiled, {
      PATH: process.env.PATH,
      BENCH_BODY: statusBody,
    });
    const floorPolled = await sustain(load, baseline, seconds);
    const floor = await statusBursts(load, baseline, rounds, false);
    const peak = await baseline.stop();
    rows.push(
      sustainedRow(
        'reference: bare fastify, same JSON: 200 connections polling',
        floorPolled,
        seconds,
      ),
      row('reference: bare fastify, same JSON: bursts of 200 (undici)', floor.cached),
      ['reference: peak RSS of bare fastify', mb(peak), `at start ${mb(baseline.startRss)}`],
    );
    return rows;
  } finally {
    await load.stop();
    await sandbox.close();
  }
}

async function partOperations(variant: Variant): Promise<string[][]> {
  process.env.GIT_CONFIG_GLOBAL ??= '/dev/null';
  for (const who of ['AUTHOR', 'COMMITTER']) {
    process.env[`GIT_${who}_NAME`] ??= 'bench';
    process.env[`GIT_${who}_EMAIL`] ??= 'bench@example.invalid';
  }
  const stacks = Array.from({ length: 10 }, (_, i) => `s${i}`);
  const { bare } = seedBareRepo(configRepoFiles(stacks.map((name) => ({ name }))));
  const service = await spawnChild(
    'service',
    variant,
    serviceEnv({ STACKSWAP_REPO: bare, STACKSWAP_SANDBOX: '1' }),
  );
  let peak = 0;
  try {
    for (const stack of stacks) await burst(`${service.base}/v1/stacks/${stack}`, 20);
    const statusDuring: number[] = [];
    let operating = true;
    const statusLoad = (async () => {
      for (let i = 0; operating; i++) {
        statusDuring.push(...(await burst(`${service.base}/v1/stacks/s${i % 10}`, 20)));
      }
    })();
    const started = performance.now();
    const accepted = await Promise.all(
      stacks.map((stack) =>
        timed(`${service.base}/v1/stacks/${stack}/deploy`, { method: 'POST', body: '{}' }),
      ),
    );
    const done = await Promise.all(
      accepted.map(async (a) => {
        if (a.status !== 202) throw new Error(`deploy refused: ${JSON.stringify(a.body)}`);
        const id = (a.body as { operation: { id: string } }).operation.id;
        for (;;) {
          const op = (await timed(`${service.base}/v1/operations/${id}`)).body as {
            state: string;
          };
          if (op.state === 'succeeded') return performance.now() - started;
          if (op.state !== 'running') throw new Error(`operation ${id}: ${JSON.stringify(op)}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }),
    );
    operating = false;
    await statusLoad;
    return [
      [
        `B: 10 concurrent deploys on 10 stacks, git-only [${variant.label}]`,
        'p50',
        'p99',
        'max',
        'samples',
      ],
      row(
        'POST /v1/stacks/:stack/deploy -> 202',
        accepted.map((a) => a.ms),
      ),
      row('accepted -> succeeded (committed and pushed)', done),
      row('GET status meanwhile (20 at a time)', statusDuring),
      ['peak RSS of the service', mb((peak = (await service.call('stats')).peakRss))],
    ];
  } finally {
    peak = Math.max(peak, await service.stop());
  }
}

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    runtime: { type: 'string', default: 'both' },
    'semi-space': { type: 'string', default: '4' },
    profile: { type: 'string' },
  },
});
const runtimes: Runtime[] =
  values.runtime === 'both' ? ['compiled', 'tsx'] : [values.runtime as Runtime];
// Each runtime as is, and compiled with a smaller young generation (V8 grows it up to 3 x 16 MB
// under allocation pressure; NODE_OPTIONS=--max-semi-space-size=N caps it).
const semi = `--max-semi-space-size=${values['semi-space']}`;
// --profile DIR: a V8 CPU profile of each service child into DIR (open it in Chrome DevTools).
const profiling = values.profile
  ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values.profile)}`]
  : [];
const variants: Variant[] = runtimes.flatMap((runtime) => [
  { label: runtime, runtime, nodeFlags: profiling },
  ...(runtime === 'compiled' && values['semi-space'] !== '0'
    ? [{ label: `compiled ${semi}`, runtime, nodeFlags: [semi, ...profiling] }]
    : []),
]);
const a = await partStatus(Number(values.rounds), variants);
const b: string[][] = [];
for (const variant of variants.filter((v) => v.runtime === runtimes[0])) {
  b.push([''], ...(await partOperations(variant)));
}
printTable('stackswap serve benchmark', [...a, ...b]);
console.log(`\nnode ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
await agent.close();
