/**
 * Three `stackswap serve` processes on one PostgreSQL (a real server of the test's own) and one
 * config repo, with the sandbox's Argo CD stand-in:
 *
 * - requests for one stack spread over the three run one operation at a time; the others
 *   answer 409 with the running operation's id;
 * - an Idempotency-Key retry on another replica returns the same operation;
 * - GET of an operation answers the same from every replica;
 * - kill -9 of the replica running an operation: the stack is free again within the lease,
 *   the operation reads interrupted everywhere, and a retry completes it with no second commit;
 * - the database restarting mid-run: the operation in flight ends clearly (interrupted, saying
 *   why) and is readable everywhere, a request while it is down is a 503, nothing is dropped;
 * - the scheduled scale-down (retention.autoScaleDown) runs exactly once.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { runCli } from '../../helpers/cli.ts';
import { commitCount, git } from '../../helpers/config-repo.ts';
import { bearer, sandboxServiceEnv, type TokenScope } from './helpers.ts';
import { startPostgres, type PostgresServer } from './postgres.ts';
import { startReplica, type Replica } from './replicas.ts';

const LEASE_SECONDS = 3;

let pg: PostgresServer;
let sandbox: Sandbox;
let env: NodeJS.ProcessEnv;
const replicas: Replica[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  sandbox = await startSandbox({ argocd: { progressingMs: 100, pollIntervalMs: 0 } });
  for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
    const r = await runCli(['app', 'sync', app], { env: sandbox.env });
    expect(r.code, r.stderr).toBe(0);
  }
  env = sandboxServiceEnv(sandbox.env, {
    STACKSWAP_DATABASE_URL: pg.url,
    STACKSWAP_LOCK_LEASE_SECONDS: String(LEASE_SECONDS),
    STACKSWAP_SCALE_DOWN_INTERVAL_SECONDS: '1',
    STACKSWAP_SHUTDOWN_GRACE_SECONDS: '1',
    STACKSWAP_LOG_LEVEL: 'info',
  });
  // Started together: the migrations run once, under their lock.
  replicas.push(...(await Promise.all(['r0', 'r1', 'r2'].map((name) => startReplica(name, env)))));
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.kill9().catch(() => undefined)));
  await sandbox?.close();
  await pg?.stop();
});

async function call(
  replica: Replica,
  method: 'GET' | 'POST',
  url: string,
  scope: TokenScope,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${replica.base}${url}`, {
    method,
    headers: {
      ...bearer(scope),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const getOp = (replica: Replica, id: string) =>
  call(replica, 'GET', `/v1/operations/${id}`, 'read');

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const finished = (replica: Replica, id: string) =>
  until(`operation ${id} to finish`, async () => {
    const { json } = await getOp(replica, id);
    return json?.state && json.state !== 'running' ? json : undefined;
  });

const committed = (replica: Replica, id: string) =>
  until(`operation ${id} to push`, async () => {
    const { json } = await getOp(replica, id);
    return json?.steps?.some((s: { step: string; ok: boolean }) => s.step === 'commit' && s.ok)
      ? json
      : undefined;
  });

const versions = (tag: string) => ({ versions: { 'my-frontend': tag, 'my-backend': tag } });

describe('three replicas on one database', () => {
  it('run one operation per stack at a time: the others answer 409 with its id', async () => {
    sandbox.argocd.setFaults({ stallOperations: true });
    const answers = await Promise.all(
      replicas.map((r) => call(r, 'POST', '/v1/stacks/my-app/deploy', 'deploy', versions('2.0.0'))),
    );
    const accepted = answers.filter((a) => a.status === 202);
    expect(accepted, JSON.stringify(answers)).toHaveLength(1);
    const id = accepted[0]!.json.operation.id as string;
    for (const refused of answers.filter((a) => a.status !== 202)) {
      expect(refused.status).toBe(409);
      expect(refused.json.error).toMatchObject({ code: 'stack-busy', operationId: id });
    }
    // Later requests too, on whichever replica.
    for (const r of replicas) {
      const again = await call(r, 'POST', '/v1/stacks/my-app/swap', 'swap', {});
      expect(again.status).toBe(409);
      expect(again.json.error.operationId).toBe(id);
    }
    sandbox.argocd.setFaults({ stallOperations: false });
    const done = await finished(replicas[1]!, id);
    expect(done.state, JSON.stringify(done)).toBe('succeeded');

    // GET answers the same from every replica.
    const views = await Promise.all(replicas.map((r) => getOp(r, id)));
    for (const view of views) {
      expect(view.status).toBe(200);
      expect(view.json).toEqual(views[0]!.json);
    }
    const lists = await Promise.all(
      replicas.map((r) => call(r, 'GET', '/v1/operations?stack=my-app', 'read')),
    );
    for (const list of lists) expect(list.json).toEqual(lists[0]!.json);
  });

  it('an Idempotency-Key retry on another replica returns the same operation', async () => {
    const key = randomUUID();
    const before = commitCount(sandbox.repoPath);
    const first = await call(
      replicas[0]!,
      'POST',
      '/v1/stacks/my-app/deploy',
      'deploy',
      versions('2.0.1'),
      { 'idempotency-key': key },
    );
    expect(first.status, JSON.stringify(first.json)).toBe(202);
    const id = first.json.operation.id as string;
    const retry = await call(
      replicas[1]!,
      'POST',
      '/v1/stacks/my-app/deploy',
      'deploy',
      versions('2.0.1'),
      { 'idempotency-key': key },
    );
    expect(retry.status).toBe(202);
    expect(retry.json.operation.id).toBe(id);
    const other = await call(
      replicas[2]!,
      'POST',
      '/v1/stacks/my-app/deploy',
      'deploy',
      versions('9.9.9'),
      { 'idempotency-key': key },
    );
    expect(other.status).toBe(422);
    expect(other.json.error).toMatchObject({ code: 'idempotency-key-reused', operationId: id });
    expect((await finished(replicas[2]!, id)).state).toBe('succeeded');
    const late = await call(
      replicas[2]!,
      'POST',
      '/v1/stacks/my-app/deploy',
      'deploy',
      versions('2.0.1'),
      { 'idempotency-key': key },
    );
    expect(late.json.operation).toMatchObject({ id, state: 'succeeded' });
    expect(commitCount(sandbox.repoPath)).toBe(before + 1);
  });

  it('kill -9 of the running replica: the stack is free within the lease, the operation reads interrupted everywhere, a retry completes it with no second commit', async () => {
    sandbox.argocd.setFaults({ stallOperations: true });
    const victim = replicas[2]!;
    const body = versions('3.0.0');
    const res = await call(victim, 'POST', '/v1/stacks/my-app/deploy', 'deploy', body);
    expect(res.status).toBe(202);
    const id = res.json.operation.id as string;
    await committed(replicas[0]!, id);
    const pushed = git(sandbox.repoPath, 'rev-parse', 'main');
    const commits = commitCount(sandbox.repoPath);

    const killedAt = Date.now();
    await victim.kill9();
    const interrupted = await until('the operation to read interrupted', async () => {
      const { json } = await getOp(replicas[0]!, id);
      return json?.state === 'interrupted' ? json : undefined;
    });
    const freedAfterMs = Date.now() - killedAt;
    // The lease (3 s) plus one sweep (2 s), with room for a loaded machine.
    expect(freedAfterMs).toBeLessThan((LEASE_SECONDS + 2) * 1000 + 10_000);
    expect(interrupted.interrupted.reason).toContain('replica');
    expect(interrupted.interrupted.reason).toContain(`pushed ${pushed.slice(0, 12)}`);
    expect(interrupted.interrupted.resume).toContain('POST /v1/stacks/my-app/deploy');
    expect((await getOp(replicas[1]!, id)).json).toEqual(interrupted);

    sandbox.argocd.setFaults({ stallOperations: false });
    const retry = await call(replicas[1]!, 'POST', '/v1/stacks/my-app/deploy', 'deploy', body);
    expect(retry.status, JSON.stringify(retry.json)).toBe(202);
    const done = await finished(replicas[0]!, retry.json.operation.id as string);
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    expect(done.result).toMatchObject({ committed: false, sha: pushed });
    expect(commitCount(sandbox.repoPath)).toBe(commits);

    // A new third replica for the rest.
    replicas[2] = await startReplica('r3', env);
  });

  it('the database restarting mid-run: the operation in flight ends clearly and is kept; requests meanwhile are 503', async () => {
    sandbox.argocd.setFaults({ stallOperations: true });
    const body = versions('4.0.0');
    const res = await call(replicas[0]!, 'POST', '/v1/stacks/my-app/deploy', 'deploy', body);
    expect(res.status).toBe(202);
    const id = res.json.operation.id as string;
    await committed(replicas[1]!, id);
    const commits = commitCount(sandbox.repoPath);

    await pg.down();
    try {
      const refused = await call(replicas[2]!, 'POST', '/v1/stacks/my-app/swap', 'swap', {});
      expect(refused.status).toBe(503);
      expect(refused.json.error.code).toBe('database-unavailable');
      const ready = await fetch(`${replicas[1]!.base}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as any).checks.database.ok).toBe(false);
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      await pg.up();
    }
    sandbox.argocd.setFaults({ stallOperations: false });

    // Not dropped: every replica reads it, ended, saying why.
    const ended = await finished(replicas[2]!, id);
    expect(['interrupted', 'succeeded']).toContain(ended.state);
    if (ended.state === 'interrupted') {
      expect(ended.interrupted.reason).toMatch(/database|replica/);
      expect(ended.interrupted.resume).toContain('POST /v1/stacks/my-app/deploy');
    }
    await until('every replica to read the same end', async () => {
      const views = await Promise.all(replicas.map((r) => getOp(r, id)));
      return views.every((v) => JSON.stringify(v.json) === JSON.stringify(views[0]!.json))
        ? true
        : undefined;
    });
    expect(ended.steps.map((s: { step: string }) => s.step)).toContain('commit');

    // The retry completes it, no second commit; every replica is ready again.
    const retry = await call(replicas[1]!, 'POST', '/v1/stacks/my-app/deploy', 'deploy', body);
    expect(retry.status, JSON.stringify(retry.json)).toBe(202);
    const done = await finished(replicas[1]!, retry.json.operation.id as string);
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    expect(commitCount(sandbox.repoPath)).toBe(commits);
    for (const r of replicas) {
      await until(`${r.name} ready`, async () =>
        (await fetch(`${r.base}/readyz`)).status === 200 ? true : undefined,
      );
    }
  });

  it('the scheduled scale-down (retention.autoScaleDown) runs exactly once', async () => {
    const swap = await call(replicas[0]!, 'POST', '/v1/stacks/my-app/swap', 'swap', {});
    expect(swap.status, JSON.stringify(swap.json)).toBe(202);
    const swapped = await finished(replicas[0]!, swap.json.operation.id as string);
    expect(swapped.state, JSON.stringify(swapped)).toBe('succeeded');
    const idle = swapped.result.preview as 'blue' | 'green';

    // Turn it on: a 2 s window, scaled down by the service once it has passed.
    const work = mkdtempSync(path.join(os.tmpdir(), 'stackswap-work-'));
    git(work, 'clone', '-q', sandbox.repoPath, '.');
    const file = path.join(work, 'stackswap.yaml');
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/retention: 30m/);
    writeFileSync(
      file,
      text.replace(/retention: 30m/, 'retention:\n      window: 2s\n      autoScaleDown: true'),
    );
    git(work, 'commit', '-qam', 'auto scale-down after 2s');
    git(work, 'push', '-q', 'origin', 'HEAD:main');

    const scaleDowns = async (r: Replica) =>
      (
        (await call(r, 'GET', '/v1/operations?stack=my-app&limit=100', 'read')).json.operations as {
          kind: string;
          id: string;
          state: string;
          requestedBy: string;
        }[]
      ).filter((o) => o.kind === 'scale-down');
    const [op] = await until('a scheduled scale-down', async () => {
      const found = await scaleDowns(replicas[1]!);
      return found.length > 0 && found.every((o) => o.state !== 'running') ? found : undefined;
    });
    expect(op!.state).toBe('succeeded');
    expect(op!.requestedBy).toBe('stackswap-scheduler');
    // Several more ticks on every replica: nothing more runs.
    await new Promise((r) => setTimeout(r, 5_000));
    for (const r of replicas) expect(await scaleDowns(r)).toEqual([op]);
    const subjects = git(sandbox.repoPath, 'log', '--format=%s', 'main').split('\n');
    expect(subjects.filter((s) => s.startsWith('scale-down my-app'))).toEqual([
      `scale-down my-app: ${idle} replicas 2 -> 0`,
    ]);
    const status = await call(replicas[2]!, 'GET', '/v1/stacks/my-app', 'read');
    expect(status.json.colours[idle].replicas).toBe(0);
  });
});
