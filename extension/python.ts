/**
 * Which Python runs the server: `flowspin.python` if set, else the interpreter selected in the
 * Python extension (ms-python.python) when it is installed, else `python3`. The same
 * interpreter later runs the user's flows, so it must be the user's project environment.
 */
import { execFile } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

export interface Interpreter {
  /** Executable to run (absolute path, or a name looked up on PATH). */
  command: string;
  /** Where the choice came from, for messages and logs. */
  source: 'setting' | 'python-extension' | 'default';
}

/** The slice of the Python extension's API we use (it has no published typings package). */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string };
    resolveEnvironment?(
      env: { id: string; path: string } | string,
    ): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
}

const PYTHON_EXTENSION = 'ms-python.python';

function expand(value: string, folder: vscode.WorkspaceFolder | undefined): string {
  let out = value.replace(/\$\{workspaceFolder\}/g, folder?.uri.fsPath ?? '');
  out = out.replace(/\$\{env:([^}]+)\}/g, (_m, name: string) => process.env[name] ?? '');
  if (out === '~' || out.startsWith('~/')) {
    out = path.join(os.homedir(), out.slice(1));
  }
  if (folder && !path.isAbsolute(out) && out.includes('/')) {
    out = path.join(folder.uri.fsPath, out);
  }
  return out;
}

async function pythonExtensionApi(): Promise<PythonExtensionApi | undefined> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION);
  if (!ext) {
    return undefined;
  }
  try {
    return ext.isActive ? ext.exports : await ext.activate();
  } catch {
    return undefined;
  }
}

async function fromPythonExtension(resource: vscode.Uri | undefined): Promise<string | undefined> {
  const envs = (await pythonExtensionApi())?.environments;
  if (!envs) {
    return undefined;
  }
  try {
    const active = envs.getActiveEnvironmentPath(resource);
    const resolved = envs.resolveEnvironment ? await envs.resolveEnvironment(active) : undefined;
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch {
    return undefined;
  }
}

export async function resolveInterpreter(
  setting: string,
  folder: vscode.WorkspaceFolder | undefined,
): Promise<Interpreter> {
  if (setting) {
    return { command: expand(setting, folder), source: 'setting' };
  }
  const selected = await fromPythonExtension(folder?.uri);
  if (selected) {
    return { command: selected, source: 'python-extension' };
  }
  return { command: 'python3', source: 'default' };
}

/** Fires when the user picks another interpreter in the Python extension. */
export async function onPythonExtensionChange(listener: () => void): Promise<vscode.Disposable | undefined> {
  const event = (await pythonExtensionApi())?.environments?.onDidChangeActiveEnvironmentPath;
  return event ? event(listener) : undefined;
}

export type FlowspinCheck =
  | { ok: true }
  | { ok: false; reason: 'no-interpreter' | 'no-flowspin'; detail: string };

/** Checks that `python -c "import flowspin"` works before the server is started with it. */
export function checkFlowspin(python: string, cwd: string | undefined): Promise<FlowspinCheck> {
  return new Promise((resolve) => {
    execFile(python, ['-c', 'import flowspin'], { cwd, timeout: 60_000 }, (error, _stdout, stderr) => {
      if (!error) {
        resolve({ ok: true });
      } else if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        resolve({ ok: false, reason: 'no-interpreter', detail: `${python}: not found` });
      } else {
        resolve({ ok: false, reason: 'no-flowspin', detail: String(stderr).trim() || error.message });
      }
    });
  });
}

/** Shell-quotes a path for the terminal that installs flowspin. */
export function shellQuote(value: string): string {
  if (process.platform === 'win32') {
    return /[\s"]/.test(value) ? `& "${value.replace(/"/g, '`"')}"` : value;
  }
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
