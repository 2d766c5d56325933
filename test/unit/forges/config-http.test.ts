import { describe, expect, it } from 'vitest';
import { readForgeSettings } from '../../../src/forges/config.ts';
import { ForgeError } from '../../../src/forges/errors.ts';
import { createForge } from '../../../src/forges/factory.ts';
import { GitlabForge } from '../../../src/forges/gitlab.ts';
import { commentMarker, commentPart, oneLine, planCommentSync } from '../../../src/forges/forge.ts';
import { createForgeFetch, parseRetryAfter } from '../../../src/forges/http.ts';
import { ValidationError } from '../../../src/shared/errors.ts';
import { Redactor } from '../../../src/shared/redact.ts';

describe('readForgeSettings', () => {
  it('defaults to gitlab.com and api.github.com; tokens optional', () => {
    expect(readForgeSettings({}, new Redactor())).toEqual({
      gitlab: { url: 'https://gitlab.com', token: undefined },
      github: { apiUrl: 'https://api.github.com', token: undefined },
    });
  });

  it('reads the four variables, trims a trailing slash, and registers both tokens', () => {
    const redactor = new Redactor();
    const s = readForgeSettings(
      {
        STACKSWAP_GITLAB_URL: 'https://gitlab.example.com/',
        STACKSWAP_GITLAB_TOKEN: 'glpat-abcdefgh',
        STACKSWAP_GITHUB_API_URL: 'https://ghe.example.com/api/v3',
        STACKSWAP_GITHUB_TOKEN: 'ghp_ijklmnop',
        UNRELATED: 'x',
      },
      redactor,
    );
    expect(s.gitlab).toEqual({ url: 'https://gitlab.example.com', token: 'glpat-abcdefgh' });
    expect(s.github).toEqual({ apiUrl: 'https://ghe.example.com/api/v3', token: 'ghp_ijklmnop' });
    expect(redactor.redact('a glpat-abcdefgh b ghp_ijklmnop')).toBe('a [REDACTED] b [REDACTED]');
  });

  it('empty strings mean unset', () => {
    expect(
      readForgeSettings({ STACKSWAP_GITLAB_URL: '', STACKSWAP_GITHUB_TOKEN: '' }, new Redactor())
        .gitlab.url,
    ).toBe('https://gitlab.com');
  });

  it.each([
    ['STACKSWAP_GITLAB_URL', 'gitlab.example.com', /must be a URL/],
    ['STACKSWAP_GITLAB_URL', 'http://gitlab.example.com', /must be https/],
    [
      'STACKSWAP_GITHUB_API_URL',
      'https://user:pw@ghe.example.com/api/v3',
      /must not carry credentials/,
    ],
  ])('refuses %s=%s, naming the variable', (key, value, message) => {
    let error: unknown;
    try {
      readForgeSettings({ [key]: value }, new Redactor());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(
      new RegExp(`^environment variable ${key}: `),
    );
    expect((error as ValidationError).message).toMatch(message);
    expect((error as ValidationError).where).toEqual({ key });
  });

  it('plain http only to a loopback fake', () => {
    expect(
      readForgeSettings({ STACKSWAP_GITLAB_URL: 'http://127.0.0.1:8929' }, new Redactor()).gitlab
        .url,
    ).toBe('http://127.0.0.1:8929');
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('seconds, an HTTP date, or nothing', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:07 GMT', now)).toBe(7000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

describe('createForgeFetch: the budget', () => {
  const clock = () => {
    const c = {
      t: 0,
      sleeps: [] as number[],
      now: () => c.t,
      sleep: async (ms: number) => void (c.sleeps.push(ms), (c.t += ms)),
    };
    return c;
  };
  const answer =
    (status: number, headers: Record<string, string> = {}) =>
    async () =>
      new Response('x', { status, headers });

  it('stops when the next wait would pass maxTotalMs, without waiting it', async () => {
    const c = clock();
    let calls = 0;
    const f = createForgeFetch({
      forge: 'gitlab',
      clock: c,
      random: () => 1,
      policy: { maxAttempts: 10, maxTotalMs: 2_000, baseDelayMs: 500 },
      fetch: async () => {
        calls += 1;
        return new Response('busy', { status: 503 });
      },
    });
    const e = await f('https://gitlab.example.com/api/v4/x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ForgeError);
    expect(e).toMatchObject({ kind: 'unavailable', status: 503 });
    expect(c.sleeps).toEqual([500, 1000]); // a third (2000) would end at 3500 > 2000
    expect(calls).toBe(3);
  });

  it('an unsafe POST is not repeated after a 5xx; a 429 POST is', async () => {
    const c = clock();
    const post = createForgeFetch({ forge: 'github', clock: c, fetch: answer(502) });
    const e = await post('https://api.github.com/repos/o/r/issues/1/comments', {
      method: 'POST',
      body: '{}',
    }).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: 'unavailable' });
    expect((e as ForgeError).hint).toMatch(/may have acted/);
    expect(c.sleeps).toEqual([]);

    let n = 0;
    const limited = createForgeFetch({
      forge: 'github',
      clock: c,
      fetch: async () =>
        n++ === 0
          ? new Response('', { status: 429, headers: { 'retry-after': '1' } })
          : new Response('{}', { status: 201 }),
    });
    const r = await limited('https://api.github.com/repos/o/r/issues/1/comments', {
      method: 'POST',
      body: '{}',
    });
    expect(r.status).toBe(201);
    expect(c.sleeps).toEqual([1000]);
  });

  it('a 4xx is handed back untouched, not retried', async () => {
    let n = 0;
    const f = createForgeFetch({
      forge: 'gitlab',
      fetch: async () => (n++, new Response('no', { status: 422 })),
    });
    expect((await f('https://gitlab.example.com/api/v4/x')).status).toBe(422);
    expect(n).toBe(1);
  });

  it('connection refused: retried, then unavailable with the code', async () => {
    const c = clock();
    const f = createForgeFetch({
      forge: 'gitlab',
      clock: c,
      random: () => 1,
      policy: { maxAttempts: 2 },
      fetch: async () => {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
        });
      },
    });
    const e = await f('https://gitlab.example.com/api/v4/x').catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: 'unavailable' });
    expect((e as Error).message).toMatch(/ECONNREFUSED/);
    expect(c.sleeps).toEqual([500]);
  });
});

describe('markers and the sync plan', () => {
  const KEY = 'stackswap:plan:shop';
  it('part 1 is the plain marker; parts are read back from the first line only', () => {
    expect(commentMarker(KEY)).toBe('<!-- stackswap:plan:shop -->');
    expect(commentMarker(KEY, 3)).toBe('<!-- stackswap:plan:shop part 3 -->');
    expect(commentPart(KEY, '<!-- stackswap:plan:shop part 3 -->\nx')).toBe(3);
    expect(commentPart(KEY, 'hello\n<!-- stackswap:plan:shop -->')).toBeUndefined();
    expect(commentPart(KEY, '<!-- stackswap:plan:shopping -->')).toBeUndefined();
    expect(
      commentPart('stackswap:plan:shop', '<!-- stackswap:plan:shop part 0 -->'),
    ).toBeUndefined();
    expect(() => commentMarker('bad key -->')).toThrow(/letters, digits/);
  });

  it('edits the oldest copy of a part, creates missing ones, deletes leftovers', () => {
    const plan = planCommentSync(
      KEY,
      [
        { id: '1', body: `${commentMarker(KEY)}\nold` },
        { id: '2', body: `${commentMarker(KEY)}\nduplicate` },
        { id: '3', body: `${commentMarker(KEY, 3)}\nleftover` },
      ],
      ['new 1', 'new 2'],
    );
    expect(plan.edits).toEqual([{ id: '1', body: `${commentMarker(KEY)}\nnew 1`, part: 1 }]);
    expect(plan.creates).toEqual([{ body: `${commentMarker(KEY, 2)}\nnew 2`, part: 2 }]);
    expect(plan.deletes).toEqual(['3']);
  });

  it('a body the forge stored with CRLF or without the final newline is unchanged', () => {
    const plan = planCommentSync(
      KEY,
      [{ id: '1', body: `${commentMarker(KEY)}\r\nplan` }],
      [`${commentMarker(KEY)}\nplan\n`],
    );
    expect(plan.unchanged).toEqual([{ id: '1', part: 1 }]);
    expect(plan.edits).toEqual([]);
  });

  it('oneLine cuts by code points and flattens newlines', () => {
    expect(oneLine('a\nb', 10)).toBe('a b');
    expect(oneLine('😀😀😀😀', 3)).toBe('😀😀…');
  });
});

describe('createForge', () => {
  it('builds each forge from its settings', () => {
    const s = readForgeSettings(
      { STACKSWAP_GITLAB_TOKEN: 'glpat-aaaa', STACKSWAP_GITHUB_TOKEN: 'ghp_bbbb' },
      new Redactor(),
    );
    expect(createForge('gitlab', s)).toBeInstanceOf(GitlabForge);
    expect(createForge('github', s).limits).toEqual({
      commentChars: 65_536,
      statusDescriptionChars: 140,
    });
  });

  it('no token: a ValidationError naming the variable', () => {
    const s = readForgeSettings({}, new Redactor());
    expect(() => createForge('github', s)).toThrow(/^STACKSWAP_GITHUB_TOKEN is not set/);
    expect(() => createForge('gitlab', s)).toThrow(ValidationError);
  });
});
