// @ts-check
// The artifact preview's page script (loaded with the page's own nonce). The extension sends
// one page of rows at a time ({type: "page", title, target, answer}), answer being the server's
// `flowspin/artifactPage` reply: a table (columns with dtypes and whether they are numeric, the
// rows shown, their index labels, the total) or text. Clicking a column header sorts by it
// (again: descending, a third time: unsorted); Prev and Next page by 100 rows. The page asks
// only for what it shows; its state (target, offset, sort) survives a window reload.
(() => {
  // eslint-disable-next-line no-undef
  const vscode = acquireVsCodeApi();
  const saved = vscode.getState() || {};
  let offset = Number.isInteger(saved.offset) ? saved.offset : 0;
  /** @type {{column: string, descending: boolean} | null} */
  let sort = saved.sort && typeof saved.sort.column === 'string' ? saved.sort : null;
  let total = 0;
  let limit = 100;
  const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

  function ask() {
    $('status').textContent = 'Loading…';
    vscode.postMessage({ type: 'page', offset, sort });
  }

  function cell(/** @type {unknown} */ value, /** @type {boolean} */ numeric) {
    const td = document.createElement('td');
    if (value === null || value === undefined) {
      td.textContent = 'None';
      td.className = 'null';
    } else {
      td.textContent = String(value);
      if (numeric || typeof value === 'number') td.className = 'num';
    }
    return td;
  }

  function drawTable(/** @type {any} */ a) {
    const head = $('head');
    const body = $('body');
    head.replaceChildren();
    body.replaceChildren();
    const corner = document.createElement('th');
    corner.className = 'index';
    head.appendChild(corner);
    for (const column of a.columns) {
      const th = document.createElement('th');
      th.className = column.numeric ? 'num' : '';
      th.tabIndex = 0;
      const mark = sort && sort.column === column.name ? (sort.descending ? ' ▼' : ' ▲') : '';
      th.textContent = String(column.name) + mark;
      th.title = `Sort by ${column.name}`;
      th.setAttribute('aria-sort', mark ? (sort && sort.descending ? 'descending' : 'ascending') : 'none');
      const dtype = document.createElement('span');
      dtype.className = 'dtype';
      dtype.textContent = String(column.dtype);
      th.appendChild(dtype);
      const toggle = () => {
        if (!sort || sort.column !== column.name) sort = { column: column.name, descending: false };
        else if (!sort.descending) sort = { column: column.name, descending: true };
        else sort = null;
        offset = 0;
        ask();
      };
      th.addEventListener('click', toggle);
      th.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          toggle();
        }
      });
      head.appendChild(th);
    }
    const numeric = a.columns.map((/** @type {any} */ c) => !!c.numeric);
    a.rows.forEach((/** @type {unknown[]} */ row, /** @type {number} */ i) => {
      const tr = document.createElement('tr');
      const index = cell(a.index[i], true);
      index.className = 'index';
      tr.appendChild(index);
      row.forEach((value, j) => tr.appendChild(cell(value, numeric[j])));
      body.appendChild(tr);
    });
    total = a.total;
    limit = a.limit || 100;
    offset = a.offset;
    $('table').hidden = false;
    $('text').hidden = true;
    const last = Math.min(total, offset + a.rows.length);
    $('range').textContent = total ? `${offset + 1}–${last} of ${total}` : 'no rows';
    $('info').textContent = `${total} rows × ${a.columns.length} columns${sort ? `, sorted by ${sort.column}${sort.descending ? ' (descending)' : ''}` : ''}`;
    /** @type {HTMLButtonElement} */ ($('prev')).disabled = offset <= 0;
    /** @type {HTMLButtonElement} */ ($('next')).disabled = last >= total;
  }

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || m.type !== 'page' || typeof m.answer !== 'object' || m.answer === null) return;
    $('title').textContent = String(m.title || '');
    document.title = String(m.title || 'Artifact');
    const a = m.answer;
    if (!a.ok) {
      $('status').textContent = String(a.message || 'This value cannot be shown.');
      $('table').hidden = true;
      $('text').hidden = true;
      return;
    }
    $('status').textContent = '';
    if (a.kind === 'table' && Array.isArray(a.columns) && Array.isArray(a.rows)) {
      drawTable(a);
    } else {
      $('table').hidden = true;
      $('text').hidden = false;
      $('text').textContent = String(a.text ?? '');
      $('range').textContent = '';
      $('info').textContent = '';
    }
    vscode.setState({ target: m.target, offset, sort });
  });

  $('prev').addEventListener('click', () => {
    offset = Math.max(0, offset - limit);
    ask();
  });
  $('next').addEventListener('click', () => {
    if (offset + limit < total) offset += limit;
    ask();
  });
  if (offset || sort) ask();
  else vscode.postMessage({ type: 'ready' });
})();
