/**
 * The Artifacts view (activity bar, "flowspin" container): the artifacts of the step under
 * the cursor (or of a pinned step), from its latest spin or a run's task, with type, shape or
 * length, size and a badge (new, changed, inherited). Items expand lazily through the server
 * (`flowspin/artifactChildren`: dict keys, list items, attributes, DataFrame columns with
 * dtypes); "Open" shows a table or text preview (`artifactTable.ts`). Values are read by the
 * server, size-capped and with its restricted unpickler; none travels whole to the extension.
 */
import * as vscode from 'vscode';
import { ArtifactTables, type ArtifactTarget } from './artifactTable';
import type { Server } from './client';
import { log } from './log';
import type { ArtifactListing, ArtifactRow } from './protocol';

export const ARTIFACTS_VIEW_ID = 'flowspin.artifacts';
const CURSOR_DEBOUNCE_MS = 300;

/** A row of the tree: an artifact, a value below one, or a note ("12 more…"). */
export interface ArtifactNode {
  target: ArtifactTarget;
  label: string;
  description: string;
  tooltip: string;
  expandable: boolean;
  table: boolean;
  note?: boolean;
}

const BADGES: Record<string, string> = { new: '● new', changed: '◆ changed', inherited: '○ inherited' };

function shapeText(row: ArtifactRow): string {
  if (row.shape?.length) {
    return `[${row.shape.join(' × ')}]`;
  }
  return row.len !== null && row.len !== undefined ? `len ${row.len}` : '';
}

function shortType(type: string | null): string {
  return (type ?? '?').split('.').pop() ?? '?';
}

class ArtifactsProvider implements vscode.TreeDataProvider<ArtifactNode> {
  private readonly changed = new vscode.EventEmitter<ArtifactNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  uri: string | undefined;
  step: string | undefined;
  source = 'spin';
  view: vscode.TreeView<ArtifactNode> | undefined;

  constructor(private readonly server: Server) {}

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: ArtifactNode): vscode.TreeItem {
    const state = node.expandable ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(node.label, state);
    item.description = node.description;
    item.tooltip = node.tooltip;
    if (node.note) {
      item.contextValue = 'note';
      return item;
    }
    item.id = `${node.target.uri}|${node.target.step}|${node.target.source}|${JSON.stringify(node.target.path)}`;
    item.contextValue = node.table ? 'artifact.table' : 'artifact';
    item.command = { command: 'flowspin.artifacts.open', title: 'Open', arguments: [node] };
    return item;
  }

  async getChildren(node?: ArtifactNode): Promise<ArtifactNode[]> {
    if (!node) {
      return this.roots();
    }
    const answer = await this.server.request('flowspin/artifactChildren', {
      uri: node.target.uri,
      step: node.target.step,
      source: node.target.source,
      path: node.target.path,
    });
    if (!answer.ok || !answer.children) {
      return [this.note(answer.message ?? 'nothing below this value')];
    }
    const out = answer.children.map((c): ArtifactNode => {
      if (c.info) {
        return { ...this.note(`${c.label}: ${c.summary}`), target: node.target };
      }
      return {
        target: { ...node.target, path: [...node.target.path, c.key] },
        label: c.label,
        description: c.summary,
        tooltip: `${[...node.target.path, c.key].join(' › ')}\n${c.type}\n${c.summary}`,
        expandable: c.expandable,
        table: c.table,
      };
    });
    if (answer.more) {
      out.push(this.note(`… ${answer.more} more`));
    }
    return out;
  }

  private note(text: string): ArtifactNode {
    const target = { uri: this.uri ?? '', step: this.step ?? '', source: this.source, path: [] };
    return { target, label: text, description: '', tooltip: text, expandable: false, table: false, note: true };
  }

  private async roots(): Promise<ArtifactNode[]> {
    const view = this.view;
    if (!this.uri || !this.step) {
      if (view) {
        view.message = 'Put the cursor in a @step of a flow to see its artifacts.';
        view.description = '';
      }
      return [];
    }
    let listing: ArtifactListing;
    try {
      listing = await this.server.request('flowspin/artifacts', { uri: this.uri, step: this.step, source: this.source });
    } catch (e) {
      listing = { ok: false, message: e instanceof Error ? e.message : String(e) };
    }
    const sourceText = this.source === 'spin' ? 'latest spin' : this.source === 'run' ? 'base run' : `run ${this.source.slice(4)}`;
    if (view) {
      view.description = `${this.step} · ${(listing.label ?? sourceText).replace(/`/g, '')}${listing.note ? ` (${listing.note})` : ''}`;
      view.message = listing.ok ? (listing.artifacts?.length ? undefined : 'No artifacts.') : `${this.step}: ${listing.message ?? 'no artifacts'}`;
    }
    if (!listing.ok || !listing.artifacts) {
      return [];
    }
    const uri = this.uri;
    const step = this.step;
    const source = listing.source_key ?? this.source;
    return listing.artifacts.map((a): ArtifactNode => {
      const facts = [shortType(a.type), shapeText(a), a.size_text].filter(Boolean).join(' · ');
      const badge = a.badge ? BADGES[a.badge] ?? a.badge : '';
      return {
        target: { uri, step, source, path: [a.name] },
        label: a.name,
        // The one-line summary has the type, shape or length, size and a short value.
        description: `${a.summary || facts}${badge ? `  ${badge}` : ''}`,
        tooltip: `${a.name}: ${a.summary}\n${a.type ?? ''} · ${facts}${a.badge ? `\n${a.badge}` : ''}`,
        expandable: a.expandable,
        table: a.table,
      };
    });
  }
}

/** The view, its commands (pin, source, refresh, open) and the cursor following. */
export function registerArtifactsView(context: vscode.ExtensionContext, server: Server): vscode.Disposable[] {
  const provider = new ArtifactsProvider(server);
  const tables = new ArtifactTables(context, server);
  const view = vscode.window.createTreeView(ARTIFACTS_VIEW_ID, { treeDataProvider: provider, showCollapseAll: true });
  provider.view = view;
  let pinned = false;
  let timer: NodeJS.Timeout | undefined;
  const setPinned = (value: boolean) => {
    pinned = value;
    void vscode.commands.executeCommand('setContext', 'flowspin.artifactsPinned', value);
  };
  setPinned(false);

  const follow = (editor: vscode.TextEditor | undefined) => {
    clearTimeout(timer);
    if (pinned || !editor || editor.document.languageId !== 'python' || !view.visible) {
      return;
    }
    timer = setTimeout(() => {
      const uri = editor.document.uri;
      void server
        .stepAt(uri, editor.selection.active.line)
        .then((found) => {
          if (pinned || !found) {
            return;
          }
          if (provider.uri !== uri.toString() || provider.step !== found.step) {
            provider.uri = uri.toString();
            provider.step = found.step;
            provider.refresh();
          }
        })
        .catch((e: unknown) => log.warn(`artifacts view: ${String(e)}`));
    }, CURSOR_DEBOUNCE_MS);
  };

  return [
    view,
    tables,
    vscode.window.onDidChangeTextEditorSelection((e) => follow(e.textEditor)),
    vscode.window.onDidChangeActiveTextEditor((e) => follow(e)),
    view.onDidChangeVisibility((e) => {
      if (e.visible) {
        follow(vscode.window.activeTextEditor);
      }
    }),
    server.onNotification('flowspin/spinResult', (p) => {
      if (p.uri === provider.uri && p.step === provider.step) {
        provider.refresh();
      }
    }),
    vscode.commands.registerCommand('flowspin.artifacts.refresh', () => provider.refresh()),
    vscode.commands.registerCommand('flowspin.artifacts.pin', () => setPinned(true)),
    vscode.commands.registerCommand('flowspin.artifacts.unpin', () => {
      setPinned(false);
      follow(vscode.window.activeTextEditor);
    }),
    vscode.commands.registerCommand('flowspin.artifacts.source', async () => {
      const items: (vscode.QuickPickItem & { source: string })[] = [
        { label: 'Latest spin', description: 'the step’s newest successful spin', source: 'spin' },
        { label: 'Base run', description: 'the spin’s base run, else the latest run', source: 'run' },
        { label: 'Pick a run…', description: 'any past run of the flow', source: 'pick' },
      ];
      const choice = await vscode.window.showQuickPick(items, { title: 'Artifacts from' });
      if (!choice) {
        return;
      }
      let source = choice.source;
      if (source === 'pick') {
        const picked = await pickRun(server, provider.uri);
        if (!picked) {
          return;
        }
        source = `run:${picked}`;
      }
      provider.source = source;
      provider.refresh();
    }),
    vscode.commands.registerCommand('flowspin.artifacts.open', async (node: unknown) => {
      const n = node as ArtifactNode | undefined;
      if (!n || n.note || !n.target || !Array.isArray(n.target.path) || !n.target.path.length) {
        return;
      }
      await tables.show(n.target);
    }),
  ];
}

async function pickRun(server: Server, uri: string | undefined): Promise<string | undefined> {
  if (!uri) {
    void vscode.window.showInformationMessage('Put the cursor in a step of a flow first.');
    return undefined;
  }
  const runs = await server.request('flowspin/listRuns', { uri });
  if (!runs.ok || !runs.runs.length) {
    void vscode.window.showInformationMessage(runs.message || 'No runs of this flow yet.');
    return undefined;
  }
  const choice = await vscode.window.showQuickPick(
    runs.runs.map((r) => ({ label: r.run_id, description: [r.status, r.created_at].filter(Boolean).join(' · ') })),
    { title: 'Artifacts from run' },
  );
  return choice?.label;
}
