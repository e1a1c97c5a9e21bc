/**
 * The language client: starts `<python> -m flowspin lsp` over stdio, keeps the status bar in
 * step with it, and is the one door through which commands reach the server.
 *
 * Multi-root workspaces: one server serves the whole window. It gets the window's settings and
 * each folder's (settings.ts, `serverSettings`) and resolves a file's settings by its folder;
 * they are sent again when a setting or the set of folders changes. The interpreter and the
 * server's working directory are one choice for the window: see `serverFolder`.
 */
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  State,
  Trace,
  TransportKind,
} from 'vscode-languageclient/node';
import { log, logServerLine, TraceChannel } from './log';
import { checkFlowspin, type Interpreter, resolveInterpreter, shellQuote } from './python';
import { readSettings, SECTION, serverSettings, type TraceLevel } from './settings';
import { versionMismatch } from './version';
import type { StatusItem } from './status';

import {
  checkNotification,
  checkResult,
  type ClientNotificationMethod,
  type ClientNotifications,
  type CommandResult,
  type NotificationMethod,
  type NotificationParams,
  type Params,
  ProtocolError,
  type RequestMethod,
  type Result,
  type StepAt,
  validate,
} from './protocol';

// The shapes of every flowspin/* message are generated from the server's definitions
// (protocol.ts); these two are re-exported for the modules that already took them from here.
export type { CommandResult, StepAt } from './protocol';

// The walkthrough in package.json (contributes.walkthroughs); VS Code names it by extension id.
const EXTENSION_ID = 'flowspin.flowspin';
const WALKTHROUGH_ID = 'flowspin.gettingStarted';

const TRACE: Record<TraceLevel, Trace> = { off: Trace.Off, messages: Trace.Messages, verbose: Trace.Verbose };

/**
 * The folder whose interpreter runs the server and which is its working directory: the folder of
 * the active editor's file if it is in one, else the first folder (none when no folder is open).
 * Chosen when the server starts; switching editors later does not restart it ("Flowspin: Restart
 * Server" does, with the folder active then). Per-file settings do not depend on this choice.
 */
function serverFolder(): vscode.WorkspaceFolder | undefined {
  const active = vscode.window.activeTextEditor?.document.uri;
  return (active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0];
}

export class Server implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly trace: TraceChannel;
  private readonly warned = new Set<string>();
  /** Why the server is not running, for commands invoked meanwhile. */
  private problem = 'the flowspin server has not started yet';
  private starting: Promise<void> | undefined;
  /** Notification handlers registered by other parts of the extension (the card viewer). */
  private handlers: [string, (params: unknown) => void][] = [];
  private readonly folders: vscode.Disposable;

  constructor(
    private readonly out: vscode.LogOutputChannel,
    private readonly status: StatusItem,
  ) {
    this.trace = new TraceChannel(out, readSettings().trace);
    // A folder added or removed: the server learns its settings (or forgets them).
    this.folders = vscode.workspace.onDidChangeWorkspaceFolders(() => this.sendSettings());
  }

  get running(): boolean {
    return this.client?.state === State.Running;
  }

  /** Starts the server unless it is starting or running; concurrent callers share one start. */
  start(): Promise<void> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async restart(): Promise<void> {
    await this.starting;
    await this.stop();
    log.info('Restarting the flowspin server.');
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.dispose(5000);
      } catch (e) {
        log.warn(`Stopping the server: ${String(e)}`);
      }
    }
    this.problem = 'the flowspin server is stopped';
    this.status.set('stopped', 'Stopped. Run "Flowspin: Restart Server" to start it.');
  }

  /** Applies `flowspin.trace` to the running client. */
  applyTrace(): void {
    const level = readSettings().trace;
    this.trace.setLevel(level);
    // The client re-reads its trace level on every configuration change; set ours after it.
    setTimeout(() => void this.client?.setTrace(TRACE[level]), 0);
  }

  /**
   * Sends the settings to the running server: workspace/didChangeConfiguration with
   * `{settings: {flowspin: <window's section>, folder_settings: [{uri, settings}, ...]}}`. Done
   * here rather than by the client's deprecated `synchronize.configurationSection`, which would
   * try to start a server that is restarting (and knows nothing of folders).
   */
  sendSettings(): void {
    if (this.client && this.running) {
      const current = serverSettings();
      const settings = { [SECTION]: current.settings, folder_settings: current.folder_settings };
      this.client.sendNotification(DidChangeConfigurationNotification.type, { settings }).catch((e: unknown) => {
        log.warn(`Sending settings to the server: ${String(e)}`);
      });
    }
  }

  /**
   * A custom `flowspin/*` request, typed by method. The reply is checked against the protocol:
   * one that does not match (a server of another version, a bug) is logged with what was wrong
   * and thrown as a ProtocolError, never handed on.
   */
  async request<M extends RequestMethod>(method: M, params: Params<M>): Promise<Result<M>> {
    const client = await this.ready();
    const reply: unknown = await client.sendRequest(method, params);
    try {
      return checkResult(method, reply);
    } catch (e) {
      log.error(e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  /** A `flowspin/*` notification to the running server; dropped when it is not running. */
  notify<M extends ClientNotificationMethod>(method: M, params: ClientNotifications[M]): void {
    if (this.client && this.running) {
      this.client.sendNotification(method, params).catch((e: unknown) => {
        log.warn(`${method}: ${String(e)}`);
      });
    }
  }

  /**
   * A handler for a server notification, kept across server restarts. It runs only for a
   * payload that matches the protocol (see `checked`).
   */
  onNotification<M extends NotificationMethod>(
    method: M,
    handler: (params: NotificationParams<M>) => void,
  ): vscode.Disposable {
    const stored: [string, (params: unknown) => void] = [
      method,
      (raw: unknown) => {
        const params = this.checked(method, raw);
        if (params !== undefined) {
          handler(params);
        }
      },
    ];
    this.handlers.push(stored);
    const current = this.client?.onNotification(method, stored[1]);
    return new vscode.Disposable(() => {
      this.handlers = this.handlers.filter((h) => h !== stored);
      current?.dispose();
    });
  }

  /** `flowspin/stepAt`: which step holds this (0-based) line, decided by the server's model. */
  async stepAt(uri: vscode.Uri, line: number): Promise<StepAt | null> {
    return this.request('flowspin/stepAt', { uri: uri.toString(), line });
  }

  /**
   * A notification's payload when it matches the protocol, else undefined: the handlers do not
   * run on it, and what was wrong is logged (once per problem, a run's log is many lines).
   */
  private checked<M extends NotificationMethod>(method: M, raw: unknown): NotificationParams<M> | undefined {
    try {
      return checkNotification(method, raw);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!this.warned.has(`protocol:${message}`)) {
        this.warned.add(`protocol:${message}`);
        log.error(`${message}; the notification was dropped.`);
      }
      return undefined;
    }
  }

  async execute(name: string, arg: Record<string, unknown>): Promise<CommandResult> {
    const client = await this.ready();
    const command = `flowspin.server.${name}`;
    log.info(`${command} ${JSON.stringify(arg)}`);
    const result: unknown = await client.sendRequest(ExecuteCommandRequest.type, {
      command,
      arguments: [arg],
    });
    if (result === null || result === undefined) {
      return { ok: false, message: `flowspin server gave no answer to ${command}.` };
    }
    const found = validate('CommandResult', result);
    if (found.length) {
      const problem = new ProtocolError(command, found).message;
      log.error(problem);
      return { ok: false, message: `${problem}.` };
    }
    return result as CommandResult;
  }

  /** The running client, starting the server if needed; throws with the reason it is not up. */
  private async ready(): Promise<LanguageClient> {
    if (this.client?.state === State.Stopped) {
      // The client gave up restarting a crashing server: a command is a good moment to retry.
      await this.restart();
    } else if (!this.running) {
      await this.start();
    }
    if (!this.client || !this.running) {
      throw new Error(`Cannot reach the flowspin server: ${this.problem}.`);
    }
    return this.client;
  }

  private async doStart(): Promise<void> {
    if (this.client) {
      return;
    }
    const folder = serverFolder();
    const python = await resolveInterpreter(readSettings(folder).python, folder);
    const settings = serverSettings();
    this.status.set('starting', `Starting ${python.command} -m flowspin lsp`);
    log.info(`Python interpreter: ${python.command} (from ${python.source}${folder ? `, folder ${folder.name}` : ''})`);

    const check = await checkFlowspin(python.command, folder?.uri.fsPath);
    if (!check.ok) {
      this.problem =
        check.reason === 'no-interpreter'
          ? `the Python interpreter "${python.command}" was not found`
          : `flowspin is not installed in ${python.command}`;
      log.error(`${this.problem}: ${check.detail}`);
      this.status.set('error', `${this.problem}.`);
      this.notifyMissing(python, check.reason);
      return;
    }

    const serverOptions: ServerOptions = {
      command: python.command,
      args: ['-m', 'flowspin', 'lsp'],
      transport: TransportKind.stdio,
      options: { cwd: folder?.uri.fsPath, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'python' },
        { scheme: 'untitled', language: 'python' },
      ],
      outputChannel: this.out,
      traceOutputChannel: this.trace,
      stdioOptions: {
        stdout: (input, channel) => input.on('data', (d: Buffer) => channel.info(d.toString())),
        stderr: (input, channel) => {
          let rest = '';
          input.on('data', (d: Buffer) => {
            const lines = (rest + d.toString()).split(/\r?\n/);
            rest = lines.pop() ?? '';
            for (const line of lines) {
              if (line) {
                logServerLine(channel, line);
              }
            }
          });
        },
      },
      // `{settings: <window's section>, folder_settings: [{uri, settings}, ...]}`
      initializationOptions: settings,
      markdown: { isTrusted: false, supportHtml: false },
    };
    const client = new LanguageClient('flowspinServer', 'flowspin', serverOptions, clientOptions);
    client.onDidChangeState((e) => {
      if (e.newState === State.Running) {
        this.status.set('ready', `Server running (${python.command}).`);
      } else if (e.newState === State.Stopped && this.client === client) {
        this.problem = 'the flowspin server stopped (see the flowspin output for why)';
        this.status.set('error', 'The server stopped. Click to see the logs; "Flowspin: Restart Server" restarts it.');
      }
    });
    client.onNotification('flowspin/status', (raw: unknown) => {
      const params = this.checked('flowspin/status', raw);
      if (!params) {
        return;
      }
      const state = params.state === 'busy' || params.state === 'error' ? params.state : 'ready';
      this.status.set(state, params.message ?? '');
      if (params.message && state === 'error') {
        log.error(params.message);
      }
    });
    for (const [method, handler] of this.handlers) {
      client.onNotification(method, handler);
    }
    this.client = client;
    try {
      await client.start();
      this.problem = '';
      await client.setTrace(TRACE[settings.settings.trace]);
      log.info(`flowspin server started: ${python.command} -m flowspin lsp`);
      const info = client.initializeResult?.serverInfo;
      const manifest = vscode.extensions.getExtension(EXTENSION_ID)?.packageJSON as { version?: string } | undefined;
      const ours = String(manifest?.version ?? '');
      const mismatch = ours ? versionMismatch(ours, info?.name, info?.version, python.command) : undefined;
      if (mismatch && !this.warned.has(`version:${python.command}`)) {
        this.warned.add(`version:${python.command}`);
        log.warn(mismatch);
        void vscode.window.showWarningMessage(`flowspin: ${mismatch}.`);
      }
    } catch (e) {
      this.problem = `the flowspin server failed to start (${e instanceof Error ? e.message : String(e)})`;
      log.error(this.problem);
      this.status.set('error', `${this.problem}.`);
    }
  }

  /** One notification per interpreter and session, with the fix one click away. */
  private notifyMissing(python: Interpreter, reason: 'no-interpreter' | 'no-flowspin'): void {
    const key = `${reason}:${python.command}`;
    if (this.warned.has(key)) {
      return;
    }
    this.warned.add(key);
    if (reason === 'no-interpreter') {
      void vscode.window
        .showErrorMessage(
          `flowspin: the Python interpreter "${python.command}" was not found. Set "flowspin.python" or select an interpreter in the Python extension.`,
          'Open Settings',
        )
        .then((choice) => {
          if (choice) {
            void vscode.commands.executeCommand('workbench.action.openSettings', 'flowspin.python');
          }
        });
      return;
    }
    const install = 'Install flowspin';
    void vscode.window
      .showWarningMessage(
        `flowspin is not installed in ${python.command}. Install it there (${shellQuote(python.command)} -m pip install <flowspin wheel>, or -e <checkout>), then run "Flowspin: Restart Server".`,
        install,
        'Show Logs',
      )
      .then((choice) => {
        if (choice === install) {
          this.showInstall();
        } else if (choice === 'Show Logs') {
          this.out.show(true);
        }
      });
  }

  /**
   * The walkthrough's install page: how to install from a wheel or a checkout, the extras, and a
   * Restart Server button. (A terminal running `pip install flowspin` failed: flowspin is not on
   * a package index, and only the user knows where their wheel or checkout is.)
   */
  private showInstall(): void {
    const category = `${EXTENSION_ID}#${WALKTHROUGH_ID}`;
    log.info('Opening the walkthrough page "Install the flowspin Python package".');
    void vscode.commands.executeCommand(
      'workbench.action.openWalkthrough',
      { category, step: `${category}#install` },
      false,
    );
  }

  dispose(): void {
    this.folders.dispose();
    void this.stop();
    this.trace.dispose();
  }
}
