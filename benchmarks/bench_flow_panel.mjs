// The flow panel's page script (dist/flowPanel.js, built by `npm run build`) in headless
// chromium, fed generated `flowspin/flowGraph` answers as the extension posts them: the time
// from posting a graph of N steps to the graph drawn (dagre's layout, the SVG built, then the
// browser's style, layout and paint: two animation frames), on a fresh page each time, and a
// redraw of the same graph with new statuses (the layout is kept).
//
// Usage: node benchmarks/bench_flow_panel.mjs [--json] [--sizes 20,200] [--reps 5]
//   env CHROMIUM (default /usr/bin/chromium). Prints a table (or one JSON object).
// The page is served from a loopback HTTP server so that, as in VS Code, the messages come
// from the page's own origin (the script ignores any other).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const SIZES = opt('--sizes', '20,200').split(',').map(Number);
const REPS = Number(opt('--reps', '5'));
const JSON_OUT = args.includes('--json');

/** A flow of about `n` steps mixing every kind: chains, splits, foreaches, a recursive switch. */
export function generate(n) {
  const steps = [];
  const edges = [];
  let line = 10;
  const states = ['ok', 'ok', 'ok', 'never', 'stale', 'failed', 'running'];
  const add = (name, kind) => {
    const state = states[steps.length % states.length];
    steps.push({
      name,
      line,
      kind,
      status: {
        state,
        source: state === 'never' || state === 'stale' ? null : steps.length % 2 ? 'spin' : 'run',
        duration_ms: state === 'ok' ? 5 + (steps.length % 40) * 13 : null,
        error_line: state === 'failed' ? line + 2 : null,
        tasks_done: state === 'running' ? 3 : null,
        tasks_total: state === 'running' ? 8 : null,
        num_splits: kind === 'foreach' ? 4 : null,
        reason: state === 'stale' ? 'an upstream step changed since its last spin' : null,
      },
    });
    line += 6;
    return name;
  };
  let prev = add('start', 'linear');
  steps[0].kind = 'start';
  let i = 0;
  let switched = false;
  while (steps.length < n - 1) {
    const pattern = i % 4;
    i += 1;
    if (pattern === 0) {
      const s = add(`prepare_${i}`, 'linear');
      edges.push({ from: prev, to: s, label: null, back: false });
      prev = s;
    } else if (pattern === 1) {
      const s = add(`fan_out_${i}`, 'split');
      const a = add(`branch_a_${i}`, 'linear');
      const b = add(`branch_b_${i}`, 'linear');
      const c = add(`branch_c_${i}`, 'linear');
      const j = add(`merge_${i}`, 'join');
      edges.push({ from: prev, to: s, label: null, back: false });
      for (const x of [a, b, c]) {
        edges.push({ from: s, to: x, label: null, back: false }, { from: x, to: j, label: null, back: false });
      }
      prev = j;
    } else if (pattern === 2) {
      const s = add(`for_each_${i}`, 'foreach');
      const body = add(`train_${i}`, 'linear');
      const j = add(`collect_${i}`, 'join');
      edges.push({ from: prev, to: s, label: null, back: false }, { from: s, to: body, label: null, back: false });
      edges.push({ from: body, to: j, label: null, back: false });
      prev = j;
    } else {
      const s = add(`choose_${i}`, 'switch');
      const a = add(`path_high_${i}`, 'linear');
      const b = add(`path_low_${i}`, 'linear');
      const after = add(`after_${i}`, 'linear');
      edges.push({ from: prev, to: s, label: null, back: false });
      edges.push({ from: s, to: a, label: 'high', back: false }, { from: s, to: b, label: 'low', back: false });
      edges.push({ from: a, to: after, label: null, back: false }, { from: b, to: after, label: null, back: false });
      if (!switched) {
        switched = true; // a recursive switch: the low path may loop back to the switch
        edges.push({ from: b, to: s, label: 'again', back: true });
      }
      prev = after;
    }
  }
  const end = add('end', 'end');
  edges.push({ from: prev, to: end, label: null, back: false });
  return { uri: 'file:///bench/flow.py', flows: [{ name: 'BenchFlow', steps, edges }], error: null };
}

function page() {
  // the same shell as the extension's page (flowPanel.ts), with a stub of VS Code's API
  return `<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/flowPanel.css"></head><body>
<header><strong id="flowName"></strong><select id="flow" hidden></select><span class="file" id="file"></span>
<span class="spacer"></span><span id="zoom"><button id="zoomOut">−</button><button id="fit">Fit</button><button id="zoomIn">+</button></span></header>
<div id="banner" hidden></div>
<div id="empty" hidden></div>
<svg id="graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs><g id="viewport"></g></svg>
<script>
window.__posted = [];
window.acquireVsCodeApi = () => ({
  postMessage: (m) => window.__posted.push(m),
  getState: () => window.__state,
  setState: (s) => { window.__state = JSON.parse(JSON.stringify(s)); },
});
</script>
<script src="/flowPanel.js"></script></body></html>`;
}

export async function serve() {
  const files = {
    '/': ['text/html', page()],
    '/flowPanel.js': ['text/javascript', readFileSync(join(ROOT, 'dist', 'flowPanel.js'))],
    '/flowPanel.css': ['text/css', readFileSync(join(ROOT, 'media', 'flowPanel.css'))],
  };
  const server = createServer((req, res) => {
    const f = files[(req.url ?? '/').split('?')[0]];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f[0] }).end(f[1]);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

/** Posts `graph` into the page and resolves with [script ms, until painted ms]. */
export function post(p, graph) {
  return p.evaluate(
    (g) =>
      new Promise((resolve) => {
        const before = document.body.dataset.renders ?? '';
        const t0 = performance.now();
        window.postMessage({ type: 'graph', graph: g, file: 'flow.py' }, '*');
        const check = () => {
          if (document.body.dataset.renderMs && document.body.dataset.steps === String(g.flows[0].steps.length) && document.body.dataset.renders !== before) {
            requestAnimationFrame(() =>
              requestAnimationFrame(() => resolve([Number(document.body.dataset.renderMs), performance.now() - t0, Number(document.body.dataset.layoutMs)])),
            );
          } else setTimeout(check, 0);
        };
        check();
      }),
    graph,
  );
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const { server, url } = await serve();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const rows = [];
  try {
    for (const n of SIZES) {
      const graph = generate(n);
      const first = [];
      const layout = [];
      const script = [];
      const redraw = [];
      for (let r = 0; r < REPS; r++) {
        const p = await browser.newPage({ viewport: { width: 1200, height: 800 } });
        await p.goto(url);
        const [s, total, l] = await post(p, graph);
        first.push(total);
        script.push(s);
        layout.push(l);
        // the same structure with new statuses (what a spin's flowGraphChanged brings)
        const again = structuredClone(graph);
        for (const st of again.flows[0].steps) st.status = { ...st.status, state: 'ok', duration_ms: 7 };
        redraw.push((await post(p, again))[1]);
        await p.close();
      }
      rows.push({
        steps: graph.flows[0].steps.length,
        edges: graph.flows[0].edges.length,
        firstDrawMs: median(first),
        firstDrawMaxMs: Math.max(...first),
        layoutMs: median(layout),
        scriptMs: median(script),
        redrawMs: median(redraw),
      });
    }
  } finally {
    await browser.close();
    server.close();
  }
  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify({ rows })}\n`);
    return;
  }
  console.log(`flow panel render, headless chromium, median of ${REPS} fresh pages (budget: 200 steps <= 500 ms)`);
  console.log('steps  edges  first draw (max)   dagre layout   script total   redraw, same layout');
  for (const r of rows) {
    const ms = (x) => `${x.toFixed(1)} ms`.padStart(9);
    console.log(
      `${String(r.steps).padStart(5)}  ${String(r.edges).padStart(5)}  ${ms(r.firstDrawMs)} (${r.firstDrawMaxMs.toFixed(0)})  ${ms(r.layoutMs)}     ${ms(r.scriptMs)}      ${ms(r.redrawMs)}`,
    );
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
