/**
 * The artifact preview: "Open" in the Artifacts view shows an artifact (or a value inside it)
 * beside the code: a table for DataFrames, Series, arrays and lists of records (100 rows a
 * page, paging, sorting by a column, numbers right-aligned), text or JSON for anything else.
 * Each page is one `flowspin/artifactPage` request: the server reads the value once, keeps it,
 * and sends only the rows shown.
 *
 * The page is built by webviewPage.ts like the card viewer's and flow panel's: a fresh nonce
 * per page, a strict CSP (no inline script or style, no network), assets through asWebviewUri
 * from localResourceRoots (media/). Messages from the page are accepted only in the expected
 * shapes, and a serializer restores the panel after a window reload.
 */
import * as vscode from 'vscode';
import type { Server } from './client';
import { log } from './log';
import type { PageSort } from './protocol';
import { createPagePanel, OWN, type PageSpec, showPage } from './webviewPage';

export const TABLE_VIEW_TYPE = 'flowspin.artifactTable';
export const PAGE_ROWS = 100;

/** Which value: a step's artifact (path[0]) or a value below it, from a source. */
export interface ArtifactTarget {
  uri: string;
  step: string;
  source: string;
  path: string[];
}

type Sort = PageSort;

type FromPage = { type: 'ready' } | { type: 'page'; offset: number; sort: Sort | null };

/** The page (see webviewPage.ts): no inline script or style, assets from media/. */
const PAGE: PageSpec = {
  title: 'Artifact',
  styles: ['media/artifactTable.css'],
  scripts: ['media/artifactTable.js'],
  csp: { 'font-src': [OWN] },
  body: `<header>
<strong id="title"></strong><span id="info"></span>
<span class="spacer"></span>
<button id="prev" title="Previous ${PAGE_ROWS} rows" disabled>‹ Prev</button><span id="range"></span><button id="next" title="Next ${PAGE_ROWS} rows" disabled>Next ›</button>
</header>
<div id="status" role="status">Loading…</div>
<div id="scroll"><table id="table" hidden><thead><tr id="head"></tr></thead><tbody id="body"></tbody></table><pre id="text" hidden></pre></div>`,
};

function isTarget(t: unknown): t is ArtifactTarget {
  if (!t || typeof t !== 'object') {
    return false;
  }
  const x = t as Record<string, unknown>;
  return (
    typeof x.uri === 'string' &&
    typeof x.step === 'string' &&
    typeof x.source === 'string' &&
    Array.isArray(x.path) &&
    x.path.length > 0 &&
    x.path.length <= 64 &&
    x.path.every((p) => typeof p === 'string' && p.length < 1024)
  );
}

function isMessage(m: unknown): m is FromPage {
  if (!m || typeof m !== 'object') {
    return false;
  }
  const x = m as Record<string, unknown>;
  if (x.type === 'ready') {
    return true;
  }
  if (x.type !== 'page' || typeof x.offset !== 'number' || !Number.isInteger(x.offset) || x.offset < 0) {
    return false;
  }
  if (x.sort === null) {
    return true;
  }
  const s = x.sort as Record<string, unknown> | undefined;
  return !!s && typeof s === 'object' && typeof s.column === 'string' && s.column.length < 1024 && typeof s.descending === 'boolean';
}

function key(t: ArtifactTarget): string {
  return JSON.stringify([t.uri, t.step, t.source, t.path]);
}

function title(t: ArtifactTarget): string {
  const [name, ...rest] = t.path;
  return `${t.step}.${name ?? ''}${rest.map((p) => `[${p}]`).join('')}`;
}

class ArtifactTable implements vscode.Disposable {
  private seq = 0;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    readonly target: ArtifactTarget,
    readonly panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    private readonly server: Server,
    onDispose: () => void,
  ) {
    panel.title = title(target);
    showPage(panel, context.extensionUri, PAGE);
    this.disposables.push(
      panel.onDidDispose(() => {
        this.dispose();
        onDispose();
      }),
      panel.webview.onDidReceiveMessage((m: unknown) => {
        if (isMessage(m)) {
          const offset = m.type === 'page' ? m.offset : 0;
          const sort = m.type === 'page' ? m.sort : null;
          void this.load(offset, sort).catch((e: unknown) => log.warn(`artifact table: ${String(e)}`));
        }
      }),
    );
  }

  async load(offset: number, sort: Sort | null): Promise<void> {
    const seq = ++this.seq;
    let answer: unknown;
    try {
      answer = await this.server.request('flowspin/artifactPage', { ...this.target, offset, limit: PAGE_ROWS, sort });
    } catch (e) {
      answer = { ok: false, message: e instanceof Error ? e.message : String(e) };
    }
    if (seq === this.seq) {
      await this.panel.webview.postMessage({ type: 'page', title: title(this.target), target: this.target, answer });
    }
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
    this.disposables.length = 0;
  }
}

/** The open previews, one per value. */
export class ArtifactTables implements vscode.Disposable {
  private readonly tables = new Map<string, ArtifactTable>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly server: Server,
  ) {
    this.disposables.push(
      vscode.window.registerWebviewPanelSerializer(TABLE_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
          const target = (state as { target?: unknown } | undefined)?.target;
          if (!isTarget(target)) {
            panel.dispose();
            return;
          }
          this.adopt(panel, target);
        },
      }),
    );
  }

  async show(target: ArtifactTarget): Promise<void> {
    const open = this.tables.get(key(target));
    if (open) {
      open.panel.reveal(undefined, true);
      await open.load(0, null);
      return;
    }
    const panel = createPagePanel(TABLE_VIEW_TYPE, title(target), this.context.extensionUri, PAGE);
    this.adopt(panel, target);
  }

  private adopt(panel: vscode.WebviewPanel, target: ArtifactTarget): void {
    const k = key(target);
    this.tables.get(k)?.panel.dispose();
    const table = new ArtifactTable(target, panel, this.context, this.server, () => {
      if (this.tables.get(k) === table) {
        this.tables.delete(k);
      }
    });
    this.tables.set(k, table);
  }

  dispose(): void {
    for (const t of [...this.tables.values()]) {
      t.panel.dispose();
    }
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
