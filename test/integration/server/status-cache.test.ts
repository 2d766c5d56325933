/**
 * The status cache of the service (StackStatusService) on a real config repo: concurrent reads
 * share one fetch, fresh entries are served synchronously (`peek`), and an expired TTL, an
 * invalidation or a new commit is seen on the next read. The clock is injected.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConfigRepo } from '../../../src/gitops/git/repo.ts';
import { StackStatusService } from '../../../src/server/stacks/status.ts';
import { configRepoFiles, git, openLocalRepo, seedBareRepo } from '../../helpers/config-repo.ts';

let bare: string;
let repo: ConfigRepo;
let clock: number;
let status: StackStatusService;

beforeEach(async () => {
  ({ bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }, { name: 'cart' }])));
  repo = await openLocalRepo(bare);
  clock = 1_000_000;
  status = new StackStatusService({
    repo: { get: async () => repo },
    deployer: () => undefined,
    ttlMs: 5_000,
    now: () => clock,
  });
});

/** Pushes a commit that makes green live for `stack`, from a clone of the bare repo. */
function pushGreenLive(stack: string) {
  const work = mkdtempSync(path.join(os.tmpdir(), 'stackswap-work-'));
  git(work, 'clone', '-q', bare, '.');
  const file = path.join(work, 'apps/ingress/values.yaml');
  writeFileSync(
    file,
    `# which colour serves traffic, per stack\nglobal:\n  shopLive: ${stack === 'shop' ? 'green' : 'blue'}\n  cartLive: blue\n`,
  );
  git(work, 'commit', '-qam', 'green live');
  git(work, 'push', '-q', 'origin', 'main');
}

describe('the status cache', () => {
  it('concurrent reads of a cold stack share one fetch; the answer is the validated JSON', async () => {
    const sync = vi.spyOn(repo, 'sync');
    const answers = await Promise.all(Array.from({ length: 20 }, () => status.get('shop')));
    expect(sync).toHaveBeenCalledTimes(1);
    expect(new Set(answers).size).toBe(1);
    expect(JSON.parse(answers[0]!.json)).toMatchObject({
      stack: 'shop',
      live: 'blue',
      preview: 'green',
      traffic: { blue: 100, green: 0 },
    });
  });

  it('peek answers a fresh entry synchronously; for one more TTL the old one while a refresh runs; then nothing', async () => {
    expect(status.peek('shop')).toBeUndefined();
    const read = await status.get('shop');
    expect(status.peek('shop')).toBe(read);
    expect(status.peek('cart')).toBeUndefined();
    clock += 4_999;
    expect(status.peek('shop')).toBe(read);
    const sync = vi.spyOn(repo, 'sync');
    clock += 1;
    // Expired: still answered, and one background read (fetch included) replaces it.
    expect(status.peek('shop')).toBe(read);
    expect(status.peek('shop')).toBe(read);
    for (let i = 0; status.peek('shop') === read; i++) {
      if (i > 200) throw new Error('the background refresh never landed');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(sync).toHaveBeenCalledTimes(1);
    const refreshed = status.peek('shop')!;
    expect(refreshed.value.observedAt).toBe(new Date(clock).toISOString());
    // Two TTLs without a poll: nothing, get() has to read.
    clock += 10_000;
    expect(status.peek('shop')).toBeUndefined();
  });

  it('an invalidation drops the entry; the next read sees a commit pushed meanwhile', async () => {
    expect((await status.get('shop')).value.live).toBe('blue');
    pushGreenLive('shop');
    // Within the TTL the cached answer stands (that is what the cache is for).
    expect((await status.get('shop')).value.live).toBe('blue');
    status.invalidate('shop');
    expect(status.peek('shop')).toBeUndefined();
    const fresh = await status.get('shop');
    expect(fresh.value).toMatchObject({ live: 'green', traffic: { green: 100, blue: 0 } });
    expect(fresh.value.headSha).toBe(git(bare, 'rev-parse', 'main'));
  });

  it("an invalidation of one stack leaves the other stacks' fresh entries answering at once", async () => {
    const cart = await status.get('cart');
    await status.get('shop');
    status.invalidate('shop');
    expect(status.peek('shop')).toBeUndefined();
    // The bench's status latency: every poller used to wait for the fetch shop's end caused.
    expect(status.peek('cart')).toBe(cart);
    clock += 10_000;
    expect(status.peek('cart')).toBeUndefined();
  });

  it('a read under way when an invalidation comes does not refill the cache', async () => {
    await status.get('cart'); // stackswap.yaml is read; the next get goes straight to the read
    const readFile = repo.readFile.bind(repo);
    let reading!: () => void;
    const underway = new Promise<void>((resolve) => (reading = resolve));
    const reads = vi.spyOn(repo, 'readFile').mockImplementation((...args) => {
      reading();
      return readFile(...args);
    });
    const before = status.get('shop');
    await underway;
    status.invalidate('shop');
    expect((await before).value.stack).toBe('shop');
    // The answer it got may predate the invalidation: the next get reads the stack again.
    reads.mockClear();
    await status.get('shop');
    expect(reads).toHaveBeenCalled();
    reads.mockClear();
    await status.get('shop');
    expect(reads).not.toHaveBeenCalled();
  });

  it('an unknown stack is a 404 naming the stacks there are', async () => {
    await expect(status.get('nope')).rejects.toMatchObject({
      statusCode: 404,
      message: 'stackswap.yaml has no stack "nope"',
      extra: { stacks: ['shop', 'cart'] },
    });
    expect(status.peek('nope')).toBeUndefined();
  });
});
