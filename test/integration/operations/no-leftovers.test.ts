/**
 * A finished CLI command leaves nothing behind that keeps the process alive: no timer, no
 * handle, no git child. Run in-process (runCli) on a local repo, so the test sees this
 * process's own resources: after each command and one macrotask, `getActiveResourcesInfo()`
 * holds nothing the baseline did not, and no git process is a child of this one.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configRepoFiles, seedBareRepo } from '../../helpers/config-repo.ts';
import { runCli } from '../../helpers/cli.ts';

/** Resources that are in `after` more often than in `before`. */
function added(before: string[], after: string[]): string[] {
  const counts = new Map<string, number>();
  for (const r of before) counts.set(r, (counts.get(r) ?? 0) + 1);
  const extra: string[] = [];
  for (const r of after) {
    const n = counts.get(r) ?? 0;
    if (n > 0) counts.set(r, n - 1);
    else extra.push(r);
  }
  return extra;
}

/** Linux: the commands of this process's live children (empty elsewhere). */
function childCommands(): string[] {
  if (process.platform !== 'linux') return [];
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== process.pid || fields[0] === 'Z') continue;
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim());
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('no process outlives its work', () => {
  it('status, deploy --no-sync and swap --no-sync leave no timer, handle or git child', async () => {
    const { bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }]));
    const env = {
      STACKSWAP_REPO: bare,
      STACKSWAP_CACHE_DIR: mkdtempSync(path.join(os.tmpdir(), 'stackswap-cache-')),
    };
    // Cold (clone) then warm (fetch), reads, a commit and a push, twice.
    for (const command of ['status', 'deploy', 'swap', 'status']) {
      await macrotask();
      const before = process.getActiveResourcesInfo();
      const result = await runCli(['--no-sync', '--stack', 'shop', command], { env });
      expect(result.code, `${command}: ${result.stderr}`).toBe(0);
      await macrotask();
      expect(added(before, process.getActiveResourcesInfo()), command).toEqual([]);
      expect(
        childCommands().filter((c) => /\bgit\b/.test(c)),
        command,
      ).toEqual([]);
    }
  }, 120_000);
});
