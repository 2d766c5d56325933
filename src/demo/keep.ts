/**
 * What `npm start -- --keep` prints: where the running sandbox is, how to use the CLI on it, and
 * the dashboard (`stackswap serve` on the sandbox, started here) with a sign-in link that
 * carries a fresh admin token in its fragment (a fragment never reaches the server or its logs;
 * the sign-in page's script fills the field from it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { createService, type Service } from '../server/service.ts';
import { HOST } from './scenario.ts';

export interface KeptDashboard {
  /** http://localhost:<port>/ui/sign-in#token=<token> */
  signInUrl: string;
  url: string;
  token: string;
  logFile: string;
  close(): Promise<void>;
}

/** `stackswap serve` on the sandbox, on a free port of localhost, with one admin token. */
export async function startDashboard(sandbox: Sandbox): Promise<KeptDashboard> {
  const token = `sandbox-${randomBytes(24).toString('base64url')}`;
  const logFile = path.join(sandbox.dir, 'serve.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  let service: Service;
  try {
    service = await createService({
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...sandbox.env,
        STACKSWAP_TOKENS: JSON.stringify([
          {
            name: 'sandbox-admin',
            sha256: createHash('sha256').update(token).digest('hex'),
            scopes: ['admin'],
          },
        ]),
      },
      dataDir: path.join(sandbox.dir, 'serve'),
      logDestination: log,
    });
  } catch (error) {
    log.end();
    throw error;
  }
  // Listening on the loopback address only; printed as localhost, which browsers treat as a
  // secure context (the session cookie is Secure).
  const address = await service.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `${address.replace('127.0.0.1', 'localhost')}/ui`;
  return {
    url,
    signInUrl: `${url}/sign-in#token=${token}`,
    token,
    logFile,
    async close() {
      await service.shutdown({ graceMs: 5_000, settleMs: 1_000 });
      log.end();
    },
  };
}

export function keepInstructions(sandbox: Sandbox, dashboard?: KeptDashboard): string {
  const gateway = sandbox.traffic?.url.href ?? '(no gateway)';
  const exports = Object.entries(sandbox.env)
    .map(([name, value]) => `export ${name}=${shellQuote(value)}`)
    .join('\n');
  return [
    '',
    'the sandbox keeps running (Ctrl-C stops it and deletes its folder):',
    `  gateway           ${gateway}`,
    `  Argo CD stand-in  ${sandbox.argocd.url}`,
    `  config repo       ${sandbox.repoPath}`,
    ...(dashboard
      ? [
          `  dashboard         ${dashboard.signInUrl}`,
          `                    (the link fills in an admin token, press Sign in; the token: ${dashboard.token})`,
          `  service log       ${dashboard.logFile}`,
        ]
      : []),
    '',
    `  curl -H 'Host: ${HOST}' ${gateway}`,
    `  curl -H 'Host: ${HOST}' -H 'x-stackswap-preview: true' ${gateway}`,
    '',
    'in another shell:',
    '',
    exports,
    'node bin/stackswap.js status          # or: npx stackswap status',
    'node bin/stackswap.js deploy --set my-frontend=1.4.0 --set my-backend=1.4.0',
    'node bin/stackswap.js swap',
    '',
  ].join('\n');
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
