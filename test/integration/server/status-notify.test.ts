/**
 * Replicas on one PostgreSQL drop each other's stale stack status (LISTEN/NOTIFY): two
 * in-process services on one database and one bare config repo (git-only), with a status TTL
 * of 60 s, so only a notification can make replica B answer a change replica A made within the
 * test's bounds. A replica skips its own notifications; the listener comes back after its
 * session is terminated or the database restarts, and then drops every cached status; a
 * closed store leaves no timer or socket behind.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PostgresStore, STACK_CHANGED_CHANNEL } from '../../../src/server/store/postgres.ts';
import { configRepoFiles, git, seedBareRepo } from '../../helpers/config-repo.ts';
import { bearer, gitOnlyService, waitForOperation, type GitOnlyService } from './helpers.ts';
import { startPostgres, type PostgresServer } from './postgres.ts';

let server: PostgresServer;
let a: GitOnlyService;
let b: GitOnlyService;
let bare: string;

beforeAll(async () => {
  server = await startPostgres();
  ({ bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }])));
  const env = {
    STACKSWAP_DATABASE_URL: server.url,
    STACKSWAP_STATUS_CACHE_SECONDS: '60',
    STACKSWAP_LOCK_LEASE_SECONDS: '3',
  };
  a = await gitOnlyService({ bare, env });
  b = await gitOnlyService({ bare, env });
}, 60_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await server?.stop();
});

type Colour = { versions: Record<string, string | null> };
type Status = {
  live: string;
  preview: 'blue' | 'green';
  colours: Record<'blue' | 'green', Colour>;
};

/** What a deploy changes: the preview colour's web version. */
const previewWeb = (s: Status) => s.colours[s.preview].versions.web;

async function status(s: GitOnlyService): Promise<Status> {
  const res = await s.app.inject({ url: '/v1/stacks/shop', headers: bearer('read') });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Status;
}

/** Polls until `check` holds; the bound is far below the 60 s TTL, and generous otherwise. */
async function until(what: string, check: () => boolean | Promise<boolean>, boundMs = 20_000) {
  const deadline = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(s: GitOnlyService, url: string, body: object, scope: 'deploy' | 'swap') {
  const res = await s.app.inject({ method: 'POST', url, headers: bearer(scope), payload: body });
  expect(res.statusCode, res.body).toBe(202);
  const done = await waitForOperation(s.app, res.json().operation.id);
  expect(done.state, JSON.stringify(done)).toBe('succeeded');
}

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []) {
  const client = new pg.Client(server.url);
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

const listeners = async () =>
  Number(
    (
      await sql<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'stackswap-listener'",
      )
    )[0]!.n,
  );

/** Pushes a commit to the config repo directly (no operation, so no notification). */
function pushPreviewWeb(colour: 'blue' | 'green', tag: string) {
  const work = mkdtempSync(path.join(os.tmpdir(), 'stackswap-work-'));
  try {
    git(work, 'clone', '-q', bare, '.');
    const file = path.join(work, `apps/shop/values-${colour}.yaml`);
    const text = readFileSync(file, 'utf8');
    const edited = text.replace(/(web:\n  image:\n    tag: )"[^"]*"/, `$1"${tag}"`);
    expect(edited).not.toBe(text);
    writeFileSync(file, edited);
    git(work, 'commit', '-qam', `web ${tag}`);
    git(work, 'push', '-q', 'origin', 'main');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const calls = (spy: { mock: { calls: unknown[][] } }, stack: string) =>
  spy.mock.calls.filter((c) => c[0] === stack).length;

describe('stack status across replicas', () => {
  it("B answers A's deploy and swap at once, though its entry was fresh; nobody acts on its own notification", async () => {
    const before = await status(b);
    expect(before.live).toBe('blue');
    expect(previewWeb(before)).not.toBe('2.0.0');
    // Cached on B: the second answer is the same read.
    expect(await status(b)).toEqual(before);
    const onA = vi.spyOn(a.service.status, 'invalidate');
    const onB = vi.spyOn(b.service.status, 'invalidate');

    await run(a, '/v1/stacks/shop/deploy', { overrides: { web: '2.0.0' } }, 'deploy');
    await until("B's status shows A's deploy", async () => previewWeb(await status(b)) === '2.0.0');
    await run(a, '/v1/stacks/shop/swap', {}, 'swap');
    await until("B's status shows A's swap", async () => (await status(b)).live === 'green');

    // Notifications reach each listener in commit order: once A has heard this one, it has
    // heard its own two before it.
    await sql('SELECT pg_notify($1, $2)', [
      STACK_CHANGED_CHANNEL,
      JSON.stringify({ replica: 'test', stack: 'sentinel' }),
    ]);
    await until('A hears the sentinel', () => calls(onA, 'sentinel') === 1);
    await until('B hears the sentinel', () => calls(onB, 'sentinel') === 1);
    // Once per operation each: A when it ended (onSettled), B on A's notification.
    expect(calls(onA, 'shop')).toBe(2);
    expect(calls(onB, 'shop')).toBe(2);
    onA.mockRestore();
    onB.mockRestore();
  });

  it('a terminated listener session reconnects, drops every cached status, and hears again', async () => {
    const cached = await status(b);
    // A change B is never told about (as one notified while its listener was away).
    pushPreviewWeb(cached.preview, 'missed-1');
    expect(previewWeb(await status(b))).toBe(previewWeb(cached));
    const all = vi.spyOn(b.service.status, 'invalidateAll');
    const killed = await sql<{ ok: boolean }>(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'stackswap-listener'",
    );
    expect(killed).toEqual([{ ok: true }, { ok: true }]);
    await until('B listens again and drops its cache', () => all.mock.calls.length === 1);
    expect(previewWeb(await status(b))).toBe('missed-1');
    await until('both listen again', async () => (await listeners()) === 2);
    await run(a, '/v1/stacks/shop/deploy', { overrides: { web: '3.0.0' } }, 'deploy');
    await until(
      "B's status shows A's deploy after the reconnect",
      async () => previewWeb(await status(b)) === '3.0.0',
    );
    all.mockRestore();
  });

  it('the listener survives a database restart', async () => {
    expect(previewWeb(await status(b))).toBe('3.0.0');
    const all = vi.spyOn(b.service.status, 'invalidateAll');
    await server.restart({ downMs: 300 });
    await until('B listens again and drops its cache', () => all.mock.calls.length === 1, 30_000);
    await until('both listen again', async () => (await listeners()) === 2);
    await run(a, '/v1/stacks/shop/deploy', { overrides: { web: '4.0.0' } }, 'deploy');
    await until(
      "B's status shows A's deploy after the restart",
      async () => previewWeb(await status(b)) === '4.0.0',
    );
    all.mockRestore();
  }, 60_000);
});

describe('the listener of a closed store', () => {
  const quiet = { warn() {}, info() {} };
  const macrotask = () => new Promise((r) => setTimeout(r, 0));

  it('leaves no timer or socket: listening, or waiting to retry an unreachable database', async () => {
    // The services closed first: theirs come and go (pooled connections, sweeps).
    await a.close();
    await b.close();
    for (const url of [server.url, 'postgres://stackswap@127.0.0.1:1/postgres']) {
      await macrotask();
      const before = process.getActiveResourcesInfo().length;
      const store = new PostgresStore({ url, replica: 'leftovers', leaseMs: 3_000, logger: quiet });
      const missed = vi.fn();
      await store.listenStackChanges(() => undefined, missed);
      if (url === server.url) expect(await listeners()).toBe(1);
      await store.close();
      await macrotask();
      expect(process.getActiveResourcesInfo().length, url).toBe(before);
      expect(missed).not.toHaveBeenCalled();
    }
  });
});
