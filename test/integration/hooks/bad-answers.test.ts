/**
 * Hooks that answer badly, against real local receivers: each is a veto with a message that
 * says what was wrong (never a pass), except "no answer in time", which is the hook's
 * onTimeout. And a pending hook polled at its status URL, as a CLI run does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { commitCount } from '../../helpers/config-repo.ts';
import { deploy } from '../../../src/core/operations/deploy.ts';
import { loadStructuralConfig } from '../../../src/core/config-file.ts';
import { isStackswapError, type StackswapError } from '../../../src/shared/errors.ts';
import { answer, startReceiver, type Receiver } from './receiver.ts';
import { context, hooksYaml, repoWithHooks, SECRET } from './fixture.ts';

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(handler: Parameters<typeof startReceiver>[1]): Promise<Receiver> {
  const r = await startReceiver(SECRET, handler);
  receivers.push(r);
  return r;
}

async function deployWith(url: string, extra: Record<string, string | number> = {}) {
  const { bare } = repoWithHooks(hooksYaml([{ point: 'beforeDeploy', name: 'gate', url, extra }]));
  const before = commitCount(bare);
  const outcome = await deploy(await context(bare), {
    stack: 'shop',
    plan: { source: 'repo' },
  }).then(
    (result) => ({ result, error: undefined }),
    (error: unknown) => ({ result: undefined, error: error as StackswapError }),
  );
  return { ...outcome, bare, committed: commitCount(bare) - before };
}

describe('bad answers veto with a clear message', () => {
  it('a redirect is not followed', async () => {
    const target = await receiver((_req, res) => answer(res, 200, { result: 'pass' }));
    const r = await receiver((_req, res) => {
      res.writeHead(302, { location: `${target.url}/elsewhere` });
      res.end();
    });
    const { error, committed } = await deployWith(`${r.url}/hook`);
    expect(error?.code).toBe('hook-vetoed');
    expect(error?.message).toMatch(
      /answered 302 \(to http:\/\/127\.0\.0\.1:\d+\/elsewhere\): redirects are not followed/,
    );
    expect(target.received).toHaveLength(0);
    expect(committed).toBe(0);
  });

  it('a non-2xx answer carries its message', async () => {
    const r = await receiver((_req, res) =>
      answer(res, 503, { result: 'fail', message: 'migration job is running' }),
    );
    const { error } = await deployWith(`${r.url}/hook`);
    expect(error?.message).toContain('hook gate answered 503: migration job is running');
  });

  it('a non-JSON answer, and JSON that is not a hook answer', async () => {
    const html = await receiver((_req, res) => answer(res, 200, '<html>ok</html>'));
    expect((await deployWith(`${html.url}/hook`)).error?.message).toContain(
      'the answer is not JSON (starts "<html>ok</html>")',
    );
    const odd = await receiver((_req, res) => answer(res, 200, { ok: true }));
    expect((await deployWith(`${odd.url}/hook`)).error?.message).toContain(
      'the answer is not {"result":"pass"|"fail"|"pending", ...}',
    );
  });

  it('a huge answer is cut off at maxResponseBytes', async () => {
    const r = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ result: 'pass', message: 'x'.repeat(2_000_000) }));
    });
    const { error, committed } = await deployWith(`${r.url}/hook`, { maxResponseBytes: 4096 });
    expect(error?.message).toContain('the answer is larger than 4096 bytes');
    expect(committed).toBe(0);
  });

  it('a slow hook times out: onTimeout fail (the default) vetoes, pass passes', async () => {
    const slow = await receiver(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 3000));
      answer(res, 200, { result: 'pass' });
    });
    const failed = await deployWith(`${slow.url}/hook`, { timeout: '300ms' });
    expect(failed.error?.code).toBe('hook-vetoed');
    expect(failed.error?.message).toMatch(
      /\(timeout-fail\): hook gate: no answer within 300 ms \(onTimeout: fail\)/,
    );
    expect(failed.committed).toBe(0);
    const passed = await deployWith(`${slow.url}/hook`, { timeout: '300ms', onTimeout: 'pass' });
    expect(passed.error).toBeUndefined();
    expect(passed.committed).toBe(1);
  });

  it('an unreachable hook vetoes', async () => {
    const r = await receiver((_req, res) => answer(res, 200, { result: 'pass' }));
    const url = `${r.url}/hook`;
    await r.close();
    receivers.length = 0;
    const { error } = await deployWith(url);
    expect(error?.message).toMatch(/hook gate: request failed: ECONNREFUSED/);
  });

  it('a pending answer must echo the execution id', async () => {
    const r = await receiver((_req, res) => answer(res, 200, { result: 'pending', id: 'made-up' }));
    const { error } = await deployWith(`${r.url}/hook`);
    expect(error?.message).toContain(
      'answered pending with id "made-up"; a pending answer must echo hook.executionId',
    );
  });

  it('a missing secret vetoes without calling the hook', async () => {
    const r = await receiver((_req, res) => answer(res, 200, { result: 'pass' }));
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeDeploy', name: 'gate', url: `${r.url}/h` }]),
    );
    const ctx = await context(bare, { hooks: { secret: () => undefined } });
    const e = await deploy(ctx, { stack: 'shop', plan: { source: 'repo' } }).catch(
      (x: unknown) => x,
    );
    expect(isStackswapError(e) && e.message).toContain(
      'the environment variable HOOK_SECRET (its secret) is not set',
    );
    expect(r.received).toHaveLength(0);
  });
});

describe('bad hook config is refused when the config is loaded', () => {
  const load = async (block: string) => {
    const { bare } = repoWithHooks(block);
    return loadStructuralConfig((await context(bare)).repo).then(
      () => undefined,
      (e: unknown) => e as StackswapError,
    );
  };

  it('a URL that is not http(s)', async () => {
    const e = await load(
      hooksYaml([{ point: 'beforeSwap', name: 'x', url: 'file:///etc/passwd' }]),
    );
    expect(e?.code).toBe('validation');
    expect(e?.message).toContain('a hook URL must be http or https, not file:');
    expect(e?.where).toMatchObject({
      file: 'stackswap.yaml',
      key: 'stacks.shop.hooks.beforeSwap.0.url',
    });
  });

  it('a host outside hooks.allowedHosts', async () => {
    const e = await load(
      hooksYaml([{ point: 'beforeSwap', name: 'x', url: 'https://evil.example/h' }]),
    );
    expect(e?.message).toContain('host evil.example is not in hooks.allowedHosts (127.0.0.1)');
    expect(e?.where?.key).toBe('stacks.shop.hooks.beforeSwap.0.url');
  });

  it('an inline secret', async () => {
    const e = await load(
      hooksYaml([
        {
          point: 'beforeSwap',
          name: 'x',
          url: 'http://127.0.0.1/h',
          extra: { secret: 'hunter2hunter2' },
        },
      ]),
    );
    expect(e?.message).toContain('a hook secret is never written in stackswap.yaml');
    expect(e?.message).not.toContain('hunter2');
  });
});

describe('a pending hook in a CLI run', () => {
  it('is polled at its status URL (signed GET) until it decides', async () => {
    let polls = 0;
    const r = await receiver((req, res) => {
      if (req.method === 'POST') {
        const hook = req.json!.hook as { executionId: string };
        answer(res, 202, {
          result: 'pending',
          id: hook.executionId,
          statusUrl: `http://127.0.0.1:${req.headers.host!.split(':')[1]}/status`,
        });
        return;
      }
      polls++;
      answer(
        res,
        200,
        polls < 3 ? { result: 'pending' } : { result: 'pass', message: 'load test ok' },
      );
    });
    const { result, error, bare } = await deployWith(`${r.url}/hook`);
    expect(error).toBeUndefined();
    expect(result?.committed).toBe(true);
    expect(polls).toBe(3);
    expect(r.received.filter((x) => x.method === 'GET').every((x) => x.signatureOk)).toBe(true);
    const hookEvent = result!.events!.find((e) => e.type === 'hook.result')!;
    expect(hookEvent.hook).toMatchObject({ result: 'pass', message: 'load test ok' });
    expect(hookEvent.data).toEqual({ deferred: true });
    expect(bare).toBeTruthy();
  });

  it('pending without a status URL vetoes (a CLI cannot take callbacks)', async () => {
    const r = await receiver((req, res) =>
      answer(res, 200, {
        result: 'pending',
        id: (req.json!.hook as { executionId: string }).executionId,
      }),
    );
    const { error } = await deployWith(`${r.url}/hook`);
    expect(error?.message).toContain('answered pending without a statusUrl');
  });

  it('still pending at pendingTimeout: onTimeout applies', async () => {
    const r = await receiver((req, res) => {
      if (req.method === 'POST') {
        const hook = req.json!.hook as { executionId: string };
        answer(res, 200, {
          result: 'pending',
          id: hook.executionId,
          statusUrl: `${'http://127.0.0.1:'}${req.headers.host!.split(':')[1]}/status`,
        });
      } else answer(res, 200, { result: 'pending' });
    });
    const { error, committed } = await deployWith(`${r.url}/hook`, { pendingTimeout: '1s' });
    expect(error?.message).toMatch(
      /\(timeout-fail\): hook gate was still pending after 1s \(onTimeout: fail\)/,
    );
    expect(committed).toBe(0);
  });
});
