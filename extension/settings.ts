/**
 * Every `flowspin.*` setting, typed, in one place. The manifest (package.json
 * `contributes.configuration`) declares them for the Settings UI; this module is what the code
 * reads, so a setting's meaning is documented once next to its type.
 *
 * The extension itself only uses `python` and `trace`. The others belong to the server: they are
 * sent at start and on every change, so the server decides what they do. Multi-root workspaces:
 * one server serves the window, so it gets the window's `flowspin` section (read with no scope)
 * and each folder's own (read for that folder), and resolves a file's settings by its folder
 * (`serverSettings` below).
 */
import * as vscode from 'vscode';

export const SECTION = 'flowspin';

export type TraceLevel = 'off' | 'messages' | 'verbose';

export interface FlowspinSettings {
  /** Interpreter for the server and the flows; '' = the Python extension's choice, else python3. */
  python: string;
  /** LSP message trace written to the flowspin output channel. */
  trace: TraceLevel;
  spin: {
    /** Seconds before a spin is cancelled; 0 = no limit. */
    timeout: number;
  };
  worker: {
    /** MB a warm worker may hold before it is restarted. */
    memoryBudgetMB: number;
  };
  store: {
    /** Past spins kept per step in `.flowspin/`. */
    keepSpins: number;
  };
  run: {
    /** Extra arguments for `python flow.py run|resume`. */
    args: string[];
    /** Extra environment variables for runs and spins. */
    env: Record<string, string>;
    /** Ask for Parameter values before Run Flow. */
    promptParameters: boolean;
  };
}

const TRACE_LEVELS: readonly TraceLevel[] = ['off', 'messages', 'verbose'];

function num(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (typeof v === 'string') {
        out[k] = v;
      }
    }
  }
  return out;
}

/** Reads the settings for `scope` (a document or folder), with defaults for missing/bad values. */
export function readSettings(scope?: vscode.ConfigurationScope): FlowspinSettings {
  const c = vscode.workspace.getConfiguration(SECTION, scope);
  const python = c.get<unknown>('python');
  const trace = c.get<unknown>('trace');
  return {
    python: typeof python === 'string' ? python.trim() : '',
    trace: TRACE_LEVELS.includes(trace as TraceLevel) ? (trace as TraceLevel) : 'off',
    spin: { timeout: num(c.get('spin.timeout'), 0) },
    worker: { memoryBudgetMB: num(c.get('worker.memoryBudgetMB'), 4096) },
    store: { keepSpins: num(c.get('store.keepSpins'), 5) },
    run: {
      args: strings(c.get('run.args')),
      env: stringMap(c.get('run.env')),
      promptParameters: c.get<boolean>('run.promptParameters') !== false,
    },
  };
}

/** One workspace folder's `flowspin` section, as the server gets it. */
export interface FolderSettings {
  /** The folder's URI (`WorkspaceFolder.uri.toString()`). */
  uri: string;
  settings: FlowspinSettings;
}

/**
 * What the server gets: the window's section (for files outside every folder) and each folder's.
 * Sent as `initializationOptions` (`{settings, folder_settings}`) and, on a change of settings or
 * of the workspace's folders, as `workspace/didChangeConfiguration` with
 * `{settings: {flowspin: settings, folder_settings}}`.
 */
export interface ServerSettings {
  settings: FlowspinSettings;
  folder_settings: FolderSettings[];
}

export function serverSettings(): ServerSettings {
  return {
    settings: readSettings(),
    folder_settings: (vscode.workspace.workspaceFolders ?? []).map((folder) => ({
      uri: folder.uri.toString(),
      settings: readSettings(folder),
    })),
  };
}
