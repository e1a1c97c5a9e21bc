/**
 * The flow panel's shapes, shared by the extension (flowPanel.ts) and the page script
 * (flowPanel/webview.ts): the server's `flowspin/flowGraph` answer and the messages between
 * the extension and the webview.
 */

export type StepKind = 'start' | 'linear' | 'split' | 'foreach' | 'switch' | 'join' | 'end';
export type StepState = 'ok' | 'failed' | 'running' | 'never' | 'stale';

export interface StepStatus {
  state: StepState;
  source?: 'spin' | 'run' | null;
  duration_ms?: number | null;
  error_line?: number | null;
  tasks_done?: number | null;
  tasks_total?: number | null;
  num_splits?: number | null;
  reason?: string | null;
}

export interface FlowStep {
  name: string;
  /** 1-based line of the step's `def`. */
  line: number;
  kind: StepKind;
  status?: StepStatus | null;
}

export interface FlowEdge {
  from: string;
  to: string;
  /** A switch's case, else null. */
  label?: string | null;
  /** A recursive switch edge back to an earlier step. */
  back?: boolean;
}

export interface Flow {
  name: string;
  steps: FlowStep[];
  edges: FlowEdge[];
}

/** `flowspin/flowGraph` `{uri}` answers this. */
export interface FlowGraph {
  uri: string;
  flows: Flow[];
  /** A syntax error, no flow in the file, ...: the panel shows it instead of a graph. */
  error?: string | null;
}

/** Extension → webview. */
export type ToWebview =
  | { type: 'graph'; graph: FlowGraph; file: string }
  | { type: 'cursor'; flow: string | null; step: string | null }
  | { type: 'failed'; message: string; file: string; uri: string };

export type StepAction = 'spin' | 'debug' | 'resume' | 'card' | 'downstream';

/** Webview → extension. */
export type FromWebview =
  | { type: 'ready' }
  | { type: 'reveal'; step: string; line: number; focus?: boolean }
  | { type: 'action'; action: StepAction; flow: string; step: string; line: number };

/** What the page keeps across reloads (vscode.setState; the serializer hands it back). */
export interface PanelState {
  uri?: string;
  flow?: string;
  /** Zoom and pan per flow: `scale`, then translate by `x`, `y`. */
  views?: Record<string, { k: number; x: number; y: number }>;
}
