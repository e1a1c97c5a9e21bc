/** Entry point: wires the output channel, status bar, server and commands together. */
import * as vscode from 'vscode';
import { registerArtifactsView } from './artifactsView';
import { registerCardView } from './cardView';
import { Server } from './client';
import { registerCommands } from './commands';
import { DebugLauncher, registerDebugUi } from './debug';
import { registerFlowPanel } from './flowPanel';
import { registerLanguageModelTools } from './lmTools';
import { log, logChannel } from './log';
import { onPythonExtensionChange } from './python';
import { SECTION } from './settings';
import { registerRunUi } from './runs';
import { registerSpinUi } from './spin';
import { StatusItem } from './status';

let server: Server | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const out = logChannel();
  const status = new StatusItem();
  server = new Server(out, status);
  const current = server;
  const launcher = new DebugLauncher();
  context.subscriptions.push(out, status, current, ...registerCommands(current, launcher));
  context.subscriptions.push(...registerCardView(context, current));
  context.subscriptions.push(...registerFlowPanel(context, current));
  context.subscriptions.push(...registerArtifactsView(context, current));
  context.subscriptions.push(...registerLanguageModelTools());
  context.subscriptions.push(...registerSpinUi(current));
  context.subscriptions.push(...registerDebugUi(current, launcher));
  context.subscriptions.push(...registerRunUi(current, context));

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(SECTION)) {
        return;
      }
      if (e.affectsConfiguration(`${SECTION}.python`)) {
        log.info('flowspin.python changed; restarting the server.');
        // After this event has reached every listener (the client's own among them).
        setTimeout(() => void current.restart(), 0);
        return;
      }
      if (e.affectsConfiguration(`${SECTION}.trace`)) {
        current.applyTrace();
      }
      current.sendSettings();
    }),
  );
  const pythonChange = await onPythonExtensionChange(() => {
    if (!vscode.workspace.getConfiguration(SECTION).get<string>('python')) {
      log.info('The Python extension selected another interpreter; restarting the server.');
      void current.restart();
    }
  });
  if (pythonChange) {
    context.subscriptions.push(pythonChange);
  }
  await current.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
