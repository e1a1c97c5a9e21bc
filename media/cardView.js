// @ts-check
// The card viewer's page script (loaded with the page's own nonce, which no card ever sees).
// The extension sends the cards of a step with their HTML; each card draws in a sandboxed
// iframe (srcdoc, `sandbox="allow-scripts"`, no same-origin), its HTML exactly as the file
// holds it, followed by the helper media/cardFrame.js (allowed by its hash). This script keeps
// the card's scroll position across reloads, feeds a running task's data updates (Metaflow's
// `current.card.refresh()`) to the card's own `metaflow_card_update` instead of reloading it,
// and draws the header: which step, where the card came from ("spin 3 s ago, base run 1795…" /
// "run 1795…, task 4"), tabs, the source toggle and the pin.
//
// Whom to believe: only VS Code's webview host (our own origin) speaks for the extension,
// and only the card's own frame may report scrolling or a stale card, in those two shapes. A
// card, or a frame it nests, cannot redraw the header or fill the script cache.
(() => {
  // eslint-disable-next-line no-undef
  const vscode = acquireVsCodeApi();
  const saved = vscode.getState() || {};
  const scroll = saved.scroll || {};
  let tabKey = saved.tabKey || null;
  /** @type {any} */ let msg = null;
  /** @type {string|null} */ let current = null; // path of the card in the iframe
  let loaded = false;
  /** @type {any} */ let pending = null; // a data update that came before the card loaded
  /** @type {number|string|null} */ let staleSeen = null; // created_on of the last data update that asked for a reload
  /** Large inline scripts of cards, sent once by the extension, by hash (see cardView.ts). */
  const assets = new Map();
  const ASSET_KEY = /^[0-9a-f]{40}$/;
  const frame = /** @type {HTMLIFrameElement} */ (document.getElementById('card'));
  const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

  $('pin').onclick = () => vscode.postMessage({ type: 'pin' });
  for (const b of document.querySelectorAll('.toggle button')) {
    const button = /** @type {HTMLButtonElement} */ (b);
    button.onclick = () => vscode.postMessage({ type: 'source', source: button.dataset.source });
  }

  /** @param {CardViewState} extra */
  function remember(extra) {
    vscode.setState({ ...(vscode.getState() || {}), scroll, tabKey, ...extra });
  }

  /** @param {number} seconds */
  function ago(seconds) {
    const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return new Date(seconds * 1000).toLocaleString();
  }

  /** The header's words for where the card came from. @param {CardPageMessage} m */
  function sourceText(m) {
    if (m.source === 'spin') {
      const when = m.created ? ago(m.created) : (m.label || '').replace(/^spin\s*/, '');
      return `spin ${when}${m.baseRun ? `, base run ${m.baseRun}` : ''}`;
    }
    if (m.source === 'run' && m.runId) {
      const live = m.live ? ` · running, updated ${m.created ? ago(m.created) : 'now'}` : '';
      return `run ${m.runId}, task ${m.taskId}${live}`;
    }
    return m.label || '';
  }

  /** @param {CardPageMessage} m */
  function drawHeader(m) {
    $('step').textContent = m.step ? `Step ${m.step}` : '';
    const label = $('label');
    label.textContent = m.cards && m.cards.length ? sourceText(m) : '';
    label.className = m.live ? 'label live' : 'label';
    label.title = m.label || '';
    $('pin').textContent = m.pinned ? 'Unpin' : 'Pin';
    for (const b of document.querySelectorAll('.toggle button')) {
      const button = /** @type {HTMLButtonElement} */ (b);
      button.setAttribute('aria-pressed', String(button.dataset.source === (m.asked || 'auto')));
    }
  }

  setInterval(() => {
    if (msg && msg.cards && msg.cards.length) {
      $('label').textContent = sourceText(msg);
    }
  }, 1000);

  window.addEventListener('message', (event) => {
    const data = event.data;
    if (!data || typeof data !== 'object') return;
    if (event.source === frame.contentWindow) {
      fromCard(data);
      return;
    }
    // VS Code's host frame posts the extension's messages from our own origin (it sets
    // window.parent to window, so the origin is what tells). A card, and any frame it nests,
    // is sandboxed without allow-same-origin: its origin is "null".
    if (event.origin !== window.origin || event.origin === 'null') return;
    if (data.type === 'cards' && Array.isArray(data.cards) && data.cards.length) {
      for (const [key, body] of Object.entries(data.assets || {})) {
        if (ASSET_KEY.test(key) && typeof body === 'string') assets.set(key, body);
      }
      show(data);
    } else if (data.type === 'empty') empty(data);
    else if (data.type === 'data' && typeof data.path === 'string') update(data);
  });

  /**
   * Messages the card's frame may send: its scroll position, a data update it cannot use.
   * @param {any} data what the frame posted, checked here for those two shapes
   */
  function fromCard(data) {
    const at = data.flowspinScroll;
    if (Array.isArray(at) && at.length === 2 && at.every((v) => Number.isFinite(v)) && current) {
      scroll[current] = [at[0], at[1]];
      remember({});
      return;
    }
    const stale = data.flowspinStale;
    const shaped = (typeof stale === 'number' && Number.isFinite(stale)) || (typeof stale === 'string' && stale.length < 64);
    if (shaped && stale !== staleSeen && msg && msg.source === 'run') {
      // the data belongs to a newer render of the card than the one shown: reload it once
      staleSeen = stale;
      vscode.postMessage({ type: 'stale' });
    }
  }

  /** @param {CardPageMessage} m */
  function empty(m) {
    msg = m;
    drawHeader(m);
    $('tabs').textContent = '';
    frame.hidden = true;
    current = null;
    const box = $('empty');
    box.hidden = false;
    box.textContent = '';
    const p = document.createElement('p');
    p.textContent = m.message || 'No card yet.';
    box.append(p);
    if (m.howTo) {
      const how = document.createElement('p');
      how.textContent = m.howTo;
      const example = document.createElement('pre');
      example.textContent =
        'from metaflow import card, current\nfrom metaflow.cards import Markdown\n\n' +
        '@card(type="blank")\n@step\ndef train(self):\n    current.card.append(Markdown("# Hello"))';
      box.append(how, example);
    }
    remember({ view: m.state });
  }

  /** @param {CardPageCard} c */
  function cardKey(c) {
    return c.id || c.type;
  }

  /** @param {CardPageMessage & { cards: CardPageCard[] }} m */
  function show(m) {
    msg = m;
    $('empty').hidden = true;
    frame.hidden = false;
    drawHeader(m);
    let index = m.cards.findIndex((c) => cardKey(c) === tabKey);
    if (index < 0) index = 0;
    tabKey = cardKey(/** @type {CardPageCard} */ (m.cards[index]));
    const tabs = $('tabs');
    tabs.textContent = '';
    if (m.cards.length > 1) {
      m.cards.forEach((c, i) => {
        const b = document.createElement('button');
        b.textContent = cardKey(c);
        b.className = i === index ? 'active' : '';
        b.title = c.error ? `${c.type}: ${c.error}` : c.type;
        b.onclick = () => {
          tabKey = cardKey(c);
          show(msg);
        };
        tabs.append(b);
      });
    }
    const card = /** @type {CardPageCard} */ (m.cards[index]);
    current = card.path;
    loaded = false;
    pending = card.data || null;
    let missing = false;
    // The card's HTML as the file holds it: text, with each large script the extension sent
    // once put back in its place (odd chunks are asset keys).
    const html = (card.chunks || [])
      .map((/** @type {string} */ part, /** @type {number} */ i) => {
        if (i % 2 === 0) return part;
        const body = assets.get(part);
        if (body === undefined) missing = true;
        return body ?? '';
      })
      .join('');
    if (missing) {
      vscode.postMessage({ type: 'missing' }); // this page was recreated: ask for everything
      return;
    }
    frame.srcdoc = `${html}\n<script>${m.frameScript}</script>`;
    remember({ view: m.state });
  }

  frame.addEventListener('load', () => {
    loaded = true;
    const win = frame.contentWindow;
    if (!win) return;
    const at = (current && scroll[current]) || [0, 0];
    win.postMessage({ flowspinScrollTo: at }, '*');
    if (pending) win.postMessage({ flowspinData: pending }, '*');
    pending = null;
  });

  /** A running task's data update for one of the cards shown. @param {CardPageData} m */
  function update(m) {
    if (!msg || !msg.cards) return;
    const card = msg.cards.find((/** @type {CardPageCard} */ c) => c.path === m.path);
    if (!card) return;
    card.data = m.data;
    if (m.created) msg.created = m.created;
    if (m.live !== undefined) msg.live = m.live;
    drawHeader(msg);
    $('label').textContent = sourceText(msg);
    if (m.path !== current) return;
    if (loaded && frame.contentWindow) {
      frame.contentWindow.postMessage({ flowspinData: m.data }, '*');
    } else {
      pending = m.data;
    }
  }

  vscode.postMessage({ type: 'ready' });
})();
