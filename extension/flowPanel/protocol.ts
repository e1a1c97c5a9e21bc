/**
 * The flow panel's shapes, shared by the extension (flowPanel.ts) and the page script
 * (flowPanel/webview.ts): the server's `flowspin/flowGraph` answer (generated, see
 * ../protocol.ts) and the messages between the extension and the webview.
 */

import type { FlowGraph } from '../protocol';

// The server's shapes come from the generated protocol (type-only: nothing enters the page's
// bundle); `Flow` is the protocol's FlowGraphFlow.
export type { FlowEdge, FlowGraph, FlowStep, StepKind, StepState, StepStatus } from '../protocol';
export type { FlowGraphFlow as Flow } from '../protocol';

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
