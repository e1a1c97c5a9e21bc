// A stand-in for an agent in VS Code's agent mode: on "LM Probe: Invoke flowspin Tools" it
// lists the language-model tools the editor knows and calls the ones the request file names
// through vscode.lm.invokeTool, exactly the API agent mode uses, outside any chat session
// (no language model on a test machine). Results are appended as JSON lines to the request's
// output file for the driver to read. Plain CommonJS: test-only, never bundled or shipped.
'use strict';
const fs = require('node:fs');
const vscode = require('vscode');

/** The text parts of a tool result (flowspin answers with one JSON text part). */
function textOf(result) {
  return (result?.content ?? [])
    .map((part) => (part instanceof vscode.LanguageModelTextPart ? part.value : JSON.stringify(part)))
    .join('');
}

/** Polls until every `key: value` of `expected` is what VS Code's configuration says. */
async function settingsInEffect(expected) {
  const deadline = Date.now() + 30_000;
  const pending = () =>
    Object.entries(expected).filter(([key, value]) => vscode.workspace.getConfiguration().get(key) !== value);
  while (pending().length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function probe() {
  const requestFile = vscode.workspace.getConfiguration('flowspinLmProbe').get('request');
  const request = JSON.parse(fs.readFileSync(requestFile, 'utf8'));
  const emit = (line) => fs.appendFileSync(request.output, `${JSON.stringify({ round: request.round, ...line })}\n`);
  await settingsInEffect(request.settings ?? {});
  emit({
    event: 'tools',
    tools: vscode.lm.tools
      .filter((tool) => tool.name.startsWith('flowspin_'))
      .map((tool) => ({
        name: tool.name,
        tags: tool.tags,
        description: tool.description,
        required: tool.inputSchema?.required ?? [],
      })),
  });
  for (const call of request.calls) {
    emit({ event: 'invoking', id: call.id, tool: call.tool });
    const started = Date.now();
    const source = new vscode.CancellationTokenSource();
    try {
      const result = await vscode.lm.invokeTool(
        call.tool,
        { input: call.input, toolInvocationToken: undefined },
        source.token,
      );
      emit({ event: 'result', id: call.id, ok: true, text: textOf(result), ms: Date.now() - started });
    } catch (err) {
      emit({
        event: 'result',
        id: call.id,
        ok: false,
        error: err?.name ?? 'Error',
        message: err?.message ?? String(err),
        ms: Date.now() - started,
      });
    } finally {
      source.dispose();
    }
  }
  emit({ event: 'done' });
}

function activate(context) {
  context.subscriptions.push(vscode.commands.registerCommand('flowspinLmProbe.run', probe));
}

module.exports = { activate };
