/**
 * A crash-looping preview: how long until stackswap fails the deploy (from the pods in the
 * resource tree), against how long until Argo CD itself (the sandbox stand-in) reports the app
 * Degraded (when the Deployment passes its progress deadline), in one run.
 *
 * Every duration of the real install is divided by --scale (default 10) so the run takes about a
 * minute instead of ten: progress deadline 600 s, kubelet back-off 10 s, pod start 1.5 s,
 * stackswap's crash grace 30 s and pod check every 5 s. The figures are printed as measured and
 * multiplied back by the scale. `--scale 1` runs with the real timings (about 10 minutes).
 *
 *   npx tsx bench/crash-loop.ts [--scale 10]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ArgoCdClient } from '../src/argocd/client.ts';
import { syncAndWait } from '../src/argocd/wait.ts';
import { isStackswapError } from '../src/shared/errors.ts';
import { Redactor } from '../src/shared/redact.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { printTable } from './stats.ts';

const { values } = parseArgs({ options: { scale: { type: 'string', default: '10' } } });
const scale = Number(values.scale);
if (!(scale >= 1)) throw new Error('--scale must be a number >= 1');
const APP = 'my-app-green';
const REAL = {
  progressDeadlineSeconds: 600,
  backoffBaseMs: 10_000,
  progressingMs: 1_500,
  crashGraceMs: 30_000,
  podCheckIntervalMs: 5_000,
};

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

const sandbox = await startSandbox({
  argocd: {
    progressingMs: REAL.progressingMs / scale,
    progressDeadlineSeconds: REAL.progressDeadlineSeconds / scale,
    backoffBaseMs: REAL.backoffBaseMs / scale,
    faultPattern: /-bad$/,
    pollIntervalMs: 0,
    initialSync: 'all',
  },
});
try {
  await sandbox.argocd.idle();
  const work = path.join(mkdtempSync(path.join(os.tmpdir(), 'bench-')), 'work');
  git(os.tmpdir(), 'clone', '-q', sandbox.repoPath, work);
  const file = path.join(work, 'apps/my-app/values-green.yaml');
  writeFileSync(
    file,
    readFileSync(file, 'utf8')
      .replace(/replicas: 0/, 'replicas: 2')
      .replace(/(my-frontend:\n\s+image:\n\s+tag: )'[^']*'/, `$1'1.1.0-bad'`),
  );
  git(work, 'commit', '-qam', 'a crash-looping frontend');
  git(work, 'push', '-q', 'origin', 'main');
  const revision = git(work, 'rev-parse', 'HEAD');

  const client = new ArgoCdClient({
    config: {
      baseUrl: sandbox.argocd.url,
      auth: { kind: 'token', token: sandbox.argocd.token },
      insecure: false,
    },
    redactor: new Redactor(),
  });
  const start = performance.now();
  let argoDegradedAt = Number.NaN;
  const sampler = setInterval(() => {
    if (sandbox.argocd.app(APP)?.status?.health?.status === 'Degraded') {
      argoDegradedAt = performance.now();
      clearInterval(sampler);
    }
  }, 5);
  let failedAt = Number.NaN;
  let message = '';
  try {
    await syncAndWait(client, {
      app: APP,
      revision,
      appNamespace: 'argocd',
      children: false,
      timeoutMs: (REAL.progressDeadlineSeconds * 2000) / scale,
      crashGraceMs: REAL.crashGraceMs / scale,
      podCheckIntervalMs: REAL.podCheckIntervalMs / scale,
      degradedGraceMs: REAL.crashGraceMs / scale,
    });
    message = 'syncAndWait returned success (it must not)';
    process.exitCode = 1;
  } catch (error) {
    failedAt = performance.now();
    message = isStackswapError(error) ? `${error.code}: ${error.message}` : String(error);
  }
  const healthAtFailure = sandbox.argocd.app(APP)?.status?.health?.status;
  // Argo CD's own verdict: wait for the Deployment's progress deadline.
  while (
    Number.isNaN(argoDegradedAt) &&
    performance.now() - start < (REAL.progressDeadlineSeconds * 2000) / scale
  ) {
    await new Promise((r) => setTimeout(r, 50));
  }
  clearInterval(sampler);
  const row = (name: string, at: number) => {
    const ms = at - start;
    return [name, (ms / 1000).toFixed(1), ((ms * scale) / 1000).toFixed(0)];
  };
  printTable(
    `a crash-looping preview (${APP}), from the sync request; timings of a real install / ${scale}`,
    [
      ['who says it is broken', 'measured s', `x${scale} = real-install s`],
      row('stackswap (pods in CrashLoopBackOff)', failedAt),
      row('Argo CD (app health Degraded)', argoDegradedAt),
    ],
  );
  console.log(`app health when stackswap failed: ${healthAtFailure}`);
  console.log(`stackswap's error: ${message}`);
  console.log(
    `ratio: Argo CD / stackswap = ${((argoDegradedAt - start) / (failedAt - start)).toFixed(1)}x`,
  );
  if (!(failedAt - start < argoDegradedAt - start)) process.exitCode = 1;
} finally {
  await sandbox.close();
}
