/**
 * VS Code language-model tools (agent mode): spin, check, run and show-artifact.
 *
 * Each tool runs `<python> -m flowspin.mcp.call TOOL` in the workspace folder of the tool's file
 * (see `workspaceFolder`) with the input as JSON on stdin, so agents in the editor get exactly what MCP clients get (same engines, same
 * compact results, same warm spin daemon) and the extension stays a thin shell. The schemas
 * and descriptions in package.json are generated from the MCP tool definitions
 * (`python -m flowspin.mcp.lmtools`). Cancelling a call (the user stops the agent) sends the
 * bridge SIGINT, on which it cancels the spin in its worker or stops the run as Ctrl-C would,
 * and still answers with the cancelled result.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { log } from './log';
import { resolveInterpreter } from './python';
import { readSettings } from './settings';

interface ToolInput {
  file?: string;
  step?: string;
  name?: string;
}

const TOOLS: { id: string; tool: string; confirm: boolean }[] = [
  { id: 'flowspin_spin', tool: 'spin', confirm: false },
  { id: 'flowspin_check', tool: 'check', confirm: false },
  { id: 'flowspin_run', tool: 'run', confirm: true },
  { id: 'flowspin_showArtifact', tool: 'show_artifact', confirm: false },
];

/**
 * The folder a call runs in (the MCP engines keep to their working directory): the folder holding
 * the input's `file` (an absolute path inside a folder, or a relative path that exists under one,
 * the active editor's folder tried first), else the active editor's folder, else the first one.
 */
function workspaceFolder(file: string | undefined): vscode.WorkspaceFolder | undefined {
  const active = vscode.window.activeTextEditor?.document.uri;
  const activeFolder = active && vscode.workspace.getWorkspaceFolder(active);
  if (file && path.isAbsolute(file)) {
    const holder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file));
    if (holder) {
      return holder;
    }
  } else if (file) {
    const folders = [...(activeFolder ? [activeFolder] : []), ...(vscode.workspace.workspaceFolders ?? [])];
    const holder = folders.find((f) => f.uri.scheme === 'file' && existsSync(path.join(f.uri.fsPath, file)));
    if (holder) {
      return holder;
    }
  }
  return activeFolder ?? vscode.workspace.workspaceFolders?.[0];
}

/** What the agent reads when the bridge gave no answer: the cause and what to do about it. */
function bridgeFailure(python: string, stderr: string, code: number | null): string {
  if (/No module named '?flowspin/.test(stderr)) {
    return (
      `flowspin is not installed in ${python}. Next: install it there (\`${python} -m pip install <flowspin wheel>\`, or \`-e <flowspin checkout>\`) ` +
      'or point the flowspin.python setting at an interpreter that has it, then call the tool again.'
    );
  }
  const last = stderr.trim().split('\n').slice(-3).join('\n');
  return `${python} -m flowspin.mcp.call exited with code ${code}${last ? `: ${last}` : ''}. Next: see the "flowspin" output channel.`;
}

async function callTool(tool: string, input: unknown, token: vscode.CancellationToken): Promise<string> {
  const file = (input as ToolInput | null | undefined)?.file;
  const folder = workspaceFolder(typeof file === 'string' && file ? file : undefined);
  if (!folder) {
    // The tools are confined to the workspace folder; without one there is nothing to confine to.
    return JSON.stringify({
      ok: false,
      error: 'no folder is open in VS Code. Next: open the project folder that holds the flow, then call the tool again.',
    });
  }
  const python = await resolveInterpreter(readSettings(folder.uri).python, folder);
  return new Promise((resolve) => {
    const child = spawn(python.command, ['-m', 'flowspin.mcp.call', tool], {
      cwd: folder.uri.fsPath,
      env: process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const cancel = token.onCancellationRequested(() => child.kill('SIGINT'));
    child.on('error', (err) => {
      cancel.dispose();
      resolve(JSON.stringify({ ok: false, error: `could not start ${python.command}: ${err.message}` }));
    });
    child.on('close', (code) => {
      cancel.dispose();
      const text = stdout.trim();
      if (!text) {
        log.warn(`flowspin tool ${tool} exited ${code}: ${stderr.trim()}`);
        resolve(JSON.stringify({ ok: false, error: bridgeFailure(python.command, stderr, code) }));
        return;
      }
      resolve(text);
    });
    child.stdin.end(JSON.stringify(input ?? {}));
  });
}

export function registerLanguageModelTools(): vscode.Disposable[] {
  if (!vscode.lm?.registerTool) {
    return []; // an editor without the language-model API
  }
  return TOOLS.map(({ id, tool, confirm }) =>
    vscode.lm.registerTool<ToolInput>(id, {
      prepareInvocation(options) {
        const target = [options.input.file, options.input.step, options.input.name].filter(Boolean).join(' ');
        return {
          invocationMessage: `flowspin ${tool.replace('_', ' ')} ${target}`,
          confirmationMessages: confirm
            ? {
                title: 'Run the whole flow?',
                message: `Start a real Metaflow run of ${options.input.file ?? 'the flow'} (it writes to your Metaflow datastore).`,
              }
            : undefined,
        };
      },
      async invoke(options, token) {
        const text = await callTool(tool, options.input, token);
        return new vscode.LanguageModelToolResult([new vscode.LanguageModelTextPart(text)]);
      },
    }),
  );
}
