/**
 * The card viewer: a webview beside the editor showing the cards of the step under the cursor,
 * from the latest spin or the latest run (a toggle: auto, the newer of the two, or spin or run;
 * the server picks the cards, `flowspin/cardFor`), and redrawing when the server reports a new
 * card file (`flowspin/cardChanged`: a spin's card, a run's runtime render or final card, or a
 * running task's data update, which the card applies in place). The notification carries the
 * cards, so a redraw costs no round trip to the server. Several cards of a step are tabs;
 * scroll positions survive reloads. The page's own script and styles are
 * media/cardView.{js,css}, loaded through asWebviewUri.
 *
 * A card is someone's HTML and JavaScript, so it is held at arm's length: it runs in a
 * sandboxed iframe (srcdoc, `allow-scripts` without `allow-same-origin`: an opaque origin that
 * cannot touch the panel), its HTML byte for byte as the file holds it (no text rewriting), and
 * under the panel's strict CSP: no network, the page's script only with a nonce made fresh for
 * each page and never given to card content. The card's inline scripts run through the helper
 * media/cardFrame.js (allowed by its hash), which re-creates them from blob: URLs. The page
 * believes only VS Code's host and the card's own frame, in the shapes it expects.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import type { Server } from './client';
import { log } from './log';
import type { CardAnswer, CardChanged, CardSet, CardSource } from './protocol';
import { createPagePanel, OWN, type PageSpec, showPage } from './webviewPage';

export const VIEW_TYPE = 'flowspin.cardView';

type Source = CardSource;
const SOURCES: readonly Source[] = ['auto', 'spin', 'run'];

/** What the panel remembers across window reloads (WebviewPanelSerializer). */
interface ViewState {
  uri?: string;
  step?: string;
  pinned?: boolean;
  source?: Source;
}

const TOGGLE_TITLES: Record<Source, string> = {
  auto: 'The newer of the latest spin card and the latest run card',
  spin: 'The card of the latest spin of the step',
  run: 'The card of the latest run (live while the run is in flight)',
};

/** An inline script's body (found to send it once; the card's text is never changed). */
const SCRIPT = /(<script\b[^>]*>)([\s\S]*?)(<\/script\s*>)/gi;
const ASSET_MIN = 32 * 1024;

/** Which spin or run task a card set belongs to. */
function setKey(c: CardSet): string {
  return c.source === 'run' ? `run/${c.run_id ?? ''}/${c.task_id ?? ''}` : 'spin';
}

class CardView implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private state: ViewState = {};
  private flow: string | undefined;
  /** The card set on screen (source, run task and card paths), to tell a data update for it. */
  private shown: { key: string; paths: string[] } | undefined;
  /** Bumped by every redraw, so a slow `cardFor` answer cannot replace a newer card. */
  private seq = 0;
  /** media/cardFrame.js, the helper that runs inside each card's frame, and its CSP hash. */
  private readonly frameScript: string;
  private readonly frameHash: string;
  /** Large inline scripts the webview holds already (see `pack`), by content hash. */
  private sentAssets = new Set<string>();
  private followTimer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly server: Server,
  ) {
    this.frameScript = readFileSync(vscode.Uri.joinPath(context.extensionUri, 'media', 'cardFrame.js').fsPath, 'utf8');
    this.frameHash = `'sha256-${createHash('sha256').update(this.frameScript, 'utf8').digest('base64')}'`;
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
    this.state = { uri, step, pinned: false, source: this.state.source ?? 'auto' };
    if (!this.panel) {
      this.adopt(createPagePanel(VIEW_TYPE, 'Card', this.context.extensionUri, this.page()), this.state);
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
    showPage(panel, this.context.extensionUri, this.page());
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = undefined;
      }
    });
    panel.webview.onDidReceiveMessage((msg: { type: string; source?: string }) => {
      if (msg.type === 'pin') {
        this.state.pinned = !this.state.pinned;
        void this.refresh();
      } else if (msg.type === 'source' && SOURCES.includes(msg.source as Source)) {
        this.state.source = msg.source as Source;
        void this.refresh();
      } else if (msg.type === 'ready' || msg.type === 'missing') {
        this.sentAssets.clear(); // a new page (or one that lost an asset) holds none
        void this.refresh();
      } else if (msg.type === 'stale') {
        void this.refresh();
      }
    });
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

  /**
   * A card file changed on disk. A spin's card, or a run's render, of the step shown (and of the
   * source the toggle asks for) is drawn straight from the notification; a data update of the
   * run card on screen goes into the card as it is, without reloading it.
   */
  private onChanged(p: CardChanged): void {
    log.info(`card changed: ${p.flow}/${p.step} ${p.source ?? 'spin'} ${p.kind ?? 'html'} (${p.path})`);
    if (!this.panel || p.step !== this.state.step || (this.flow && p.flow !== this.flow)) {
      return;
    }
    const source = this.state.source ?? 'auto';
    const from = p.source ?? 'spin';
    if (source !== 'auto' && source !== from) {
      return;
    }
    const shown = this.shown;
    if (p.kind === 'data' && shown && shown.key === setKey(p) && p.cards.every((c) => shown.paths.includes(c.path))) {
      void this.panel.webview.postMessage({ type: 'data', path: p.path, data: p.data, created: p.created, live: p.live });
      return;
    }
    void this.draw({ ...p, ok: true, source: from, asked: source }).catch((e: unknown) =>
      log.warn(`card viewer: ${String(e)}`),
    );
  }

  /** Asks the server for the step's cards and draws them. */
  private async refresh(): Promise<void> {
    const panel = this.panel;
    if (!panel || !this.state.uri || !this.state.step) {
      void panel?.webview.postMessage({ type: 'empty', message: 'Put the cursor inside a @step and run "Flowspin: Show Card".' });
      return;
    }
    const seq = this.seq;
    const answer = await this.server.request('flowspin/cardFor', {
      uri: this.state.uri,
      step: this.state.step,
      source: this.state.source ?? 'auto',
    });
    if (seq !== this.seq || panel !== this.panel) {
      return; // a notification drew a newer card meanwhile
    }
    log.info(`card viewer: step ${answer.step ?? this.state.step}: ${answer.label ?? answer.message ?? ''}`);
    await this.draw(answer);
  }

  /** Sends a card set, with each card's HTML, to the webview. */
  private async draw(answer: CardAnswer): Promise<void> {
    const panel = this.panel;
    if (!panel) {
      return;
    }
    const seq = ++this.seq;
    this.flow = answer.flow ?? this.flow;
    const scripts = new Map<string, string>();
    const cards = await Promise.all(
      (answer.cards ?? []).map(async (c) => ({ ...c, chunks: this.pack(await readFile(c.path, 'utf8'), scripts) })),
    );
    if (seq !== this.seq) {
      return;
    }
    panel.title = `Card: ${answer.step ?? this.state.step}`;
    const assets: Record<string, string> = {};
    for (const [key, body] of scripts) {
      if (!this.sentAssets.has(key)) {
        this.sentAssets.add(key);
        assets[key] = body;
      }
    }
    this.shown = cards.length ? { key: setKey(answer), paths: cards.map((c) => c.path) } : undefined;
    await panel.webview.postMessage({
      type: cards.length ? 'cards' : 'empty',
      step: answer.step ?? this.state.step,
      source: answer.source,
      asked: this.state.source ?? 'auto',
      label: answer.label ?? '',
      created: answer.created ?? null,
      baseRun: answer.base_run ?? null,
      runId: answer.run_id ?? null,
      taskId: answer.task_id ?? null,
      live: !!answer.live,
      pinned: !!this.state.pinned,
      cards,
      assets,
      frameScript: this.frameScript,
      message: answer.message ?? '',
      howTo: answer.how_to ?? '',
      state: this.state,
    });
  }

  /**
   * Splits a card's HTML for the trip to the webview, losslessly: even chunks are text, odd
   * chunks the hash of a large inline script that is sent once (in `scripts`) and then only
   * referred to. A Metaflow card is ~1 MB of the same JavaScript bundle around a little data;
   * sending that bundle on every reload cost more than drawing the card. Joined again, the
   * chunks are the file's text exactly: nothing of the card is rewritten (a script holding the
   * text "<script" once broke when it was).
   */
  private pack(html: string, scripts: Map<string, string>): string[] {
    const chunks: string[] = [];
    let last = 0;
    for (const match of html.matchAll(SCRIPT)) {
      const [, open = '', body = ''] = match;
      if (body.length < ASSET_MIN) {
        continue;
      }
      const start = (match.index ?? 0) + open.length;
      const key = createHash('sha1').update(body).digest('hex');
      scripts.set(key, body);
      chunks.push(html.slice(last, start), key);
      last = start + body.length;
    }
    chunks.push(html.slice(last));
    return chunks;
  }

  /**
   * The panel's page (see webviewPage.ts), with a nonce of its own: fresh for every page, never
   * in card content. Besides media/, it may read each folder's .flowspin/cards.
   */
  private page(): PageSpec {
    const toggle = SOURCES.map(
      (s) => `<button data-source="${s}" aria-pressed="false" title="${TOGGLE_TITLES[s]}">${s[0]?.toUpperCase()}${s.slice(1)}</button>`,
    ).join('');
    return {
      title: 'Card',
      styles: ['media/cardView.css'],
      scripts: ['media/cardView.js'],
      roots: (vscode.workspace.workspaceFolders ?? []).map((f) => vscode.Uri.joinPath(f.uri, '.flowspin', 'cards')),
      // The page's script by nonce; in a card's frame (which inherits this policy) the helper by
      // its hash, and the card's own scripts as the helper re-creates them, from blob: URLs.
      csp: {
        'img-src': [OWN, 'data:'],
        'style-src': [OWN, "'unsafe-inline'"],
        'script-src': [this.frameHash, 'blob:'],
        'font-src': [OWN, 'data:'],
        'connect-src': ["'none'"],
        'frame-src': ['data:', 'about:'],
      },
      // The card's frame also gets the policy without the nonce (the iframe's `csp`, enforced on
      // top of the inherited one): a card can read the page's policy, nonce included, from a
      // violation report, and a nonce would let it load scripts from anywhere.
      body: ({ policyWithoutNonce }) => `<header><strong id="step"></strong><span class="label" id="label"></span><nav id="tabs"></nav><span class="toggle" role="group" aria-label="Card source">${toggle}</span><button id="pin" title="Keep this card while the cursor moves">Pin</button></header>
<div id="empty" hidden></div>
<iframe id="card" sandbox="allow-scripts" csp="${policyWithoutNonce}" title="card"></iframe>`,
    };
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
        const message = (e instanceof Error ? e.message : String(e)) || 'the card viewer failed without a message; see the "flowspin" output';
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
