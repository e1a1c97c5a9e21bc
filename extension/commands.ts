/**
 * The palette commands. Each one finds its target (the `{uri, step}` a code lens passed, or the
 * step under the cursor as the server's model sees it), forwards it to the server's
 * `flowspin.server.<name>` command and shows the server's answer. No decisions are made here.
 */
import * as vscode from 'vscode';
import type { CommandResult, Server } from './client';
import { log, logChannel } from './log';

/**
 * What code lenses (and other callers) may pass: `uri` as a string or Uri, `step` a step name.
 * A spin or debug spin may also name its inputs (`split`, `run`, `task`, `params`, forwarded as
 * the server's spin options); `post_mortem` (Debug Step, the "Debug this step" quick fix) makes
 * the debug session break on uncaught exceptions.
 */
export interface Target {
  uri?: string | vscode.Uri;
  step?: string;
  line?: number;
  split?: number;
  run?: string;
  task?: string;
  params?: Record<string, string>;
  post_mortem?: boolean;
}

/** The spin options a caller's target passes on to the server as they are. */
const SPIN_INPUTS = ['split', 'run', 'task', 'params'] as const;

/** What a debug session needs to know of its spin beyond the step (debug.ts). */
export interface DebugOptions {
  split?: number;
  task?: string;
  post_mortem?: boolean;
}

interface ServerCommand {
  /** `flowspin.<id>` in the palette, `flowspin.server.<id>` on the server. */
  id: string;
  /** The command needs a step: without one from the caller, the cursor's step is asked for. */
  needsStep: boolean;
  /** Save the document first (the spin and the run use the file as saved). */
  save: boolean;
  /** Message when the cursor is not inside a step. */
  noStep?: string;
}

const SERVER_COMMANDS: readonly ServerCommand[] = [
  { id: 'spin', needsStep: true, save: true, noStep: 'Put the cursor inside a @step to spin it.' },
  // The server's answer comes when the step has ended; the debugger attaches before that, on
  // flowspin/debugListening (debug.ts).
  { id: 'debugStep', needsStep: true, save: true, noStep: 'Put the cursor inside a @step to debug it.' },
  // The step, then every step after it in order, each on the spun output of the one above.
  { id: 'spinDownstream', needsStep: true, save: true, noStep: 'Put the cursor inside a @step to spin it and the steps after it.' },
  // The step's latest spin against its base run's task, opened as a document beside the code.
  { id: 'diff', needsStep: true, save: false, noStep: 'Put the cursor inside a spun @step to compare it.' },
  // run, resume and selectBaseRun ask questions first (runs.ts); showCard opens the card viewer
  // (cardView.ts).
  { id: 'restartWorker', needsStep: false, save: false },
  { id: 'cancel', needsStep: false, save: false },
];

/** Told of each debug spin as it is requested: debug.ts starts VS Code's session at once. */
export interface DebugStarter {
  willDebug(uri: string, step: string, answer: Promise<CommandResult>, options?: DebugOptions): void;
}

export function toUri(value: string | vscode.Uri): vscode.Uri {
  return typeof value === 'string' ? vscode.Uri.parse(value) : value;
}

export function isTarget(value: unknown): value is Target {
  return value !== null && typeof value === 'object' && !(value instanceof vscode.Uri);
}

export async function saveIfDirty(uri: vscode.Uri): Promise<boolean> {
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (!doc || !doc.isDirty) {
    return true;
  }
  return doc.save();
}

async function runServerCommand(server: Server, spec: ServerCommand, raw: unknown, debug?: DebugStarter): Promise<void> {
  const given: Target = isTarget(raw) ? raw : raw instanceof vscode.Uri ? { uri: raw } : {};
  const editor = vscode.window.activeTextEditor;
  const uri = given.uri ? toUri(given.uri) : editor?.document.uri;
  const arg: Record<string, unknown> = {};
  let line = given.line;
  if (uri) {
    arg.uri = uri.toString();
    // The cursor decides only when the caller named no step (a lens names its own).
    if (line === undefined && !given.step && editor && editor.document.uri.toString() === uri.toString()) {
      line = editor.selection.active.line;
    }
  }
  if (line !== undefined) {
    arg.line = line;
  }

  if (spec.needsStep || spec.save) {
    if (!uri) {
      void vscode.window.showInformationMessage(
        spec.noStep ?? 'Open a Metaflow flow file (a Python file with a FlowSpec) first.',
      );
      return;
    }
  }
  if (spec.save && uri && !(await saveIfDirty(uri))) {
    void vscode.window.showWarningMessage(`flowspin: could not save ${uri.fsPath}; nothing was started.`);
    return;
  }
  let step = given.step;
  if (!step && spec.needsStep && uri) {
    if (line === undefined) {
      void vscode.window.showInformationMessage(spec.noStep ?? 'Put the cursor inside a @step.');
      return;
    }
    const found = await server.stepAt(uri, line);
    if (!found) {
      void vscode.window.showInformationMessage(spec.noStep ?? 'Put the cursor inside a @step.');
      return;
    }
    step = found.step;
  }
  if (step) {
    arg.step = step;
  }
  if (spec.needsStep) {
    for (const key of SPIN_INPUTS) {
      if (given[key] !== undefined) {
        arg[key] = given[key];
      }
    }
  }
  const answer = server.execute(spec.id, arg);
  if (spec.id === 'debugStep' && step && uri) {
    debug?.willDebug(uri.toString(), step, answer, { split: given.split, task: given.task, post_mortem: given.post_mortem });
  }
  const result = await answer;
  if (spec.id === 'diff' && result.ok && typeof result.text === 'string') {
    const doc = await vscode.workspace.openTextDocument({
      content: `# ${result.message}\n\n\`\`\`\n${result.text}\n\`\`\`\n`,
      language: 'markdown',
    });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
    return;
  }
  show(spec.id, result);
}

export function show(id: string, result: CommandResult): void {
  if (result.ok) {
    log.info(`${id}: ${result.message}`);
    void vscode.window.showInformationMessage(result.message);
  } else {
    log.warn(`${id}: ${result.message}`);
    void vscode.window.showWarningMessage(result.message, 'Show Logs').then((choice) => {
      if (choice) {
        logChannel().show(true);
      }
    });
  }
}

/** Wraps a command so that any failure is logged and shown, never swallowed. */
export function guarded(id: string, body: (arg: unknown) => Promise<void>): (arg: unknown) => Promise<void> {
  return async (arg: unknown) => {
    try {
      await body(arg);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      log.error(`flowspin.${id} failed: ${message}`);
      const choice = await vscode.window.showErrorMessage(`flowspin: ${message}`, 'Show Logs');
      if (choice) {
        logChannel().show(true);
      }
    }
  };
}

export function registerCommands(server: Server, debug?: DebugStarter): vscode.Disposable[] {
  const disposables = SERVER_COMMANDS.map((spec) =>
    vscode.commands.registerCommand(
      `flowspin.${spec.id}`,
      guarded(spec.id, (arg) => runServerCommand(server, spec, arg, debug)),
    ),
  );
  disposables.push(
    vscode.commands.registerCommand(
      'flowspin.restartServer',
      guarded('restartServer', () => server.restart()),
    ),
    vscode.commands.registerCommand('flowspin.showLogs', () => logChannel().show(true)),
  );
  return disposables;
}
