import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/shared/errors.ts';
import { bearerToken } from '../../../src/server/auth/bearer.ts';
import { hasScope, loadTokens, TokenStore } from '../../../src/server/auth/tokens.ts';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

const store = new TokenStore([
  { name: 'ci', sha256: sha('ci-token'), scopes: ['deploy'] },
  { name: 'ops', sha256: sha('ops-token'), scopes: ['swap', 'read'] },
  { name: 'root', sha256: sha('root-token'), scopes: ['admin'] },
  { name: 'viewer', sha256: sha('viewer-token'), scopes: ['read'] },
]);

describe('TokenStore', () => {
  it('finds the identity of a presented token by its SHA-256', () => {
    expect(store.verify('ci-token')).toMatchObject({ name: 'ci', via: 'token' });
    expect([...store.verify('ops-token')!.scopes]).toEqual(['swap', 'read']);
  });

  it('refuses wrong tokens of any length (digests are compared, so nothing throws)', () => {
    for (const wrong of ['', 'x', 'ci-toke', 'ci-tokeN', 'ci-token ', 'c'.repeat(10_000)]) {
      expect(store.verify(wrong)).toBeUndefined();
    }
  });

  it('scopes: admin implies all; any scope may read; deploy and swap are separate', () => {
    const id = (t: string) => store.verify(t)!;
    expect(hasScope(id('root-token'), 'swap')).toBe(true);
    expect(hasScope(id('root-token'), 'admin')).toBe(true);
    expect(hasScope(id('ci-token'), 'read')).toBe(true);
    expect(hasScope(id('ci-token'), 'swap')).toBe(false);
    expect(hasScope(id('ops-token'), 'deploy')).toBe(false);
    expect(hasScope(id('ops-token'), 'admin')).toBe(false);
    expect(hasScope(id('viewer-token'), 'deploy')).toBe(false);
  });
});

describe('loadTokens', () => {
  const entry = { name: 'ci', sha256: sha('a'), scopes: ['deploy'] };

  it('reads a YAML or JSON file, or the JSON variable', () => {
    const yaml = `# tokens\n- name: ci\n  sha256: ${sha('a')}\n  scopes: [deploy]\n`;
    expect(loadTokens({ file: { path: 'tokens.yaml', text: yaml } }).verify('a')?.name).toBe('ci');
    const json = JSON.stringify([entry]);
    expect(loadTokens({ file: { path: 'tokens.json', text: json } }).size).toBe(1);
    expect(loadTokens({ json }).verify('a')?.name).toBe('ci');
    expect(loadTokens({}).size).toBe(0);
    // Digests may be written in upper case.
    const upper = JSON.stringify([{ ...entry, sha256: sha('a').toUpperCase() }]);
    expect(loadTokens({ json: upper }).verify('a')?.name).toBe('ci');
  });

  it('refuses bad entries with where they are, never echoing a value', () => {
    const cases: [string, RegExp][] = [
      [JSON.stringify([{ ...entry, sha256: 'plain-token-here' }]), /64 hex digits/],
      [JSON.stringify([{ ...entry, scopes: ['root'] }]), /scopes/],
      [JSON.stringify([{ ...entry, scopes: [] }]), /at least one scope/],
      [JSON.stringify([{ ...entry, token: 'x' }]), /token|Unrecognized/i],
      [JSON.stringify([entry, { ...entry, name: 'other' }]), /duplicate token digest/],
      [JSON.stringify([entry, { ...entry, sha256: sha('b') }]), /duplicate name/],
      ['not json', /not valid JSON/],
    ];
    for (const [json, message] of cases) {
      let error: unknown;
      try {
        loadTokens({ json });
      } catch (e) {
        error = e;
      }
      expect(error, json).toBeInstanceOf(ValidationError);
      expect((error as Error).message, json).toMatch(message);
      expect((error as Error).message).not.toContain('plain-token-here');
    }
    expect(() => loadTokens({ json: '[]', file: { path: 'f', text: '[]' } })).toThrow(/not both/);
  });
});

describe('bearerToken', () => {
  it('takes one printable token after the Bearer scheme (case-insensitive)', () => {
    expect(bearerToken('Bearer abc.DEF-123_~+/=')).toBe('abc.DEF-123_~+/=');
    expect(bearerToken('bearer abc')).toBe('abc');
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic abc',
      'Bearer a b',
      'Token abc',
    ]) {
      expect(bearerToken(header), String(header)).toBeUndefined();
    }
  });
});
