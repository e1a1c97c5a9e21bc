/** The status bar item: the server's state at a glance; a click opens the logs. */
import * as vscode from 'vscode';

export type ServerState = 'starting' | 'ready' | 'busy' | 'error' | 'stopped';

const ICONS: Record<ServerState, string> = {
  starting: '$(loading~spin)',
  ready: '$(zap)',
  busy: '$(loading~spin)',
  error: '$(error)',
  stopped: '$(circle-slash)',
};

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private current: ServerState = 'stopped';

  constructor() {
    this.item = vscode.window.createStatusBarItem('flowspin.status', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'flowspin';
    this.item.command = 'flowspin.showLogs';
    this.set('starting', 'Starting the flowspin server…');
    this.item.show();
  }

  get state(): ServerState {
    return this.current;
  }

  set(state: ServerState, message: string): void {
    this.current = state;
    this.item.text = `${ICONS[state]} flowspin: ${state}`;
    this.item.tooltip = `flowspin: ${state}${message ? ` — ${message}` : ''}\nClick to show the logs.`;
    this.item.accessibilityInformation = { label: `flowspin ${state}: ${message}` };
    this.item.backgroundColor =
      state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
