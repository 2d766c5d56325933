/**
 * Start-up of the `stackswap` command: `--version` and `--help` through the installed binary
 * (bin/stackswap.js, compiled dist/) against the same sources through tsx (as bin/ ran them
 * before dist/), with bare `node -e 0` as the floor. Each round runs every variant once, in a
 * shuffled order, so load from other processes falls on all of them alike; medians and p90 over
 * the rounds, after warm-up rounds that are not counted. Wall time is what a user waits; CPU
 * time (user + system of the child, through /usr/bin/time when installed) is what start-up
 * costs, and moves less when other processes share the cores (the load average is printed).
 *
 *   npm run build && npx tsx bench/startup.ts [--rounds 20] [--warmup 2]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { distState } from '../bin/dist-state.js';
import { median, percentile, printTable } from './stats.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '2' },
  },
});
const rounds = Number(values.rounds);
const warmup = Number(values.warmup);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const state = distState();
if (!state.fresh) {
  console.error(`dist/ is stale (${state.reason}): run npm run build first`);
  process.exit(1);
}

interface Variant {
  name: string;
  /** How the variant is run, for the table; empty for the floor. */
  command: string;
  argv: (args: readonly string[]) => string[];
}

const VARIANTS: Variant[] = [
  { name: 'floor', command: '', argv: () => ['-e', '0'] },
  {
    name: 'compiled',
    command: 'node bin/stackswap.js',
    argv: (args) => [path.join(ROOT, 'bin/stackswap.js'), ...args],
  },
  {
    name: 'tsx',
    command: 'node --import tsx src/cli/main.ts',
    argv: (args) => ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args],
  },
];
const COMMANDS = [['--version'], ['--help']] as const;

const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const TIME = '/usr/bin/time';
const withCpu = existsSync(TIME);
const CPU_LINE = /^cpu (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)\n?$/m;

function timeOnce(argv: string[]): { wall: number; cpu: number } {
  const [file, args] = withCpu
    ? [TIME, ['-f', 'cpu %U %S', process.execPath, ...argv]]
    : [process.execPath, argv];
  const start = performance.now();
  const r = spawnSync(file, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const wall = performance.now() - start;
  const stderr = r.stderr.toString();
  const cpu = CPU_LINE.exec(stderr);
  if (r.status !== 0 || stderr.replace(CPU_LINE, '').trim() !== '') {
    throw new Error(`node ${argv.join(' ')} exited ${r.status}: ${stderr}`);
  }
  return { wall, cpu: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : Number.NaN };
}

const wallSamples = new Map<string, number[]>();
const cpuSamples = new Map<string, number[]>();
const push = (map: Map<string, number[]>, key: string, value: number) =>
  map.set(key, [...(map.get(key) ?? []), value]);
const jobs = COMMANDS.flatMap((args) =>
  VARIANTS.map((v) => ({ key: `${args.join(' ')} ${v.name}`, argv: v.argv(args) })),
);
for (let round = 0; round < warmup + rounds; round++) {
  const order = [...jobs].sort(() => Math.random() - 0.5);
  for (const job of order) {
    const { wall, cpu } = timeOnce(job.argv);
    if (round < warmup) continue;
    push(wallSamples, job.key, wall);
    push(cpuSamples, job.key, cpu);
  }
}

const fmt = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : 'n/a');
const rows: string[][] = [
  ['command', 'run as', 'wall median', 'p90', 'above node', 'vs compiled', 'CPU median'],
];
for (const args of COMMANDS) {
  const label = args.join(' ');
  const floor = median(wallSamples.get(`${label} floor`)!);
  const compiled = median(wallSamples.get(`${label} compiled`)!);
  for (const v of VARIANTS) {
    const wall = wallSamples.get(`${label} ${v.name}`)!;
    const m = median(wall);
    rows.push([
      v.command ? `stackswap ${label}` : 'node -e 0',
      v.command || '(the floor)',
      fmt(m),
      fmt(percentile(wall, 90)),
      v.command ? `+${fmt(m - floor)}` : '',
      `${(m / compiled).toFixed(2)}x`,
      fmt(median(cpuSamples.get(`${label} ${v.name}`)!)),
    ]);
  }
}
const load = os.loadavg().map((l) => l.toFixed(1));
printTable(
  `start-up, ${rounds} rounds (+${warmup} warm-up), node ${process.version}, ${os.cpus().length} cores, load average ${load.join(' ')}`,
  rows,
);
