/**
 * The service fails a deploy whose release crash-loops from the pods in Argo CD's resource tree,
 * as the CLI does, long before Argo CD itself says Degraded (progressDeadlineSeconds, 600 s on
 * the stand-in as on a real install). The crash grace is shortened to 2 s (default 30 s) only
 * to keep the test short.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { createService, type Service } from '../../../src/server/service.ts';
import { runCli } from '../../helpers/cli.ts';
import { bearer, LogCapture, tempDir, sandboxServiceEnv } from './helpers.ts';
import { readEvents } from './sse.ts';

let sandbox: Sandbox;
let service: Service;
let base: string;

beforeAll(async () => {
  // Images tagged *bad* crash-loop in the stand-in's simulated kubelet.
  sandbox = await startSandbox({ argocd: { progressingMs: 150, faultPattern: /bad/ } });
  for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
    const r = await runCli(['app', 'sync', app], { env: sandbox.env });
    expect(r.code, r.stderr).toBe(0);
  }
  service = await createService({
    env: sandboxServiceEnv(sandbox.env),
    dataDir: tempDir('data'),
    logDestination: new LogCapture(),
    argo: { crashGraceMs: 2_000 },
  });
  base = await service.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await service?.shutdown({ graceMs: 5_000, settleMs: 1_000 });
  await sandbox?.close();
});

describe('the service on a crash-looping release', () => {
  it('fails the deploy from the pods, naming the pod and its reason, with the deadline far away', async () => {
    const started = Date.now();
    const res = await fetch(`${base}/v1/stacks/my-app/deploy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer('deploy') },
      body: JSON.stringify({ versions: { 'my-frontend': '1.1.0-bad', 'my-backend': '1.1.0' } }),
    });
    expect(res.status).toBe(202);
    const { operation } = (await res.json()) as { operation: { id: string } };
    const stream = await readEvents(`${base}/v1/operations/${operation.id}/events`, bearer('read'));
    const last = stream.events.at(-1)!.data as {
      state: string;
      error: { code: string; message: string };
    };
    expect(last.state).toBe('failed');
    expect(last.error.message).toMatch(/CrashLoopBackOff/);
    expect(last.error.message).toMatch(/my-frontend/);
    // Caught from the pods: well inside the 600 s progress deadline.
    expect(Date.now() - started).toBeLessThan(120_000);
  }, 150_000);
});
