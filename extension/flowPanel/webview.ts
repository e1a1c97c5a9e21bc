/// <reference lib="dom" />
/**
 * The flow panel's page script, bundled with dagre into dist/flowPanel.js (esbuild.mjs) and
 * loaded with the page's nonce. It draws the flow's DAG as SVG: one node per step, laid out by
 * dagre (top to bottom; recursive switch edges are left out of the layout and drawn back along
 * the right side), each node with its kind's shape and its status (ok, failed with the line,
 * running with tasks done/total, never run, stale with the reason), and the buttons Spin, Debug,
 * Resume from here, Card and Spin Downstream. Click or Enter on a node reveals the step in the
 * editor; the cursor's step is highlighted. Zoom and pan (wheel, drag, the header's buttons)
 * survive redraws and window reloads (vscode.setState).
 *
 * Whom to believe: only VS Code's webview host (our own origin) speaks for the extension.
 */
import { computeLayout, layoutKey, NODE_H, type Layout, type Placed } from './layout';
import type { Flow, FlowGraph, FlowStep, FromWebview, PanelState, StepAction, ToWebview } from './protocol';
import { fit, kindText, statusLong, statusShort } from './stepText';

declare function acquireVsCodeApi(): {
  postMessage(message: FromWebview): void;
  getState(): PanelState | undefined;
  setState(state: PanelState): void;
};

const vscode = acquireVsCodeApi();
const SVG = 'http://www.w3.org/2000/svg';
const MIN_K = 0.1;
const MAX_K = 3;

interface View {
  k: number;
  x: number;
  y: number;
}

const state: PanelState = vscode.getState() ?? {};
let graph: FlowGraph | null = null;
let flow: Flow | null = null;
let layout: Layout | null = null;
let cursorStep: string | null = null;
let cursorFlow: string | null = null;
let selected: string | null = null;
let renders = 0;
/** Set while a redraw gives the focus back to the node that had it (no panning then). */
let restoring = false;

const $ = (id: string) => document.getElementById(id) as HTMLElement;
const svg = document.getElementById('graph') as unknown as SVGSVGElement;
const viewport = document.getElementById('viewport') as unknown as SVGGElement;
const empty = $('empty');
const flowSelect = $('flow') as HTMLSelectElement;

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, parent?: Element): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  parent?.appendChild(node);
  return node;
}

function save(): void {
  vscode.setState(state);
}

// ---------------------------------------------------------------------------------------------
// Drawing

const ACTIONS: { action: StepAction; icon: string; label: string; key: string }[] = [
  { action: 'spin', icon: '▶', label: 'Spin', key: 's' },
  { action: 'debug', icon: '▷', label: 'Debug Step', key: 'g' },
  { action: 'resume', icon: '⏵⏵', label: 'Resume from here', key: 'r' },
  { action: 'card', icon: '▤', label: 'Card', key: 'c' },
  { action: 'downstream', icon: '⇊', label: 'Spin Downstream', key: 'd' },
];

function shape(p: Placed, g: SVGGElement): void {
  const { w, h } = p;
  const x = -w / 2;
  const y = -h / 2;
  switch (p.step.kind) {
    case 'start':
    case 'end':
      el('rect', { class: 'shape', x, y, width: w, height: h, rx: h / 2 }, g);
      break;
    case 'switch': {
      const d = 14;
      const pts = [
        [x + d, y],
        [x + w - d, y],
        [x + w, 0],
        [x + w - d, y + h],
        [x + d, y + h],
        [x, 0],
      ];
      el('polygon', { class: 'shape', points: pts.map((pt) => pt.join(',')).join(' ') }, g);
      break;
    }
    case 'foreach':
      el('rect', { class: 'shape stack', x: x + 8, y: y - 8, width: w, height: h, rx: 4 }, g);
      el('rect', { class: 'shape stack', x: x + 4, y: y - 4, width: w, height: h, rx: 4 }, g);
      el('rect', { class: 'shape', x, y, width: w, height: h, rx: 4 }, g);
      break;
    case 'split':
      el('rect', { class: 'shape', x, y, width: w, height: h, rx: 4 }, g);
      el('path', { class: 'mark', d: `M ${x + w / 2 - 14} ${y + h} l 14 -7 l 14 7` }, g);
      break;
    case 'join':
      el('rect', { class: 'shape', x, y, width: w, height: h, rx: 4 }, g);
      el('path', { class: 'mark', d: `M ${x + w / 2 - 14} ${y} l 14 7 l 14 -7` }, g);
      break;
    default:
      el('rect', { class: 'shape', x, y, width: w, height: h, rx: 4 }, g);
  }
  el('rect', { class: 'stripe', x: x + 1, y: y + 10, width: 4, height: h - 20, rx: 2 }, g);
}

function drawNode(p: Placed, parent: SVGGElement): SVGGElement {
  const step = p.step;
  const st = step.status?.state ?? 'none';
  const g = el('g', {
    class: `node kind-${step.kind} state-${st}`,
    transform: `translate(${p.x},${p.y})`,
    tabindex: 0,
    role: 'button',
    'data-step': step.name,
    // Tab (and the arrow keys) move from node to node; a node's buttons answer S, R, C and D
    'aria-label': `${step.name}, ${kindText(step)} step at line ${step.line}, ${statusLong(step)}. Enter: show in the editor; S: spin; R: resume from here; C: card; D: spin downstream`,
  }, parent);
  const title = el('title', {}, g);
  title.textContent = `${step.name} (${kindText(step)}, line ${step.line})\n${statusLong(step)}\nClick or Enter: show in the editor; S spin, R resume from here, C card, D spin downstream`;
  shape(p, g);
  const name = el('text', { class: 'name', x: 0, y: -p.h / 2 + 20 }, g);
  name.textContent = fit(step.name, p.w);
  const info = el('text', { class: 'info', x: 0, y: -p.h / 2 + 37 }, g);
  const kind = el('tspan', { class: 'kind' }, info);
  kind.textContent = kindText(step);
  const status = statusShort(step);
  if (status) {
    const s = el('tspan', { class: 'status' }, info);
    s.textContent = `  ${status}`;
  }
  const bar = el('g', { class: 'actions', transform: `translate(${-(ACTIONS.length * 30) / 2},${p.h / 2 - 24})` }, g);
  ACTIONS.forEach((a, i) => {
    const b = el('g', {
      class: `action action-${a.action}`,
      transform: `translate(${i * 30},0)`,
      role: 'button',
      tabindex: -1,
      'data-action': a.action,
      'aria-label': `${a.label} ${step.name}`,
    }, bar);
    el('title', {}, b).textContent = `${a.label} (${a.key.toUpperCase()})`;
    el('rect', { x: 0, y: 0, width: 26, height: 18, rx: 3 }, b);
    const t = el('text', { x: 13, y: 13 }, b);
    t.textContent = a.icon;
  });
  return g;
}

function edgePath(points: { x: number; y: number }[]): string {
  if (points.length === 0) return '';
  const [first, ...rest] = points;
  if (!first) return '';
  if (rest.length === 1 && rest[0]) return `M ${first.x} ${first.y} L ${rest[0].x} ${rest[0].y}`;
  // a smooth curve through dagre's points (quadratic segments between midpoints)
  let d = `M ${first.x} ${first.y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i]!;
    const q = points[i + 1]!;
    const mx = i === points.length - 2 ? q.x : (p.x + q.x) / 2;
    const my = i === points.length - 2 ? q.y : (p.y + q.y) / 2;
    d += ` Q ${p.x} ${p.y} ${mx} ${my}`;
  }
  return d;
}

function label(text: string, x: number, y: number, parent: SVGGElement): void {
  const g = el('g', { class: 'edge-label', transform: `translate(${x},${y})` }, parent);
  const w = text.length * 6.6 + 10;
  el('rect', { x: -w / 2, y: -9, width: w, height: 18, rx: 3 }, g);
  el('text', { x: 0, y: 4 }, g).textContent = text;
}

function draw(): void {
  const started = performance.now();
  if (!flow) return;
  let layoutMs = 0;
  const key = layoutKey(flow);
  if (!layout || layout.key !== key) {
    layout = computeLayout(flow);
    layoutMs = performance.now() - started;
  } else {
    // same structure, new statuses: keep the positions
    for (const step of flow.steps) {
      const p = layout.nodes.get(step.name);
      if (p) p.step = step;
    }
  }
  const focused = document.activeElement?.closest?.('.node')?.getAttribute('data-step') ?? null;
  viewport.textContent = '';
  const edges = el('g', { class: 'edges' }, viewport);
  const labels = el('g', { class: 'labels' }, viewport);
  let backOffset = 0;
  for (const e of layout.edges) {
    const a = layout.nodes.get(e.from);
    const b = layout.nodes.get(e.to);
    if (!a || !b) continue;
    if (e.points.length === 0) {
      // a recursive (back) edge: out of the source's right side, round, into the target's
      // (right of every node between them, so it crosses none)
      backOffset += 14;
      const sx = a.x + a.w / 2;
      const tx = b.x + b.w / 2;
      const top = Math.min(a.y, b.y) - NODE_H / 2;
      const bottom = Math.max(a.y, b.y) + NODE_H / 2;
      let right = Math.max(sx, tx);
      for (const n of layout.nodes.values()) {
        if (n.y + n.h / 2 >= top && n.y - n.h / 2 <= bottom) right = Math.max(right, n.x + n.w / 2);
      }
      const far = right + 30 + backOffset;
      // out of the source's bottom (its row may hold siblings), round, into the target's side
      const below = a.y + a.h / 2 + 8 + backOffset / 2;
      const d = `M ${a.x + a.w / 4} ${a.y + a.h / 2} L ${a.x + a.w / 4} ${below} L ${far} ${below} L ${far} ${b.y} L ${tx + 6} ${b.y}`;
      el('path', { class: 'edge back', d, 'marker-end': 'url(#arrow)', 'data-from': e.from, 'data-to': e.to }, edges);
      if (e.label) label(e.label, far, (a.y + b.y) / 2, labels);
      continue;
    }
    el('path', { class: 'edge', d: edgePath(e.points), 'marker-end': 'url(#arrow)', 'data-from': e.from, 'data-to': e.to }, edges);
    if (e.label && e.lx !== undefined && e.ly !== undefined) label(e.label, e.lx, e.ly, labels);
  }
  const nodes = el('g', { class: 'nodes' }, viewport);
  for (const p of layout.nodes.values()) {
    const g = drawNode(p, nodes);
    if (p.step.name === cursorStep && flow.name === cursorFlow) g.classList.add('cursor');
    if (p.step.name === selected) select(g);
  }
  if (focused) {
    restoring = true;
    viewport.querySelector<SVGGElement>(`.node[data-step="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
    restoring = false;
  }
  applyView();
  const total = performance.now() - started;
  document.body.dataset.renderMs = total.toFixed(1);
  document.body.dataset.layoutMs = layoutMs.toFixed(1);
  document.body.dataset.steps = String(flow.steps.length);
  document.body.dataset.renders = String(++renders);
}

function select(g: SVGGElement): void {
  for (const old of viewport.querySelectorAll('.node.selected')) {
    old.classList.remove('selected');
  }
  g.classList.add('selected');
  selected = g.getAttribute('data-step');
}

// ---------------------------------------------------------------------------------------------
// Zoom and pan

function view(): View {
  const name = flow?.name ?? '';
  state.views ??= {};
  let v = state.views[name];
  if (!v) {
    v = fitView();
    state.views[name] = v;
    save();
  }
  return v;
}

function fitView(): View {
  const box = svg.getBoundingClientRect();
  const w = layout?.width ?? 1;
  const h = layout?.height ?? 1;
  const k = Math.max(MIN_K, Math.min(1, (box.width || 800) / (w + 60), (box.height || 600) / (h + 40)));
  return { k, x: ((box.width || 800) - w * k) / 2, y: 10 };
}

function applyView(): void {
  const v = view();
  viewport.setAttribute('transform', `translate(${v.x},${v.y}) scale(${v.k})`);
}

function setView(v: View): void {
  if (!flow) return;
  state.views ??= {};
  state.views[flow.name] = { k: Math.min(MAX_K, Math.max(MIN_K, v.k)), x: v.x, y: v.y };
  applyView();
  save();
}

function zoomAt(factor: number, mx: number, my: number): void {
  const v = view();
  const k = Math.min(MAX_K, Math.max(MIN_K, v.k * factor));
  setView({ k, x: mx - ((mx - v.x) * k) / v.k, y: my - ((my - v.y) * k) / v.k });
}

/** Pans (never zooms) so that a node is inside the visible area. */
function ensureVisible(name: string): void {
  const p = layout?.nodes.get(name);
  if (!p) return;
  const v = view();
  const box = svg.getBoundingClientRect();
  if (!box.width || !box.height) return; // hidden (the empty state): nothing to pan
  const sx = p.x * v.k + v.x;
  const sy = p.y * v.k + v.y;
  const mw = (p.w * v.k) / 2 + 10;
  const mh = (p.h * v.k) / 2 + 10;
  if (sx - mw >= 0 && sx + mw <= box.width && sy - mh >= 0 && sy + mh <= box.height) return;
  setView({ k: v.k, x: box.width / 2 - p.x * v.k, y: box.height / 2 - p.y * v.k });
}

svg.addEventListener(
  'wheel',
  (e) => {
    e.preventDefault();
    const box = svg.getBoundingClientRect();
    zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - box.left, e.clientY - box.top);
  },
  { passive: false },
);

let drag: { x: number; y: number; v: View; id: number } | null = null;
svg.addEventListener('pointerdown', (e) => {
  if ((e.target as Element).closest('.node')) return;
  drag = { x: e.clientX, y: e.clientY, v: { ...view() }, id: e.pointerId };
  svg.setPointerCapture(e.pointerId);
  svg.classList.add('panning');
});
svg.addEventListener('pointermove', (e) => {
  if (!drag || e.pointerId !== drag.id) return;
  setView({ k: drag.v.k, x: drag.v.x + e.clientX - drag.x, y: drag.v.y + e.clientY - drag.y });
});
const endDrag = (e: PointerEvent) => {
  if (drag && e.pointerId === drag.id) {
    drag = null;
    svg.classList.remove('panning');
  }
};
svg.addEventListener('pointerup', endDrag);
svg.addEventListener('pointercancel', endDrag);

function center(): [number, number] {
  const box = svg.getBoundingClientRect();
  return [box.width / 2, box.height / 2];
}
$('zoomIn').onclick = () => zoomAt(1.25, ...center());
$('zoomOut').onclick = () => zoomAt(0.8, ...center());
$('fit').onclick = () => setView(fitView());

// ---------------------------------------------------------------------------------------------
// Nodes: reveal, actions, keyboard

function stepOf(target: EventTarget | null): FlowStep | null {
  const g = (target as Element | null)?.closest?.('.node');
  const name = g?.getAttribute('data-step');
  return (name && flow?.steps.find((s) => s.name === name)) || null;
}

function act(action: StepAction, step: FlowStep): void {
  if (flow) vscode.postMessage({ type: 'action', action, flow: flow.name, step: step.name, line: step.line });
}

function reveal(step: FlowStep, focus = false): void {
  vscode.postMessage({ type: 'reveal', step: step.name, line: step.line, focus });
}

const ARROWS: Record<string, [number, number]> = {
  ArrowDown: [0, 1],
  ArrowUp: [0, -1],
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
};

/** The closest node from `name` in the direction (dx, dy) of an arrow key, if any. */
function nearest(name: string, dx: number, dy: number): string | null {
  const from = layout?.nodes.get(name);
  if (!from || !layout) return null;
  let best: string | null = null;
  let bestScore = Infinity;
  for (const [other, p] of layout.nodes) {
    const along = (p.x - from.x) * dx + (p.y - from.y) * dy;
    if (other === name || along <= 1) continue;
    const across = Math.abs((p.x - from.x) * dy) + Math.abs((p.y - from.y) * dx);
    const score = along + 2 * across;
    if (score < bestScore) {
      bestScore = score;
      best = other;
    }
  }
  return best;
}

viewport.addEventListener('click', (e) => {
  const step = stepOf(e.target);
  if (!step) return;
  const g = (e.target as Element).closest('.node') as SVGGElement;
  select(g);
  const button = (e.target as Element).closest('.action');
  if (button) {
    act(button.getAttribute('data-action') as StepAction, step);
    return;
  }
  reveal(step);
});
viewport.addEventListener('dblclick', (e) => {
  const step = stepOf(e.target);
  if (step && !(e.target as Element).closest('.action')) reveal(step, true);
});
viewport.addEventListener('focusin', (e) => {
  const g = (e.target as Element).closest<SVGGElement>('.node');
  const name = g?.getAttribute('data-step');
  if (g && name) {
    if (selected !== name) select(g);
    if (!restoring) ensureVisible(name);
  }
});
viewport.addEventListener('keydown', (e) => {
  const step = stepOf(e.target);
  if (!step || e.ctrlKey || e.metaKey || e.altKey) return;
  const button = (e.target as Element).closest('.action');
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    if (button) act(button.getAttribute('data-action') as StepAction, step);
    else reveal(step);
    return;
  }
  const towards = ARROWS[e.key];
  if (towards) {
    e.preventDefault();
    const next = nearest(step.name, towards[0], towards[1]);
    if (next) viewport.querySelector<SVGGElement>(`.node[data-step="${CSS.escape(next)}"]`)?.focus();
    return;
  }
  const a = ACTIONS.find((x) => x.key === e.key.toLowerCase());
  if (a) {
    e.preventDefault();
    act(a.action, step);
  }
});
document.addEventListener('keydown', (e) => {
  if ((e.target as Element).closest?.('.node, select, button')) return;
  if (e.key === '+' || e.key === '=') zoomAt(1.25, ...center());
  else if (e.key === '-') zoomAt(0.8, ...center());
  else if (e.key === '0') setView(fitView());
});

flowSelect.addEventListener('change', () => {
  state.flow = flowSelect.value;
  save();
  showFlow();
});

// ---------------------------------------------------------------------------------------------
// Messages

function showEmpty(message: string, detail = ''): void {
  flow = null;
  layout = null;
  svg.classList.add('hidden');
  empty.hidden = false;
  empty.textContent = '';
  const p = document.createElement('p');
  p.className = 'message';
  p.textContent = message;
  empty.append(p);
  if (detail) {
    const d = document.createElement('p');
    d.className = 'detail';
    d.textContent = detail;
    empty.append(d);
  }
  flowSelect.hidden = true;
  $('flowName').textContent = '';
  $('zoom').hidden = true;
  banner('');
  document.body.dataset.empty = 'true';
}

/** A line above the graph (an error the server found while the graph still stands). */
function banner(text: string): void {
  const b = $('banner');
  b.textContent = text;
  b.hidden = !text;
}

function showFlow(): void {
  const flows = graph?.flows ?? [];
  const chosen = flows.find((f) => f.name === state.flow) ?? flows[0] ?? null;
  if (!chosen || chosen.steps.length === 0) {
    showEmpty('No Metaflow flow in this file.', 'A flow is a class deriving from FlowSpec with @step methods.');
    return;
  }
  if (flow?.name !== chosen.name) layout = null;
  flow = chosen;
  state.flow = chosen.name;
  flowSelect.textContent = '';
  for (const f of flows) {
    const o = document.createElement('option');
    o.value = f.name;
    o.textContent = f.name;
    o.selected = f.name === chosen.name;
    flowSelect.append(o);
  }
  flowSelect.hidden = flows.length < 2;
  $('flowName').textContent = flows.length < 2 ? chosen.name : '';
  empty.hidden = true;
  $('zoom').hidden = false;
  svg.classList.remove('hidden');
  delete document.body.dataset.empty;
  draw();
  save();
}

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  // VS Code's host frame posts the extension's messages from our own origin.
  if (event.origin !== window.origin || event.origin === 'null') return;
  const m = event.data;
  if (!m || typeof m !== 'object') return;
  if (m.type === 'graph' && m.graph && Array.isArray(m.graph.flows)) {
    graph = m.graph;
    state.uri = m.graph.uri;
    $('file').textContent = m.file;
    if (m.graph.error && !m.graph.flows.length) {
      showEmpty(m.graph.error, 'The panel redraws when the file is fixed.');
      save();
      return;
    }
    showFlow();
    banner(m.graph.error ?? '');
  } else if (m.type === 'failed') {
    state.uri = m.uri;
    $('file').textContent = m.file;
    showEmpty(m.message);
    save();
  } else if (m.type === 'cursor') {
    // pan to the cursor's step only when it moved to another step (typing inside one keeps
    // the view where the user put it)
    const moved = m.step !== cursorStep || m.flow !== cursorFlow;
    cursorStep = m.step;
    cursorFlow = m.flow;
    if (m.flow && flow && m.flow !== flow.name && graph?.flows.some((f) => f.name === m.flow)) {
      state.flow = m.flow;
      showFlow();
    }
    for (const old of viewport.querySelectorAll('.node.cursor')) old.classList.remove('cursor');
    if (m.step && flow && (m.flow === null || m.flow === flow.name)) {
      viewport.querySelector(`.node[data-step="${CSS.escape(m.step)}"]`)?.classList.add('cursor');
      if (moved) ensureVisible(m.step);
    }
  }
});

window.addEventListener('resize', () => flow && applyView());
vscode.postMessage({ type: 'ready' });
