/**
 * Start-up of the `stackswap` command: `--version` and `--help` through the installed binary
 * (bin/stackswap.js, compiled dist/) against the same sources through tsx (as bin/ ran them
 * before dist/), with bare `node -e 0` as the floor. Each round runs every variant once, in a
 * shuffled order, so load from other processes falls on all of them alike; medians and p90 over
 * the rounds, after warm-up rounds that are not counted.
 *
 *   npm run build && npx tsx bench/startup.ts [--rounds 20] [--warmup 2]
 */
import { spawnSync } from 'node:child_process';
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
  command: string;
  argv: (args: readonly string[]) => string[];
}

const VARIANTS: Variant[] = [
  { name: 'node -e 0', command: '', argv: () => ['-e', '0'] },
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
function timeOnce(argv: string[]): number {
  const start = performance.now();
  const r = spawnSync(process.execPath, argv, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ms = performance.now() - start;
  if (r.status !== 0 || r.stderr.length > 0) {
    throw new Error(`node ${argv.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  }
  return ms;
}

type Key = `${string} ${string}`;
const samples = new Map<Key, number[]>();
const jobs = COMMANDS.flatMap((args) =>
  VARIANTS.map((v) => ({ key: `${args.join(' ')} ${v.name}` as Key, argv: v.argv(args) })),
);
for (let round = 0; round < warmup + rounds; round++) {
  const order = [...jobs].sort(() => Math.random() - 0.5);
  for (const job of order) {
    const ms = timeOnce(job.argv);
    if (round >= warmup) samples.set(job.key, [...(samples.get(job.key) ?? []), ms]);
  }
}

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
const rows: string[][] = [['command', 'run as', 'median', 'p90', 'above node', 'vs compiled']];
for (const args of COMMANDS) {
  const label = args.join(' ');
  const floor = median(samples.get(`${label} node -e 0`)!);
  const compiled = median(samples.get(`${label} compiled`)!);
  for (const v of VARIANTS) {
    const s = samples.get(`${label} ${v.name}`)!;
    const m = median(s);
    rows.push([
      v.command ? `stackswap ${label}` : 'node -e 0',
      v.command || '(the floor)',
      fmt(m),
      fmt(percentile(s, 90)),
      v.command ? `+${fmt(m - floor)}` : '',
      v.command ? `${(m / compiled).toFixed(2)}x` : `${(m / compiled).toFixed(2)}x`,
    ]);
  }
}
printTable(
  `start-up, ${rounds} rounds (+${warmup} warm-up), node ${process.version}, ${process.platform}`,
  rows,
);
