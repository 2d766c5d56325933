/**
 * The CLI sends the same notifications as the service: a deploy's event reaches the signed
 * webhook; at exit the CLI waits (bounded) and says on stderr which notifications it could not
 * deliver; the exit code stays the operation's.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { StackEvent } from '../../../src/shared/events.ts';
import { runCli } from '../../helpers/cli.ts';
import { configRepoFiles, seedBareRepo } from '../../helpers/config-repo.ts';
import { tempDir } from '../server/helpers.ts';
import { startReceiver, type Receiver } from './helpers.ts';

const SECRET = 'cli-webhook-secret-0123456789';
const receivers: Receiver[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function repo(): string {
  const files = configRepoFiles([{ name: 'shop' }]);
  files['stackswap.yaml'] +=
    '    notifications:\n' +
    '      - name: audit\n' +
    '        webhook: { urlEnv: STACKSWAP_NOTIFY_AUDIT_URL, secretEnv: STACKSWAP_NOTIFY_AUDIT_SECRET }\n' +
    '      - name: team-slack\n' +
    '        slack: { urlEnv: STACKSWAP_NOTIFY_SLACK_URL }\n';
  return seedBareRepo(files).bare;
}

async function deploy(env: Record<string, string>, tag: string) {
  const cache = tempDir('notify-cli-cache');
  dirs.push(cache);
  return runCli(
    [
      '--repo',
      repo(),
      '--cache-dir',
      cache,
      '--no-sync',
      '--requested-by',
      'ci-job',
      'deploy',
      '--set',
      `web=${tag}`,
    ],
    { env },
  );
}

describe('CLI notifications', () => {
  it('delivers the signed webhook and reports the Slack 404 on stderr; exit 0', async () => {
    const audit = await startReceiver({ secret: SECRET, enforceSignature: true });
    const slack = await startReceiver({ answers: [{ status: 404, body: 'no_service' }] });
    receivers.push(audit, slack);
    const r = await deploy(
      {
        STACKSWAP_NOTIFY_AUDIT_URL: `${audit.url}/events`,
        STACKSWAP_NOTIFY_AUDIT_SECRET: SECRET,
        STACKSWAP_NOTIFY_SLACK_URL: `${slack.url}/services/T/B/cli-slack-token-abcdef`,
      },
      '2.0.0',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(audit.received.map((x) => x.status)).toEqual([200]);
    const event = StackEvent.parse(audit.received[0]!.json);
    expect(event).toMatchObject({ type: 'deploy.finished', stack: 'shop', actor: 'ci-job' });
    expect(slack.received).toHaveLength(1);
    expect(r.stderr).toContain(
      `notification team-slack (deploy.finished, event ${event.id}) not delivered: HTTP 404: no_service`,
    );
    expect(r.stderr).not.toMatch(/notification audit/);
    expect(r.stderr).not.toContain('cli-slack-token-abcdef');
  });

  it('a receiver that stays down: the CLI waits STACKSWAP_NOTIFY_WAIT_SECONDS, then says it is still pending', async () => {
    const down = await startReceiver({ answers: [{ status: 503, body: 'maintenance' }] });
    receivers.push(down);
    const started = Date.now();
    const r = await deploy(
      {
        STACKSWAP_NOTIFY_AUDIT_URL: `${down.url}/events`,
        STACKSWAP_NOTIFY_AUDIT_SECRET: SECRET,
        STACKSWAP_NOTIFY_SLACK_URL: `${down.url}/services/T/B/x`,
        STACKSWAP_NOTIFY_WAIT_SECONDS: '1',
      },
      '3.0.0',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /notification audit \(deploy\.finished, event \S+\) still pending at exit after \d attempt\(s\): HTTP 503: maintenance/,
    );
    expect(r.stderr).toMatch(/notification team-slack .* still pending at exit/);
    // Bounded: it did not wait for the eight attempts (over a minute of backoff).
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('a stack without notifications sends nothing and says nothing', async () => {
    const cache = tempDir('notify-cli-cache');
    dirs.push(cache);
    const bare = seedBareRepo(configRepoFiles([{ name: 'shop' }])).bare;
    const r = await runCli(['--repo', bare, '--cache-dir', cache, '--no-sync', 'deploy']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/notification/);
  });
});
