/**
 * Warm `stackswap deploy --no-sync` of two CLI builds against each other, alternating A, B, A,
 * B, … on one remote (the 20,000-file repo of main.ts, served by git http-backend with a
 * token), each with its own warm cache: each run finds the other's commit to fetch, as a CI
 * job finds other jobs' commits. For a change to the warm path, on a shared machine: keep the
 * old build (`cp -r dist/bundle dist/bundle-old` before `npm run build`), then
 *
 *   npx tsx bench/git-path/ab.ts --a "node dist/bundle-old/main.js" --b "node dist/bundle/main.js" [--rounds 10]
 *
 * Prints per build the median wall time (spawn to exit), the median CPU time of the process
 * tree, the git processes started (strace-free: counted by a `git` wrapper first in PATH when
 * --count-git is given, which costs a shell start per git child, so use it apart from timing)
 * and the requests the server saw (401s included).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { median, printTable } from '../stats.ts';
import { buildConfigRepo, copyRepo, exampleStack, git } from './build-repo.ts';
import { startGitServer } from './http-server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TOKEN = 'bench-token-0123456789';
const { values: opts } = parseArgs({
  options: {
    a: { type: 'string', default: 'node dist/bundle-old/main.js' },
    b: { type: 'string', default: 'node dist/bundle/main.js' },
    rounds: { type: 'string', default: '10' },
    files: { type: 'string', default: '20000' },
    commits: { type: 'string', default: '20000' },
    'count-git': { type: 'boolean', default: false },
  },
});

const WITH_TIMES = '"$@"; rc=$?; times >&2; exit $rc';
const TIMES_LINE = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/gm;

function run(cmd: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{
    code: number | null;
    wallMs: number;
    cpuMs: number;
    out: string;
    stdout: string;
  }>((resolve) => {
    const started = performance.now();
    const child = spawn('bash', ['-c', WITH_TIMES, 'ab', ...cmd], { cwd: ROOT, env });
    let out = '';
    let err = '';
    let wallMs = Number.NaN;
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', () => (wallMs = performance.now() - started));
    child.on('close', (code) => {
      const t = [...err.matchAll(TIMES_LINE)].at(-1);
      const cpuMs = t
        ? (Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4])) * 1000
        : Number.NaN;
      resolve({ code, wallMs, cpuMs, stdout: out, out: out + err.replace(TIMES_LINE, '') });
    });
  });
}

const repo = await buildConfigRepo(
  { files: Number(opts.files), commits: Number(opts.commits) },
  exampleStack(ROOT),
);
const work = mkdtempSync(path.join(os.tmpdir(), 'bench-git-ab-'));
const served = path.join(work, 'served');
mkdirSync(served);
const bare = copyRepo(repo, served, 'config');
const server = await startGitServer(served, TOKEN);
let wrapperDir: string | undefined;
if (opts['count-git']) {
  wrapperDir = path.join(work, 'wrap');
  mkdirSync(wrapperDir);
  const real = git(work, '--exec-path')
    .trim()
    .replace(/\/git-core$/, '/../../bin/git');
  writeFileSync(
    path.join(wrapperDir, 'git'),
    `#!/bin/sh\necho "$1" >> "$AB_GIT_LOG"\nexec ${JSON.stringify(path.resolve(real))} "$@"\n`,
    { mode: 0o755 },
  );
}
const variants = { A: opts.a!.split(/\s+/), B: opts.b!.split(/\s+/) } as const;
const samples: Record<
  'A' | 'B',
  { wallMs: number; cpuMs: number; requests: number; unauthorized: number; gits: string[] }[]
> = { A: [], B: [] };
try {
  const url = server.urlOf('config');
  const envOf = (cache: string, gitLog: string): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('STACKSWAP_') && !k.startsWith('ARGOCD_')) env[k] = v;
    }
    return {
      ...env,
      ...(wrapperDir ? { PATH: `${wrapperDir}:${env.PATH}`, AB_GIT_LOG: gitLog } : {}),
      STACKSWAP_REPO: url,
      STACKSWAP_GIT_TOKEN: TOKEN,
      STACKSWAP_GIT_ALLOW_HTTP: 'true',
      STACKSWAP_CACHE_DIR: cache,
      STACKSWAP_REQUESTED_BY: 'bench',
    };
  };
  const deploy = async (v: 'A' | 'B', version: string) => {
    const gitLog = path.join(work, `git-${v}-${version}.log`);
    const traffic = server.meter();
    const r = await run(
      [
        ...variants[v],
        'deploy',
        '--no-sync',
        '--set',
        `my-frontend=${version}`,
        '--output',
        'json',
      ],
      envOf(path.join(work, `cache-${v}`), gitLog),
    );
    if (r.code !== 0) throw new Error(`${v} ${version} exited ${r.code}: ${r.out.slice(-1500)}`);
    const tip = git(bare, 'rev-parse', 'main').trim();
    const sha = (JSON.parse(r.stdout) as { result?: { sha?: string } }).result?.sha;
    if (sha && sha !== tip) throw new Error(`${v} ${version}: pushed ${sha}, remote at ${tip}`);
    let gits: string[] = [];
    try {
      gits = readFileSync(gitLog, 'utf8').trim().split('\n');
    } catch {
      // not counted
    }
    return { ...r, requests: traffic.requests, unauthorized: traffic.unauthorized, gits };
  };
  for (const v of ['A', 'B'] as const) await deploy(v, `prime-${v}`);
  const rounds = Number(opts.rounds);
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    for (const v of order) {
      const r = await deploy(v, `ab-${round}-${v}`);
      samples[v].push(r);
      process.stderr.write(
        `round ${round} ${v}: ${r.wallMs.toFixed(0)} ms (CPU ${r.cpuMs.toFixed(0)} ms), ${r.requests} requests (${r.unauthorized} 401)${r.gits.length ? `, git: ${r.gits.join(' ')}` : ''}\n`,
      );
    }
  }
} finally {
  await server.close();
  rmSync(work, { recursive: true, force: true });
}
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
printTable(`warm deploy A/B, ${opts.rounds} alternating rounds (load average now ${load})`, [
  ['build', 'median ms', 'min ms', 'CPU median ms', 'requests', '401s', 'git children', 'command'],
  ...(['A', 'B'] as const).map((v) => {
    const s = samples[v];
    return [
      v,
      median(s.map((x) => x.wallMs)).toFixed(0),
      Math.min(...s.map((x) => x.wallMs)).toFixed(0),
      median(s.map((x) => x.cpuMs)).toFixed(0),
      String(median(s.map((x) => x.requests))),
      String(median(s.map((x) => x.unauthorized))),
      s[0]?.gits.length ? String(median(s.map((x) => x.gits.length))) : '-',
      variants[v].join(' '),
    ];
  }),
]);
const [a, b] = [samples.A, samples.B].map((s) => median(s.map((x) => x.wallMs)));
console.log(`B/A wall ${(b! / a!).toFixed(2)}x, saved ${(a! - b!).toFixed(0)} ms (median)`);
