/**
 * Debug Step: VS Code's own debugger UI attached to the step a spin runs under debugpy.
 *
 * "Flowspin: Debug Step" (commands.ts) asks the server for `flowspin.server.debugStep`; the
 * spin's child listens with debugpy and the server says where with `flowspin/debugListening`
 * `{uri, step, host, port}`. The `flowspin` debug session's adapter is that address
 * (`DebugAdapterServer`): VS Code speaks DAP straight to debugpy in the child, so no Python
 * extension is needed. The child starts the step once the session has sent its breakpoints;
 * when the step ends the child exits and the session with it, and the spin's result shows as
 * any spin's.
 *
 * The session is started as the spin is requested, not when the address is known: VS Code
 * takes ~0.4 s to get a session going (activation events, configuration), the child as long to
 * listen, and the two overlap. The adapter factory waits for the address; a spin that ends
 * without one (a syntax error, debugpy missing) ends the session quietly, and its result says why.
 */
import * as vscode from 'vscode';
import type { CommandResult, Server } from './client';
import { log } from './log';

export const DEBUG_TYPE = 'flowspin';

interface DebugListening {
  uri: string;
  step: string;
  host: string;
  port: number;
}

interface Pending {
  resolve: (adapter: vscode.DebugAdapterDescriptor) => void;
  adapter: Promise<vscode.DebugAdapterDescriptor>;
  settled: boolean;
}

const key = (uri: string, step: string): string => `${uri}#${step}`;

/** The attach configuration; `host`/`port` known, or `spin` naming the debug spin to wait for. */
export function attachConfiguration(step: string, where: { host: string; port: number } | { spin: string }): vscode.DebugConfiguration {
  return {
    type: DEBUG_TYPE,
    request: 'attach',
    name: `Flowspin: ${step}`,
    ...where,
    // Breakpoints in the flow's libraries and in Metaflow are hit too.
    justMyCode: false,
  };
}

/**
 * An adapter that ends the session at once: what a debug spin that never listened gets, so the
 * session started for it goes away without an error of its own (the spin's answer says why).
 */
class EndedAdapter implements vscode.DebugAdapter {
  private readonly emitter = new vscode.EventEmitter<vscode.DebugProtocolMessage>();
  readonly onDidSendMessage = this.emitter.event;
  private seq = 0;

  handleMessage(message: vscode.DebugProtocolMessage): void {
    const m = message as { seq?: number; type?: string; command?: string };
    if (m.type !== 'request') {
      return;
    }
    const reply = { seq: ++this.seq, type: 'response', request_seq: m.seq, command: m.command, success: true, body: {} };
    this.emitter.fire(reply);
    if (m.command === 'initialize') {
      this.emitter.fire({ seq: ++this.seq, type: 'event', event: 'terminated', body: {} });
    }
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

export class DebugLauncher implements vscode.DebugAdapterDescriptorFactory {
  private readonly pending = new Map<string, Pending>();

  /**
   * A debug spin of `step` was just requested (`answer`: the server's answer, when the spin
   * ends): start its session now; the adapter follows the address.
   */
  willDebug(uri: string, step: string, answer: Promise<CommandResult>): void {
    const id = key(uri, step);
    this.pending.get(id)?.resolve(new vscode.DebugAdapterInlineImplementation(new EndedAdapter()));
    let resolve!: (adapter: vscode.DebugAdapterDescriptor) => void;
    const adapter = new Promise<vscode.DebugAdapterDescriptor>((r) => (resolve = r));
    const entry: Pending = { resolve, adapter, settled: false };
    entry.resolve = (a) => {
      if (!entry.settled) {
        entry.settled = true;
        resolve(a);
      }
    };
    this.pending.set(id, entry);
    const ended = (): void => {
      entry.resolve(new vscode.DebugAdapterInlineImplementation(new EndedAdapter()));
      if (this.pending.get(id) === entry) {
        this.pending.delete(id);
      }
    };
    answer.then(ended, ended);
    this.start(uri, attachConfiguration(step, { spin: id }));
  }

  /** `flowspin/debugListening`: the session waiting for this spin gets its adapter. */
  listening(p: DebugListening): void {
    log.info(`Debug Step: '${p.step}' listens at ${p.host}:${p.port}`);
    const entry = this.pending.get(key(p.uri, p.step));
    if (entry && !entry.settled) {
      entry.resolve(new vscode.DebugAdapterServer(p.port, p.host));
      return;
    }
    // A debug spin this window did not start (another command, a reconnect): attach now.
    this.start(p.uri, attachConfiguration(p.step, { host: p.host, port: p.port }));
  }

  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    const c = session.configuration as { host?: unknown; port?: unknown; spin?: unknown };
    if (typeof c.spin === 'string') {
      const entry = this.pending.get(c.spin);
      return entry ? entry.adapter : new vscode.DebugAdapterInlineImplementation(new EndedAdapter());
    }
    if (typeof c.port !== 'number' || !Number.isInteger(c.port) || c.port <= 0) {
      throw new Error('A "flowspin" debug session attaches to a debug spin: run "Flowspin: Debug Step".');
    }
    return new vscode.DebugAdapterServer(c.port, typeof c.host === 'string' && c.host ? c.host : '127.0.0.1');
  }

  private start(uri: string, config: vscode.DebugConfiguration): void {
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(uri)) ?? vscode.workspace.workspaceFolders?.[0];
    void vscode.debug.startDebugging(folder, config).then(
      (started) => {
        if (!started) {
          log.warn(`Debug Step: VS Code did not start the debug session "${config.name}".`);
        }
      },
      (e: unknown) => log.error(`Debug Step: starting the debug session failed: ${String(e)}`),
    );
  }
}

export function registerDebugUi(server: Server, launcher: DebugLauncher): vscode.Disposable[] {
  const factory = vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, launcher);
  const onListening = server.onNotification<DebugListening>('flowspin/debugListening', (p) => launcher.listening(p));
  return [factory, onListening];
}
