// @ts-check
// The card viewer's page script (loaded with the panel's nonce). The extension sends the cards
// of a step with their HTML; each card draws in a sandboxed iframe (srcdoc, scripts only with
// the nonce). This script keeps the card's scroll position across reloads, feeds a running
// task's data updates (Metaflow's `current.card.refresh()`) to the card's own
// `metaflow_card_update` instead of reloading it, and draws the header: which step, where the
// card came from ("spin 3 s ago, base run 1795…" / "run 1795…, task 4"), tabs, the source
// toggle and the pin.
(() => {
  // eslint-disable-next-line no-undef
  const vscode = acquireVsCodeApi();
  const script = /** @type {HTMLScriptElement} */ (document.currentScript);
  const nonce = script.nonce || script.getAttribute('nonce') || '';
  const saved = vscode.getState() || {};
  const scroll = saved.scroll || {};
  let tabKey = saved.tabKey || null;
  /** @type {any} */ let msg = null;
  /** @type {string|null} */ let current = null; // path of the card in the iframe
  let loaded = false;
  /** @type {any} */ let pending = null; // a data update that came before the card loaded
  let staleSeen = null; // created_on of the last data update that asked for a reload
  /** Large inline scripts of cards, sent once by the extension, by hash (see cardView.ts). */
  const assets = new Map();
  const ASSET = /\u0001flowspin-asset\u0001([0-9a-f]{40})\u0001flowspin-asset\u0001/g;
  const frame = /** @type {HTMLIFrameElement} */ (document.getElementById('card'));
  const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

  $('pin').onclick = () => vscode.postMessage({ type: 'pin' });
  for (const b of document.querySelectorAll('.toggle button')) {
    const button = /** @type {HTMLButtonElement} */ (b);
    button.onclick = () => vscode.postMessage({ type: 'source', source: button.dataset.source });
  }

  function remember(extra) {
    vscode.setState({ ...(vscode.getState() || {}), scroll, tabKey, ...extra });
  }

  function ago(seconds) {
    const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return new Date(seconds * 1000).toLocaleString();
  }

  /** The header's words for where the card came from. */
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
    const data = event.data || {};
    if (event.source === frame.contentWindow) {
      fromCard(data);
      return;
    }
    if (data.type === 'cards') {
      for (const [key, body] of Object.entries(data.assets || {})) assets.set(key, body);
      show(data);
    }
    else if (data.type === 'empty') empty(data);
    else if (data.type === 'data') update(data);
  });

  /** Messages the card's injected script sends (scroll position, a data update it cannot use). */
  function fromCard(data) {
    if (Array.isArray(data.flowspinScroll) && current) {
      scroll[current] = data.flowspinScroll;
      remember({});
    } else if (data.flowspinStale !== undefined && data.flowspinStale !== staleSeen) {
      // the data belongs to a newer render of the card than the one shown: reload it once
      staleSeen = data.flowspinStale;
      vscode.postMessage({ type: 'stale' });
    }
  }

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

  function cardKey(c) {
    return c.id || c.type;
  }

  function show(m) {
    msg = m;
    $('empty').hidden = true;
    frame.hidden = false;
    drawHeader(m);
    let index = m.cards.findIndex((c) => cardKey(c) === tabKey);
    if (index < 0) index = 0;
    tabKey = cardKey(m.cards[index]);
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
    const card = m.cards[index];
    current = card.path;
    loaded = false;
    pending = card.data || null;
    const at = scroll[current] || [0, 0];
    // Inside the card: restore the scroll position once the card has drawn itself (Metaflow
    // cards render with JavaScript after load), report scrolling, and apply data updates the
    // way Metaflow's own card viewer does: in place when the update's reload token matches the
    // card's, else ask for the newer render.
    const keep =
      `<script nonce="${nonce}">(function(){var x=${Number(at[0]) || 0},y=${Number(at[1]) || 0},t=Date.now();` +
      'function back(){window.scrollTo(x,y);if((window.scrollY<y-1||window.scrollX<x-1)&&Date.now()-t<3000){requestAnimationFrame(back);}}' +
      'window.addEventListener("load",back);' +
      'window.addEventListener("scroll",function(){parent.postMessage({flowspinScroll:[window.scrollX,window.scrollY]},"*");});' +
      'window.addEventListener("message",function(e){var d=e.data&&e.data.flowspinData;if(!d||e.source!==parent)return;' +
      'var up=window.metaflow_card_update;if(typeof up!=="function")return;' +
      'if(d.reload_token===window.METAFLOW_RELOAD_TOKEN){up(d.data);}else{parent.postMessage({flowspinStale:d.created_on},"*");}});' +
      '})();<\/script>';
    let missing = false;
    const html = card.html.replace(ASSET, (_, key) => {
      const body = assets.get(key);
      if (body === undefined) missing = true;
      return body ?? '';
    });
    if (missing) {
      vscode.postMessage({ type: 'missing' }); // this page was recreated: ask for everything
      return;
    }
    // After the last </body>: a card's own scripts may contain the text "</body>".
    const end = html.toLowerCase().lastIndexOf('</body>');
    frame.srcdoc = end < 0 ? html + keep : html.slice(0, end) + keep + html.slice(end);
    remember({ view: m.state });
  }

  frame.addEventListener('load', () => {
    loaded = true;
    if (pending && frame.contentWindow) {
      frame.contentWindow.postMessage({ flowspinData: pending }, '*');
    }
    pending = null;
  });

  /** A running task's data update for one of the cards shown. */
  function update(m) {
    if (!msg || !msg.cards) return;
    const card = msg.cards.find((c) => c.path === m.path);
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
