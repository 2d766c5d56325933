/**
 * `stackswap serve` as production runs it: the compiled build (`npm run build`, plain node, no
 * tsx), a process of its own, real signals. Against the sandbox: status, a deploy through the
 * API to the end, then SIGTERM: a clean exit, and JSON log lines without the token.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { distState } from '../../bin/dist-state.js';
import { projectRoot, runCli } from '../helpers/cli.ts';
import { commitCount } from '../helpers/config-repo.ts';
import { bearer, tempDir, sandboxServiceEnv, TOKENS } from '../integration/server/helpers.ts';

let sandbox: Sandbox;
let serve: ChildProcess;
let base: string;
let stderr = '';
let exited: Promise<number | null>;

beforeAll(async () => {
  // The global set-up builds dist/ when the sources changed (what `npm run build` does); the
  // output is where the README's production set-up runs it.
  expect(distState()).toMatchObject({ fresh: true });
  sandbox = await startSandbox({ argocd: { progressingMs: 150, pollIntervalMs: 0 } });
  for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
    const r = await runCli(['app', 'sync', app], { env: sandbox.env });
    expect(r.code, r.stderr).toBe(0);
  }
  serve = spawn(
    process.execPath,
    [
      path.join(projectRoot, 'dist/cli/main.js'),
      'serve',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--data-dir',
      tempDir('serve-data'),
    ],
    {
      env: sandboxServiceEnv(sandbox.env),
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  exited = new Promise((resolve) => serve.once('exit', (code) => resolve(code)));
  base = await new Promise<string>((resolve, reject) => {
    serve.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const listening = /stackswap serve listening on (http:\/\/\S+)/.exec(stderr);
      if (listening) resolve(listening[1]!);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
}, 300_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) serve.kill('SIGKILL');
  await sandbox?.close();
});

const get = (url: string) => fetch(`${base}${url}`, { headers: bearer('read') });

describe('the compiled service in a process of its own', () => {
  it('is ready, answers status, and runs a deploy to the end', async () => {
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const status = (await (await get('/v1/stacks/my-app')).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ stack: 'my-app', live: 'blue', preview: 'green' });

    const before = commitCount(sandbox.repoPath);
    const accepted = await fetch(`${base}/v1/stacks/my-app/deploy`, {
      method: 'POST',
      headers: { ...bearer('deploy'), 'content-type': 'application/json' },
      body: JSON.stringify({ versions: { 'my-frontend': '1.1.0', 'my-backend': '1.1.0' } }),
    });
    expect(accepted.status).toBe(202);
    const location = accepted.headers.get('location')!;
    let operation: { state: string; result?: { committed: boolean } } = { state: 'running' };
    for (let i = 0; i < 300 && operation.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      operation = (await (await get(location)).json()) as typeof operation;
    }
    expect(operation).toMatchObject({ state: 'succeeded', result: { committed: true } });
    expect(commitCount(sandbox.repoPath)).toBe(before + 1);
  });

  it('exits 0 on SIGTERM; its logs are JSON lines without any token', async () => {
    serve.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = stderr.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    const messages = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages).toEqual(expect.arrayContaining(['listening', 'shutting down']));
    for (const token of [...Object.values(TOKENS), sandbox.env.ARGOCD_AUTH_TOKEN!]) {
      expect(stderr).not.toContain(token);
    }
  });
});
