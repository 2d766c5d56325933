import { describe, expect, it } from 'vitest';
import { argoCdConfigFromEnv } from '../../../src/argocd/config.ts';
import { ValidationError } from '../../../src/shared/errors.ts';
import { Redactor } from '../../../src/shared/redact.ts';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaSJ9.tok-signature';

function load(env: NodeJS.ProcessEnv) {
  const redactor = new Redactor();
  return { config: argoCdConfigFromEnv(env, redactor), redactor };
}

function failure(env: NodeJS.ProcessEnv): ValidationError {
  try {
    load(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('argoCdConfigFromEnv', () => {
  it('is undefined without ARGOCD_SERVER (git-only mode), even with a token set', () => {
    expect(load({ ARGOCD_AUTH_TOKEN: TOKEN }).config).toBeUndefined();
    expect(load({ ARGOCD_SERVER: '  ' }).config).toBeUndefined();
    expect(
      load({ ARGOCD_INSECURE: 'maybe', ARGOCD_AUTH_TOKEN: 'has space' }).config,
    ).toBeUndefined();
  });

  it('reads host[:port] as https, like the argocd CLI', () => {
    expect(load({ ARGOCD_SERVER: 'argocd.example.com', ARGOCD_AUTH_TOKEN: TOKEN }).config).toEqual({
      baseUrl: 'https://argocd.example.com',
      auth: { kind: 'token', token: TOKEN },
      insecure: false,
    });
    expect(
      load({ ARGOCD_SERVER: 'argocd.example.com:8443', ARGOCD_AUTH_TOKEN: TOKEN }).config?.baseUrl,
    ).toBe('https://argocd.example.com:8443');
  });

  it('uses http with ARGOCD_PLAINTEXT, and honours explicit URLs with a root path', () => {
    const env = {
      ARGOCD_SERVER: 'localhost:8080',
      ARGOCD_AUTH_TOKEN: TOKEN,
      ARGOCD_PLAINTEXT: 'true',
    };
    expect(load(env).config?.baseUrl).toBe('http://localhost:8080');
    expect(
      load({ ARGOCD_SERVER: 'https://ops.example/argo-cd/', ARGOCD_AUTH_TOKEN: TOKEN }).config
        ?.baseUrl,
    ).toBe('https://ops.example/argo-cd');
  });

  it('reads the flags, app namespace and project', () => {
    const { config } = load({
      ARGOCD_SERVER: 'a.example',
      ARGOCD_AUTH_TOKEN: TOKEN,
      ARGOCD_INSECURE: 'yes',
      ARGOCD_APP_NAMESPACE: 'team-apps',
      ARGOCD_PROJECT: 'shop',
    });
    expect(config).toMatchObject({ insecure: true, appNamespace: 'team-apps', project: 'shop' });
  });

  it('trims a token read from a file and registers it with the redactor', () => {
    const { config, redactor } = load({
      ARGOCD_SERVER: 'a.example',
      ARGOCD_AUTH_TOKEN: `${TOKEN}\n`,
    });
    expect(config?.auth).toEqual({ kind: 'token', token: TOKEN });
    expect(redactor.redact(`Bearer ${TOKEN}`)).toBe('Bearer [REDACTED]');
  });

  it('uses username/password when there is no token, and registers the password', () => {
    const { config, redactor } = load({
      ARGOCD_SERVER: 'a.example',
      ARGOCD_USERNAME: 'ci',
      ARGOCD_PASSWORD: 'hunter2-pw',
    });
    expect(config?.auth).toEqual({ kind: 'session', username: 'ci', password: 'hunter2-pw' });
    expect(redactor.redact('pw=hunter2-pw')).toBe('pw=[REDACTED]');
  });

  it('refuses a server without credentials, naming what to set', () => {
    const e = failure({ ARGOCD_SERVER: 'a.example' });
    expect(e.message).toMatch(/ARGOCD_AUTH_TOKEN/);
    expect(e.where?.key).toBe('ARGOCD_AUTH_TOKEN');
    expect(failure({ ARGOCD_SERVER: 'a.example', ARGOCD_USERNAME: 'ci' }).where?.key).toBe(
      'ARGOCD_PASSWORD',
    );
  });

  it.each([
    ['ftp://a.example', /scheme ftp/],
    ['https://user:pw@a.example', /credentials/],
    ['https://a.example/?x=1', /query/],
    ['http://', /host\[:port\]|no host/],
    ['a b', /not a host/],
  ])('refuses ARGOCD_SERVER=%s', (server, why) => {
    const e = failure({ ARGOCD_SERVER: server, ARGOCD_AUTH_TOKEN: TOKEN });
    expect(e.message).toMatch(why);
    expect(e.where?.key).toBe('ARGOCD_SERVER');
  });

  it('refuses an https URL together with ARGOCD_PLAINTEXT, and a bad flag value', () => {
    expect(
      failure({
        ARGOCD_SERVER: 'https://a.example',
        ARGOCD_AUTH_TOKEN: TOKEN,
        ARGOCD_PLAINTEXT: '1',
      }).message,
    ).toMatch(/PLAINTEXT/);
    expect(
      failure({ ARGOCD_SERVER: 'a.example', ARGOCD_AUTH_TOKEN: TOKEN, ARGOCD_INSECURE: 'maybe' })
        .where?.key,
    ).toBe('ARGOCD_INSECURE');
  });

  it('refuses a token with inner whitespace without echoing it', () => {
    const bad = 'eyJhbGci OiJIUzI1NiJ9.secretpart';
    const e = failure({ ARGOCD_SERVER: 'a.example', ARGOCD_AUTH_TOKEN: bad });
    expect(e.where?.key).toBe('ARGOCD_AUTH_TOKEN');
    expect(JSON.stringify(e.toJSON()) + e.message).not.toContain('secretpart');
  });
});
