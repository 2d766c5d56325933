/**
 * Every secret the service knows, logged through every path a line can take, never reaches the
 * log stream. Secrets are registered the way the service registers them: the git token by the
 * environment reader, the Argo CD token by the Argo CD config, the Slack signing secret by the
 * service's environment, an API token when it is presented and verified.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { readEnvironment } from '../../../src/config/environment.ts';
import { ArgoAccess } from '../../../src/server/argo.ts';
import { BearerAuth } from '../../../src/server/auth/bearer.ts';
import { TokenStore } from '../../../src/server/auth/tokens.ts';
import { readServeEnvironment } from '../../../src/server/config.ts';
import { createServiceLogger, ServiceRedactor } from '../../../src/server/logging.ts';

const SECRETS = {
  git: 'glpat-GitTokenValue1234567890',
  argocd: 'eyJhbGciOiJIUzI1NiJ9.argocd-token-payload.sig',
  slack: 'slack-signing-secret-abcdef012345',
  api: 'api-token-presented-by-caller-0987',
};

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

function setup() {
  const redactor = new ServiceRedactor();
  const env = {
    STACKSWAP_GIT_TOKEN: SECRETS.git,
    ARGOCD_SERVER: 'argocd.example.com',
    ARGOCD_AUTH_TOKEN: SECRETS.argocd,
    STACKSWAP_SLACK_SIGNING_SECRET: SECRETS.slack,
  };
  readEnvironment(env, redactor);
  ArgoAccess.fromEnv(env, redactor);
  readServeEnvironment(env, redactor);
  const tokens = new TokenStore([
    {
      name: 'ci',
      sha256: createHash('sha256').update(SECRETS.api).digest('hex'),
      scopes: ['read'],
    },
  ]);
  const request = { headers: { authorization: `Bearer ${SECRETS.api}` } } as FastifyRequest;
  expect(new BearerAuth(tokens, redactor).identify(request)?.name).toBe('ci');
  const out = new Capture();
  const logger = createServiceLogger({ redactor, destination: out, level: 'trace' });
  return { logger, out };
}

describe('log redaction', () => {
  for (const [name, secret] of Object.entries(SECRETS)) {
    it(`the ${name} secret never reaches the log, whatever the path`, () => {
      const { logger, out } = setup();
      const encoded = encodeURIComponent(secret);
      const basic = Buffer.from(`oauth2:${secret}`).toString('base64');
      logger.info(`message with ${secret} inside`);
      logger.error(new Error(`error message carrying ${secret}`));
      const withStack = new Error('boom');
      withStack.stack = `Error: boom ${secret}\n    at handler (/app/${secret}.ts:1:1)`;
      logger.error({ err: withStack }, 'failed');
      logger.warn({ nested: { deeper: { value: `x${secret}y`, list: [secret] } } }, 'nested');
      logger.info({ token: secret, headers: { authorization: `Bearer ${secret}` } }, 'by key');
      logger.info({ url: `https://user:${secret}@git.example.com/repo.git` }, 'userinfo');
      logger.info({ url: `https://x.example.com/cb?token=${secret}&a=1` }, 'query');
      logger.info(`https://x.example.com/cb?state=${encoded}`);
      logger.info(`Authorization: Basic ${basic}`);
      logger.child({ requestId: secret }).info('child bindings');
      const lines = out.text.trim().split('\n');
      expect(lines).toHaveLength(10);
      expect(out.text).not.toContain(secret);
      expect(out.text).not.toContain(encoded);
      expect(out.text).not.toContain(basic);
      expect(out.text).toContain('[REDACTED]');
      // Lines stay valid JSON after scrubbing.
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    });
  }

  it('a token that was never verified is scrubbed from Authorization-like text too', () => {
    const { logger, out } = setup();
    logger.info('header was Bearer wrong-token-guessed-by-attacker');
    expect(out.text).not.toContain('wrong-token-guessed-by-attacker');
  });
});
