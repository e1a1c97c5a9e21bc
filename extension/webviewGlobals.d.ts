/**
 * What VS Code's webview host gives the plain page script media/cardView.js (type-checked by
 * tsconfig.json: allowJs, and its `// @ts-check`). extension/flowPanel/webview.ts declares its
 * own, typed with its protocol.
 */
interface CardViewState {
  scroll?: Record<string, [number, number]>;
  tabKey?: string | null;
  view?: unknown;
}

declare function acquireVsCodeApi(): {
  postMessage(message: { type: string; [key: string]: unknown }): void;
  getState(): CardViewState | undefined;
  setState(state: CardViewState): void;
};

/** A card as cardView.ts sends it (the server's, see protocol.ts) with its HTML split in chunks
 * (odd ones are asset keys). */
type CardPageCard = import('./protocol').CardEntry & { chunks?: string[] };

/** cardView.ts's `cards` and `empty` messages (an `empty` one may carry only `message`). */
interface CardPageMessage {
  type: 'cards' | 'empty';
  step?: string;
  source?: 'spin' | 'run';
  asked?: string;
  label?: string;
  created?: number | null;
  baseRun?: string | null;
  runId?: string | null;
  taskId?: string | null;
  live?: boolean;
  pinned?: boolean;
  cards?: CardPageCard[];
  assets?: Record<string, string>;
  frameScript?: string;
  message?: string;
  howTo?: string;
  state?: unknown;
}

/** cardView.ts's `data` message: a running task's data update for one card. */
interface CardPageData {
  type: 'data';
  path: string;
  data: unknown;
  created?: number | null;
  live?: boolean;
}
