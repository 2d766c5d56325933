/**
 * SIGTERM to `stackswap serve` (a child process) during a deploy that has pushed and is waiting
 * for Argo CD: new operations get 503 while the grace period runs, the deploy is stopped at a
 * safe point and recorded as interrupted ("pushed <sha>"), the process exits; after a restart
 * the operation reads back as interrupted, and POSTing the same request again completes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { runCli } from '../../helpers/cli.ts';
import { commitCount, git } from '../../helpers/config-repo.ts';
import { bearer, gitOnlyService, tempDir, sandboxServiceEnv } from './helpers.ts';
import { readEvents } from './sse.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/serve-child.ts');

let sandbox: Sandbox;
let child: ChildProcess | undefined;
let stderr = '';

beforeAll(async () => {
  sandbox = await startSandbox({ argocd: { progressingMs: 100, pollIntervalMs: 0 } });
  for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
    const r = await runCli(['app', 'sync', app], { env: sandbox.env });
    expect(r.code, r.stderr).toBe(0);
  }
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await sandbox?.close();
});

function startChild(env: NodeJS.ProcessEnv): Promise<string> {
  child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      const message = JSON.parse(line) as { listening?: string };
      if (message.listening) resolve(message.listening);
    });
    child!.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
}

describe('SIGTERM during an operation', () => {
  it('refuses new operations, records the stopped one as interrupted, exits; a re-run completes it', async () => {
    const dataDir = tempDir('data');
    const env = sandboxServiceEnv(sandbox.env, {
      STACKSWAP_DATA_DIR: dataDir,
      STACKSWAP_SHUTDOWN_GRACE_SECONDS: '1',
    });
    const base = await startChild(env);

    // Argo CD never finishes the sync: the deploy pushes, then waits.
    sandbox.argocd.setFaults({ stallOperations: true });
    const body = { versions: { 'my-frontend': '2.0.0', 'my-backend': '2.0.0' } };
    const res = await fetch(`${base}/v1/stacks/my-app/deploy`, {
      method: 'POST',
      headers: { ...bearer('deploy'), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { operation: { id: string } }).operation.id;

    // Wait until the commit is pushed and the Argo CD wait has begun.
    let syncing!: () => void;
    const inSync = new Promise<void>((resolve) => (syncing = resolve));
    const stream = readEvents(`${base}/v1/operations/${id}/events`, bearer('read'), {
      onEvent: (e) => {
        if (e.event === 'step-start' && e.data.step === 'sync') syncing();
      },
    });
    await inSync;
    const pushed = git(sandbox.repoPath, 'rev-parse', 'main');

    child!.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const refused = await fetch(`${base}/v1/stacks/my-app/swap`, {
      method: 'POST',
      headers: { ...bearer('swap'), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      'shutting-down',
    );
    // Reads still work while running operations are given their grace period.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    // The stream ends with the interruption; the process exits cleanly on its own.
    const { events } = await stream;
    expect(events.at(-1)).toMatchObject({ event: 'result', data: { state: 'interrupted' } });
    const [code] = (await once(child!, 'exit')) as [number | null];
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('"msg":"stopped"');

    // A new instance on the same data dir reports it, with what was done and how to resume.
    sandbox.argocd.setFaults({ stallOperations: false });
    const restarted = await gitOnlyService({
      bare: sandbox.repoPath,
      dataDir,
      env: sandbox.env,
    });
    try {
      const op = (
        await restarted.app.inject({ url: `/v1/operations/${id}`, headers: bearer('read') })
      ).json();
      expect(op.state).toBe('interrupted');
      expect(op.interrupted.reason).toContain('the service shut down during the operation');
      expect(op.interrupted.reason).toContain(`pushed ${pushed.slice(0, 12)}`);
      expect(op.interrupted.lastCompletedStep).toMatchObject({ step: 'commit', ok: true });
      expect(op.request).toEqual({ method: 'POST', path: '/v1/stacks/my-app/deploy', body });

      // "POST the same request again": no second commit, and the sync now completes.
      const before = commitCount(sandbox.repoPath);
      await restarted.app.listen({ port: 0, host: '127.0.0.1' });
      const again = await restarted.app.inject({
        method: 'POST',
        url: op.request.path,
        headers: bearer('deploy'),
        payload: op.request.body,
      });
      expect(again.statusCode).toBe(202);
      const rerun = again.json().operation.id as string;
      const address = restarted.app.server.address() as { port: number };
      const done = await readEvents(
        `http://127.0.0.1:${address.port}/v1/operations/${rerun}/events`,
        bearer('read'),
      );
      expect(done.events.at(-1)!.data).toMatchObject({
        state: 'succeeded',
        result: { committed: false, sha: pushed },
      });
      expect(commitCount(sandbox.repoPath)).toBe(before);
      expect(sandbox.argocd.app('my-app-green')?.status?.sync?.revision).toBe(pushed);
    } finally {
      await restarted.close();
    }
  });
});
