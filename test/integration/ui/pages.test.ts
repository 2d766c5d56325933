/**
 * The dashboard's building blocks without a browser: escaping, sessions (expiry by an injected
 * clock, the bound), the verification chart, and what the pages make of hostile data.
 */
import { describe, expect, it } from 'vitest';
import { escapeHtml, href, html } from '../../../src/server/ui/html.ts';
import { chart, stackPage, type StackPageData } from '../../../src/server/ui/pages.ts';
import { actionBody, cookieValue, verdictsOf } from '../../../src/server/ui/routes.ts';
import { csrfMatches, SessionStore } from '../../../src/server/ui/sessions.ts';
import type { Identity } from '../../../src/server/auth/tokens.ts';
import type { OperationView, StackStatus } from '../../../src/server/schemas.ts';

const admin: Identity = { name: 'admin-bot', scopes: new Set(['admin']), via: 'token' };
const reader: Identity = { name: 'read-bot', scopes: new Set(['read']), via: 'token' };

describe('html', () => {
  it('escapes every interpolated value, but not nested templates', () => {
    const evil = `<script>alert("x")</script>&'`;
    expect(html`<p title="${evil}">${evil}</p>`.text).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>',
    );
    expect(
      html`<ul>
        ${['a', 'b'].map((x) => html`<li>${x}</li>`)}
      </ul>`.text.replace(/\s+/g, ''),
    ).toBe('<ul><li>a</li><li>b</li></ul>');
    expect(html`${undefined}${null}${false}${0}`.text).toBe('0');
    expect(escapeHtml('a&b')).toBe('a&amp;b');
  });

  it('href allows http(s) and absolute paths only', () => {
    expect(href('javascript:alert(1)')).toBe('#');
    expect(href('//evil.example/x')).toBe('#');
    expect(href('data:text/html,x')).toBe('#');
    expect(href('/ui/stacks')).toBe('/ui/stacks');
    expect(href('https://github.com/o/r/commit/abc')).toBe('https://github.com/o/r/commit/abc');
  });
});

describe('sessions', () => {
  it('expire after the idle time, and after the absolute time even when used', () => {
    let now = 0;
    const store = new SessionStore({ now: () => now, idleMs: 1_000, absoluteMs: 5_000 });
    const { id } = store.create(admin, 'tok');
    now = 900;
    expect(store.get(id)?.identity.name).toBe('admin-bot');
    now = 1_800; // 900 ms after the last use: still alive
    expect(store.get(id)).toBeDefined();
    now = 2_801; // 1001 ms idle
    expect(store.get(id)).toBeUndefined();

    const second = store.create(admin, 'tok').id;
    for (now = 3_000; now < 8_000; now += 500) expect(store.get(second)).toBeDefined();
    now = 8_001; // used every 500 ms, but 5001 ms since sign-in
    expect(store.get(second)).toBeUndefined();
  });

  it('are bounded: the oldest goes first; unknown and oversized ids are nobody', () => {
    const store = new SessionStore({ now: () => 0, maxSessions: 2 });
    const a = store.create(admin, 't').id;
    const b = store.create(reader, 't').id;
    const c = store.create(reader, 't').id;
    expect(store.size).toBe(2);
    expect(store.get(a)).toBeUndefined();
    expect(store.get(b)).toBeDefined();
    expect(store.get(c)).toBeDefined();
    expect(store.get('x'.repeat(43))).toBeUndefined();
    expect(store.get('x'.repeat(5000))).toBeUndefined();
    expect(store.get(undefined)).toBeUndefined();
  });

  it('each has its own CSRF token, compared in constant time', () => {
    const store = new SessionStore({ now: () => 0 });
    const one = store.create(admin, 't').session;
    const two = store.create(admin, 't').session;
    expect(one.csrf).not.toBe(two.csrf);
    expect(csrfMatches(one, one.csrf)).toBe(true);
    expect(csrfMatches(one, two.csrf)).toBe(false);
    expect(csrfMatches(one, '')).toBe(false);
    expect(csrfMatches(one, undefined)).toBe(false);
    expect(csrfMatches(one, one.csrf.slice(1))).toBe(false);
  });

  it('the cookie is read by exact name', () => {
    expect(cookieValue('a=1; __Host-x=2; b=3', '__Host-x')).toBe('2');
    expect(cookieValue('x__Host-x=2', '__Host-x')).toBeUndefined();
    expect(cookieValue(undefined, '__Host-x')).toBeUndefined();
  });
});

describe('action forms', () => {
  it('become API bodies; bad steps are refused before the API is called', () => {
    expect(actionBody('swap', { steps: '10, 50,100', reason: ' why ' })).toEqual({
      body: { steps: [10, 50, 100], reason: 'why' },
      fields: { steps: '10,50,100', reason: 'why' },
    });
    expect(actionBody('swap', { steps: 'ten' })).toEqual({
      error: 'steps: "ten" is not a list of whole percentages like 10,50,100',
    });
    expect(actionBody('scale-down', { force: 'true' })).toMatchObject({ body: { force: true } });
    expect(actionBody('deploy', { steps: '10', force: 'true', csrf: 'x' })).toEqual({
      body: {},
      fields: {},
    });
  });
});

const colour = (role: 'live' | 'preview', c: string) => ({
  role,
  namespace: `shop-${c}`,
  app: `shop-${c}`,
  valuesFile: `apps/shop/values-${c}.yaml`,
  replicas: 2,
  versions: { web: '1.0.0' },
});

const status: StackStatus = {
  stack: 'shop',
  headSha: 'a'.repeat(40),
  live: 'blue',
  preview: 'green',
  colours: { blue: colour('live', 'blue'), green: colour('preview', 'green') },
  traffic: { blue: 90, green: 10 },
  apps: [{ app: 'shop-blue', syncStatus: 'Synced', health: 'Healthy', revision: 'b'.repeat(40) }],
  lastPromotions: [
    {
      sha: 'c'.repeat(40),
      date: '2026-01-01T00:00:00Z',
      operation: 'revert',
      stack: 'shop',
      subject: 'revert <img src=x onerror=alert(1)>',
      requestedBy: 'stackswap',
      verification: { result: 'failed', reason: 'error-rate 0.31 > 0.05' },
    },
  ],
  observedAt: '2026-01-01T00:00:10Z',
};

const swap = {
  id: '11111111-2222-3333-4444-555555555555',
  stack: 'shop',
  kind: 'swap',
  state: 'failed',
  requestedBy: 'admin-bot',
  createdAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:00:09Z',
  request: { method: 'POST', path: '/v1/stacks/shop/swap', body: {} },
  steps: [],
  error: {
    code: 'verification-failed',
    message: 'stopped',
    details: {
      verification: [
        {
          phase: 'step 10%',
          result: 'failed',
          metric: 'error-rate',
          value: 0.31,
          condition: 'result < 0.05',
          metrics: [
            {
              name: 'error-rate',
              phase: 'failed',
              query: 'sum(rate(x[1m]))',
              measurements: [
                { phase: 'successful', value: 0.01, detail: 'ok' },
                { phase: 'successful', value: 0.02, detail: 'ok' },
                { phase: 'failed', value: 0.31, detail: 'result < 0.05 is false' },
              ],
            },
          ],
        },
      ],
    },
  },
  links: { self: '/v1/operations/x', events: '/v1/operations/x/events' },
} as unknown as OperationView;

function data(): StackPageData {
  return { status, plan: {}, lastSwap: swap, verification: verdictsOf(swap), operations: [swap] };
}

describe('pages', () => {
  it('a diff keeps one line per line in its <pre>', () => {
    const page = stackPage(
      { identity: admin, csrf: 'c', now: 0 },
      {
        ...data(),
        plan: {
          result: {
            dryRun: true,
            stack: 'shop',
            kind: 'deploy',
            baseSha: 'a'.repeat(40),
            wouldCommit: true,
            files: [
              { file: 'v.yaml', created: false, diff: '@@ -1 +1 @@\n-web: 1.0.0\n+web: <2.0.0>\n' },
            ],
          },
        },
      },
    );
    expect(page).toContain(
      '<pre class="diff"><span class="ctx">@@ -1 +1 @@</span>\n<span class="del">-web: 1.0.0</span>\n<span class="add">+web: &lt;2.0.0&gt;</span></pre>',
    );
  });

  it('the chart draws one point per value, coloured by phase', () => {
    const svg = chart([
      { value: 1, phase: 'successful' },
      { phase: 'error' },
      { value: 3, phase: 'failed' },
    ]).text;
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg).toContain('points="4,36 156,4"');
    expect(svg).toContain('class="failed"');
    expect(chart([]).text).toContain('no values');
  });

  it('the stack page shows the last swap’s measurements with conditions and chart, marks the automatic revert, and escapes data', () => {
    const page = stackPage(
      { identity: admin, csrf: 'csrf-1', now: Date.parse('2026-01-01T00:01:00Z') },
      data(),
    );
    expect(page).toContain('error-rate');
    expect(page).toContain('result &lt; 0.05');
    expect(page).toMatch(/<svg\s+class="chart"/);
    expect(page).toContain('revert (automatic)');
    expect(page).toContain('why: error-rate 0.31 &gt; 0.05');
    expect(page).not.toContain('<img src=x');
    expect(page).toContain('revert &lt;img src=x onerror=alert(1)&gt;');
    // Nothing inline for the CSP to refuse.
    expect(page).not.toMatch(/<script(?! type="module" src="\/ui\/assets\/app\.js">)/);
    expect(page).not.toMatch(/<[^>]*\s(style|on[a-z]+)=/);
    expect(page.match(/name="csrf" value="csrf-1"/g)!.length).toBeGreaterThanOrEqual(5);
  });

  it('a read-only caller gets no action form, only disabled buttons naming the scope', () => {
    const page = stackPage({ identity: reader, csrf: 'c', now: 0 }, data());
    expect(page).not.toContain('/actions/');
    expect(page.match(/<button type="button" disabled/g)).toHaveLength(4);
    expect(page).toContain('needs the <code>admin</code> scope');
  });
});
