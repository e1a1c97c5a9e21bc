/**
 * Debug Step: VS Code's own debugger UI attached to the step a spin runs under debugpy.
 *
 * "Flowspin: Debug Step" (commands.ts) asks the server for `flowspin.server.debugStep`; the
 * spin's child listens with debugpy and the server says where with `flowspin/debugListening`
 * `{uri, step, host, port}`. Here that starts a `flowspin` debug session whose adapter is that
 * address (`DebugAdapterServer`): VS Code speaks DAP straight to debugpy in the child, so no
 * Python extension is needed. The child starts the step once the session has sent its
 * breakpoints; when the step ends the child exits and the session with it, and the spin's
 * result shows as any spin's.
 */
import * as vscode from 'vscode';
import type { Server } from './client';
import { log } from './log';

export const DEBUG_TYPE = 'flowspin';

interface DebugListening {
  uri: string;
  step: string;
  host: string;
  port: number;
}

/** The attach configuration for a child listening at host:port. */
export function attachConfiguration(p: DebugListening): vscode.DebugConfiguration {
  return {
    type: DEBUG_TYPE,
    request: 'attach',
    name: `Flowspin: ${p.step}`,
    host: p.host,
    port: p.port,
    // Breakpoints in the flow's libraries and in Metaflow are hit too.
    justMyCode: false,
  };
}

class AdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    const { host, port } = session.configuration as { host?: unknown; port?: unknown };
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0) {
      throw new Error('A "flowspin" debug session attaches to a debug spin: run "Flowspin: Debug Step".');
    }
    return new vscode.DebugAdapterServer(port, typeof host === 'string' && host ? host : '127.0.0.1');
  }
}

export function registerDebugUi(server: Server): vscode.Disposable[] {
  const factory = vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new AdapterFactory());
  const onListening = server.onNotification<DebugListening>('flowspin/debugListening', (p) => {
    const uri = vscode.Uri.parse(p.uri);
    const folder = vscode.workspace.getWorkspaceFolder(uri) ?? vscode.workspace.workspaceFolders?.[0];
    log.info(`Debug Step: attaching to '${p.step}' at ${p.host}:${p.port}`);
    void vscode.debug.startDebugging(folder, attachConfiguration(p)).then(
      (started) => {
        if (!started) {
          log.warn(`Debug Step: the debugger did not start for '${p.step}' (${p.host}:${p.port}).`);
        }
      },
      (e: unknown) => log.error(`Debug Step: starting the debugger failed: ${String(e)}`),
    );
  });
  return [factory, onListening];
}
