/**
 * The flow panel: "Flowspin: Show Flow" opens one webview per flow file beside the code, with
 * the flow's DAG laid out by dagre (the page script is extension/flowPanel/webview.ts, bundled
 * into dist/flowPanel.js) and each step's status from the server (`flowspin/flowGraph`).
 *
 * It redraws when the server says the graph or a status changed (`flowspin/flowGraphChanged`)
 * and when the document changes (both debounced), keeping zoom and pan; it highlights the
 * step under the editor's cursor (`flowspin/stepAt`); a click on a node reveals the step in the
 * editor, and a node's buttons run Spin, Resume from here, Show Card and Spin Downstream.
 *
 * The page is built by webviewPage.ts like the card viewer's: a nonce made fresh for each page,
 * a strict CSP (no inline script or style, no network), its assets through asWebviewUri from
 * localResourceRoots (media/ and dist/). Messages from the page are accepted only in the
 * expected shapes, and a WebviewPanelSerializer brings the panel back after a window reload.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Server } from './client';
import { show } from './commands';
import { log } from './log';
import type { FlowGraph, FromWebview, PanelState, StepAction, ToWebview } from './flowPanel/protocol';
import { createPagePanel, OWN, type PageSpec, showPage } from './webviewPage';

export const FLOW_VIEW_TYPE = 'flowspin.flowPanel';

/** Redraw this long after the last `flowspin/flowGraphChanged` for the file. */
const CHANGED_DEBOUNCE_MS = 100;
/** Redraw this long after the last keystroke (the server re-parses the file meanwhile). */
const EDIT_DEBOUNCE_MS = 300;
const CURSOR_DEBOUNCE_MS = 100;

const ACTIONS: readonly StepAction[] = ['spin', 'debug', 'resume', 'card', 'downstream'];

/** The page (see webviewPage.ts): no inline script or style, assets from media/ and dist/. */
const PAGE: PageSpec = {
  title: 'Flow',
  styles: ['media/flowPanel.css'],
  scripts: ['dist/flowPanel.js'],
  csp: { 'img-src': [OWN], 'font-src': [OWN] },
  body: `<header>
<strong id="flowName"></strong><select id="flow" aria-label="Flow" hidden></select><span class="file" id="file"></span>
<span class="spacer"></span>
<span id="zoom"><button id="zoomOut" title="Zoom out (-)" aria-label="Zoom out">−</button><button id="fit" title="Fit the flow (0)">Fit</button><button id="zoomIn" title="Zoom in (+)" aria-label="Zoom in">+</button></span>
</header>
<div id="banner" role="status" hidden></div>
<div id="empty" role="status" hidden><p class="message">Loading the flow…</p></div>
<svg id="graph" role="group" aria-label="Flow graph: Tab moves through the steps, Enter shows a step in the editor">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>
<g id="viewport"></g>
</svg>`,
};

function isMessage(m: unknown): m is FromWebview {
  if (!m || typeof m !== 'object') {
    return false;
  }
  const x = m as Record<string, unknown>;
  if (x.type === 'ready') {
    return true;
  }
  const stepOk = typeof x.step === 'string' && x.step.length < 512 && typeof x.line === 'number' && Number.isInteger(x.line);
  if (x.type === 'reveal') {
    return stepOk;
  }
  return x.type === 'action' && stepOk && typeof x.flow === 'string' && ACTIONS.includes(x.action as StepAction);
}

/** One panel: the graph of one flow file. */
class FlowPanel implements vscode.Disposable {
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private cursorTimer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    readonly uri: vscode.Uri,
    readonly panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    private readonly server: Server,
    onDispose: () => void,
  ) {
    panel.title = `Flow: ${path.basename(uri.fsPath)}`;
    showPage(panel, context.extensionUri, PAGE);
    this.disposables.push(
      panel.onDidDispose(() => {
        this.dispose();
        onDispose();
      }),
      panel.webview.onDidReceiveMessage((m: unknown) => {
        if (isMessage(m)) {
          void this.onMessage(m).catch((e: unknown) => log.warn(`flow panel: ${String(e)}`));
        }
      }),
      panel.onDidChangeViewState((e) => {
        if (e.webviewPanel.visible) {
          this.schedule(0);
        }
      }),
    );
  }

  /** Asks for the graph again in `ms` (later calls within that time fold into one). */
  schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.refresh().catch((e: unknown) => log.warn(`flow panel: ${String(e)}`));
    }, ms);
  }

  async refresh(): Promise<void> {
    if (!this.panel.visible) {
      return; // drawn when it shows again (onDidChangeViewState)
    }
    const seq = ++this.seq;
    const file = vscode.workspace.asRelativePath(this.uri, false);
    let graph: FlowGraph;
    try {
      graph = await this.server.request('flowspin/flowGraph', { uri: this.uri.toString() });
    } catch (e) {
      if (seq === this.seq) {
        const message = e instanceof Error ? e.message : String(e);
        void this.post({ type: 'failed', message: `Cannot get the flow's graph: ${message}`, file, uri: this.uri.toString() });
      }
      return;
    }
    if (seq !== this.seq) {
      return; // a newer request is under way
    }
    if (!graph || !Array.isArray(graph.flows)) {
      graph = { uri: this.uri.toString(), flows: [], error: 'the server gave no graph' };
    }
    await this.post({ type: 'graph', graph, file });
    this.cursorChanged(0);
  }

  /** Highlights the step under the cursor of the editor showing this file. */
  cursorChanged(ms: number = CURSOR_DEBOUNCE_MS): void {
    clearTimeout(this.cursorTimer);
    this.cursorTimer = setTimeout(() => {
      const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === this.uri.toString());
      if (!editor || !this.panel.visible) {
        return;
      }
      void this.server
        .stepAt(this.uri, editor.selection.active.line)
        .then((found) => this.post({ type: 'cursor', flow: found?.flow ?? null, step: found?.step ?? null }))
        .catch((e: unknown) => log.warn(`flow panel: ${String(e)}`));
    }, ms);
  }

  private post(m: ToWebview): Thenable<boolean> {
    return this.panel.webview.postMessage(m);
  }

  private async onMessage(m: FromWebview): Promise<void> {
    if (m.type === 'ready') {
      this.schedule(0);
      return;
    }
    if (m.type === 'reveal') {
      await this.reveal(m.line, m.focus === true);
      return;
    }
    if (m.type !== 'action') {
      return;
    }
    const target = { uri: this.uri.toString(), step: m.step, line: Math.max(0, m.line - 1) };
    log.info(`flow panel: ${m.action} ${m.flow}.${m.step}`);
    try {
      switch (m.action) {
        case 'spin':
          await vscode.commands.executeCommand('flowspin.spin', { uri: target.uri, step: m.step });
          break;
        case 'debug':
          await vscode.commands.executeCommand('flowspin.debugStep', { uri: target.uri, step: m.step });
          break;
        case 'resume':
          await vscode.commands.executeCommand('flowspin.resume', target);
          break;
        case 'card':
          await vscode.commands.executeCommand('flowspin.showCard', { uri: target.uri, step: m.step });
          break;
        case 'downstream': {
          const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target.uri);
          if (doc?.isDirty && !(await doc.save())) {
            void vscode.window.showWarningMessage(`flowspin: could not save ${this.uri.fsPath}; nothing was started.`);
            return;
          }
          show('spinDownstream', await this.server.execute('spinDownstream', { uri: target.uri, step: m.step }));
          break;
        }
      }
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      log.error(`flow panel ${m.action} ${m.step}: ${message}`);
      void vscode.window.showErrorMessage(`flowspin: ${message}`);
    }
  }

  /** Shows the step's `def` line (1-based) in the editor that has the file, else beside. */
  private async reveal(line: number, focus: boolean): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(this.uri);
    const shown = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === this.uri.toString());
    const column = shown?.viewColumn ?? vscode.ViewColumn.One;
    const at = Math.min(Math.max(0, line - 1), doc.lineCount - 1);
    const text = doc.lineAt(at).text;
    const def = text.search(/\bdef\s/);
    const character = def >= 0 ? def + text.slice(def).search(/\s\S/) + 1 : text.search(/\S|$/);
    const position = new vscode.Position(at, Math.max(0, character));
    const editor = await vscode.window.showTextDocument(doc, {
      viewColumn: column,
      preserveFocus: !focus,
      selection: new vscode.Range(position, position),
    });
    editor.revealRange(new vscode.Range(position, position), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  dispose(): void {
    clearTimeout(this.timer);
    clearTimeout(this.cursorTimer);
    for (const d of this.disposables) {
      d.dispose();
    }
    this.disposables.length = 0;
  }
}

class FlowPanels implements vscode.Disposable {
  private readonly panels = new Map<string, FlowPanel>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly server: Server,
  ) {
    this.disposables.push(
      server.onNotification('flowspin/flowGraphChanged', (p) => {
        if (typeof p?.uri === 'string') {
          this.panels.get(p.uri)?.schedule(CHANGED_DEBOUNCE_MS);
        }
      }),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length) {
          this.panels.get(e.document.uri.toString())?.schedule(EDIT_DEBOUNCE_MS);
        }
      }),
      vscode.workspace.onDidSaveTextDocument((d) => this.panels.get(d.uri.toString())?.schedule(EDIT_DEBOUNCE_MS)),
      vscode.window.onDidChangeTextEditorSelection((e) => this.panels.get(e.textEditor.document.uri.toString())?.cursorChanged()),
    );
  }

  /** `flowspin.showFlow`: the panel of the given file (or the active editor's), opened beside. */
  async show(arg: unknown): Promise<void> {
    const given = (arg && typeof arg === 'object' ? arg : {}) as { uri?: string | vscode.Uri };
    const raw = arg instanceof vscode.Uri ? arg : given.uri ?? vscode.window.activeTextEditor?.document.uri;
    if (!raw) {
      void vscode.window.showInformationMessage('Open a Metaflow flow file (a Python file with a FlowSpec) first.');
      return;
    }
    const uri = typeof raw === 'string' ? vscode.Uri.parse(raw) : raw;
    const open = this.panels.get(uri.toString());
    if (open) {
      open.panel.reveal(undefined, true);
      open.schedule(0);
      return;
    }
    const panel = createPagePanel(FLOW_VIEW_TYPE, `Flow: ${path.basename(uri.fsPath)}`, this.context.extensionUri, PAGE);
    this.adopt(panel, uri);
  }

  /** Takes over a panel: a new one, or one VS Code restored after a reload. */
  adopt(panel: vscode.WebviewPanel, uri: vscode.Uri): void {
    const key = uri.toString();
    this.panels.get(key)?.panel.dispose();
    const view = new FlowPanel(uri, panel, this.context, this.server, () => {
      if (this.panels.get(key) === view) {
        this.panels.delete(key);
      }
    });
    this.panels.set(key, view);
  }

  dispose(): void {
    for (const p of [...this.panels.values()]) {
      p.panel.dispose();
    }
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

export function registerFlowPanel(context: vscode.ExtensionContext, server: Server): vscode.Disposable[] {
  const panels = new FlowPanels(context, server);
  return [
    panels,
    vscode.commands.registerCommand('flowspin.showFlow', async (arg: unknown) => {
      try {
        await panels.show(arg);
      } catch (e) {
        const message = (e instanceof Error ? e.message : String(e)) || 'the flow panel failed; see the "flowspin" output';
        log.error(`flowspin.showFlow failed: ${message}`);
        void vscode.window.showErrorMessage(`flowspin: ${message}`);
      }
    }),
    vscode.window.registerWebviewPanelSerializer(FLOW_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, saved: unknown) {
        const uri = (saved as PanelState | undefined)?.uri;
        if (typeof uri !== 'string') {
          panel.dispose(); // nothing to show: it never drew a graph
          return;
        }
        panels.adopt(panel, vscode.Uri.parse(uri));
      },
    }),
  ];
}
