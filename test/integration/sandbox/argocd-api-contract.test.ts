/**
 * The stand-in's REST contract against Argo CD's: every JSON body validated (strictly) against
 * Argo CD's swagger definitions; authentication, existence hiding, Content-Type enforcement,
 * gateway routing errors, list filters and field selection. One stand-in for the whole file,
 * on a seeded fixture repo (root synced at start-up, my-app-blue synced once).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArgoCdStandIn, type StandIn } from '../../../src/sandbox/argocd/server.ts';
import type { Application } from '../../../src/sandbox/argocd/types.ts';
import { ArgoClient, eventually } from './helpers/client.ts';
import { createFixtureRepo, type FixtureRepo } from './helpers/fixture-repo.ts';
import { SwaggerValidator } from './helpers/swagger.ts';

const swagger = new SwaggerValidator();
let repo: FixtureRepo;
let standIn: StandIn;
let api: ArgoClient;

beforeAll(async () => {
  repo = await createFixtureRepo();
  standIn = await startArgoCdStandIn({
    repoPath: repo.bare,
    username: 'admin',
    password: 'sandbox-password',
    progressingMs: 100,
    pollIntervalMs: 0,
    authorize: ({ project }) => project !== 'secret',
  });
  api = new ArgoClient(standIn.url, standIn.token);
  const sync = await api.sync('my-app-blue', { prune: true });
  expect(sync.status).toBe(200);
  await standIn.idle();
  await eventually(() =>
    standIn.app('my-app-blue')?.status.health.status === 'Healthy' ? true : undefined,
  );
});

afterAll(async () => {
  await standIn?.close();
  await repo?.remove();
});

const expectError = (
  reply: { status: number; json: unknown },
  status: number,
  code: number,
  message: string,
) => {
  expect(reply.status).toBe(status);
  swagger.assert('runtimeError', reply.json);
  expect(reply.json).toEqual({ error: message, code, message });
};

describe('authentication', () => {
  it('answers 401 "no session information" without a token, and for a non-JWT bearer', async () => {
    expectError(
      await api.get('/api/v1/applications', { token: null }),
      401,
      16,
      'no session information',
    );
    expectError(
      await api.get('/api/v1/applications', { token: 'not-a-jwt' }),
      401,
      16,
      'no session information',
    );
  });

  it('answers 401 "invalid session" for a JWT it did not sign', async () => {
    const foreign = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('{"iss":"argocd","sub":"admin:login"}').toString('base64url')}.c2lnbmF0dXJl`;
    expectError(
      await api.get('/api/v1/applications/root', { token: foreign }),
      401,
      16,
      'invalid session: token signature is invalid: signature is invalid',
    );
  });

  it('logs in with username and password, and the session token works', async () => {
    const login = await api.call<{ token: string }>('POST', '/api/v1/session', {
      body: { username: 'admin', password: 'sandbox-password' },
      token: null,
    });
    expect(login.status).toBe(200);
    swagger.assert('sessionSessionResponse', login.json);
    expect(login.json.token.split('.')).toHaveLength(3);
    expect(login.headers.get('set-cookie')).toMatch(/^argocd\.token=/);
    const userinfo = await api.get('/api/v1/session/userinfo', { token: login.json.token });
    swagger.assert('sessionGetUserInfoResponse', userinfo.json);
    expect(userinfo.json).toEqual({ loggedIn: true, username: 'admin', iss: 'argocd' });
    const apps = await api.get('/api/v1/applications', { token: login.json.token });
    expect(apps.status).toBe(200);
  });

  it('refuses wrong credentials with Argo CD messages', async () => {
    const post = (body: unknown) => api.call('POST', '/api/v1/session', { body, token: null });
    expectError(
      await post({ username: 'admin', password: 'nope' }),
      401,
      16,
      'Invalid username or password',
    );
    expectError(await post({ username: 'admin' }), 401, 16, 'no credentials supplied');
    expectError(
      await post({ token: 'x' }),
      401,
      16,
      'token-based session creation no longer supported. please upgrade argocd cli to v0.7+',
    );
  });

  it('reports loggedIn absent (false) on userinfo without a valid token', async () => {
    const reply = await api.get('/api/v1/session/userinfo', { token: null });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({});
  });
});

describe('existence hiding and errors', () => {
  it('answers 403 "permission denied" for an app that does not exist', async () => {
    expectError(await api.get('/api/v1/applications/no-such-app'), 403, 7, 'permission denied');
    expectError(await api.sync('no-such-app'), 403, 7, 'permission denied');
    expectError(
      await api.get('/api/v1/applications/no-such-app/resource-tree'),
      403,
      7,
      'permission denied',
    );
    expectError(
      await api.delete('/api/v1/applications/no-such-app/operation'),
      403,
      7,
      'permission denied',
    );
  });

  it('answers 403 for an app in a namespace that is not enabled', async () => {
    expectError(
      await api.get('/api/v1/applications/root?appNamespace=elsewhere'),
      403,
      7,
      'permission denied',
    );
  });

  it('answers 404 with a project, for a missing app and for the wrong project', async () => {
    const notFound = 'applications.argoproj.io "no-such-app" not found';
    expectError(
      await api.get('/api/v1/applications/no-such-app?project=default'),
      404,
      5,
      notFound,
    );
    expectError(
      await api.get('/api/v1/applications/root?projects=other'),
      404,
      5,
      'applications.argoproj.io "root" not found',
    );
    expect((await api.get('/api/v1/applications/root?project=default')).status).toBe(200);
  });

  it('answers 403 when RBAC denies the project (without leaking the name)', async () => {
    expectError(
      await api.get('/api/v1/applications/root?project=secret'),
      403,
      7,
      'permission denied',
    );
  });

  it('refuses two projects on get', async () => {
    expectError(
      await api.get('/api/v1/applications/root?projects=a&projects=b'),
      400,
      3,
      'multiple projects specified - the get endpoint accepts either zero or one project',
    );
  });

  it('enforces Content-Type application/json exactly on non-GET requests (415, plain text)', async () => {
    for (const headers of [
      { 'Content-Type': 'application/json; charset=utf-8' },
      { 'Content-Type': 'text/plain' },
    ]) {
      const reply = await api.post('/api/v1/applications/my-app-green/sync', {}, { headers });
      expect(reply.status).toBe(415);
      expect(reply.text).toBe('Invalid content type\n');
      expect(reply.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    }
    // A DELETE without any Content-Type is rejected too, before authentication.
    const bare = await fetch(`${standIn.url}/api/v1/applications/my-app-green/operation`, {
      method: 'DELETE',
    });
    expect(bare.status).toBe(415);
    expect(await bare.text()).toBe('Invalid content type\n');
    // The exact type passes (and then fails for a real reason: no operation).
    expectError(
      await api.delete('/api/v1/applications/my-app-green/operation'),
      400,
      3,
      'Unable to terminate operation. No operation is in progress',
    );
  });

  it('answers unknown routes with the gateway plain-text 404, and wrong methods with 405', async () => {
    const missing = await api.get('/api/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.text).toBe('Not Found\n');
    const wrongMethod = await api.call('PUT', '/api/v1/session/userinfo');
    expect(wrongMethod.status).toBe(405);
  });

  it('decodes sync bodies like Go: a wrong JSON type is 400 InvalidArgument', async () => {
    expectError(
      await api.sync('my-app-green', { prune: 'yes' }),
      400,
      3,
      'json: cannot unmarshal string into Go struct field application.ApplicationSyncRequest.prune of type bool',
    );
  });

  it('refuses a revision that does not resolve, with FailedPrecondition', async () => {
    expectError(
      await api.sync('my-app-green', { revision: 'no-such-branch' }),
      400,
      9,
      "error resolving repo revision: rpc error: code = Unknown desc = unable to resolve 'no-such-branch' to a commit SHA: revision not found",
    );
  });
});

describe('shapes', () => {
  it('uses a validator strict enough to catch a field Argo CD does not have', () => {
    expect(() =>
      swagger.assert('v1alpha1Application', { metadata: { name: 'x', colour: 'blue' } }),
    ).toThrow(/additional properties/);
    expect(() => swagger.assert('runtimeError', { error: 'x', code: '7', message: 'x' })).toThrow(
      /integer/,
    );
  });

  it('serves Applications that match v1alpha1Application', async () => {
    for (const name of ['root', 'my-app-blue', 'my-app-green', 'ingress']) {
      const reply = await api.get<Application>(`/api/v1/applications/${name}`);
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toBe('application/json');
      swagger.assert('v1alpha1Application', reply.json);
      // Go always writes these (struct fields without omitempty or non-pointer structs).
      expect(reply.json.status.sync.status).toBeDefined();
      expect(reply.json.status.summary).toBeDefined();
      expect(typeof reply.json.metadata.resourceVersion).toBe('string');
    }
    const blue = await api.app('my-app-blue');
    expect(blue.status.sync).toMatchObject({ status: 'Synced', revision: repo.seed });
    expect(blue.status.health.status).toBe('Healthy');
    expect(blue.status.history?.[0]).toMatchObject({
      id: 0,
      revision: repo.seed,
      initiatedBy: { username: 'admin' },
    });
    expect(
      blue.status.resources?.map((r) => `${r.kind}/${r.name}:${r.status}:${r.health?.status}`),
    ).toEqual(['Service/web:Synced:Healthy', 'Deployment/web:Synced:Healthy']);
  });

  it('lists root children as argoproj.io Applications without health, root Healthy on its own', async () => {
    const root = await api.app('root');
    const children = root.status.resources?.filter(
      (r) => r.group === 'argoproj.io' && r.kind === 'Application',
    );
    expect(children?.map((c) => c.name).sort()).toEqual(['ingress', 'my-app-blue', 'my-app-green']);
    expect(children?.every((c) => c.health === undefined && c.status === 'Synced')).toBe(true);
    expect(root.status.health.status).toBe('Healthy');
    expect(root.status.summary.isAppOfApps).toBe(true);
    const green = await api.app('my-app-green');
    expect(green.metadata.annotations?.['argocd.argoproj.io/tracking-id']).toBe(
      'root:argoproj.io/Application:argocd/my-app-green',
    );
  });

  it('lists with selector, projects, name and fields filters', async () => {
    const all = await api.get<{ items: Application[]; metadata: { resourceVersion: string } }>(
      '/api/v1/applications',
    );
    swagger.assert('v1alpha1ApplicationList', all.json);
    expect(all.json.items.map((a) => a.metadata.name)).toEqual([
      'ingress',
      'my-app-blue',
      'my-app-green',
      'root',
    ]);
    expect(all.json.metadata.resourceVersion).toMatch(/^\d+$/);

    const byLabel = await api.get<{ items: Application[] }>(
      `/api/v1/applications?selector=${encodeURIComponent('stackswap.io/stack=my-app')}`,
    );
    expect(byLabel.json.items.map((a) => a.metadata.name)).toEqual([
      'ingress',
      'my-app-blue',
      'my-app-green',
    ]);
    const byName = await api.get<{ items: Application[] }>('/api/v1/applications?name=ingress');
    expect(byName.json.items.map((a) => a.metadata.name)).toEqual(['ingress']);
    const otherProject = await api.get<{ items: unknown }>('/api/v1/applications?projects=other');
    expect(otherProject.json.items).toBeNull();
    swagger.assert('v1alpha1ApplicationList', otherProject.json);

    const fields = await api.get<{ items: Record<string, unknown>[] }>(
      '/api/v1/applications?fields=items.metadata.name,items.status.sync.status',
    );
    swagger.assert('v1alpha1ApplicationList', fields.json);
    expect(fields.json.items[0]).toEqual({
      metadata: { name: 'ingress' },
      status: { sync: { status: 'OutOfSync' } },
    });

    const badSelector = await api.get('/api/v1/applications?selector=%3D%3D%3D');
    expect(badSelector.status).toBe(500);
    swagger.assert('runtimeError', badSelector.json);
  });

  it('serves the resource tree with ReplicaSet and Pods under a Deployment', async () => {
    const reply = await api.get<{
      nodes: { kind: string; name: string; parentRefs?: { kind: string }[]; health?: unknown }[];
    }>('/api/v1/applications/my-app-blue/resource-tree');
    expect(reply.status).toBe(200);
    swagger.assert('v1alpha1ApplicationTree', reply.json);
    const kinds = reply.json.nodes.map((n) => n.kind);
    expect(kinds.filter((k) => k === 'Pod')).toHaveLength(2);
    expect(kinds).toContain('ReplicaSet');
    expect(reply.json.nodes.find((n) => n.kind === 'ReplicaSet')?.parentRefs?.[0]?.kind).toBe(
      'Deployment',
    );

    const rootTree = await api.get<{ nodes: { kind: string; health?: unknown }[] }>(
      '/api/v1/applications/root/resource-tree',
    );
    swagger.assert('v1alpha1ApplicationTree', rootTree.json);
    expect(
      rootTree.json.nodes.every((n) => n.kind === 'Application' && n.health === undefined),
    ).toBe(true);
  });

  it('serves managed resources with JSON-string states and filters', async () => {
    const reply = await api.get<{
      items: { kind: string; targetState: string; liveState: string }[];
    }>('/api/v1/applications/my-app-blue/managed-resources');
    swagger.assert('applicationManagedResourcesResponse', reply.json);
    expect(reply.json.items.map((i) => i.kind).sort()).toEqual(['Deployment', 'Service']);
    const deployment = reply.json.items.find((i) => i.kind === 'Deployment');
    expect(JSON.parse(deployment?.targetState ?? '')).toMatchObject({
      kind: 'Deployment',
      metadata: { name: 'web' },
    });
    expect(JSON.parse(deployment?.liveState ?? '')).toMatchObject({
      metadata: { uid: expect.any(String) },
    });

    const filtered = await api.get<{ items: unknown[] }>(
      '/api/v1/applications/my-app-blue/managed-resources?kind=Service',
    );
    expect(filtered.json.items).toHaveLength(1);
    const green = await api.get<{ items: { liveState: string }[] }>(
      '/api/v1/applications/my-app-green/managed-resources',
    );
    swagger.assert('applicationManagedResourcesResponse', green.json);
    expect(green.json.items.every((i) => i.liveState === 'null')).toBe(true);
  });
});
