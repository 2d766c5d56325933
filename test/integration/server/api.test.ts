/**
 * The HTTP API on a git-only config repo (real git, no Argo CD), through app.inject():
 * operations end to end, dry runs, idempotency, validation and hardening.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitCount, git, readAtHead } from '../../helpers/config-repo.ts';
import { bearer, gitOnlyService, waitForOperation, type GitOnlyService } from './helpers.ts';

let s: GitOnlyService;

beforeAll(async () => {
  s = await gitOnlyService({ stacks: [{ name: 'shop' }, { name: 'blog' }] });
});
afterAll(async () => s?.close());

const post = (url: string, body: unknown, headers: Record<string, string> = bearer('admin')) =>
  s.app.inject({ method: 'POST', url, headers, payload: body as Record<string, unknown> });

describe('operations', () => {
  it('deploy answers 202 with a Location, runs, and commits with the caller in the trailers', async () => {
    const before = commitCount(s.bare);
    const res = await post(
      '/v1/stacks/shop/deploy',
      { overrides: { web: '2.0.0' }, reason: 'release 2' },
      bearer('deploy'),
    );
    expect(res.statusCode, res.body).toBe(202);
    const { operation } = res.json();
    expect(res.headers.location).toBe(`/v1/operations/${operation.id}`);
    expect(operation).toMatchObject({ stack: 'shop', kind: 'deploy', requestedBy: 'deploy-bot' });

    const done = await waitForOperation(s.app, operation.id);
    expect(done).toMatchObject({
      state: 'succeeded',
      result: { committed: true, preview: 'green' },
    });
    expect((done.steps as { step: string }[]).map((st) => st.step)).toEqual(['commit']);
    expect(commitCount(s.bare)).toBe(before + 1);
    expect(readAtHead(s.bare, 'apps/shop/values-green.yaml')).toContain('tag: "2.0.0"');
    const trailers = git(s.bare, 'log', '-1', '--format=%(trailers)', 'main');
    expect(trailers).toContain('Stackswap-Requested-By: deploy-bot');
    expect(trailers).toContain(`Stackswap-Operation-Id: ${operation.id}`);
    expect(trailers).toContain('Stackswap-Reason: release 2');
  });

  it('lists operations by stack and state, and the audit log names the caller', async () => {
    const res = await s.app.inject({
      url: '/v1/operations?stack=shop&state=succeeded',
      headers: bearer('read'),
    });
    expect(res.statusCode).toBe(200);
    const ops = res.json().operations as { stack: string; state: string }[];
    expect(ops.length).toBeGreaterThan(0);
    expect(ops.every((o) => o.stack === 'shop' && o.state === 'succeeded')).toBe(true);
    const audit = s.logs.lines().find((l) => l.audit === true && l.operation === 'deploy');
    expect(audit).toMatchObject({ caller: 'deploy-bot', stack: 'shop' });
  });

  it('a failed precondition is reported on the operation, with the core error code', async () => {
    const res = await post('/v1/stacks/blog/revert', {}, bearer('swap'));
    expect(res.statusCode).toBe(202);
    const done = await waitForOperation(s.app, res.json().operation.id);
    expect(done).toMatchObject({ state: 'failed', error: { code: 'precondition' } });
    expect((done.error as { message: string }).message).toMatch(/nothing to revert/);
  });

  it('the status shows both colours, weights and the last promotions', async () => {
    const res = await s.app.inject({ url: '/v1/stacks/shop', headers: bearer('read') });
    expect(res.statusCode, res.body).toBe(200);
    const status = res.json();
    expect(status).toMatchObject({
      stack: 'shop',
      live: 'blue',
      preview: 'green',
      traffic: { blue: 100, green: 0 },
      colours: { green: { role: 'preview', replicas: 2, versions: { web: '2.0.0' } } },
      apps: [],
    });
    expect(status.lastPromotions[0]).toMatchObject({
      operation: 'deploy',
      requestedBy: 'deploy-bot',
    });
    const list = await s.app.inject({ url: '/v1/stacks', headers: bearer('read') });
    expect(
      list
        .json()
        .stacks.map((x: { stack: string }) => x.stack)
        .sort(),
    ).toEqual(['blog', 'shop']);
  });

  it('unknown stack: 404', async () => {
    const res = await post('/v1/stacks/nope/deploy', {});
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not-found');
    const get = await s.app.inject({ url: '/v1/stacks/nope', headers: bearer('read') });
    expect(get.statusCode).toBe(404);
  });
});

describe('dry run', () => {
  it('answers the exact values diff and commits nothing', async () => {
    const before = git(s.bare, 'rev-parse', 'main');
    const res = await post('/v1/stacks/blog/deploy', {
      versions: { web: '3.1.0', api: '3.1.0' },
      dryRun: true,
    });
    expect(res.statusCode, res.body).toBe(200);
    const result = res.json();
    expect(result).toMatchObject({
      dryRun: true,
      stack: 'blog',
      wouldCommit: true,
      baseSha: before,
    });
    expect(result.trailers).toMatchObject({
      'Stackswap-Operation': 'deploy',
      'Stackswap-Stack': 'blog',
    });
    const values = result.files.find(
      (f: { file: string }) => f.file === 'apps/blog/values-green.yaml',
    );
    expect(values.diff).toBe(
      [
        '--- a/apps/blog/values-green.yaml',
        '+++ b/apps/blog/values-green.yaml',
        '@@ -1,10 +1,10 @@',
        ' # green copy of blog',
        ' global:',
        '   colour: green',
        '-  replicas: 0 # set by stackswap',
        '+  replicas: 2 # set by stackswap',
        ' web:',
        '   image:',
        '-    tag: "1.0.0"  # pinned per colour',
        '+    tag: "3.1.0"  # pinned per colour',
        ' api:',
        '   image:',
        '-    tag: "1.0.0"  # pinned per colour',
        '+    tag: "3.1.0"  # pinned per colour',
        '',
      ].join('\n'),
    );
    expect(values.diff).toContain(
      '-  replicas: 0 # set by stackswap\n+  replicas: 2 # set by stackswap',
    );
    expect(values.diff).toContain(
      '-    tag: "1.0.0"  # pinned per colour\n+    tag: "3.1.0"  # pinned per colour',
    );
    expect(git(s.bare, 'rev-parse', 'main')).toBe(before);
  });

  it('a dry run of an operation with nothing to do says so', async () => {
    const res = await post('/v1/stacks/shop/swap', { to: 'blue', dryRun: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ wouldCommit: false, files: [] });
  });

  it('a refused precondition is the error of the dry run (412)', async () => {
    const res = await post('/v1/stacks/blog/swap', { dryRun: true });
    expect(res.statusCode).toBe(412);
    expect(res.json().error).toMatchObject({ code: 'precondition' });
  });
});

describe('idempotency', () => {
  it('the same key returns the same operation and makes one commit; another body is 422', async () => {
    const before = commitCount(s.bare);
    const headers = { ...bearer('deploy'), 'idempotency-key': 'deploy-blog-42' };
    const first = await post('/v1/stacks/blog/deploy', { overrides: { api: '4.0.0' } }, headers);
    expect(first.statusCode).toBe(202);
    const id = first.json().operation.id;
    await waitForOperation(s.app, id);
    const again = await post('/v1/stacks/blog/deploy', { overrides: { api: '4.0.0' } }, headers);
    expect(again.statusCode).toBe(202);
    expect(again.json().operation.id).toBe(id);
    expect(again.json().operation.state).toBe('succeeded');
    expect(commitCount(s.bare)).toBe(before + 1);

    const other = await post('/v1/stacks/blog/deploy', { overrides: { api: '4.0.1' } }, headers);
    expect(other.statusCode).toBe(422);
    expect(other.json().error).toMatchObject({
      code: 'idempotency-key-reused',
      message: 'idempotency key reused with a different request',
      operationId: id,
    });
    // Keys belong to the caller: another token's same key is another request.
    const admin = await post(
      '/v1/stacks/blog/deploy',
      { overrides: { api: '4.0.0' } },
      { ...bearer('admin'), 'idempotency-key': 'deploy-blog-42' },
    );
    expect(admin.statusCode).toBe(202);
    expect(admin.json().operation.id).not.toBe(id);
    await waitForOperation(s.app, admin.json().operation.id);
  });
});

describe('validation and hardening', () => {
  it('unknown fields, wrong types and reserved component names are 400 with issue paths', async () => {
    // (`force` is a field since rejected releases: see src/core/rejected.ts.)
    const unknown = await post('/v1/stacks/shop/swap', { forced: true });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.code).toBe('validation');
    const wrongType = await post('/v1/stacks/shop/deploy', { versions: { web: 1 } });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().error.issues[0].path).toBe('/versions/web');
    const reserved = await post('/v1/stacks/shop/deploy', { overrides: { constructor: '1.0' } });
    expect(reserved.statusCode).toBe(400);
    expect(reserved.body).toContain('component name not allowed');
    const badStack = await post('/v1/stacks/Bad_Name/deploy', {});
    expect(badStack.statusCode).toBe(400);
  });

  it('prototype poisoning is refused and pollutes nothing', async () => {
    for (const payload of [
      '{"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{"admin":true}}}',
      '{"overrides":{"__proto__":{"x":"1"}}}',
    ]) {
      const res = await s.app.inject({
        method: 'POST',
        url: '/v1/stacks/shop/deploy',
        headers: { ...bearer('admin'), 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json().error).toHaveProperty('code');
    }
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('415 for another media type, 400 for an empty JSON body, 413 beyond 64 KiB', async () => {
    const text = await s.app.inject({
      method: 'POST',
      url: '/v1/stacks/shop/swap',
      headers: { ...bearer('admin'), 'content-type': 'text/plain' },
      payload: 'swap please',
    });
    expect(text.statusCode).toBe(415);
    const empty = await s.app.inject({
      method: 'POST',
      url: '/v1/stacks/shop/swap',
      headers: { ...bearer('admin'), 'content-type': 'application/json' },
      payload: '',
    });
    expect(empty.statusCode).toBe(400);
    const big = await post('/v1/stacks/shop/deploy', { reason: 'x'.repeat(70 * 1024) });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('payload-too-large');
  });

  it('errors have one shape and no stack traces; security headers are set', async () => {
    const res = await s.app.inject({ url: '/v1/operations/not-a-uuid', headers: bearer('read') });
    expect(res.statusCode).toBe(400);
    expect(Object.keys(res.json())).toEqual(['error']);
    expect(res.body).not.toMatch(/at .*\.ts:\d+/);
    const missing = await s.app.inject({
      url: '/v1/operations/00000000-0000-4000-8000-000000000000',
      headers: bearer('read'),
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not-found');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBeDefined();
    const route = await s.app.inject({ url: '/nowhere' });
    expect(route.statusCode).toBe(404);
    expect(route.json().error.code).toBe('not-found');
  });

  it('the server has request, idle-connection and keep-alive timeouts', async () => {
    await s.app.ready();
    expect(s.app.server.requestTimeout).toBe(30_000);
    expect(s.app.server.timeout).toBe(60_000);
    expect(s.app.server.keepAliveTimeout).toBe(5_000);
    expect(s.app.initialConfig).toMatchObject({
      bodyLimit: 64 * 1024,
      onProtoPoisoning: 'error',
      onConstructorPoisoning: 'error',
    });
  });

  it('healthz and readyz are open; readyz checks the repo (Argo CD not configured)', async () => {
    expect((await s.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await s.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ready',
      checks: {
        configRepo: { ok: true },
        argocd: { ok: true, reason: 'not configured (git-only)' },
      },
    });
  });

  it('metrics count operations by stack, kind and result', async () => {
    const res = await s.app.inject({ url: '/metrics', headers: bearer('read') });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(
      /stackswap_operations_total\{stack="shop",kind="deploy",result="succeeded"\} 1/,
    );
    expect(res.body).toMatch(
      /stackswap_operations_total\{stack="blog",kind="revert",result="failed"\} 1/,
    );
    expect(res.body).toContain('stackswap_operation_duration_seconds_bucket');
  });

  it('serves the OpenAPI document built from the zod schemas', async () => {
    const res = await s.app.inject({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/stacks',
        '/v1/stacks/{stack}',
        '/v1/stacks/{stack}/deploy',
        '/v1/stacks/{stack}/swap',
        '/v1/stacks/{stack}/revert',
        '/v1/stacks/{stack}/scale-down',
        '/v1/operations',
        '/v1/operations/{id}',
        '/v1/operations/{id}/events',
        '/v1/chatops/slack',
        '/healthz',
        '/readyz',
        '/metrics',
      ]),
    );
    const deploy = doc.paths['/v1/stacks/{stack}/deploy'].post;
    expect(deploy.operationId).toBe('deploy');
    expect(deploy.requestBody.content['application/json'].schema.properties).toHaveProperty(
      'versions',
    );
    expect(deploy.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    const ui = await s.app.inject({ url: '/docs' });
    expect([200, 302]).toContain(ui.statusCode);
  });
});
