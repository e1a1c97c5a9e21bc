/**
 * The "flowspin" output channel: the extension's own messages, the server's stderr log and,
 * when `flowspin.trace` is on, the LSP message trace. One channel so a bug report needs one
 * copy-paste.
 */
import * as vscode from 'vscode';
import type { TraceLevel } from './settings';

let channel: vscode.LogOutputChannel | undefined;

export function logChannel(): vscode.LogOutputChannel {
  channel ??= vscode.window.createOutputChannel('flowspin', { log: true });
  return channel;
}

export const log = {
  info: (message: string): void => logChannel().info(message),
  warn: (message: string): void => logChannel().warn(message),
  error: (message: string): void => logChannel().error(message),
};

const LEVEL = /^\s*(?:\[?\s*)(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\b/;

/**
 * Writes one line of the server's stderr at the level it names (Python logging puts the level
 * near the start); lines without one (tracebacks, prints) count as errors only when they look
 * like one, so a normal log does not show up red.
 */
export function logServerLine(out: vscode.LogOutputChannel, line: string): void {
  const level = LEVEL.exec(line)?.[1];
  if (level === 'ERROR' || level === 'CRITICAL' || (!level && /Traceback|Error\b/.test(line))) {
    out.error(line);
  } else if (level === 'WARNING' || level === 'WARN') {
    out.warn(line);
  } else if (level === 'DEBUG') {
    out.debug(line);
  } else {
    out.info(line);
  }
}

/**
 * A LogOutputChannel view for the language client's trace. vscode-languageclient 11 traces only
 * when its trace channel's log level is Trace; this view reports Trace exactly when the
 * `flowspin.trace` setting asks for it, and writes the trace into the main channel at info
 * level, so the setting alone decides whether the trace is visible.
 */
export class TraceChannel implements vscode.LogOutputChannel {
  private readonly changed = new vscode.EventEmitter<vscode.LogLevel>();
  readonly onDidChangeLogLevel = this.changed.event;
  readonly name = 'flowspin';

  constructor(
    private readonly out: vscode.LogOutputChannel,
    private level: TraceLevel,
  ) {}

  get logLevel(): vscode.LogLevel {
    return this.level === 'off' ? vscode.LogLevel.Info : vscode.LogLevel.Trace;
  }

  setLevel(level: TraceLevel): void {
    if (level !== this.level) {
      this.level = level;
      this.changed.fire(this.logLevel);
    }
  }

  trace(message: string): void {
    if (this.level !== 'off') {
      this.out.info(`[trace] ${message}`);
    }
  }
  debug(message: string): void {
    this.out.debug(message);
  }
  info(message: string): void {
    this.out.info(message);
  }
  warn(message: string): void {
    this.out.warn(message);
  }
  error(message: string | Error): void {
    this.out.error(message);
  }
  append(value: string): void {
    this.out.append(value);
  }
  appendLine(value: string): void {
    this.out.appendLine(value);
  }
  replace(value: string): void {
    this.out.replace(value);
  }
  clear(): void {
    this.out.clear();
  }
  show(preserveFocus?: boolean): void;
  show(column?: vscode.ViewColumn, preserveFocus?: boolean): void;
  show(arg?: boolean | vscode.ViewColumn, preserveFocus?: boolean): void {
    this.out.show(typeof arg === 'boolean' ? arg : preserveFocus);
  }
  hide(): void {
    this.out.hide();
  }
  dispose(): void {
    this.changed.dispose();
  }
}
