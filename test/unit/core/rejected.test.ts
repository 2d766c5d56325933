/**
 * The rejected-release record (src/core/rejected.ts): exact version-set matching, a set
 * rejected again moves to the end with its new reason, a bounded file, a refusal that says
 * when, by whom and why, `force`, and a hand-edited file that is broken named with its key.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  MAX_REJECTED,
  findRejected,
  readRejected,
  refuseRejected,
  rejectedFile,
  rejectionEdit,
} from '../../../src/core/rejected.ts';
import { StackswapError, exitCodeOf } from '../../../src/shared/errors.ts';
import type { RepoReader } from '../../../src/shared/repo-files.ts';

const SHA = 'a'.repeat(40);
const actor = { requestedBy: 'alice', operationId: 'op-1' };

function reader(files: Record<string, string>): RepoReader {
  return {
    headSha: SHA,
    readFile: async (p) => files[p]!,
    fileExists: async (p) => p in files,
  };
}

async function reject(
  files: Record<string, string>,
  versions: Record<string, string | undefined>,
  reason = 'bad',
) {
  const edit = await rejectionEdit(reader(files), 'shop', {
    versions,
    at: SHA,
    operation: 'revert',
    actor,
    reason,
    now: Date.UTC(2026, 11, 2),
  });
  return { ...files, ...edit };
}

describe('rejected releases', () => {
  it('matches the whole version set, not a part of it', async () => {
    const files = await reject({}, { web: '1.1', api: '2.0' });
    const list = await readRejected(reader(files), 'shop');
    expect(findRejected(list, { api: '2.0', web: '1.1' })).toBeDefined();
    expect(findRejected(list, { web: '1.1', api: '2.1' })).toBeUndefined();
    expect(findRejected(list, { web: '1.1' })).toBeUndefined();
    expect(findRejected(list, { web: '1.1', api: '2.0', db: '3' })).toBeUndefined();
    expect(findRejected(list, {})).toBeUndefined();
  });

  it('keeps one entry per set (the latest reason) and at most MAX_REJECTED', async () => {
    let files = await reject({}, { web: '1' }, 'first');
    files = await reject(files, { web: '2' }, 'other');
    files = await reject(files, { web: '1' }, 'second');
    const list = await readRejected(reader(files), 'shop');
    expect(list.map((r) => [r.versions.web, r.reason])).toEqual([
      ['2', 'other'],
      ['1', 'second'],
    ]);
    for (let i = 0; i < MAX_REJECTED + 5; i++) files = await reject(files, { web: `9.${i}` });
    expect(await readRejected(reader(files), 'shop')).toHaveLength(MAX_REJECTED);
    expect(parse(files[rejectedFile('shop')]!)).toMatchObject({ stack: 'shop' });
  });

  it('refuses a rejected set (exit 6, release-rejected) unless forced', async () => {
    const files = await reject({}, { web: '1.1', api: '2.0' }, 'p99 too high');
    const refused = await refuseRejected(
      reader(files),
      'shop',
      { web: '1.1', api: '2.0' },
      {
        force: false,
        action: 'deploy',
      },
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StackswapError);
    const e = refused as StackswapError;
    expect(e.code).toBe('release-rejected');
    expect(exitCodeOf(e)).toBe(6);
    expect(e.httpStatus).toBe(412);
    expect(e.message).toBe(
      'release web=1.1,api=2.0 of shop was rejected at aaaaaaaaaaaa by alice (revert, 2026-12-02T00:00:00.000Z): p99 too high; pass --force (API: "force": true) to deploy it anyway',
    );
    expect(e.hint).toMatch(/remove its entry from \.stackswap\/rejected\/shop\.yaml/);
    await expect(
      refuseRejected(
        reader(files),
        'shop',
        { web: '1.1', api: '2.0' },
        {
          force: true,
          action: 'deploy',
        },
      ),
    ).resolves.toBeUndefined();
  });

  it('names the file and key of a broken record', async () => {
    const broken = {
      [rejectedFile('shop')]: 'stack: shop\nrejected:\n  - versions: {web: "1"}\n    at: nope\n',
    };
    const e = (await readRejected(reader(broken), 'shop').catch(
      (x: unknown) => x,
    )) as StackswapError;
    expect(e.code).toBe('validation');
    expect(e.where).toMatchObject({ file: '.stackswap/rejected/shop.yaml', key: 'rejected.0.at' });
    const notYaml = { [rejectedFile('shop')]: 'stack: [' };
    const y = (await readRejected(reader(notYaml), 'shop').catch(
      (x: unknown) => x,
    )) as StackswapError;
    expect(y.message).toMatch(/not valid YAML/);
    // A revert or a stop is never blocked by it: the record is replaced.
    const replaced = await reject(notYaml, { web: '2' });
    expect((await readRejected(reader(replaced), 'shop')).map((r) => r.versions)).toEqual([
      { web: '2' },
    ]);
  });
});
