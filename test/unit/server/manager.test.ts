/**
 * The operation manager with a scripted operation in place of git and Argo CD: one operation
 * per stack, idempotency keys, event relay with replay, shutdown, restore from the journal.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PreconditionError } from '../../../src/shared/errors.ts';
import type { OperationResult } from '../../../src/core/operations/context.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import { ApiError } from '../../../src/server/errors.ts';
import { ServerMetrics } from '../../../src/server/metrics.ts';
import { Journal } from '../../../src/server/operations/journal.ts';
import {
  OperationManager,
  type ExecuteInput,
  type OperationEvent,
} from '../../../src/server/operations/manager.ts';

const quietLogger = { info() {}, warn() {}, error() {} };
const journals: Journal[] = [];
afterEach(async () => {
  await Promise.all(journals.splice(0).map((j) => j.close()));
});

/** An operation that runs its commit step, then waits in its sync step until released. */
class Script {
  private releases = new Map<string, (outcome: 'ok' | Error) => void>();
  started: ExecuteInput[] = [];

  execute = async (input: ExecuteInput): Promise<OperationResult> => {
    this.started.push(input);
    await input.progress.step(
      'commit',
      'commit',
      async () => 'pushed',
      () => 'pushed abc123',
    );
    await input.progress.step('sync', 'sync app', async () => {
      const outcome = await new Promise<'ok' | Error>((resolve) => {
        this.releases.set(input.id, resolve);
        input.signal.addEventListener('abort', () => resolve(input.signal.reason as Error));
      });
      if (outcome !== 'ok') throw outcome;
    });
    return {
      operation: input.kind,
      stack: input.stack,
      operationId: input.id,
      committed: true,
      sha: 'a'.repeat(40),
      attempts: 2,
      summary: 'done',
      live: 'blue',
      preview: 'green',
      apps: [],
      steps: input.progress.steps,
    };
  };

  release(id: string, outcome: 'ok' | Error = 'ok') {
    this.releases.get(id)!(outcome);
  }
}

async function manager(dir = mkdtempSync(path.join(os.tmpdir(), 'stackswap-mgr-'))) {
  const { journal, load } = await Journal.open(dir);
  journals.push(journal);
  const script = new Script();
  const metrics = new ServerMetrics({ defaultMetrics: false });
  const settled: string[] = [];
  const m = new OperationManager({
    journal,
    execute: script.execute,
    redactor: new Redactor(),
    metrics,
    logger: quietLogger,
    onSettled: (stack) => settled.push(stack),
  });
  const restored = await m.restore(load.operations);
  return { m, script, journal, dir, metrics, settled, restored };
}

const request = (stack: string) => ({
  method: 'POST' as const,
  path: `/v1/stacks/${stack}/deploy`,
  body: {},
});
const input = (stack: string, extra = {}) => ({
  stack,
  kind: 'deploy' as const,
  requestedBy: 'ci',
  request: request(stack),
  ...extra,
});

async function settle(m: OperationManager, id: string) {
  for (let i = 0; i < 200 && (await m.get(id))!.state === 'running'; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return (await m.get(id))!;
}

describe('OperationManager', () => {
  it('one operation per stack: a second is refused with the running id; other stacks run', async () => {
    const { m, script } = await manager();
    const a = await m.start(input('shop'));
    const refused = await m.start(input('shop')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ statusCode: 409, code: 'stack-busy' });
    expect((refused as ApiError).extra.operationId).toBe(a.operation.id);
    const b = await m.start(input('blog'));
    expect(m.runningOn('blog')).toBe(b.operation.id);
    await new Promise((r) => setTimeout(r, 10));
    script.release(a.operation.id);
    script.release(b.operation.id);
    expect((await settle(m, a.operation.id)).state).toBe('succeeded');
    expect(m.runningOn('shop')).toBeUndefined();
    expect((await m.start(input('shop'))).replayed).toBe(false);
  });

  it('relays events: past ones replayed to a late listener, live ones after, the result last', async () => {
    const { m, script } = await manager();
    const { operation } = await m.start(input('shop'));
    await new Promise((r) => setTimeout(r, 10));
    const seen: OperationEvent[] = [];
    await m.follow(operation.id, 0, (e) => seen.push(e));
    expect(seen.map((e) => `${e.type}:${String(e.data.step)}`)).toEqual([
      'step-start:commit',
      'step-end:commit',
      'step-start:sync',
    ]);
    script.release(operation.id);
    await settle(m, operation.id);
    expect(seen.map((e) => e.type)).toEqual([
      'step-start',
      'step-end',
      'step-start',
      'step-end',
      'result',
    ]);
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const after: OperationEvent[] = [];
    await m.follow(operation.id, 3, (e) => after.push(e));
    expect(after.map((e) => e.seq)).toEqual([4, 5]);
    expect((await m.get(operation.id))!.steps.map((s) => s.step)).toEqual(['commit', 'sync']);
  });

  it('idempotency: same key and request -> same operation; other request -> 422', async () => {
    const { m, script } = await manager();
    const key = { scope: 'token:ci', key: 'k1', fingerprint: 'f1' };
    const first = await m.start(input('shop', { idempotency: key }));
    const again = await m.start(input('shop', { idempotency: key }));
    expect(again).toMatchObject({ replayed: true, operation: { id: first.operation.id } });
    await expect(
      m.start(input('shop', { idempotency: { ...key, fingerprint: 'f2' } })),
    ).rejects.toMatchObject({ statusCode: 422, code: 'idempotency-key-reused' });
    // The same key from another caller is another request (then busy, as shop runs).
    await expect(
      m.start(input('shop', { idempotency: { ...key, scope: 'token:other' } })),
    ).rejects.toMatchObject({ statusCode: 409 });
    expect(script.started).toHaveLength(1);
    script.release(first.operation.id);
  });

  it('a failing operation is recorded with its error; internals are hidden', async () => {
    const { m, script } = await manager();
    const a = await m.start(input('shop'));
    await new Promise((r) => setTimeout(r, 10));
    script.release(a.operation.id, new PreconditionError('blue is not healthy', { hint: 'wait' }));
    expect(await settle(m, a.operation.id)).toMatchObject({
      state: 'failed',
      error: { code: 'precondition', message: 'blue is not healthy', hint: 'wait' },
    });
    const b = await m.start(input('shop'));
    await new Promise((r) => setTimeout(r, 10));
    script.release(b.operation.id, new Error('ENOENT /secret/path'));
    const failed = await settle(m, b.operation.id);
    expect(failed.error!.code).toBe('internal');
    expect(failed.error!.message).not.toContain('/secret/path');
  });

  it('shutdown: 503 for new operations, grace, then abort; recorded as interrupted with the resume hint', async () => {
    const { m, script, dir, settled, metrics } = await manager();
    const a = await m.start(input('shop'));
    const b = await m.start(input('blog'));
    await new Promise((r) => setTimeout(r, 10));
    setTimeout(() => script.release(b.operation.id), 20);
    const stopping = m.shutdown({ graceMs: 100, settleMs: 1_000 });
    await expect(m.start(input('news'))).rejects.toMatchObject({
      statusCode: 503,
      code: 'shutting-down',
    });
    await stopping;
    expect((await m.get(b.operation.id))!.state).toBe('succeeded');
    const stopped = (await m.get(a.operation.id))!;
    expect(stopped.state).toBe('interrupted');
    expect(stopped.interrupted!.reason).toContain('pushed abc123');
    expect(stopped.interrupted!.resume).toContain('POST /v1/stacks/shop/deploy');
    expect(settled.sort()).toEqual(['blog', 'shop']);
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'stackswap_operations_total{stack="shop",kind="deploy",result="interrupted"} 1',
    );
    expect(text).toContain('stackswap_push_retries_total{stack="blog",kind="deploy"} 1');

    // A new process reads the same answers.
    await journals.splice(0)[0]!.close();
    const next = await manager(dir);
    expect(next.restored.interrupted).toEqual([]);
    expect(await next.m.get(a.operation.id)).toEqual(stopped);
    expect(await next.m.get(b.operation.id)).toEqual(await m.get(b.operation.id));
  });

  it('an operation that never stopped (killed in its sync) is interrupted at restore', async () => {
    const { m, dir } = await manager();
    const a = await m.start(input('shop'));
    await new Promise((r) => setTimeout(r, 10));
    // The process dies here: no end record is written.
    await journals
      .splice(0)[0]!
      .close()
      .catch(() => undefined);
    const next = await manager(dir);
    expect(next.restored.interrupted).toEqual([a.operation.id]);
    const op = (await next.m.get(a.operation.id))!;
    expect(op).toMatchObject({ state: 'interrupted', steps: [{ step: 'commit', ok: true }] });
    expect(op.interrupted!.reason).toMatch(
      /stopped while the operation was running; git: pushed abc123/,
    );
    const events: OperationEvent[] = [];
    await next.m.follow(a.operation.id, 0, (e) => events.push(e));
    expect(events.at(-1)).toMatchObject({ type: 'result', data: { state: 'interrupted' } });
  });
});
