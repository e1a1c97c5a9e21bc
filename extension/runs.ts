/**
 * Runs from the palette: Run Flow (a prompt per Parameter, values remembered per flow), Resume
 * Flow From Step (the cursor's step, the origin run from a quick pick), Select Base Run, Cancel
 * Run… (a quick pick of the flow's running runs, whoever launched them), and what a run shows
 * while it goes: its log in the "flowspin: run" channel and its state in the
 * status bar. The server starts and tracks the run (Metaflow's own `run`/`resume`); the lenses,
 * progress and diagnostics come from it too. This module only asks and shows.
 */
import * as vscode from 'vscode';
import type { Server } from './client';
import { guarded, isTarget, saveIfDirty, show, toUri } from './commands';
import type { FlowInfo, RunList, RunState, RunSummary } from './protocol';
import { readSettings } from './settings';

const ICONS: Record<RunState, string> = {
  running: '$(sync~spin)',
  ok: '$(pass)',
  failed: '$(error)',
  cancelled: '$(circle-slash)',
};

/** The document and cursor line a command is about: a lens's `{uri, line, step}` or the editor. */
interface Where {
  uri: vscode.Uri;
  line?: number;
  step?: string;
}

function where(raw: unknown): Where | undefined {
  const given = isTarget(raw) ? raw : raw instanceof vscode.Uri ? { uri: raw } : {};
  const editor = vscode.window.activeTextEditor;
  const uri = given.uri ? toUri(given.uri) : editor?.document.uri;
  if (!uri) {
    void vscode.window.showInformationMessage('Open a Metaflow flow file (a Python file with a FlowSpec) first.');
    return undefined;
  }
  let line = given.line;
  if (line === undefined && editor && editor.document.uri.toString() === uri.toString()) {
    line = editor.selection.active.line;
  }
  return { uri, line, step: given.step };
}

function memoryKey(uri: vscode.Uri, flow: string): string {
  return `flowspin.runParameters:${uri.toString()}#${flow}`;
}

/** One input box per Parameter; undefined when the user pressed Escape (nothing runs). */
async function askParameters(
  context: vscode.ExtensionContext,
  uri: vscode.Uri,
  info: FlowInfo,
): Promise<Record<string, string> | undefined> {
  const key = memoryKey(uri, info.flow);
  const remembered = context.workspaceState.get<Record<string, string>>(key) ?? {};
  if (!readSettings(uri).run.promptParameters || info.parameters.length === 0) {
    return remembered;
  }
  const values: Record<string, string> = {};
  for (const [i, p] of info.parameters.entries()) {
    const about = [p.type, p.help].filter(Boolean).join(', ');
    const value = await vscode.window.showInputBox({
      title: `Run ${info.flow} (${i + 1}/${info.parameters.length}): ${p.name}`,
      prompt: `${p.name}${about ? ` (${about})` : ''}. Leave empty for the flow's default.`,
      placeHolder: p.default !== null ? `default: ${p.default}` : 'no default in the source',
      value: remembered[p.name] ?? '',
      ignoreFocusOut: true,
    });
    if (value === undefined) {
      return undefined;
    }
    values[p.name] = value;
  }
  await context.workspaceState.update(key, values);
  return values;
}

async function flowInfo(server: Server, uri: vscode.Uri, line?: number): Promise<FlowInfo | undefined> {
  const info = await server.request('flowspin/flowInfo', { uri: uri.toString(), line });
  if (!info.ok) {
    void vscode.window.showWarningMessage(info.message || 'No Metaflow flow here.');
    return undefined;
  }
  return info;
}

async function listRuns(server: Server, uri: vscode.Uri, line?: number): Promise<RunList | undefined> {
  const runs = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'flowspin: reading past runs' },
    () => server.request('flowspin/listRuns', { uri: uri.toString(), line }),
  );
  if (!runs.ok || runs.runs.length === 0) {
    void vscode.window.showInformationMessage(runs.message);
    return undefined;
  }
  return runs;
}

interface RunItem extends vscode.QuickPickItem {
  runId: string | null;
}

/** A run's status as the server read it (`flowspin runs`): Metaflow's records plus flowspin's
 * launch records, so a run whose launcher is gone still reads as running. */
const RUN_STATES: Record<string, string> = {
  ok: '$(pass) ok',
  running: '$(sync~spin) running',
  failed: '$(error) failed',
  cancelled: '$(circle-slash) cancelled',
  orphaned: '$(debug-disconnect) orphaned',
  unfinished: '$(warning) unfinished',
};

function runItem(run: RunSummary, pinned: string | null | undefined): RunItem {
  const params = Object.entries(run.parameters)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const when = run.created_at ? new Date(run.created_at).toLocaleString() : 'unknown time';
  return {
    label: `${run.run_id === pinned ? '$(pinned) ' : ''}${run.run_id}`,
    description: `${RUN_STATES[run.status] ?? run.status} · ${when} · ${run.user ?? '?'}`,
    detail: params || undefined,
    runId: run.run_id,
  };
}

/** The saved flow file a run or resume is about, with what the server knows of its flow. */
async function savedFlow(server: Server, raw: unknown): Promise<[Where, FlowInfo] | undefined> {
  const at = where(raw);
  if (!at || !(await save(at.uri))) {
    return undefined;
  }
  const info = await flowInfo(server, at.uri, at.line);
  return info ? [at, info] : undefined;
}

async function runFlow(server: Server, context: vscode.ExtensionContext, raw: unknown): Promise<void> {
  const found = await savedFlow(server, raw);
  if (!found) {
    return;
  }
  const [at, info] = found;
  const params = await askParameters(context, at.uri, info);
  if (params === undefined) {
    return;
  }
  show('run', await server.execute('run', { uri: at.uri.toString(), line: at.line, params }));
}

async function resumeFlow(server: Server, raw: unknown): Promise<void> {
  const found = await savedFlow(server, raw);
  if (!found) {
    return;
  }
  const [at, info] = found;
  let step: string | undefined = at.step ?? info.step ?? undefined;
  if (!step) {
    const stopped = '$(debug-restart) where the run stopped';
    const choice = await vscode.window.showQuickPick([stopped, ...info.steps], {
      title: `Resume ${info.flow} from which step?`,
    });
    if (choice === undefined) {
      return;
    }
    step = choice === stopped ? undefined : choice;
  }
  const runs = await listRuns(server, at.uri, at.line);
  if (!runs) {
    return;
  }
  const origin = await vscode.window.showQuickPick(
    runs.runs.map((r) => runItem(r, runs.pinned)),
    { title: `Resume ${info.flow} from ${step ?? 'where it stopped'}: which run?`, matchOnDetail: true },
  );
  if (!origin) {
    return;
  }
  show(
    'resume',
    await server.execute('resume', { uri: at.uri.toString(), line: at.line, step, origin_run_id: origin.runId }),
  );
}

async function selectBaseRun(server: Server, raw: unknown): Promise<void> {
  const at = where(raw);
  if (!at) {
    return;
  }
  const runs = await listRuns(server, at.uri, at.line);
  if (!runs) {
    return;
  }
  const latest: RunItem = {
    label: `${runs.pinned ? '' : '$(check) '}Latest run`,
    description: 'follow each new run (the default)',
    runId: null,
  };
  const choice = await vscode.window.showQuickPick([latest, ...runs.runs.map((r) => runItem(r, runs.pinned))], {
    title: `Base run for spins of ${runs.flow ?? 'this flow'}`,
    matchOnDetail: true,
  });
  if (!choice) {
    return;
  }
  show('selectBaseRun', await server.execute('selectBaseRun', { uri: at.uri.toString(), line: at.line, run_id: choice.runId }));
}

async function cancelRun(server: Server, raw: unknown): Promise<void> {
  const at = where(raw);
  if (!at) {
    return;
  }
  const runs = await listRuns(server, at.uri, at.line);
  if (!runs) {
    return;
  }
  const running = runs.runs.filter((r) => r.status === 'running');
  if (running.length === 0) {
    void vscode.window.showInformationMessage(`No run of ${runs.flow ?? 'this flow'} is running.`);
    return;
  }
  const choice = await vscode.window.showQuickPick(
    running.map((r) => runItem(r, runs.pinned)),
    { title: `Cancel which run of ${runs.flow ?? 'this flow'}? (it stays resumable)`, matchOnDetail: true },
  );
  if (!choice) {
    return;
  }
  show('cancelRun', await server.execute('cancelRun', { uri: at.uri.toString(), line: at.line, run_id: choice.runId }));
}

async function save(uri: vscode.Uri): Promise<boolean> {
  if (await saveIfDirty(uri)) {
    return true;
  }
  void vscode.window.showWarningMessage(`flowspin: could not save ${uri.fsPath}; nothing was started.`);
  return false;
}

export function registerRunUi(server: Server, context: vscode.ExtensionContext): vscode.Disposable[] {
  const output = vscode.window.createOutputChannel('flowspin: run');
  const item = vscode.window.createStatusBarItem('flowspin.run', vscode.StatusBarAlignment.Left, 8);
  item.name = 'flowspin: run';
  item.command = 'flowspin.showRunOutput';
  let shownFor = '';

  const onLog = server.onNotification('flowspin/runLog', (p) => {
    output.appendLine(p.text);
  });
  const onStatus = server.onNotification('flowspin/runStatus', (p) => {
    const run = p.run_id ? ` ${p.run_id}` : '';
    item.text = `${ICONS[p.state] ?? ''} ${p.flow}${run}`;
    item.tooltip = `${p.text}\nClick to show the run's log.`;
    item.accessibilityInformation = { label: `flowspin run ${p.state}: ${p.text}` };
    item.show();
    const key = `${p.uri}#${p.run_id ?? ''}`;
    if (p.state === 'running' && shownFor !== key) {
      shownFor = key;
      output.show(true); // a new run: its log visible, focus stays in the editor
    }
  });
  return [
    output,
    item,
    onLog,
    onStatus,
    vscode.commands.registerCommand('flowspin.run', guarded('run', (arg) => runFlow(server, context, arg))),
    vscode.commands.registerCommand('flowspin.resume', guarded('resume', (arg) => resumeFlow(server, arg))),
    vscode.commands.registerCommand(
      'flowspin.selectBaseRun',
      guarded('selectBaseRun', (arg) => selectBaseRun(server, arg)),
    ),
    vscode.commands.registerCommand('flowspin.cancelRun', guarded('cancelRun', (arg) => cancelRun(server, arg))),
    vscode.commands.registerCommand('flowspin.showRunOutput', () => output.show(true)),
  ];
}
