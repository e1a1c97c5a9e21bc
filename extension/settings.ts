/**
 * Every `flowspin.*` setting, typed, in one place. The manifest (package.json
 * `contributes.configuration`) declares them for the Settings UI; this module is what the code
 * reads, so a setting's meaning is documented once next to its type.
 *
 * The extension itself only uses `python` and `trace`. The others belong to the server: they are
 * sent in `initializationOptions.settings` and on every change (`workspace/didChangeConfiguration`
 * with the whole `flowspin` section), so the server decides what they do.
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
