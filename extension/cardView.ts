/**
 * The card viewer: a webview beside the editor showing the cards of the step under the cursor,
 * from the newest spin or the latest run (the server decides which, `flowspin/cardFor`), and
 * reloading when the server reports a new card file (`flowspin/cardChanged`). Each card runs in
 * an inner sandboxed iframe (srcdoc) under the panel's strict CSP: no network, scripts only
 * with the panel's nonce. Several cards of a step are tabs; scroll positions survive reloads.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Server } from './client';
import { log } from './log';

export const VIEW_TYPE = 'flowspin.cardView';

interface CardEntry {
  type: string;
  id: string | null;
  path: string;
  error?: string | null;
}

interface CardAnswer {
  ok: boolean;
  flow?: string;
  step?: string;
  source?: string;
  label?: string;
  cards: CardEntry[];
  message?: string;
  howTo?: string;
  hasCardDecorator?: boolean;
}

interface CardChanged {
  flow: string;
  step: string;
  path: string;
}

/** What the panel remembers across window reloads (WebviewPanelSerializer). */
interface ViewState {
  uri?: string;
  step?: string;
  pinned?: boolean;
}

function nonce(): string {
  return randomBytes(16).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

class CardView implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private state: ViewState = {};
  private flow: string | undefined;
  private readonly nonce = nonce();
  private followTimer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly server: Server,
  ) {
    this.disposables.push(
      server.onNotification('flowspin/cardChanged', (p: CardChanged) => this.onChanged(p)),
      vscode.window.onDidChangeTextEditorSelection((e) => this.follow(e.textEditor)),
    );
  }

  /** `flowspin.showCard`: open (or reveal) the panel on the step under the cursor. */
  async show(arg: unknown): Promise<void> {
    const given = (arg && typeof arg === 'object' ? arg : {}) as { uri?: string | vscode.Uri; step?: string };
    const editor = vscode.window.activeTextEditor;
    const uri = given.uri ? given.uri.toString() : editor?.document.uri.toString();
    if (!uri) {
      void vscode.window.showInformationMessage('Open a Metaflow flow file and put the cursor inside a @step.');
      return;
    }
    let step = given.step;
    if (!step && editor && editor.document.uri.toString() === uri) {
      step = (await this.server.stepAt(editor.document.uri, editor.selection.active.line))?.step;
    }
    if (!step) {
      void vscode.window.showInformationMessage('Put the cursor inside a @step to show its card.');
      return;
    }
    this.state = { uri, step, pinned: false };
    if (!this.panel) {
      this.adopt(
        vscode.window.createWebviewPanel(
          VIEW_TYPE,
          'Card',
          { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
          this.options(),
        ),
        this.state,
      );
    } else {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
    }
    await this.refresh();
  }

  /** Takes over a panel (a new one, or one VS Code restored after a reload). */
  adopt(panel: vscode.WebviewPanel, state: ViewState | undefined): void {
    this.panel?.dispose();
    this.panel = panel;
    this.state = state ?? {};
    panel.webview.options = this.options();
    panel.webview.html = this.page(panel.webview);
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = undefined;
      }
    });
    panel.webview.onDidReceiveMessage((msg: { type: string }) => {
      if (msg.type === 'pin') {
        this.state.pinned = !this.state.pinned;
        void this.refresh();
      } else if (msg.type === 'ready') {
        void this.refresh();
      }
    });
  }

  private options(): vscode.WebviewOptions & vscode.WebviewPanelOptions {
    const roots = [vscode.Uri.joinPath(this.context.extensionUri, 'media')];
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      roots.push(vscode.Uri.joinPath(folder.uri, '.flowspin', 'cards'));
    }
    return { enableScripts: true, localResourceRoots: roots, retainContextWhenHidden: false };
  }

  /** Follows the cursor to another step (unless pinned), a moment after it stops moving. */
  private follow(editor: vscode.TextEditor): void {
    if (!this.panel || this.state.pinned || editor.document.languageId !== 'python') {
      return;
    }
    clearTimeout(this.followTimer);
    this.followTimer = setTimeout(() => {
      void (async () => {
        const found = await this.server.stepAt(editor.document.uri, editor.selection.active.line);
        const uri = editor.document.uri.toString();
        if (found && (found.step !== this.state.step || uri !== this.state.uri)) {
          this.state = { ...this.state, uri, step: found.step };
          await this.refresh();
        }
      })().catch((e: unknown) => log.warn(`card viewer: ${String(e)}`));
    }, 250);
  }

  private onChanged(p: CardChanged): void {
    log.info(`card changed: ${p.flow}/${p.step} (${p.path})`);
    if (this.panel && p.step === this.state.step && (!this.flow || p.flow === this.flow)) {
      void this.refresh().catch((e: unknown) => log.warn(`card viewer: ${String(e)}`));
    }
  }

  /** Asks the server for the step's cards and sends them, with their HTML, to the webview. */
  private async refresh(): Promise<void> {
    const panel = this.panel;
    if (!panel || !this.state.uri || !this.state.step) {
      void panel?.webview.postMessage({ type: 'empty', message: 'Put the cursor inside a @step and run "Flowspin: Show Card".' });
      return;
    }
    const answer = await this.server.request<CardAnswer>('flowspin/cardFor', {
      uri: this.state.uri,
      step: this.state.step,
    });
    this.flow = answer.flow;
    log.info(`card viewer: step ${answer.step ?? this.state.step}: ${answer.label ?? answer.message ?? ''}`);
    panel.title = `Card: ${answer.step ?? this.state.step}`;
    const cards = await Promise.all(
      (answer.cards ?? []).map(async (c) => {
        const bytes = await vscode.workspace.fs.readFile(vscode.Uri.file(c.path));
        return { ...c, html: this.withNonce(Buffer.from(bytes).toString('utf8')) };
      }),
    );
    await panel.webview.postMessage({
      type: cards.length ? 'cards' : 'empty',
      step: answer.step ?? this.state.step,
      label: answer.label ?? '',
      pinned: !!this.state.pinned,
      cards,
      message: answer.message ?? '',
      howTo: answer.howTo ?? '',
      state: this.state,
    });
  }

  /** Lets the card's own scripts run under the panel's CSP (and no other scripts). */
  private withNonce(html: string): string {
    return html.replace(/<script\b/gi, `<script nonce="${this.nonce}"`);
  }

  private page(webview: vscode.Webview): string {
    const n = this.nonce;
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource} 'unsafe-inline'`,
      `script-src 'nonce-${n}'`,
      `font-src ${webview.cspSource} data:`,
      "connect-src 'none'",
      'frame-src data: about:',
    ].join('; ');
    return `<!doctype html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<style>
  html, body { height: 100%; margin: 0; padding: 0; }
  body { display: flex; flex-direction: column; font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
  header { display: flex; gap: 8px; align-items: center; padding: 4px 8px; border-bottom: 1px solid var(--vscode-panel-border); }
  header .label { opacity: 0.8; flex: 1; }
  nav button, header button { background: none; color: inherit; border: 1px solid transparent; cursor: pointer; padding: 2px 8px; }
  nav button.active { border-color: var(--vscode-focusBorder); }
  iframe { flex: 1; border: 0; width: 100%; background: white; }
  #empty { padding: 16px; }
  #empty code { background: var(--vscode-textCodeBlock-background); padding: 1px 4px; }
</style></head>
<body>
<header><strong id="step"></strong><span class="label" id="label"></span><nav id="tabs"></nav><button id="pin" title="Keep this card while the cursor moves">Pin</button></header>
<div id="empty" hidden></div>
<iframe id="card" sandbox="allow-scripts" title="card"></iframe>
<script nonce="${n}">
(() => {
  const vscode = acquireVsCodeApi();
  const saved = vscode.getState() || {};
  const scroll = saved.scroll || {};
  let tab = saved.tab || 0;
  let current = null;
  const frame = document.getElementById('card');
  const $ = (id) => document.getElementById(id);
  $('pin').onclick = () => vscode.postMessage({ type: 'pin' });
  window.addEventListener('message', (event) => {
    const msg = event.data || {};
    if (msg.flowspinScroll && current) {
      scroll[current] = msg.flowspinScroll;
      vscode.setState({ ...(vscode.getState() || {}), scroll, tab });
      return;
    }
    if (msg.type === 'cards') { show(msg); }
    else if (msg.type === 'empty') { empty(msg); }
  });
  function empty(msg) {
    $('step').textContent = msg.step ? 'Step ' + msg.step : '';
    $('label').textContent = '';
    $('tabs').textContent = '';
    frame.hidden = true;
    const box = $('empty');
    box.hidden = false;
    box.textContent = '';
    const p = document.createElement('p');
    p.textContent = msg.message || 'No card yet.';
    const how = document.createElement('p');
    how.textContent = msg.howTo || 'Add @card to the step (e.g. @card(type="blank") with current.card.append(Markdown("..."))), then spin it.';
    box.append(p, how);
    vscode.setState({ ...(vscode.getState() || {}), view: msg.state });
  }
  function show(msg) {
    $('empty').hidden = true;
    frame.hidden = false;
    $('step').textContent = 'Step ' + msg.step;
    $('label').textContent = msg.label;
    $('pin').textContent = msg.pinned ? 'Unpin' : 'Pin';
    if (tab >= msg.cards.length) { tab = 0; }
    const tabs = $('tabs');
    tabs.textContent = '';
    if (msg.cards.length > 1) {
      msg.cards.forEach((c, i) => {
        const b = document.createElement('button');
        b.textContent = c.id || c.type;
        b.className = i === tab ? 'active' : '';
        b.onclick = () => { tab = i; show(msg); };
        tabs.append(b);
      });
    }
    const card = msg.cards[tab];
    current = card.path;
    const at = scroll[current] || [0, 0];
    // Reports the card's scroll position to this page, and restores it once the card has
    // drawn itself (Metaflow cards render with JavaScript after load).
    const keep = '<script nonce="${n}">(function(){var x=' + at[0] + ',y=' + at[1] + ',t=Date.now();' +
      'function back(){window.scrollTo(x,y);if((window.scrollY<y-1||window.scrollX<x-1)&&Date.now()-t<3000){requestAnimationFrame(back);}}' +
      'window.addEventListener("load",back);' +
      'window.addEventListener("scroll",function(){parent.postMessage({flowspinScroll:[window.scrollX,window.scrollY]},"*");});})();<\\/script>';
    // After the last </body>: a card's own scripts may contain the text "</body>".
    const end = card.html.toLowerCase().lastIndexOf('</body>');
    frame.srcdoc = end < 0 ? card.html + keep : card.html.slice(0, end) + keep + card.html.slice(end);
    vscode.setState({ ...(vscode.getState() || {}), scroll, tab, view: msg.state });
  }
  vscode.postMessage({ type: 'ready' });
})();
</script>
</body></html>`;
  }

  dispose(): void {
    clearTimeout(this.followTimer);
    this.panel?.dispose();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

export function registerCardView(context: vscode.ExtensionContext, server: Server): vscode.Disposable[] {
  const view = new CardView(context, server);
  return [
    view,
    vscode.commands.registerCommand('flowspin.showCard', async (arg: unknown) => {
      try {
        await view.show(arg);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        log.error(`flowspin.showCard failed: ${message}`);
        void vscode.window.showErrorMessage(`flowspin: ${message}`);
      }
    }),
    vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
        const saved = (state ?? {}) as { view?: ViewState };
        view.adopt(panel, saved.view);
      },
    }),
  ];
}
