/** Shared test wiring: a client against the fake server, and the token-leak assertion. */
import { expect } from 'vitest';
import { ArgoCdClient, type ArgoCdClientOptions } from '../../../src/argocd/client.ts';
import type { ArgoCdConfig } from '../../../src/argocd/config.ts';
import { isStackswapError } from '../../../src/shared/errors.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import type { FakeArgoCd } from './fake-argocd.ts';

export interface TestClient {
  client: ArgoCdClient;
  redactor: Redactor;
  sleeps: number[];
  /** "METHOD /path" of every request the client sent (counted on our side, not the server's). */
  sent: string[];
}

export function clientFor(
  server: FakeArgoCd,
  overrides: Partial<ArgoCdConfig> = {},
  options: Partial<ArgoCdClientOptions> = {},
): TestClient {
  const redactor = new Redactor();
  const config: ArgoCdConfig = {
    baseUrl: server.url,
    auth: { kind: 'token', token: server.token },
    insecure: false,
    ...overrides,
  };
  if (config.auth.kind === 'token') redactor.add(config.auth.token);
  else redactor.add(config.auth.password);
  const sleeps: number[] = [];
  const sent: string[] = [];
  const client = new ArgoCdClient({
    config,
    redactor,
    fetch: (input, init) => {
      sent.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
      return globalThis.fetch(input, init);
    },
    requestTimeoutMs: 2_000,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
    ...options,
  });
  return { client, redactor, sleeps, sent };
}

/** Asserts that no form of `secret` appears in an error (message, describe, JSON, hint, cause chain). */
export function expectNoSecret(value: unknown, secret: string): void {
  const texts: string[] = [];
  let current: unknown = value;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      texts.push(current.message, String(current.stack));
      if (isStackswapError(current))
        texts.push(current.describe(), JSON.stringify(current.toJSON()));
      current = (current as { cause?: unknown }).cause;
    } else {
      texts.push(typeof current === 'string' ? current : JSON.stringify(current));
      break;
    }
  }
  const forms = [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];
  for (const text of texts) for (const form of forms) expect(text).not.toContain(form);
}

export async function caught(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}
