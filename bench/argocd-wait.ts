/**
 * How long after Argo CD (the sandbox stand-in) reports an app Synced and Healthy at the pushed
 * revision does `syncAndWait` return? Measured for the watch stream and for the polling
 * fallback. The stand-in runs in this process, so the moment its state turns live is sampled
 * every millisecond from its own store.
 *
 *   npx tsx bench/argocd-wait.ts [--iterations 15] [--poll-interval-ms 1000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ArgoCdClient } from '../src/argocd/client.ts';
import { syncAndWait } from '../src/argocd/wait.ts';
import { Redactor } from '../src/shared/redact.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { median, percentile, printTable } from './stats.ts';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '15' },
    'poll-interval-ms': { type: 'string', default: '1000' },
  },
});
const iterations = Number(values.iterations);
const pollIntervalMs = Number(values['poll-interval-ms']);
const APP = 'my-app-green';

const gitEnv = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'b@x',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'b@x',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' }).trim();

/** Pushes a commit that changes the green frontend's tag; returns its SHA. */
function pushNewRevision(work: string, n: number): string {
  const file = path.join(work, 'apps/my-app/values-green.yaml');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace(
      /(my-frontend:\n\s+image:\n\s+tag: )'[^']*'/,
      `$1'bench-${n}'`,
    ),
  );
  git(work, 'commit', '-qam', `bench ${n}`);
  git(work, 'push', '-q', 'origin', 'main');
  return git(work, 'rev-parse', 'HEAD');
}

/** Resolves with the time the stand-in first shows the app live at `revision`. */
function liveAt(sandbox: Sandbox, revision: string): { at: Promise<number>; stop: () => void } {
  let timer: NodeJS.Timeout;
  const at = new Promise<number>((resolve) => {
    timer = setInterval(() => {
      const s = sandbox.argocd.app(APP)?.status;
      const op = sandbox.argocd.app(APP)?.operation;
      if (
        !op &&
        s?.sync?.status === 'Synced' &&
        s.sync.revision === revision &&
        s.health?.status === 'Healthy'
      ) {
        clearInterval(timer);
        resolve(performance.now());
      }
    }, 1);
  });
  return { at, stop: () => clearInterval(timer) };
}

async function measure(
  sandbox: Sandbox,
  work: string,
  mode: 'stream' | 'poll',
  offset: number,
): Promise<number[]> {
  const client = new ArgoCdClient({
    config: {
      baseUrl: sandbox.argocd.url,
      auth: { kind: 'token', token: sandbox.argocd.token },
      insecure: false,
    },
    redactor: new Redactor(),
  });
  const delays: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const revision = pushNewRevision(work, offset + i);
    const watcher = liveAt(sandbox, revision);
    await syncAndWait(client, {
      app: APP,
      revision,
      appNamespace: 'argocd',
      timeoutMs: 60_000,
      children: false,
      watch: mode === 'stream',
      pollIntervalMs: mode === 'stream' ? 10_000 : pollIntervalMs,
    });
    const returned = performance.now();
    const live = await Promise.race([
      watcher.at,
      new Promise<number>((r) => setTimeout(() => r(Number.NaN), 2000)),
    ]);
    watcher.stop();
    delays.push(returned - live);
  }
  return delays;
}

const sandbox = await startSandbox({
  argocd: { progressingMs: 300, pollIntervalMs: 0, initialSync: 'all' },
});
try {
  await sandbox.argocd.idle();
  const work = path.join(mkdtempSync(path.join(os.tmpdir(), 'bench-')), 'work');
  git(os.tmpdir(), 'clone', '-q', sandbox.repoPath, work);
  const stream = await measure(sandbox, work, 'stream', 0);
  const poll = await measure(sandbox, work, 'poll', iterations);
  printTable(
    `delay from "Synced and Healthy at the pushed revision" to syncAndWait returning (${iterations} syncs each)`,
    [
      ['mode', 'median ms', 'p90 ms', 'max ms'],
      ...(
        [
          ['watch stream', stream],
          [`polling every ${pollIntervalMs} ms`, poll],
        ] as const
      ).map(([name, d]) => [
        name,
        median(d).toFixed(1),
        percentile(d, 90).toFixed(1),
        Math.max(...d).toFixed(1),
      ]),
    ],
  );
  console.log(
    `ratio polling/stream (medians): ${(median(poll) / median(stream)).toFixed(1)}x; target: stream median < 100 ms`,
  );
  if (!(median(stream) < 100)) process.exitCode = 1;
} finally {
  await sandbox.close();
}
