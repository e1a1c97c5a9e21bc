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
 *
 * Post-mortem ("Debug this step" on a failed spin or run task): the session is told
 * `post_mortem`, and its `setExceptionBreakpoints` always includes "uncaught"; the spin's child
 * shows the step's exception to debugpy as uncaught, so the editor stops at the raising line.
 *
 * launch.json: a `flowspin` "launch" configuration (`step`, `split`, `run`, `params`, `program`)
 * is turned into the same debug spin, and its session into the attach session above.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { CommandResult, Server } from './client';
import { type DebugOptions, saveIfDirty, show } from './commands';
import { log } from './log';
import type { DebugListening } from './protocol';

export const DEBUG_TYPE = 'flowspin';

interface Pending {
  resolve: (adapter: vscode.DebugAdapterDescriptor) => void;
  adapter: Promise<vscode.DebugAdapterDescriptor>;
  settled: boolean;
}

const key = (uri: string, step: string): string => `${uri}#${step}`;

/** The session's title: the step, and the foreach split or the run's task it debugs. */
export function sessionName(step: string, options: DebugOptions = {}): string {
  let name = `Debug ${step}`;
  const task = options.task?.split('/');
  if (task && task.length === 4) {
    name += ` [run ${task[1]}, task ${task[3]}]`;
  } else if (typeof options.split === 'number') {
    name += ` [split ${options.split}]`;
  }
  return options.post_mortem ? `${name} (post-mortem)` : name;
}

/** The attach configuration; `host`/`port` known, or `spin` naming the debug spin to wait for. */
export function attachConfiguration(
  step: string,
  where: { host: string; port: number } | { spin: string },
  options: DebugOptions = {},
): vscode.DebugConfiguration {
  return {
    type: DEBUG_TYPE,
    request: 'attach',
    name: sessionName(step, options),
    ...where,
    // Breakpoints in the flow's libraries and in Metaflow are hit too.
    justMyCode: false,
    ...(options.post_mortem ? { post_mortem: true } : {}),
  };
}

/**
 * A post-mortem session's exception breakpoints always include "uncaught", whatever the
 * Breakpoints view has ticked. The tracker sees each request before the adapter does (VS Code
 * hands it the message it then sends), so the filter is added in place.
 */
export function breakOnUncaught(message: unknown): void {
  const m = message as { type?: string; command?: string; arguments?: { filters?: unknown; filterOptions?: unknown } };
  if (m.type !== 'request' || m.command !== 'setExceptionBreakpoints') {
    return;
  }
  const args = (m.arguments ??= {});
  if (Array.isArray(args.filterOptions) && args.filterOptions.length > 0) {
    const options = args.filterOptions as { filterId?: string }[];
    if (!options.some((o) => o.filterId === 'uncaught')) {
      options.push({ filterId: 'uncaught' });
    }
    return;
  }
  const filters = Array.isArray(args.filters) ? (args.filters as string[]) : [];
  if (!filters.includes('uncaught')) {
    args.filters = [...filters, 'uncaught'];
  }
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
  willDebug(uri: string, step: string, answer: Promise<CommandResult>, options: DebugOptions = {}): void {
    this.start(uri, this.prepare(uri, step, answer, options));
  }

  /**
   * The session for a debug spin just requested, to be started by the caller (`willDebug`, or
   * VS Code itself for a launch.json configuration): its adapter follows the address.
   */
  prepare(uri: string, step: string, answer: Promise<CommandResult>, options: DebugOptions = {}): vscode.DebugConfiguration {
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
    return attachConfiguration(step, { spin: id }, options);
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

/** A launch.json attribute given with the wrong type: the message that says so. */
function badAttribute(config: vscode.DebugConfiguration): string | undefined {
  const wrong = (name: string, what: string): string => `The "${name}" of the "flowspin" launch configuration must be ${what}.`;
  if (config.step !== undefined && (typeof config.step !== 'string' || !config.step)) {
    return wrong('step', 'a step name');
  }
  if (config.split !== undefined && !(Number.isInteger(config.split) && (config.split as number) >= 0)) {
    return wrong('split', 'a split number (0, 1, ...)');
  }
  if (config.run !== undefined && typeof config.run !== 'string' && typeof config.run !== 'number') {
    return wrong('run', 'a run id');
  }
  const params: unknown = config.params;
  if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params))) {
    return wrong('params', 'an object of parameter names to values');
  }
  return undefined;
}

/**
 * launch.json's `flowspin` configurations: "launch" is a Debug Step of `step` (default: the step
 * under the cursor) in `program` (default: the active editor's flow file), with the spin's
 * `split`, `run` and `params`; it becomes the attach session of that debug spin. F5 without a
 * launch.json debugs the step under the cursor.
 */
export class LaunchProvider implements vscode.DebugConfigurationProvider {
  constructor(
    private readonly server: Server,
    private readonly launcher: DebugLauncher,
  ) {}

  provideDebugConfigurations(): vscode.DebugConfiguration[] {
    return [{ type: DEBUG_TYPE, request: 'launch', name: 'Flowspin: Debug Step', program: '${file}' }];
  }

  resolveDebugConfiguration(_folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): vscode.DebugConfiguration {
    if (!config.type && !config.request && !config.name) {
      return { type: DEBUG_TYPE, request: 'launch', name: 'Flowspin: Debug Step', program: '${file}' };
    }
    return config;
  }

  async resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    if (config.request !== 'launch') {
      return config; // an attach session: a known address, or a debug spin's own session
    }
    const problem = badAttribute(config);
    if (problem) {
      void vscode.window.showErrorMessage(problem);
      return undefined;
    }
    const editor = vscode.window.activeTextEditor;
    const file: unknown = config.program ?? config.file;
    let uri = editor?.document.uri;
    if (typeof file === 'string' && file) {
      const base = folder?.uri.fsPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
      uri = vscode.Uri.file(path.isAbsolute(file) ? file : path.join(base, file));
    }
    if (!uri) {
      void vscode.window.showInformationMessage('Open a Metaflow flow file, or give the configuration a "program".');
      return undefined;
    }
    let step = config.step as string | undefined;
    if (!step && editor && editor.document.uri.toString() === uri.toString()) {
      step = (await this.server.stepAt(uri, editor.selection.active.line))?.step;
    }
    if (!step) {
      void vscode.window.showInformationMessage('Put the cursor inside a @step, or give the configuration a "step".');
      return undefined;
    }
    if (!(await saveIfDirty(uri))) {
      void vscode.window.showWarningMessage(`flowspin: could not save ${uri.fsPath}; nothing was started.`);
      return undefined;
    }
    const arg: Record<string, unknown> = { uri: uri.toString(), step };
    if (config.split !== undefined) {
      arg.split = config.split;
    }
    if (config.run !== undefined) {
      arg.run = String(config.run);
    }
    if (config.params !== undefined) {
      arg.params = Object.fromEntries(Object.entries(config.params as object).map(([k, v]) => [k, String(v)]));
    }
    const answer = this.server.execute('debugStep', arg);
    answer.then(
      (result) => show('debugStep', result),
      (e: unknown) => log.error(`Debug Step: ${String(e)}`),
    );
    const split = config.split as number | undefined;
    const session = this.launcher.prepare(uri.toString(), step, answer, { split });
    let name = typeof config.name === 'string' && config.name ? config.name : session.name;
    if (split !== undefined && !name.includes(`split ${split}`)) {
      name += ` [split ${split}]`; // the title names the split, as a Debug Step's does
    }
    return { ...session, name };
  }
}

export function registerDebugUi(server: Server, launcher: DebugLauncher): vscode.Disposable[] {
  const factory = vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, launcher);
  const onListening = server.onNotification('flowspin/debugListening', (p) => launcher.listening(p));
  const postMortem = vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, {
    createDebugAdapterTracker: (session) =>
      (session.configuration as { post_mortem?: unknown }).post_mortem === true ? { onWillReceiveMessage: breakOnUncaught } : undefined,
  });
  const provider = new LaunchProvider(server, launcher);
  const launches = vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, provider);
  return [factory, onListening, postMortem, launches];
}
