// Drives flowspin's language-model tools in a running code-server with chromium
// (playwright-core): each round writes the tool calls to make into the probe extension's
// request file and runs "LM Probe: Invoke flowspin Tools" from the command palette; the probe
// calls vscode.lm.invokeTool as agent mode would. A call that should ask for confirmation
// waits for VS Code's modal dialog, reads it and answers it as a user would (Cancel or Yes).
// Usage: node drive_lm.mjs CONFIG.json (written by test_lm_tools_vscode.py). One JSON line
// per finished check on stdout; on failure a screenshot, and exit 1.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, gotoLine, launchBrowser, openFile, openWorkbench, report, text, waitFor } from './harness.mjs';

/** The probe's output lines so far (one JSON object each). */
function probeLines() {
  if (!existsSync(config.outputFile)) return [];
  return readFileSync(config.outputFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

const probeLine = (round, match) => () => probeLines().find((l) => l.round === round && match(l));

async function runFromPalette(page, title) {
  const input = page.locator('.quick-input-widget input');
  await waitFor(`"${title}" in the command palette`, async () => {
    if (!(await input.isVisible())) {
      await page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await page.keyboard.type(title);
    }
    const rows = await text(page, '.quick-input-list .monaco-list-row');
    if (rows.includes(title)) return true;
    // The palette lists the commands known when it opened; right after start-up the probe's
    // may not be registered yet, so close it and look again.
    if (rows.includes('No matching commands')) await page.keyboard.press('Escape');
    return false;
  });
  await page.keyboard.press('Enter');
}

async function openFlow(page, name, line) {
  await openFile(page, name);
  await waitFor('the flowspin status bar item to say "ready"', async () =>
    (await text(page, '.statusbar-item')).includes('flowspin: ready'),
  );
  await gotoLine(page, line);
}

/** VS Code's confirmation for a tool called outside a chat: a modal dialog in the workbench. */
async function answerDialog(page, round, id, answer) {
  const dialog = page.locator('.monaco-dialog-box');
  const seen = await waitFor(`the confirmation dialog for ${id}`, async () => {
    if (probeLine(round, (l) => l.event === 'result' && l.id === id)()) return 'no dialog';
    return (await dialog.isVisible()) && 'dialog';
  });
  if (seen === 'no dialog') throw new Error(`${id} finished without asking for confirmation`);
  const message = await text(page, '.monaco-dialog-box .dialog-message-text');
  const detail = await text(page, '.monaco-dialog-box .dialog-message-detail');
  // One dialog, held by its element: a locator would retarget a retried click to the next
  // call's dialog, which opens in the same place the moment this one closes (CI once declined
  // the accepted run that way).
  const box = await dialog.elementHandle();
  const buttonHandles = await box.$$('.dialog-buttons .monaco-button');
  const buttons = await Promise.all(buttonHandles.map((b) => b.textContent()));
  // Cancel is the dialog's cancel button; the other one ("Yes") confirms.
  const index = buttons.findIndex((label) => /cancel/i.test(label ?? '') === (answer === 'cancel'));
  if (index < 0) throw new Error(`no button to ${answer} in the dialog for ${id}: ${JSON.stringify(buttons)}`);
  // Clicked until the dialog has gone from the page (a click while it is still opening is
  // sometimes lost); a click on the detached element fails instead of landing elsewhere.
  await waitFor(`the dialog for ${id} to close`, async () => {
    const gone = async () => !(await box.evaluate((el) => el.isConnected));
    if (await gone()) return true;
    await buttonHandles[index].click({ timeout: 2000 }).catch(() => undefined);
    return gone();
  });
  report('dialog', { id, answer, message, detail, buttons });
}

async function main() {
  const browser = await launchBrowser(chromium);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    await openWorkbench(page);
    report('workbench');

    for (const [round, spec] of config.rounds.entries()) {
      if (spec.open) {
        await openFlow(page, spec.open.name, spec.open.line);
        report('flow-open', { round, name: spec.open.name });
      }
      if (spec.workspaceSettings) {
        // As a project would: .vscode/settings.json overrides the user's settings.
        mkdirSync(dirname(spec.workspaceSettings.path), { recursive: true });
        writeFileSync(spec.workspaceSettings.path, JSON.stringify(spec.workspaceSettings.content));
      }
      if (spec.waitForPath) {
        await waitFor(`${spec.waitForPath} to exist`, () => existsSync(spec.waitForPath));
      }
      // The probe waits until VS Code has read the settings just written (a file watcher reads
      // .vscode/settings.json a moment later), so the calls see them.
      const settings = spec.workspaceSettings?.content ?? {};
      writeFileSync(config.requestFile, JSON.stringify({ round, output: config.outputFile, calls: spec.calls, settings }));
      await runFromPalette(page, config.commandTitle);
      const tools = await waitFor(`the probe's tool list (round ${round})`, probeLine(round, (l) => l.event === 'tools'));
      report('tools', { round, tools: tools.tools });
      for (const call of spec.calls) {
        await waitFor(`the probe to invoke ${call.id}`, probeLine(round, (l) => l.event === 'invoking' && l.id === call.id));
        if (call.dialog) await answerDialog(page, round, call.id, call.dialog);
        const result = await waitFor(
          `the result of ${call.id}`,
          probeLine(round, (l) => l.event === 'result' && l.id === call.id),
          (call.timeoutSeconds ?? config.timeoutSeconds) * 1000,
        );
        report('result', result);
      }
      await waitFor(`the probe to finish round ${round}`, probeLine(round, (l) => l.event === 'done'));
      if (spec.after) {
        // A look at the state the round left (e.g. who serves the spin socket) before the next.
        const output = execFileSync(spec.after[0], spec.after.slice(1), { encoding: 'utf8', cwd: config.workspace });
        report('after', { round, output });
      }
    }
  } catch (e) {
    mkdirSync(config.artifacts, { recursive: true });
    const shot = join(config.artifacts, 'vscode-lm-tools-failure.png');
    await page.screenshot({ path: shot }).catch(() => undefined);
    writeFileSync(
      join(config.artifacts, 'vscode-lm-tools-failure.txt'),
      `${e instanceof Error ? e.stack : String(e)}\n\nprobe output:\n${JSON.stringify(probeLines(), null, 1)}\n`,
    );
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\nscreenshot: ${shot}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
