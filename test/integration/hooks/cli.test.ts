/** The CLI in CI calls the same hooks (issue 13 item 4): exit code 12 on a veto, --no-hooks for admins. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitCount, git } from '../../helpers/config-repo.ts';
import { runCli } from '../../helpers/cli.ts';
import { answer, startReceiver, type Receiver } from './receiver.ts';
import { hooksYaml, repoWithHooks, SECRET } from './fixture.ts';

let receiver: Receiver | undefined;
afterEach(async () => receiver?.close());

describe('stackswap deploy with hooks', () => {
  it('a veto exits 12 with the hook message; --no-hooks is refused (2) unless hooks.admins lists the requester', async () => {
    receiver = await startReceiver(SECRET, (_req, res) =>
      answer(res, 200, { result: 'fail', message: 'no change ticket' }),
    );
    const { bare } = repoWithHooks(
      hooksYaml([{ point: 'beforeDeploy', name: 'ticket', url: `${receiver.url}/h` }], {
        admins: ['release-manager'],
      }),
    );
    const cache = mkdtempSync(path.join(os.tmpdir(), 'stackswap-cache-'));
    const cli = (...args: string[]) =>
      runCli(['--repo', bare, '--cache-dir', cache, '--no-sync', '--stack', 'shop', ...args], {
        env: { HOOK_SECRET: SECRET },
      });
    const before = commitCount(bare);

    const vetoed = await cli('--requested-by', 'alice', 'deploy');
    expect(vetoed.code).toBe(12);
    expect(vetoed.stderr).toContain(
      'hook beforeDeploy/ticket stopped the operation (fail): no change ticket',
    );
    expect(vetoed.stderr).not.toContain(SECRET);
    expect(receiver.received[0]!.signatureOk).toBe(true);

    const refused = await cli('--requested-by', 'alice', '--no-hooks', 'deploy');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('"alice" is not in stacks.shop.hooks.admins');
    expect(commitCount(bare)).toBe(before);

    const skipped = await cli('--requested-by', 'release-manager', '--no-hooks', 'deploy');
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(receiver.received).toHaveLength(1);
    expect(git(bare, 'log', '-1', '--format=%B', 'main')).toContain(
      'Stackswap-Hooks-Skipped: --no-hooks by release-manager',
    );
  });
});
