/**
 * One way to build a webview page, shared by the card viewer, the flow panel and the artifact
 * preview. A page is described (title, scripts, styles, what its CSP allows beyond the base,
 * body) and this module does the rest the same way for all of them:
 *
 * - a nonce made fresh for every page (`pageHtml` makes one per call), given only to the
 *   page's own `<script>` tags;
 * - a strict Content-Security-Policy: `default-src 'none'`, scripts only by that nonce (plus
 *   what the page adds, e.g. the card helper's hash), styles only from the extension, no
 *   network unless a page names a source;
 * - scripts and styles through `asWebviewUri`, and `localResourceRoots` that are exactly the
 *   folders those files live in (plus any roots the page adds);
 * - scripts enabled, context not retained when hidden (each page restores its own state).
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';

/** Stands for the extension's own files (`webview.cspSource`) among a directive's sources. */
export const OWN: unique symbol = Symbol('webview.cspSource');

export type CspSource = string | typeof OWN;

export type CspDirective = 'script-src' | 'style-src' | 'img-src' | 'font-src' | 'connect-src' | 'frame-src';

/** What the page's body can use: the policy for a nested frame that must not get the nonce. */
export interface PageParts {
  /** The page's policy without its nonce (for an iframe's `csp` attribute). */
  policyWithoutNonce: string;
}

export interface PageSpec {
  /** The document's `<title>` (the panel's title is set on the panel). */
  title: string;
  /** Scripts, as paths under the extension's root ('media/cardView.js'); each gets the nonce. */
  scripts: readonly string[];
  /** Stylesheets, as paths under the extension's root. */
  styles: readonly string[];
  /**
   * Sources added to the base policy (`default-src 'none'; style-src OWN; script-src 'nonce-…'`),
   * per directive, in the order given.
   */
  csp?: Partial<Record<CspDirective, readonly CspSource[]>>;
  /** More folders the page may load from, besides those of its scripts and styles. */
  roots?: readonly vscode.Uri[];
  /** The HTML inside `<body>`, before the scripts. */
  body: string | ((parts: PageParts) => string);
}

function nonce(): string {
  return randomBytes(16).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The webview's options for a page: scripts on, resources only from the page's folders. */
export function pageOptions(
  extensionUri: vscode.Uri,
  spec: PageSpec,
): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  const folders = [...new Set([...spec.styles, ...spec.scripts].map((file) => path.posix.dirname(file)))];
  return {
    enableScripts: true,
    localResourceRoots: [...folders.map((f) => vscode.Uri.joinPath(extensionUri, ...f.split('/'))), ...(spec.roots ?? [])],
    retainContextWhenHidden: false,
  };
}

/** The policy: the base directives, then the page's own, `'nonce-…'` first in script-src. */
function policy(webview: vscode.Webview, spec: PageSpec, scriptNonce: string | undefined): string {
  const directives = new Map<string, string[]>([
    ['style-src', [webview.cspSource]],
    ['script-src', scriptNonce ? [`'nonce-${scriptNonce}'`] : []],
  ]);
  for (const [directive, sources] of Object.entries(spec.csp ?? {})) {
    const list = directives.get(directive) ?? [];
    for (const source of sources) {
      const text = source === OWN ? webview.cspSource : source;
      if (!list.includes(text)) {
        list.push(text);
      }
    }
    directives.set(directive, list);
  }
  const parts = ["default-src 'none'"];
  for (const [directive, sources] of directives) {
    parts.push(`${directive} ${sources.length ? sources.join(' ') : "'none'"}`);
  }
  return parts.join('; ');
}

/** The page's HTML, with a nonce of its own (a new one on every call). */
export function pageHtml(webview: vscode.Webview, extensionUri: vscode.Uri, spec: PageSpec): string {
  const n = nonce();
  const asset = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...file.split('/'))).toString();
  const body = typeof spec.body === 'string' ? spec.body : spec.body({ policyWithoutNonce: policy(webview, spec, undefined) });
  const styles = spec.styles.map((file) => `<link rel="stylesheet" href="${asset(file)}">\n`).join('');
  const scripts = spec.scripts.map((file) => `<script nonce="${n}" src="${asset(file)}"></script>\n`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${policy(webview, spec, n)}">
${styles}<title>${escapeHtml(spec.title)}</title>
</head>
<body>
${body}
${scripts}</body></html>`;
}

/** Puts a page into a panel (a new one or one VS Code restored): its options, then its HTML. */
export function showPage(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, spec: PageSpec): void {
  panel.webview.options = pageOptions(extensionUri, spec);
  panel.webview.html = pageHtml(panel.webview, extensionUri, spec);
}

/** A new panel for a page, beside the editor, leaving the focus in the editor. */
export function createPagePanel(viewType: string, title: string, extensionUri: vscode.Uri, spec: PageSpec): vscode.WebviewPanel {
  return vscode.window.createWebviewPanel(
    viewType,
    title,
    { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
    pageOptions(extensionUri, spec),
  );
}
