// stackswap dashboard: progressive enhancement of the server-rendered pages. Without it every
// page still works (forms post, pages show the state as of their load); with it, an operation
// page follows the operation's progress live (server-sent events) until its result.
// Plain ES module, no dependencies, no build step; DOM built with textContent only.

const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function followOperation(section) {
  const steps = $('#steps', section);
  const live = $('#live-line', section);
  const result = $('#result', section);
  const events = $('#events');
  const state = $('[data-testid="state"]');
  const started = new Map();
  let ticker;

  const showRunning = (title) => {
    live.hidden = false;
    const t0 = Date.now();
    clearInterval(ticker);
    const tick = () => (live.textContent = `… ${title} ${seconds(Date.now() - t0)}`);
    tick();
    ticker = setInterval(tick, 200);
  };

  // The stream replays every event from the start: the server-rendered lines are replaced.
  steps.replaceChildren();
  events.replaceChildren();
  const source = new EventSource(section.dataset.events);
  section.dataset.live = 'connecting';
  source.addEventListener('open', () => (section.dataset.live = 'open'));
  source.addEventListener('step-start', (e) => {
    const d = JSON.parse(e.data);
    started.set(d.step, d.title);
    showRunning(d.title);
  });
  source.addEventListener('step-end', (e) => {
    const d = JSON.parse(e.data);
    clearInterval(ticker);
    live.hidden = true;
    steps.append(
      el(
        'li',
        { class: d.ok ? 'ok' : 'bad', 'data-step': d.step, 'data-live': 'true' },
        el('span', { class: 'mark' }, d.ok ? '✓' : '✗'),
        ` ${d.title} `,
        el('span', { class: 'dur' }, seconds(d.durationMs)),
        d.detail ? el('span', { class: 'muted' }, ` ${d.detail}`) : null,
      ),
    );
  });
  source.addEventListener('info', (e) => {
    const d = JSON.parse(e.data);
    steps.append(el('li', { class: 'info' }, el('span', { class: 'muted' }, d.message ?? '')));
  });
  source.addEventListener('event', (e) => {
    const ev = JSON.parse(e.data).event ?? {};
    events.append(
      el(
        'li',
        { 'data-event': ev.type ?? '' },
        el('strong', {}, ev.type ?? ''),
        ev.automatic ? el('span', { class: 'pill bad' }, ' automatic') : null,
        ev.reason ? el('span', {}, ` ${ev.reason}`) : null,
        ev.commit?.sha ? el('code', {}, ` ${ev.commit.sha.slice(0, 10)}`) : null,
        el('span', { class: 'muted' }, ` ${ev.at ?? ''}`),
      ),
    );
  });
  const finish = (d) => {
    clearInterval(ticker);
    live.hidden = true;
    source.close();
    section.dataset.live = 'done';
    if (!d) return;
    section.dataset.state = d.state;
    if (state) {
      state.textContent = d.state;
      state.className = `pill ${d.state}`;
    }
    const block = el(
      'div',
      { 'data-testid': 'result', class: `result ${d.state}` },
      el('h2', {}, 'Result: ', el('span', { class: `pill ${d.state}` }, d.state)),
    );
    if (d.result) {
      block.append(el('p', {}, d.result.summary));
      block.append(
        el(
          'p',
          {},
          `live ${d.result.live}, preview ${d.result.preview}, commit `,
          el('code', {}, d.result.sha.slice(0, 10)),
        ),
      );
    }
    if (d.error)
      block.append(el('pre', { class: 'error' }, JSON.stringify({ error: d.error }, null, 2)));
    if (d.interrupted)
      block.append(el('p', { class: 'error' }, `${d.interrupted.reason} ${d.interrupted.resume}`));
    result.replaceChildren(block);
  };
  source.addEventListener('result', (e) => finish(JSON.parse(e.data)));
  source.addEventListener('end', () => finish(undefined));
  source.addEventListener('error', () => {
    // EventSource reconnects by itself (retry: 2000, with Last-Event-ID); after the result the
    // stream is closed on purpose.
    if (section.dataset.live !== 'done') section.dataset.live = 'reconnecting';
  });
}

function fillSignInToken() {
  // `npm start -- --keep` prints /ui/sign-in#token=...: the fragment never reaches the server.
  const form = $('#sign-in');
  const match = /^#token=([\x21-\x7e]+)$/.exec(location.hash);
  if (!form || !match) return;
  $('input[name="token"]', form).value = decodeURIComponent(match[1]);
  history.replaceState(null, '', location.pathname);
}

function confirmButtons() {
  // The review page is the confirmation; the button also locks after one press.
  for (const form of document.querySelectorAll('form')) {
    form.addEventListener('submit', () => {
      for (const b of form.querySelectorAll('button[type="submit"]')) b.disabled = true;
    });
  }
}

const progress = $('#progress[data-events]');
if (progress && progress.dataset.state === 'running') followOperation(progress);
fillSignInToken();
confirmButtons();
document.documentElement.dataset.enhanced = 'true';
