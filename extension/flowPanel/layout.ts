/**
 * Where the flow panel puts each step and edge: dagre's layered layout, top to bottom, of the
 * flow's steps (recursive switch edges are left out of the layout; the page draws them back
 * along the right side). Kept apart from the page script so the geometry has one home and the
 * drawing code only reads it.
 */
import dagre from '@dagrejs/dagre';
import type { Flow, FlowStep } from './protocol';

export const NODE_H = 66;
const MIN_W = 180;
const MAX_W = 320;
/** The width of one character of a node's text, for node widths and truncation. */
export const CHAR_W = 7.6;

export interface Placed {
  step: FlowStep;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Layout {
  key: string;
  nodes: Map<string, Placed>;
  edges: { from: string; to: string; label: string | null; points: { x: number; y: number }[]; lx?: number; ly?: number }[];
  width: number;
  height: number;
}


export function layoutKey(f: Flow): string {
  return JSON.stringify([f.name, f.steps.map((s) => [s.name, s.kind]), f.edges.map((e) => [e.from, e.to, e.label ?? null, !!e.back])]);
}

export function computeLayout(f: Flow): Layout {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 36, ranksep: 44, edgesep: 14, marginx: 24, marginy: 24 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set<string>();
  for (const step of f.steps) {
    names.add(step.name);
    const w = Math.min(MAX_W, Math.max(MIN_W, Math.round(step.name.length * CHAR_W + 40)));
    g.setNode(step.name, { width: w, height: NODE_H });
  }
  f.edges.forEach((e, i) => {
    if (e.back || !names.has(e.from) || !names.has(e.to)) return;
    const label = e.label ?? null;
    g.setEdge(
      e.from,
      e.to,
      label ? { width: label.length * 6.6 + 10, height: 16, labelpos: 'c', label } : {},
      String(i),
    );
  });
  dagre.layout(g);
  const nodes = new Map<string, Placed>();
  for (const step of f.steps) {
    const n = g.node(step.name) as { x: number; y: number; width: number; height: number } | undefined;
    if (n) nodes.set(step.name, { step, x: n.x, y: n.y, w: n.width, h: n.height });
  }
  const edges: Layout['edges'] = [];
  f.edges.forEach((e, i) => {
    if (e.back || !names.has(e.from) || !names.has(e.to)) {
      edges.push({ from: e.from, to: e.to, label: e.label ?? null, points: [] });
      return;
    }
    const d = g.edge(e.from, e.to, String(i)) as { points?: { x: number; y: number }[]; x?: number; y?: number } | undefined;
    edges.push({ from: e.from, to: e.to, label: e.label ?? null, points: d?.points ?? [], lx: d?.x, ly: d?.y });
  });
  const info = g.graph() as { width?: number; height?: number };
  return { key: layoutKey(f), nodes, edges, width: info.width ?? 0, height: info.height ?? 0 };
}
