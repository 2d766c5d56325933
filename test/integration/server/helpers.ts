/** Shared set-up of the service tests: tokens per scope, services on temp dirs, polling. */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createService, type Service, type ServiceOptions } from '../../../src/server/service.ts';
import { configRepoFiles, seedBareRepo, type StackFixture } from '../../helpers/config-repo.ts';

export const TOKENS = {
  read: 'tok-read-0123456789abcdef',
  deploy: 'tok-deploy-0123456789abcdef',
  swap: 'tok-swap-0123456789abcdef',
  admin: 'tok-admin-0123456789abcdef',
} as const;
export type TokenScope = keyof typeof TOKENS;

export const SLACK_SECRET = 'slack-signing-secret-8f14e45fceea167a';

/** The environment of a service on the sandbox: PATH and HOME, the sandbox's, the test tokens. */
export function sandboxServiceEnv(
  sandboxEnv: Record<string, string>,
  extra: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...sandboxEnv,
    STACKSWAP_TOKENS: tokensJson(),
    ...extra,
  };
}

export function tokensJson(): string {
  return JSON.stringify(
    Object.entries(TOKENS).map(([scope, token]) => ({
      name: `${scope}-bot`,
      sha256: createHash('sha256').update(token).digest('hex'),
      scopes: [scope],
    })),
  );
}

export const bearer = (scope: TokenScope) => ({ authorization: `Bearer ${TOKENS[scope]}` });

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `stackswap-${prefix}-`));
}

/** Log lines captured in memory (for redaction and audit assertions). */
export class LogCapture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
  lines(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

export interface GitOnlyService {
  service: Service;
  app: FastifyInstance;
  bare: string;
  dataDir: string;
  cacheDir: string;
  logs: LogCapture;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/** A service on a fresh git-only config repo (no Argo CD): operations finish in a blink. */
export async function gitOnlyService(
  options: {
    stacks?: StackFixture[];
    env?: NodeJS.ProcessEnv;
    service?: Partial<ServiceOptions>;
    bare?: string;
    dataDir?: string;
  } = {},
): Promise<GitOnlyService> {
  const bare =
    options.bare ?? seedBareRepo(configRepoFiles(options.stacks ?? [{ name: 'shop' }])).bare;
  const dataDir = options.dataDir ?? tempDir('data');
  const cacheDir = tempDir('cache');
  const logs = new LogCapture();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // A local bare repo: sandbox mode (options.env may turn it off).
    STACKSWAP_SANDBOX: '1',
    STACKSWAP_REPO: bare,
    STACKSWAP_CACHE_DIR: cacheDir,
    STACKSWAP_TOKENS: tokensJson(),
    STACKSWAP_SLACK_SIGNING_SECRET: SLACK_SECRET,
    ...options.env,
  };
  const service = await createService({
    env,
    dataDir,
    logDestination: logs,
    ...options.service,
  });
  return {
    service,
    app: service.app,
    bare,
    dataDir,
    cacheDir,
    logs,
    env,
    async close() {
      await service.shutdown({ graceMs: 5_000, settleMs: 1_000 });
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

/** Polls GET /v1/operations/:id until the operation is no longer running. */
export async function waitForOperation(
  app: FastifyInstance,
  id: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  const started = Date.now();
  for (;;) {
    const res = await app.inject({ url: `/v1/operations/${id}`, headers: bearer('read') });
    expect(res.statusCode, res.body).toBe(200);
    const op = res.json() as Record<string, unknown>;
    if (op.state !== 'running') return op;
    if (Date.now() - started > timeoutMs) throw new Error(`operation ${id} still running`);
    // Not faster: these polls count against the token's rate limit (300 a minute), and on a
    // loaded machine an operation takes long enough for fast polling to exhaust it.
    await new Promise((r) => setTimeout(r, 100));
  }
}
