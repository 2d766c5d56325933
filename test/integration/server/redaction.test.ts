/**
 * Secrets through the assembled service: the git token, the Argo CD token, the Slack signing
 * secret and a presented API token are registered by the composition root, so neither the log
 * stream nor any answer carries them, even when an upstream echoes a token back in an error.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, gitOnlyService, SLACK_SECRET, TOKENS, type GitOnlyService } from './helpers.ts';

const GIT_TOKEN = 'glpat-service-git-token-123456';
const ARGO_TOKEN = 'argocd-service-token-abcdef-987654';

let s: GitOnlyService;
let argo: Server;
const bodies: string[] = [];

beforeAll(async () => {
  // An Argo CD that refuses every call and quotes the bearer token back in its error.
  argo = createServer((req, res) => {
    res.writeHead(403, { 'content-type': 'application/json' });
    const message = `permission denied for ${req.headers.authorization ?? ''}`;
    res.end(JSON.stringify({ error: message, code: 7, message }));
  });
  await new Promise<void>((resolve) => argo.listen(0, '127.0.0.1', resolve));
  s = await gitOnlyService({
    env: {
      STACKSWAP_GIT_TOKEN: GIT_TOKEN,
      ARGOCD_SERVER: `127.0.0.1:${(argo.address() as AddressInfo).port}`,
      ARGOCD_PLAINTEXT: 'true',
      ARGOCD_AUTH_TOKEN: ARGO_TOKEN,
    },
  });
});
afterAll(async () => {
  await s?.close();
  await new Promise((resolve) => argo?.close(resolve));
});

const secrets = () => [GIT_TOKEN, ARGO_TOKEN, SLACK_SECRET, ...Object.values(TOKENS)];

describe('secrets through the service', () => {
  it('answers and logs of requests that touch every secret carry none of them', async () => {
    const requests = [
      s.app.inject({ url: `/v1/stacks/shop?token=${TOKENS.read}`, headers: bearer('read') }),
      s.app.inject({ url: '/readyz' }),
      s.app.inject({ url: `/v1/nowhere/${TOKENS.admin}`, headers: bearer('admin') }),
      s.app.inject({
        url: '/v1/stacks',
        headers: { authorization: `Bearer ${TOKENS.deploy}x` },
      }),
      s.app.inject({
        method: 'POST',
        url: '/v1/stacks/shop/swap',
        headers: bearer('swap'),
        payload: { dryRun: true },
      }),
    ];
    for (const res of await Promise.all(requests)) bodies.push(res.body);
    const status = JSON.parse(bodies[0]!);
    // The Argo CD error reached the status, scrubbed.
    expect(status.apps[0].error).toMatch(/not permitted/);
    // Argo CD quoted the token back; the readiness reason carries it scrubbed.
    expect(JSON.parse(bodies[1]!).checks.argocd).toMatchObject({
      ok: false,
      reason: expect.stringContaining('permission denied for Bearer [REDACTED]'),
    });

    for (const secret of [GIT_TOKEN, ARGO_TOKEN, SLACK_SECRET]) {
      s.service.logger.error(new Error(`upstream said ${secret}`), `while using ${secret}`);
      s.service.logger.warn({
        nested: { url: `https://u:${secret}@example.com/?token=${secret}` },
      });
    }
    for (const secret of secrets()) {
      for (const body of bodies) expect(body).not.toContain(secret);
      expect(s.logs.text).not.toContain(secret);
    }
    expect(s.logs.text).toContain('[REDACTED]');
  });
});
