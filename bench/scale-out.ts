/**
 * `stackswap serve` scaled out: 3 replicas on one PostgreSQL against 1 replica on the file
 * journal, the same load on both, one config repo of 10 stacks (git-only: no Argo CD wait, so
 * the operations are as short as they get and the guard is tested hardest).
 *
 *   - 200 concurrent clients polling GET /v1/stacks/<stack> (a random stack each time), spread
 *     round-robin over the replicas, one request in flight each: p50/p99 latency;
 *   - 30 concurrent operation clients on the 10 stacks (3 per stack), each POSTing a deploy of a
 *     new version to a random replica, following it to its end, and again; a 409 (the stack is
 *     busy) waits for the running operation and tries again: operations per minute;
 *   - afterwards, the double-run check: no two operations of one stack overlap in time (from the
 *     journal every replica reads), and no operation made more than one commit (from git).
 *
 * The replicas are real `stackswap serve` processes (the CLI through tsx, as bin/stackswap.js
 * runs), PostgreSQL is Debian's server started in a temp dir (as the tests do); the load runs in
 * this process (undici).
 *
 *   npx tsx bench/scale-out.ts [--seconds 30] [--pollers 200] [--operations 30] [--stacks 10]
 *                              [--status-cache 5]  (STACKSWAP_STATUS_CACHE_SECONDS)
 *                              [--file-replicas 1] [--file-first]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { configRepoFiles, seedBareRepo } from '../test/helpers/config-repo.ts';
import { startPostgres } from '../test/integration/server/postgres.ts';
import { startReplica, type Replica } from '../test/integration/server/replicas.ts';
import { percentile, printTable } from './stats.ts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    pollers: { type: 'string', default: '200' },
    operations: { type: 'string', default: '30' },
    stacks: { type: 'string', default: '10' },
    'status-cache': { type: 'string', default: '5' },
    /** Replicas of the file-journal run (more than 1 only to compare costs: they share nothing). */
    'file-replicas': { type: 'string', default: '1' },
    /** Run the file-journal mode first (the first run pays the cold start of the machine). */
    'file-first': { type: 'boolean', default: false },
    /** Alternating rounds of the two modes (shared machines: report the medians). */
    rounds: { type: 'string', default: '1' },
  },
});
const SECONDS = Number(flags.seconds);
const POLLERS = Number(flags.pollers);
const OPERATORS = Number(flags.operations);
const STACKS = Array.from({ length: Number(flags.stacks) }, (_, i) => `s${i}`);

const TOKEN = 'bench-admin-token-0123456789';
const HEADERS = { authorization: `Bearer ${TOKEN}` };
const TOKENS = JSON.stringify([
  {
    name: 'bench',
    sha256: createHash('sha256').update(TOKEN).digest('hex'),
    scopes: ['admin'],
  },
]);

interface Op {
  id: string;
  stack: string;
  state: string;
  createdAt: string;
  finishedAt?: string;
}

interface Result {
  mode: string;
  statusLatencies: number[];
  statusErrors: number;
  accepted: number;
  succeeded: number;
  failed: number;
  busy: number;
  seconds: number;
  overlaps: number;
  doubleCommits: number;
  /** Operation requests that threw (unanswered for 30 s, connection errors). */
  clientErrors: number;
  /** 409s naming an operation no replica knows (404): the bug that hung this bench. */
  unknownIds: number;
  /** CPU seconds the replica processes used during the load (user + system). */
  replicaCpu: number;
  /** 1-minute load average of the machine before and after the load. */
  load: [number, number];
}

/** utime + stime of a process, in seconds (Linux /proc; 100 ticks a second). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
const loadavg = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

async function runMode(mode: 'postgres' | 'file', replicaCount: number): Promise<Result> {
  const { bare } = seedBareRepo(configRepoFiles(STACKS.map((name) => ({ name }))));
  const pg = mode === 'postgres' ? await startPostgres() : undefined;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    STACKSWAP_SANDBOX: '1',
    STACKSWAP_REPO: bare,
    STACKSWAP_TOKENS: TOKENS,
    STACKSWAP_RATE_LIMIT: '1000000',
    STACKSWAP_LOG_LEVEL: 'warn',
    STACKSWAP_STATUS_CACHE_SECONDS: flags['status-cache'],
    ...(pg ? { STACKSWAP_DATABASE_URL: pg.url } : {}),
  };
  const replicas: Replica[] = await Promise.all(
    Array.from({ length: replicaCount }, (_, i) => startReplica(`${mode}-${i}`, env)),
  );
  // A request unanswered for 30 s counts as an error (and the bench goes on).
  const agent = new Agent({
    connections: POLLERS + OPERATORS + 10,
    pipelining: 1,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  let next = 0;
  const pick = () => replicas[next++ % replicas.length]!;
  const call = async (replica: Replica, method: 'GET' | 'POST', url: string, body?: unknown) => {
    const res = await request(`${replica.base}${url}`, {
      method,
      dispatcher: agent,
      headers: {
        ...HEADERS,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, json: text ? (JSON.parse(text) as any) : undefined };
  };

  process.stderr.write(`${mode}: ${replicas.length} replica(s) listening\n`);
  // Warm: every replica has read every stack once.
  for (const r of replicas) for (const s of STACKS) await call(r, 'GET', `/v1/stacks/${s}`);

  const deadline = Date.now() + SECONDS * 1000;
  const result: Result = {
    mode: `${replicaCount} replica(s), ${mode === 'postgres' ? 'PostgreSQL' : 'file journal'}`,
    statusLatencies: [],
    statusErrors: 0,
    accepted: 0,
    succeeded: 0,
    failed: 0,
    busy: 0,
    seconds: SECONDS,
    overlaps: 0,
    doubleCommits: 0,
    clientErrors: 0,
    unknownIds: 0,
    replicaCpu: 0,
    load: [loadavg(), 0],
  };
  const replicaCpu = () => replicas.reduce((sum, r) => sum + cpuSeconds(r.child.pid), 0);
  const cpuBefore = replicaCpu();

  const poller = async () => {
    while (Date.now() < deadline) {
      const stack = STACKS[Math.floor(Math.random() * STACKS.length)]!;
      const started = performance.now();
      try {
        const { status } = await call(pick(), 'GET', `/v1/stacks/${stack}`);
        if (status === 200) result.statusLatencies.push(performance.now() - started);
        else result.statusErrors++;
      } catch {
        result.statusErrors++;
      }
    }
  };

  let version = 0;
  const operator = async (n: number) => {
    const stack = STACKS[n % STACKS.length]!;
    while (Date.now() < deadline) {
      try {
        await operateOnce(stack, n);
      } catch {
        result.clientErrors++;
      }
    }
  };
  const operateOnce = async (stack: string, n: number) => {
    {
      const tag = `1.${n}.${version++}`;
      const res = await call(pick(), 'POST', `/v1/stacks/${stack}/deploy`, {
        versions: { web: tag, api: tag },
        reason: 'bench',
      });
      if (res.status === 409) {
        result.busy++;
        const running = res.json?.error?.operationId as string | undefined;
        if (running) await follow(running, true);
        else await new Promise((r) => setTimeout(r, 100));
        return;
      }
      if (res.status !== 202) {
        result.failed++;
        await new Promise((r) => setTimeout(r, 200));
        return;
      }
      result.accepted++;
      const end = await follow(res.json.operation.id as string);
      if (end === 'succeeded') result.succeeded++;
      else result.failed++;
    }
  };
  const follow = async (id: string, named409 = false): Promise<string> => {
    let unknown = 0;
    for (let polls = 0; ; polls++) {
      if (polls > 1_200) throw new Error(`operation ${id} still running after 2 minutes`);
      const { status, json } = await call(pick(), 'GET', `/v1/operations/${id}`);
      // An id handed out must be readable everywhere (a start is recorded before it is named).
      if (status === 404 && ++unknown >= 3) {
        if (named409) result.unknownIds++;
        return 'unknown';
      }
      if (json?.state && json.state !== 'running') return json.state as string;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  process.stderr.write(`${mode}: load for ${SECONDS} s\n`);
  const started = Date.now();
  try {
    await Promise.all([
      ...Array.from({ length: POLLERS }, poller),
      ...Array.from({ length: OPERATORS }, (_, n) => operator(n)),
    ]);
    result.seconds = (Date.now() - started) / 1000;
    result.replicaCpu = replicaCpu() - cpuBefore;
    result.load[1] = loadavg();
    process.stderr.write(`${mode}: load done; checking for double runs\n`);

    // Double runs: overlapping operations of one stack, in the journal every replica reads.
    for (const stack of STACKS) {
      const { json } = await call(replicas[0]!, 'GET', `/v1/operations?stack=${stack}&limit=500`);
      const ops = (json.operations as Op[])
        .filter((o) => o.finishedAt)
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      for (let i = 1; i < ops.length; i++) {
        if (Date.parse(ops[i]!.createdAt) < Date.parse(ops[i - 1]!.finishedAt!)) result.overlaps++;
      }
    }
    // ...and operations that committed more than once (the commit trailers name them).
    const trailers = execFileSync(
      'git',
      ['log', '--format=%(trailers:key=Stackswap-Operation-Id,valueonly)', 'main'],
      { cwd: bare, encoding: 'utf8' },
    )
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const seen = new Map<string, number>();
    for (const id of trailers) seen.set(id, (seen.get(id) ?? 0) + 1);
    result.doubleCommits = [...seen.values()].filter((n) => n > 1).length;
  } finally {
    await agent.close();
    await Promise.all(replicas.map((r) => r.stop()));
    await pg?.stop();
  }
  return result;
}

const results: Result[] = [];
for (let round = 0; round < Number(flags.rounds); round++) {
  // Alternating, the first mode flipping each round (the machine's load drifts).
  const fileFirst = flags['file-first'] !== (round % 2 === 1);
  if (fileFirst) results.push(await runMode('file', Number(flags['file-replicas'])));
  results.push(await runMode('postgres', 3));
  if (!fileFirst) results.push(await runMode('file', Number(flags['file-replicas'])));
}
const medians = (mode: string) => {
  const of = results.filter((r) => r.mode.includes(mode));
  return {
    p50: percentile(
      of.map((r) => percentile(r.statusLatencies, 50)),
      50,
    ),
    p99: percentile(
      of.map((r) => percentile(r.statusLatencies, 99)),
      50,
    ),
    opsPerMinute: percentile(
      of.map((r) => (r.succeeded / r.seconds) * 60),
      50,
    ),
  };
};
printTable(
  `stackswap serve scaled out: ${POLLERS} status pollers, ${OPERATORS} operation clients on ${STACKS.length} stacks, ${SECONDS} s`,
  [
    [
      'mode',
      'status reqs',
      'p50 ms',
      'p99 ms',
      'status errors',
      'ops/min',
      'ops ok',
      'ops failed',
      '409s',
      'client errors',
      '409 unknown id',
      'double runs',
      'replica CPU s',
      'CPU ms/1k status',
      'load 1m',
    ],
    ...results.map((r) => [
      r.mode,
      String(r.statusLatencies.length),
      percentile(r.statusLatencies, 50).toFixed(1),
      percentile(r.statusLatencies, 99).toFixed(1),
      String(r.statusErrors),
      ((r.succeeded / r.seconds) * 60).toFixed(1),
      String(r.succeeded),
      String(r.failed),
      String(r.busy),
      String(r.clientErrors),
      String(r.unknownIds),
      String(r.overlaps + r.doubleCommits),
      r.replicaCpu.toFixed(1),
      ((r.replicaCpu * 1e6) / Math.max(1, r.statusLatencies.length)).toFixed(0),
      `${r.load[0].toFixed(1)}→${r.load[1].toFixed(1)}`,
    ]),
  ],
);
if (Number(flags.rounds) > 1) {
  const pgm = medians('PostgreSQL');
  const file = medians('file journal');
  console.log(
    `\nmedians over ${flags.rounds} rounds: PostgreSQL p50 ${pgm.p50.toFixed(1)} ms, p99 ${pgm.p99.toFixed(1)} ms, ${pgm.opsPerMinute.toFixed(1)} ops/min; file journal p50 ${file.p50.toFixed(1)} ms, p99 ${file.p99.toFixed(1)} ms, ${file.opsPerMinute.toFixed(1)} ops/min; ratio (PostgreSQL / file) p50 ${(pgm.p50 / file.p50).toFixed(2)}x, p99 ${(pgm.p99 / file.p99).toFixed(2)}x`,
  );
}
