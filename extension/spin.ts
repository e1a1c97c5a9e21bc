/**
 * Spin UI: live spin output in the "flowspin: spin" channel, the last spin's outcome in the
 * status bar, and the cursor's position sent to the server (which preloads that step's parent
 * state). The server decides everything; this only shows it.
 */
import * as vscode from 'vscode';
import type { Server } from './client';

const CURSOR_DEBOUNCE_MS = 300;

export function registerSpinUi(server: Server): vscode.Disposable[] {
  const output = vscode.window.createOutputChannel('flowspin: spin');
  const item = vscode.window.createStatusBarItem('flowspin.lastSpin', vscode.StatusBarAlignment.Left, 9);
  item.name = 'flowspin: last spin';
  item.command = 'flowspin.showSpinOutput';
  let shown = false;
  let lastStep = '';

  const onLog = server.onNotification('flowspin/log', (p) => {
    if (p.step !== lastStep) {
      lastStep = p.step;
      output.appendLine(`── spin of ${p.step} ──`);
    }
    output.append(p.text);
    if (!shown) {
      shown = true;
      output.show(true); // first output: visible, focus stays in the editor
    }
  });
  const onResult = server.onNotification('flowspin/spinResult', (p) => {
    const mark = p.status === 'ok' ? '✓' : p.status === 'cancelled' ? '■' : '✗';
    const detail = p.status === 'ok' ? `${Math.round(p.duration_ms)} ms` : p.error?.type ?? p.status;
    item.text = `${mark} ${p.step} ${detail}`;
    item.tooltip = p.summary;
    item.show();
    output.appendLine(p.summary);
    lastStep = '';
  });

  let timer: ReturnType<typeof setTimeout> | undefined;
  const onCursor = vscode.window.onDidChangeTextEditorSelection((e) => {
    const doc = e.textEditor.document;
    if (doc.languageId !== 'python' || doc.uri.scheme !== 'file') {
      return;
    }
    const line = e.selections[0]?.active.line;
    if (line === undefined) {
      return;
    }
    if (timer) {
      clearTimeout(timer);
    }
    timer = setTimeout(() => server.notify('flowspin/cursor', { uri: doc.uri.toString(), line }), CURSOR_DEBOUNCE_MS);
  });
  const showOutput = vscode.commands.registerCommand('flowspin.showSpinOutput', () => output.show(true));
  return [
    output,
    item,
    onLog,
    onResult,
    onCursor,
    showOutput,
    new vscode.Disposable(() => timer && clearTimeout(timer)),
  ];
}
