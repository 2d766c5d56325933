/**
 * The dashboard in a real browser: Debian's Chromium (provided by the test set-up, see
 * test/helpers/system-packages.ts) driven by playwright-core, against `stackswap serve` on the
 * sandbox (real git, real helm, the Argo CD stand-in) over a real socket.
 *
 * The sandbox keeps the example's verification gates, made short for this run (one flip, a 3 s
 * post-swap window measured every second), with a real Prometheus scraping the pods and steady
 * traffic through the gateway: the swap started from the page is a real verified swap, and the
 * stack page draws its measurements and their chart.
 *
 * Walks sign-in, the overview, a stack, a deploy started from the page with its progress
 * arriving live, a verified swap with its confirmation and its verification on the stack page,
 * the service's own 412, a read-only user who cannot act, forged actions (no CSRF token; a
 * cross-site form), and the session ending. Writes the README's screenshots
 * (docs/dashboard-*.png; `npm run screenshots` regenerates them) and prints the pages' load
 * times as measured by the browser (the median of several loads).
 */
import { rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { YAMLMap, YAMLSeq } from 'yaml';
import { PROJECT_ROOT, startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { exampleSourceWith } from '../../../src/sandbox/example-source.ts';
import { startLoad, type LoadRun } from '../../../src/sandbox/traffic/load.ts';
import type { OperationView } from '../../../src/server/schemas.ts';
import { createService, type Service } from '../../../src/server/service.ts';
import { SESSION_COOKIE } from '../../../src/server/ui/routes.ts';
import { runCli } from '../../helpers/cli.ts';
import { commitCount } from '../../helpers/config-repo.ts';
import { CHROMIUM, PROMETHEUS, requireBinary } from '../../helpers/system-packages.ts';
import { bearer, LogCapture, tempDir, TOKENS, sandboxServiceEnv } from '../server/helpers.ts';

const DOCS = fileURLToPath(new URL('../../../docs/', import.meta.url));
const STACK = 'my-app';
const P99_CONDITION = 'result < 5';

let sandbox: Sandbox;
let service: Service;
let base: string;
let browser: Browser;
let admin: BrowserContext;
let page: Page;
let attacker: http.Server | undefined;
let loads: LoadRun[] = [];

/**
 * The example config with its verification gates kept, made short for this run: one flip (no
 * weighted steps), each metric measured every second, a 3 s post-swap window (three
 * measurements per metric). The checks and the error-rate condition stay as the example has
 * them; the p99 bound is 5 s instead of 0.5 s, so a busy shared machine cannot fail the swap.
 */
async function shortGatesSource(): Promise<string> {
  const copy = await exampleSourceWith(PROJECT_ROOT, (doc) => {
    const v = ['stacks', STACK, 'verification'];
    doc.setIn([...v, 'steps', 'weights'], doc.createNode([]));
    doc.setIn([...v, 'postSwap', 'window'], '3s');
    const analysis = doc.getIn([...v, 'analysis']) as YAMLSeq;
    expect(analysis.items.length).toBeGreaterThan(0);
    analysis.items.forEach((_, i) => doc.setIn([...v, 'analysis', i, 'interval'], '1s'));
    const p99 = analysis.items.findIndex((m) => (m as YAMLMap).get('name') === 'p99-latency');
    expect(p99).toBeGreaterThanOrEqual(0);
    doc.setIn([...v, 'analysis', p99, 'successCondition'], P99_CONDITION);
  });
  return copy.dir;
}

/** --no-sandbox only as root (Chromium refuses to start its sandbox as root). */
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

beforeAll(async () => {
  const executablePath = requireBinary(CHROMIUM);
  requireBinary(PROMETHEUS);
  const sourceDir = await shortGatesSource();
  sandbox = await startSandbox({
    sourceDir,
    verification: true,
    traffic: true,
    prometheus: true,
    argocd: { progressingMs: 150, pollIntervalMs: 0 },
  });
  await rm(sourceDir, { recursive: true, force: true });
  for (const app of ['my-app-blue', 'my-app-green', 'ingress']) {
    const r = await runCli(['app', 'sync', app], { env: sandbox.env });
    expect(r.code, r.stderr).toBe(0);
  }
  service = await createService({
    env: sandboxServiceEnv(sandbox.env),
    dataDir: tempDir('ui-data'),
    logDestination: new LogCapture(),
  });
  const address = await service.app.listen({ port: 0, host: '127.0.0.1' });
  // localhost, not 127.0.0.1: the page and the attacker's page (on 127.0.0.1) are two sites.
  base = address.replace('127.0.0.1', 'localhost');
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: asRoot ? ['--no-sandbox'] : [],
  });
  admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await admin.newPage();
}, 180_000);

afterAll(async () => {
  await Promise.all(loads.map((l) => l.stop()));
  attacker?.close();
  await browser?.close();
  await service?.shutdown({ graceMs: 5_000, settleMs: 1_000 });
  await sandbox?.close();
});

async function signIn(p: Page, token: string) {
  await p.goto(`${base}/ui`);
  expect(new URL(p.url()).pathname).toBe('/ui/sign-in');
  await p.fill('input[name="token"]', token);
  await Promise.all([p.waitForURL(`${base}/ui/stacks`), p.click('#sign-in button')]);
}

const liveColour = async () =>
  (
    (await (await fetch(`${base}/v1/stacks/${STACK}`, { headers: bearer('read') })).json()) as {
      live: string;
    }
  ).live;

describe('the dashboard in Chromium', () => {
  it('sign-in: a wrong token is refused; the right one becomes an HttpOnly, Secure, SameSite=Strict session cookie, never script-visible', async () => {
    await page.goto(`${base}/ui/sign-in`);
    await page.fill('input[name="token"]', 'not-a-token-at-all');
    await page.click('#sign-in button');
    await expect.poll(() => page.textContent('[role="alert"]')).toContain('not valid');

    await signIn(page, TOKENS.admin);
    const cookies = await admin.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({
      name: SESSION_COOKIE,
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
      path: '/',
      expires: -1,
    });
    expect(cookies[0]!.value).not.toContain(TOKENS.admin);
    // Browser-side code as strings: this project's TypeScript has no DOM library.
    const visible = await page.evaluate(`({
      cookie: document.cookie,
      local: Object.keys(localStorage).length,
      session: Object.keys(sessionStorage).length,
      enhanced: document.documentElement.dataset.enhanced,
    })`);
    expect(visible).toEqual({ cookie: '', local: 0, session: 0, enhanced: 'true' });
    expect(await page.content()).not.toContain(TOKENS.admin);
  });

  it('overview: the live colour, versions per colour, the traffic bar, apps, the last promotion', async () => {
    const card = page.getByTestId(`stack-${STACK}`);
    await expect.poll(() => card.textContent()).toContain('live blue');
    const text = (await card.textContent())!;
    expect(text).toContain('my-frontend');
    expect(text).toContain('my-app-blue');
    expect(text).toMatch(/Synced\s+Healthy/);
    expect(await card.getByTestId('traffic').textContent()).toMatch(/blue 100%.*green 0%/);
  });

  it('stack page: blue and green side by side, the plan against the preview, history, actions', async () => {
    await Promise.all([
      page.waitForURL(`${base}/ui/stacks/${STACK}`),
      page.click(`a[href="/ui/stacks/${STACK}"]`),
    ]);
    const blue = page.getByTestId('colour-blue');
    const green = page.getByTestId('colour-green');
    expect(await blue.textContent()).toContain('live blue');
    expect(await green.textContent()).toContain('preview green');
    // Side by side on a laptop.
    const [b, g] = [await blue.boundingBox(), await green.boundingBox()];
    expect(Math.abs(b!.y - g!.y)).toBeLessThan(2);
    expect(g!.x).toBeGreaterThan(b!.x + b!.width - 1);
    // The release plan differs from what the preview runs: the dry run's diff is shown.
    expect(await page.getByTestId('plan').textContent()).toContain('would change the preview');
    for (const kind of ['deploy', 'swap', 'revert', 'scale-down']) {
      expect(await page.isEnabled(`button[data-action="${kind}"]`)).toBe(true);
    }
  });

  it('deploy from the page: dry-run diff, confirmation, then the progress arrives live over SSE', async () => {
    await page.click('button[data-action="deploy"]');
    await page.waitForURL(`${base}/ui/stacks/${STACK}/actions/deploy/review`);
    const review = page.getByTestId('review');
    expect(await review.textContent()).toContain('Confirm deploy');
    expect(await review.locator('pre.diff').count()).toBeGreaterThan(0);
    const before = commitCount(sandbox.repoPath);

    // The stand-in holds every sync operation Running until released: the deploy is still
    // running when its page loads and while the test looks at it, whatever the machine's speed.
    sandbox.argocd.setFaults({ stallOperations: true });
    const [response] = await Promise.all([
      page.waitForResponse((r) => /\/ui\/operations\/[0-9a-f-]{36}$/.test(r.url())),
      page.click('button[data-confirm="deploy"]'),
    ]);
    // The page as the server rendered it: the operation was still running.
    expect(await response.text()).toContain('data-state="running"');
    await page.evaluate('window.sameDocument = true');
    // While it runs: the overview names it, and a swap is refused with the service's own 409.
    const busy = (await page.evaluate(`(async () => {
      const csrf = document.querySelector('input[name="csrf"]').value;
      const overview = await (await fetch('/ui/stacks')).text();
      const res = await fetch('/ui/stacks/${STACK}/actions/swap', {
        method: 'POST',
        body: new URLSearchParams({ csrf }),
      });
      return { overview, status: res.status, text: await res.text() };
    })()`)) as { overview: string; status: number; text: string };
    expect(busy.overview).toContain('running:');
    expect(busy.status).toBe(409);
    expect(busy.text).toContain('The service answered 409');
    expect(busy.text).toContain('&quot;code&quot;: &quot;stack-busy&quot;');
    // The commit step's line arrives from the stream while the sync is held.
    await page.locator('#steps li[data-live][data-step="commit"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('result').count()).toBe(0);
    expect(await page.getByTestId('state').textContent()).toBe('running');
    sandbox.argocd.setFaults({ stallOperations: false });
    const result = page.getByTestId('result');
    await result.waitFor({ timeout: 60_000 });
    expect(await result.textContent()).toContain('succeeded');
    // The step lines were written by the script from the stream, in this same document.
    const state = (await page.evaluate(`({
      sameDocument: window.sameDocument,
      live: document.getElementById('progress').dataset.live,
      steps: [...document.querySelectorAll('#steps li[data-live]')].map((li) => li.textContent),
    })`)) as { sameDocument?: boolean; live: string; steps: string[] };
    expect(state.sameDocument).toBe(true);
    expect(state.live).toBe('done');
    expect(state.steps.length).toBeGreaterThanOrEqual(2);
    for (const line of state.steps) expect(line).toMatch(/✓ .+ \d+\.\d s/);
    expect(await page.getByTestId('state').textContent()).toBe('succeeded');
    // The lifecycle event sent to hooks and notifications arrived in the stream too.
    expect(await page.locator('#events li[data-event="deploy.finished"]').count()).toBe(1);
    expect(commitCount(sandbox.repoPath)).toBe(before + 1);
    // Loaded afresh, the finished operation is rendered by the server alone.
    await page.reload();
    expect(await page.getByTestId('result').textContent()).toContain('succeeded');
    expect(await page.locator('#events li[data-event="deploy.finished"]').count()).toBe(1);
  });

  it('swap: nothing changes until the confirmation; then green is live, verified against a real Prometheus', async () => {
    await page.goto(`${base}/ui/stacks/${STACK}`);
    expect(await page.getByTestId('plan-same').textContent()).toContain('runs the release plan');
    await page.click('button[data-action="swap"]');
    await page.waitForURL(/\/actions\/swap\/review$/);
    expect(await page.getByTestId('review').textContent()).toContain('Confirm swap');
    expect(await liveColour()).toBe('blue');

    // Steady user traffic through the gateway, to the live colour and (by the preview header)
    // to the preview: the analysis measures the release under real requests. A measurement
    // without data yet is inconclusive and measured again (onInconclusive: hold), never passed.
    const traffic = { target: sandbox.traffic!.url, host: 'my-app.example.com', concurrency: 2 };
    loads = [
      startLoad({ ...traffic, ratePerSecond: 25, maxDurationMs: 120_000 }),
      startLoad({ ...traffic, preview: true, ratePerSecond: 25, maxDurationMs: 120_000 }),
    ];
    await Promise.all([
      page.waitForURL(/\/ui\/operations\//),
      page.click('button[data-confirm="swap"]'),
    ]);
    const id = new URL(page.url()).pathname.split('/').at(-1)!;
    await page.getByTestId('result').waitFor({ timeout: 90_000 });
    expect(await page.getByTestId('result').textContent()).toContain('succeeded');
    await Promise.all(loads.map((l) => l.stop()));
    loads = [];
    expect(await liveColour()).toBe('green');

    // What the service recorded: the verdicts of the pre-swap checks and the post-swap window.
    const op = (await (
      await fetch(`${base}/v1/operations/${id}`, { headers: bearer('read') })
    ).json()) as OperationView;
    const verdicts = (
      op.result!.details as {
        verification: {
          phase: string;
          result: string;
          metrics: { name: string; measurements: { value?: number; detail: string }[] }[];
        }[];
      }
    ).verification;
    expect(verdicts.map((v) => [v.phase, v.result])).toEqual([
      ['pre-swap on green', 'passed'],
      ['post-swap window on green', 'passed'],
    ]);
    const window = verdicts[1]!;
    expect(window.metrics.map((m) => m.name)).toEqual(['error-rate', 'p99-latency']);

    await page.goto(`${base}/ui/stacks/${STACK}`);
    expect(await page.getByTestId('colour-green').textContent()).toContain('live green');
    expect(await page.getByTestId('traffic').textContent()).toMatch(/blue 0%.*green 100%/);
    // The verification of that swap: each measurement with its value and condition, and a
    // chart of the values over the window with one point per measured value.
    const section = page.getByTestId('verification');
    const text = (await section.textContent())!;
    expect(text).toContain(`swap ${id.slice(0, 8)}`);
    expect(text).toMatch(/pre-swap on green:\s*passed/);
    expect(text).toMatch(/post-swap window on green:\s*passed/);
    expect(text).toMatch(/check deep-health\s*\d+ attempts/);
    const conditions = { 'error-rate': 'result < 0.02', 'p99-latency': P99_CONDITION };
    for (const metric of window.metrics) {
      const row = section.locator('.verdict[data-phase="post-swap window on green"] tbody tr', {
        hasText: metric.name,
      });
      expect(await row.count()).toBe(1);
      const values = metric.measurements.filter((m) => typeof m.value === 'number');
      // Three measurements per metric in the 3 s window (more when some were held for data).
      expect(values.length).toBeGreaterThanOrEqual(3);
      const last = metric.measurements.at(-1)!;
      expect(typeof last.value).toBe('number');
      const cells = await row.locator('td').allTextContents();
      expect(cells[0]).toContain(metric.name);
      expect(cells[0]).toContain('successful');
      expect(Number(cells[1])).toBeCloseTo(last.value!, 3);
      expect(cells[2]).toContain(conditions[metric.name as keyof typeof conditions]);
      expect(cells[2]).toContain('holds');
      const svg = row.locator('svg.chart');
      expect(await svg.count()).toBe(1);
      expect(await svg.locator('circle').count()).toBe(values.length);
      expect(await svg.locator('polyline').getAttribute('points')).toMatch(
        new RegExp(`^(\\d+,\\d+ ){${values.length - 1}}\\d+,\\d+$`),
      );
      expect(await svg.getAttribute('aria-label')).toBe(
        `values ${values.map((m) => m.value).join(', ')}`,
      );
      // Drawn by the browser: the chart has a size on the page.
      const box = await svg.boundingBox();
      expect(box!.width).toBeGreaterThan(100);
      expect(box!.height).toBeGreaterThan(20);
    }
    const history = (await page.getByTestId('history').textContent())!;
    expect(history).toContain('swap');
    expect(history).toContain('deploy');
    // Each history entry links to its commit.
    await Promise.all([
      page.waitForURL(/\/commits\/[0-9a-f]{40}$/),
      page.click('[data-testid="history"] li a[href*="/commits/"]'),
    ]);
    expect(await page.textContent('h1')).toMatch(/swap|promote|live/i);
  });

  it('screenshots of the overview and the stack page go to docs/, and the load times are measured', async () => {
    const timings: Record<string, number[]> = {};
    for (const [name, url] of [
      ['overview', `${base}/ui/stacks`],
      ['stack', `${base}/ui/stacks/${STACK}`],
    ] as const) {
      timings[name] = [];
      for (let i = 0; i < 7; i++) {
        await page.goto(url);
        const ms = await page.evaluate(`(() => {
          const nav = performance.getEntriesByType('navigation')[0];
          return nav.loadEventEnd - nav.startTime;
        })()`);
        timings[name].push(ms as number);
      }
      // The stack page shows the verified swap above: its section with the chart is drawn.
      if (name === 'stack') expect(await page.locator('.verdict svg.chart').count()).toBe(2);
      await page.screenshot({ path: path.join(DOCS, `dashboard-${name}.png`), fullPage: true });
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    process.stderr.write(
      `dashboard load (navigation start to load event, median of 7): overview ${median(timings.overview!).toFixed(0)} ms, stack ${median(timings.stack!).toFixed(0)} ms\n`,
    );
    for (const xs of Object.values(timings)) expect(xs.every((x) => x > 0)).toBe(true);
  });

  it("the service's own answers are shown as they are: 412 for a scale-down inside the retention window", async () => {
    await page.goto(`${base}/ui/stacks/${STACK}`);
    await page.click('button[data-action="scale-down"]');
    const error = page.getByTestId('api-error');
    await error.waitFor();
    expect(await error.textContent()).toContain('The service answered 412');
    expect(await error.locator('pre').getAttribute('data-status')).toBe('412');
  });

  it('on a phone the stack page fits the width (the colours stack up)', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      storageState: await admin.storageState(),
    });
    const p = await phone.newPage();
    await p.goto(`${base}/ui/stacks/${STACK}`);
    const fit = (await p.evaluate(
      '({ scroll: document.documentElement.scrollWidth, width: window.innerWidth })',
    )) as { scroll: number; width: number };
    expect(fit.scroll).toBeLessThanOrEqual(fit.width);
    const [b, g] = [
      await p.getByTestId('colour-blue').boundingBox(),
      await p.getByTestId('colour-green').boundingBox(),
    ];
    expect(g!.y).toBeGreaterThan(b!.y + b!.height - 1);
    await phone.close();
  });

  it('a read-only user sees everything and can press nothing; the server refuses the forged press', async () => {
    const reader = await browser.newContext();
    const p = await reader.newPage();
    // The link `npm start -- --keep` prints: the token in the fragment fills the field (and
    // leaves the address bar); the fragment never reaches the server.
    await p.goto(`${base}/ui/sign-in#token=${TOKENS.read}`);
    expect(await p.inputValue('input[name="token"]')).toBe(TOKENS.read);
    expect(new URL(p.url()).hash).toBe('');
    await Promise.all([p.waitForURL(`${base}/ui/stacks`), p.click('#sign-in button')]);
    await p.goto(`${base}/ui/stacks/${STACK}`);
    expect(await p.getByTestId('colour-green').textContent()).toContain('live green');
    expect(await p.getByTestId('plan').textContent()).toContain('Release plan');
    const buttons = p.locator('[data-testid="actions"] button');
    expect(await buttons.count()).toBe(4);
    for (const b of await buttons.all()) expect(await b.isDisabled()).toBe(true);
    expect(await p.locator('form[action*="/actions/"]').count()).toBe(0);
    // The page's own CSRF token (sign-out form) with a hand-made action: the API's 403.
    const before = commitCount(sandbox.repoPath);
    const forged = (await p.evaluate(`(async () => {
      const csrf = document.querySelector('input[name="csrf"]').value;
      const res = await fetch('/ui/stacks/${STACK}/actions/revert', {
        method: 'POST',
        body: new URLSearchParams({ csrf }),
      });
      return { status: res.status, text: await res.text() };
    })()`)) as { status: number; text: string };
    expect(forged.status).toBe(403);
    expect(forged.text).toContain('lacks the &quot;swap&quot; scope');
    expect(commitCount(sandbox.repoPath)).toBe(before);
    await reader.close();
  });

  it('a forged action is refused: without the CSRF token (403), and from another site (no cookie: 401)', async () => {
    const before = commitCount(sandbox.repoPath);
    await page.goto(`${base}/ui/stacks/${STACK}`);
    const noToken = (await page.evaluate(`(async () => {
      const res = await fetch('/ui/stacks/${STACK}/actions/revert', {
        method: 'POST',
        body: new URLSearchParams({ reason: 'forged' }),
      });
      return { status: res.status, text: await res.text() };
    })()`)) as { status: number; text: string };
    expect(noToken.status).toBe(403);
    expect(noToken.text).toContain('CSRF token');

    // Another site's page posting a form to the dashboard (the classic CSRF): SameSite=Strict
    // keeps the session cookie off the request.
    attacker = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form id="f" method="post" action="${base}/ui/stacks/${STACK}/actions/revert"><input name="csrf" value="guess"><input name="reason" value="forged"></form><script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => attacker!.listen(0, '127.0.0.1', resolve));
    const { port } = attacker.address() as { port: number };
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/actions/revert')),
      page.goto(`http://127.0.0.1:${port}/`),
    ]);
    expect(response.status()).toBe(401);
    expect(commitCount(sandbox.repoPath)).toBe(before);
    expect(await liveColour()).toBe('green');
  });

  it('session end: sign-out ends the session on the server; the old cookie opens nothing', async () => {
    await page.goto(`${base}/ui/stacks`);
    const cookie = (await admin.cookies())[0]!;
    await Promise.all([
      page.waitForURL(`${base}/ui/sign-in`),
      page.click('form[action="/ui/sign-out"] button'),
    ]);
    expect(await admin.cookies()).toHaveLength(0);
    await page.goto(`${base}/ui/stacks/${STACK}`);
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
    // The cookie value itself is dead, not just deleted from this browser.
    const replay = await fetch(`${base}/ui/stacks`, {
      headers: { cookie: `${cookie.name}=${cookie.value}` },
      redirect: 'manual',
    });
    expect(replay.status).toBe(303);
    expect(replay.headers.get('location')).toBe('/ui/sign-in');
  });
});
