/**
 * The dashboard's pages: pure functions from the API's JSON (and the signed-in caller) to HTML.
 * No inline script or style anywhere (the CSP allows neither): charts and bars are SVG with
 * presentation attributes, behaviour comes from /ui/assets/app.js.
 */
import type { DryRunResult, OperationView, StackStatus } from '../schemas.ts';
import { hasScope, type Identity, type Scope } from '../auth/tokens.ts';
import { href, html, raw, type Html } from './html.ts';

export interface PageContext {
  identity?: Identity;
  csrf?: string;
  now: number;
}

type Colour = 'blue' | 'green';
const COLOURS: readonly Colour[] = ['blue', 'green'];

export function layout(ctx: PageContext, title: string, body: Html): string {
  const who = ctx.identity;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · stackswap</title>
        <link rel="stylesheet" href="/ui/assets/app.css" />
        <script type="module" src="/ui/assets/app.js"></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/ui/stacks">stackswap</a>
          ${
            who &&
            html`<span class="who" data-testid="who"
                >${who.name} <span class="scopes">${[...who.scopes].join(', ')}</span></span
              >
              <form method="post" action="/ui/sign-out" class="inline">
                <input type="hidden" name="csrf" value="${ctx.csrf ?? ''}" />
                <button type="submit" class="link">Sign out</button>
              </form>`
          }
        </header>
        <main>${body}</main>
      </body>
    </html> `.text;
}

export function signInPage(ctx: PageContext, message?: string, status?: number): string {
  return layout(
    ctx,
    'Sign in',
    html`<section class="card narrow">
      <h1>Sign in</h1>
      <p>
        Paste an API token of this service (the one you would send as
        <code>Authorization: Bearer …</code>). It is checked once and kept on the server; your
        browser only gets a session cookie.
      </p>
      ${message && html`<p class="error" role="alert" data-status="${status ?? ''}">${message}</p>`}
      <form method="post" action="/ui/sign-in" id="sign-in">
        <label
          >API token <input type="password" name="token" autocomplete="off" required autofocus
        /></label>
        <button type="submit">Sign in</button>
      </form>
    </section>`,
  );
}

export function ago(iso: string | undefined, now: number): string {
  if (!iso) return '';
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}

const short = (sha: string | undefined) => (sha ? sha.slice(0, 10) : '');

function time(iso: string | undefined, now: number): Html {
  if (!iso) return html``;
  return html`<time datetime="${iso}" title="${iso}">${ago(iso, now)}</time>`;
}

/** Traffic weights as a bar: SVG widths are attributes, so no inline style is needed. */
export function trafficBar(traffic: { blue: number; green: number }): Html {
  const blue = Math.max(0, Math.min(100, traffic.blue));
  const green = Math.max(0, Math.min(100 - blue, traffic.green));
  return html`<figure class="traffic" data-testid="traffic">
    <svg
      viewBox="0 0 100 6"
      preserveAspectRatio="none"
      role="img"
      aria-label="traffic: blue ${blue}%, green ${green}%"
    >
      <rect x="0" y="0" width="100" height="6" class="none"></rect>
      <rect x="0" y="0" width="${blue}" height="6" class="blue"></rect>
      <rect x="${blue}" y="0" width="${green}" height="6" class="green"></rect>
    </svg>
    <figcaption>
      <span class="dot blue"></span>blue ${blue}% · <span class="dot green"></span>green ${green}%
    </figcaption>
  </figure>`;
}

type App = StackStatus['apps'][number];

function appLine(app: App): Html {
  if ('error' in app) return html`<li class="bad">${app.app}: ${app.error}</li>`;
  const ok = app.syncStatus === 'Synced' && app.health === 'Healthy';
  return html`<li class="${ok ? 'ok' : 'warn'}">
    <span class="app">${app.app}</span> <span class="pill">${app.syncStatus}</span>
    <span class="pill">${app.health}</span>
    ${app.revision && html`<code title="synced at ${app.revision}">@${short(app.revision)}</code>`}
    ${app.operationPhase && html`<span class="muted">${app.operationPhase}</span>`}
  </li>`;
}

function versionsTable(status: StackStatus): Html {
  const components = [
    ...new Set(COLOURS.flatMap((c) => Object.keys(status.colours[c].versions))),
  ].sort();
  return html`<table class="versions">
    <thead>
      <tr>
        <th>component</th>
        ${COLOURS.map(
          (c) => html`<th class="${c}">${c}${c === status.live ? ' (live)' : ' (preview)'}</th>`,
        )}
      </tr>
    </thead>
    <tbody>
      ${components.map(
        (name) =>
          html`<tr>
            <td>${name}</td>
            ${COLOURS.map((c) => html`<td>${status.colours[c].versions[name] ?? '—'}</td>`)}
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function lastPromotion(status: StackStatus, now: number): Html {
  const last = status.lastPromotions[0];
  if (!last) return html`<p class="muted">no promotion yet</p>`;
  return html`<p class="last">
    last: <strong>${last.operation}</strong>
    ${last.requestedBy && html`by ${last.requestedBy}`} ${time(last.date, now)}
    <code>${short(last.sha)}</code>
  </p>`;
}

function colourBadge(colour: string, label: string): Html {
  return html`<span class="badge ${colour}">${label} ${colour}</span>`;
}

export function overviewPage(ctx: PageContext, stacks: StackStatus[]): string {
  return layout(
    ctx,
    'Stacks',
    html`<h1>Stacks</h1>
      ${stacks.length === 0 && html`<p>stackswap.yaml has no stacks.</p>`}
      <div class="grid">
        ${stacks.map(
          (s) =>
            html`<section class="card stack" data-testid="stack-${s.stack}">
              <h2><a href="/ui/stacks/${s.stack}">${s.stack}</a> ${colourBadge(s.live, 'live')}</h2>
              ${
                s.runningOperation &&
                html`<p class="running">
                  running:
                  <a href="/ui/operations/${s.runningOperation}"
                    >operation ${s.runningOperation.slice(0, 8)}</a
                  >
                </p>`
              }
              ${versionsTable(s)} ${trafficBar(s.traffic)}
              <ul class="apps">
                ${s.apps.map(appLine)}
              </ul>
              ${lastPromotion(s, ctx.now)}
            </section>`,
        )}
      </div>
      <p class="muted">
        observed ${stacks[0] && time(stacks[0].observedAt, ctx.now)} ·
        <a href="/ui/stacks">refresh</a>
      </p>`,
  );
}

/** One verdict of a verification (as gated-swap's `summarise` writes it), read leniently. */
export interface VerdictView {
  phase?: string;
  result?: string;
  metric?: string;
  value?: unknown;
  condition?: string;
  reason?: string;
  durationMs?: number;
  checks?: { name?: string; phase?: string; attempts?: number; reason?: string }[];
  metrics?: {
    name?: string;
    phase?: string;
    query?: string;
    measurements?: { phase?: string; value?: number; live?: number; detail?: string }[];
  }[];
}

export interface StackPageData {
  status: StackStatus;
  plan: { result?: DryRunResult; error?: string };
  lastSwap?: OperationView;
  verification: VerdictView[];
  operations: OperationView[];
}

const ACTIONS: { kind: string; label: string; scope: Scope; what: string }[] = [
  {
    kind: 'deploy',
    label: 'Deploy the plan',
    scope: 'deploy',
    what: 'the release plan into the preview colour',
  },
  { kind: 'swap', label: 'Swap', scope: 'swap', what: 'make the preview colour live' },
  { kind: 'revert', label: 'Revert', scope: 'swap', what: 'back to the colour live before' },
  {
    kind: 'scale-down',
    label: 'Scale down',
    scope: 'admin',
    what: 'the idle colour to zero',
  },
];

function actions(ctx: PageContext, stack: string): Html {
  const identity = ctx.identity!;
  return html`<section class="card actions" data-testid="actions">
    <h2>Actions</h2>
    <p class="muted">Each shows its dry run (the exact change) and asks for confirmation first.</p>
    <div class="action-list">
      ${ACTIONS.map(({ kind, label, scope, what }) => {
        const allowed = hasScope(identity, scope);
        if (!allowed) {
          return html`<div class="action">
            <button type="button" disabled title="needs the ${scope} scope" data-action="${kind}">
              ${label}
            </button>
            <span class="muted">needs the <code>${scope}</code> scope</span>
          </div>`;
        }
        return html`<form
          method="post"
          action="/ui/stacks/${stack}/actions/${kind}/review"
          class="action"
        >
          <input type="hidden" name="csrf" value="${ctx.csrf ?? ''}" />
          ${
            kind === 'swap' &&
            html`<label class="small"
              >steps
              <input
                name="steps"
                placeholder="e.g. 10,50,100"
                inputmode="numeric"
                pattern="[0-9, ]*"
                size="10"
            /></label>`
          }
          ${kind === 'scale-down' && html`<label class="small"><input type="checkbox" name="force" value="true" /> force</label>`}
          <label class="small">reason <input name="reason" maxlength="500" size="14" /></label>
          <button type="submit" data-action="${kind}">${label}…</button>
          <span class="muted">${what}</span>
        </form>`;
      })}
    </div>
  </section>`;
}

function colourColumn(status: StackStatus, colour: Colour): Html {
  const view = status.colours[colour];
  const apps = status.apps.filter((a) => a.app === view.app);
  return html`<section class="card colour ${colour}" data-testid="colour-${colour}">
    <h2>${colourBadge(colour, view.role)}</h2>
    <dl>
      <dt>namespace</dt>
      <dd>${view.namespace}</dd>
      <dt>Argo CD app</dt>
      <dd>${view.app}</dd>
      <dt>replicas</dt>
      <dd>${view.replicas}</dd>
      <dt>values</dt>
      <dd><code>${view.valuesFile}</code></dd>
    </dl>
    <table class="versions">
      <tbody>
        ${Object.entries(view.versions).map(
          ([name, v]) =>
            html`<tr>
              <td>${name}</td>
              <td>${v ?? '—'}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <ul class="apps">
      ${apps.map(appLine)}
    </ul>
  </section>`;
}

/** A unified diff, one span per line (added, removed), newlines kept: it sits in a <pre>. */
function diffLines(diff: string): Html {
  const lines = diff.replace(/\n$/, '').split('\n');
  return raw(
    lines
      .map((line) => {
        const cls = line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : 'ctx';
        return html`<span class="${cls}">${line}</span>`.text;
      })
      .join('\n'),
  );
}

function diffBlock(result: DryRunResult): Html {
  return html`${result.subject && html`<p>commit: <strong>${result.subject}</strong> on <code>${short(result.baseSha)}</code></p>`}
  ${result.files.map(
    (f) =>
      html`<details open>
        <summary><code>${f.file}</code>${f.created ? ' (new)' : ''}</summary>
        <pre class="diff">${diffLines(f.diff)}</pre>
      </details>`,
  )}`;
}

function planSection(plan: StackPageData['plan']): Html {
  let content: Html;
  if (plan.error) content = html`<p class="error">${plan.error}</p>`;
  else if (plan.result && !plan.result.wouldCommit)
    content = html`<p class="ok" data-testid="plan-same">
      The preview colour runs the release plan.
    </p>`;
  else if (plan.result)
    content = html`<p>Deploying the plan would change the preview colour:</p>
      ${diffBlock(plan.result)}`;
  else content = html`<p class="muted">no plan</p>`;
  return html`<section class="card" data-testid="plan">
    <h2>Release plan vs preview</h2>
    ${content}
  </section>`;
}

/** Measurement values over the window as a polyline; points coloured by their phase. */
export function chart(values: { value?: number; phase?: string }[]): Html {
  const points = values
    .map((m, i) => ({ i, v: m.value, phase: m.phase ?? '' }))
    .filter((p): p is { i: number; v: number; phase: string } => typeof p.v === 'number');
  if (points.length === 0) return html`<span class="muted">no values</span>`;
  const w = 160;
  const h = 40;
  const min = Math.min(...points.map((p) => p.v));
  const max = Math.max(...points.map((p) => p.v));
  const span = max - min || 1;
  const n = Math.max(1, values.length - 1);
  const xy = points.map((p) => ({
    ...p,
    x: Math.round((p.i / n) * (w - 8) + 4),
    y: Math.round(h - 4 - ((p.v - min) / span) * (h - 8)),
  }));
  return html`<svg
    class="chart"
    viewBox="0 0 ${w} ${h}"
    width="${w}"
    height="${h}"
    role="img"
    aria-label="values ${points.map((p) => p.v).join(', ')}"
  >
    <polyline fill="none" points="${xy.map((p) => `${p.x},${p.y}`).join(' ')}"></polyline>
    ${xy.map((p) => html`<circle cx="${p.x}" cy="${p.y}" r="2.5" class="${p.phase}"><title>${p.v} (${p.phase})</title></circle>`)}
  </svg>`;
}

function fmtValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  return v === undefined ? '' : String(v);
}

function verificationSection(data: StackPageData, now: number): Html {
  const swap = data.lastSwap;
  if (!swap) {
    return html`<section class="card" data-testid="verification">
      <h2>Verification of the last swap</h2>
      <p class="muted">no swap by this service yet (within the operation retention)</p>
    </section>`;
  }
  return html`<section class="card" data-testid="verification">
    <h2>Verification of the last swap</h2>
    <p>
      <a href="/ui/operations/${swap.id}">swap ${swap.id.slice(0, 8)}</a> ${swap.state}
      ${time(swap.finishedAt ?? swap.createdAt, now)}
    </p>
    ${data.verification.length === 0 && html`<p class="muted">this swap ran without verification gates</p>`}
    ${data.verification.map(
      (v) =>
        html`<div class="verdict" data-phase="${v.phase}">
          <h3>
            ${v.phase ?? 'verification'}:
            <span class="pill ${v.result === 'passed' ? 'ok' : 'bad'}">${v.result ?? '?'}</span>
          </h3>
          ${v.reason && html`<p>${v.reason}</p>`}
          <table class="measure">
            <thead>
              <tr>
                <th>measurement</th>
                <th>value</th>
                <th>condition</th>
                <th>over the window</th>
              </tr>
            </thead>
            <tbody>
              ${(v.metrics ?? []).map((m) => {
                const ms = m.measurements ?? [];
                const last = ms.at(-1);
                return html`<tr>
                  <td>${m.name}<br /><span class="muted">${m.phase}</span></td>
                  <td>${fmtValue(last?.value)}</td>
                  <td>${v.metric === m.name ? v.condition : last?.detail}</td>
                  <td>${chart(ms)}</td>
                </tr>`;
              })}
              ${(v.checks ?? []).map(
                (c) =>
                  html`<tr>
                    <td>check ${c.name}</td>
                    <td>${c.attempts} attempts</td>
                    <td>${c.reason ?? c.phase}</td>
                    <td></td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>`,
    )}
  </section>`;
}

function historySection(status: StackStatus, now: number): Html {
  return html`<section class="card" data-testid="history">
    <h2>History (from git)</h2>
    <ol class="timeline">
      ${status.lastPromotions.map((e) => {
        const automatic = e.operation === 'revert' && e.verification !== undefined;
        return html`<li class="${e.operation}${automatic ? ' automatic' : ''}">
          <span class="op">${e.operation}${automatic ? ' (automatic)' : ''}</span>
          ${e.weight !== undefined && html`<span class="pill">${e.weight}%</span>`}
          ${e.to && html`→ ${e.to}`} ${e.colour && html`${e.colour}`}
          ${
            e.versions &&
            html`<span class="muted"
              >${Object.entries(e.versions)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')}</span
            >`
          }
          <br /><a href="/ui/stacks/${status.stack}/commits/${e.sha}"
            ><code>${short(e.sha)}</code></a
          >
          ${e.subject} · ${e.requestedBy && html`${e.requestedBy} ·`} ${time(e.date, now)}
          ${e.operationId && html` · <a href="/ui/operations/${e.operationId}">operation</a>`}
          ${(e.reason || e.verification?.reason) && html`<br /><span class="reason">why: ${e.verification?.reason ?? e.reason}</span>`}
        </li>`;
      })}
    </ol>
  </section>`;
}

function operationsSection(ops: OperationView[], now: number): Html {
  return html`<section class="card" data-testid="operations">
    <h2>Operations</h2>
    <ul class="ops">
      ${ops.map(
        (o) =>
          html`<li>
            <a href="/ui/operations/${o.id}">${o.kind}</a>
            <span class="pill ${o.state}">${o.state}</span> by ${o.requestedBy}
            ${time(o.createdAt, now)}
          </li>`,
      )}
    </ul>
    ${ops.length === 0 && html`<p class="muted">none</p>`}
  </section>`;
}

export function stackPage(ctx: PageContext, data: StackPageData): string {
  const s = data.status;
  return layout(
    ctx,
    s.stack,
    html`<p class="crumbs"><a href="/ui/stacks">stacks</a> /</p>
      <h1>${s.stack} ${colourBadge(s.live, 'live')}</h1>
      <p class="muted">
        config at <code>${short(s.headSha)}</code> · observed ${time(s.observedAt, ctx.now)}
      </p>
      ${
        s.runningOperation &&
        html`<p class="running" data-testid="running">
          running:
          <a href="/ui/operations/${s.runningOperation}"
            >operation ${s.runningOperation.slice(0, 8)}</a
          >
        </p>`
      }
      ${trafficBar(s.traffic)}
      <div class="pair">${COLOURS.map((c) => colourColumn(s, c))}</div>
      ${actions(ctx, s.stack)} ${planSection(data.plan)} ${verificationSection(data, ctx.now)}
      ${historySection(s, ctx.now)} ${operationsSection(data.operations, ctx.now)}`,
  );
}

export interface CommitView {
  sha: string;
  subject: string;
  body: string;
  authorName: string;
  date: string;
  trailers: Record<string, string[]>;
}

export function commitPage(
  ctx: PageContext,
  stack: string,
  commit: CommitView,
  web?: string,
): string {
  return layout(
    ctx,
    `commit ${short(commit.sha)}`,
    html`<p class="crumbs">
        <a href="/ui/stacks">stacks</a> / <a href="/ui/stacks/${stack}">${stack}</a> /
      </p>
      <section class="card">
        <h1>${commit.subject}</h1>
        <p>
          <code>${commit.sha}</code> · ${commit.authorName} · ${time(commit.date, ctx.now)}
          ${web && html` · <a href="${href(web)}" rel="noreferrer">on the forge</a>`}
        </p>
        ${commit.body && html`<pre>${commit.body}</pre>`}
        <dl>
          ${Object.entries(commit.trailers).map(
            ([k, vs]) =>
              html`<dt>${k}</dt>
                <dd>${vs.join(', ')}</dd>`,
          )}
        </dl>
      </section>`,
  );
}

function stepLine(step: OperationView['steps'][number]): Html {
  return html`<li class="${step.ok ? 'ok' : 'bad'}" data-step="${step.step}">
    <span class="mark">${step.ok ? '✓' : '✗'}</span> ${step.title}
    <span class="dur">${(step.durationMs / 1000).toFixed(1)} s</span>
    ${step.detail && html`<span class="muted">${step.detail}</span>`}
  </li>`;
}

export function eventLine(event: Record<string, unknown>): Html {
  const commit = event.commit as { sha?: string; url?: string } | undefined;
  return html`<li data-event="${String(event.type ?? '')}">
    <strong>${String(event.type ?? '')}</strong>
    ${event.automatic === true && html`<span class="pill bad">automatic</span>`}
    ${typeof event.reason === 'string' && html`<span>${event.reason}</span>`}
    ${commit?.sha && html`<a href="${href(commit.url)}"><code>${short(commit.sha)}</code></a>`}
    <span class="muted">${typeof event.at === 'string' ? event.at : ''}</span>
  </li>`;
}

function resultBlock(op: OperationView): Html {
  if (op.state === 'running') return html``;
  return html`<div data-testid="result" class="result ${op.state}">
    <h2>Result: <span class="pill ${op.state}">${op.state}</span></h2>
    ${
      op.result &&
      html`<p>${op.result.summary}</p>
        <p>
          live <strong>${op.result.live}</strong>, preview ${op.result.preview}, commit
          <code>${short(op.result.sha)}</code>
        </p>`
    }
    ${op.error && html`<pre class="error">${JSON.stringify({ error: op.error }, null, 2)}</pre>`}
    ${
      op.interrupted &&
      html`<p class="error">${op.interrupted.reason}</p>
        <p>${op.interrupted.resume}</p>`
    }
  </div>`;
}

export function operationPage(
  ctx: PageContext,
  op: OperationView,
  events: Record<string, unknown>[],
): string {
  return layout(
    ctx,
    `${op.kind} ${op.id.slice(0, 8)}`,
    html`<p class="crumbs">
        <a href="/ui/stacks">stacks</a> / <a href="/ui/stacks/${op.stack}">${op.stack}</a> /
      </p>
      <h1>
        ${op.kind} on ${op.stack}
        <span class="pill ${op.state}" data-testid="state">${op.state}</span>
      </h1>
      <p class="muted">
        by ${op.requestedBy} · started
        ${time(op.createdAt, ctx.now)}${op.finishedAt && html` · finished ${time(op.finishedAt, ctx.now)}`}
        · <code>${op.id}</code>
      </p>
      <section
        class="card"
        id="progress"
        data-testid="progress"
        data-state="${op.state}"
        data-events="/ui/operations/${op.id}/events"
      >
        <h2>Steps</h2>
        <ol class="steps" id="steps">
          ${op.steps.map(stepLine)}
        </ol>
        <p class="live muted" id="live-line" hidden></p>
        <div id="result">${resultBlock(op)}</div>
      </section>
      <section class="card">
        <h2>Events</h2>
        <p class="muted">what was sent to hooks and notifications</p>
        <ol class="events" id="events">
          ${events.map(eventLine)}
        </ol>
      </section>`,
  );
}

/** A dry run to confirm: the exact change, and one button that makes it. */
export function reviewPage(
  ctx: PageContext,
  stack: string,
  kind: string,
  result: DryRunResult,
  fields: Record<string, string>,
  idempotencyKey: string,
): string {
  return layout(
    ctx,
    `confirm ${kind}`,
    html`<p class="crumbs">
        <a href="/ui/stacks">stacks</a> / <a href="/ui/stacks/${stack}">${stack}</a> /
      </p>
      <section class="card" data-testid="review">
        <h1>Confirm ${kind} on ${stack}</h1>
        ${
          result.wouldCommit
            ? html`<p>
                This is the change stackswap will commit (dry run on
                <code>${short(result.baseSha)}</code>):
              </p>`
            : html`<p class="warn">The dry run found nothing to commit.</p>`
        }
        ${diffBlock(result)}
        ${
          result.trailers &&
          html`<dl>
            ${Object.entries(result.trailers).map(
              ([k, v]) =>
                html`<dt>${k}</dt>
                  <dd>${v}</dd>`,
            )}
          </dl>`
        }
        <form method="post" action="/ui/stacks/${stack}/actions/${kind}" id="confirm">
          <input type="hidden" name="csrf" value="${ctx.csrf ?? ''}" />
          <input type="hidden" name="idempotencyKey" value="${idempotencyKey}" />
          ${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`)}
          <button type="submit" class="danger" data-confirm="${kind}">Confirm ${kind}</button>
          <a href="/ui/stacks/${stack}">Cancel</a>
        </form>
      </section>`,
  );
}

/** The service's own answer, shown as it is (status and JSON body). */
export function apiErrorPage(
  ctx: PageContext,
  status: number,
  body: string,
  back?: { href: string; label: string },
): string {
  let pretty = body;
  let message = '';
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } };
    pretty = JSON.stringify(parsed, null, 2);
    message = parsed.error?.message ?? '';
  } catch {
    // not JSON: shown as it came
  }
  return layout(
    ctx,
    `${status}`,
    html`<section class="card" data-testid="api-error">
      <h1>The service answered ${status}</h1>
      ${message && html`<p class="error" role="alert">${message}</p>`}
      <pre class="error" data-status="${status}">${pretty}</pre>
      ${back && html`<p><a href="${href(back.href)}">${back.label}</a></p>`}
    </section>`,
  );
}
