// Drives a running code-server (a real VS Code) with Debian's chromium through playwright-core,
// as a user would: open the flow, look at the Problems view, fix the file, press Ctrl+Alt+S.
// Usage: node drive.mjs CONFIG.json  (written by test_vscode_extension.py)
// Prints one JSON line per finished check to stdout; on failure saves a screenshot and exits 1.
// Every wait polls observable DOM state with a deadline; nothing sleeps a fixed time.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, gotoLine, launchBrowser, openFile, report, text, waitFor } from './harness.mjs';

async function statusText(page) {
  return text(page, '.statusbar-item');
}

async function toasts(page) {
  return text(page, '.notifications-toasts .notification-toast');
}

/** The "flowspin" output channel as VS Code writes it to disk (logs/<session>/exthost1/...). */
function readFlowspinLog(dir) {
  const found = readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('flowspin.log'));
  return found.map((f) => readFileSync(join(dir, String(f)), 'utf8')).join('\n');
}

async function main() {
  const browser = await launchBrowser(chromium);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    await page.goto(`${config.url}/?folder=${encodeURIComponent(config.workspace)}`);
    await waitFor('the VS Code workbench', () => page.locator('.monaco-workbench').isVisible());
    report('workbench');

    await openFile(page, config.flowName);
    // The extension activates on Python files; its status bar item says when the server is up.
    await waitFor('the flowspin status bar item to say "ready"', async () =>
      (await statusText(page)).includes('flowspin: ready'),
    );
    report('server-ready', { status: (await statusText(page)).match(/flowspin: \w+/)?.[0] });

    await page.keyboard.press('Control+Shift+M');
    const problem = `Ln ${config.brokenLine}`;
    const rows = await waitFor(`a problem at "${problem}" in the Problems view`, async () => {
      const t = await text(page, '.markers-panel .monaco-list-row');
      return t.includes(problem) ? t : '';
    });
    report('diagnostic-shown', { rows });

    writeFileSync(config.flowPath, config.fixedSource);
    await waitFor(`the problem at "${problem}" to clear after the fix`, async () => {
      const t = await text(page, '.markers-panel');
      return !t.includes(problem) && !t.includes(config.problemWord);
    });
    report('diagnostic-cleared', { panel: await text(page, '.markers-panel') });

    await gotoLine(page, config.stepLine);
    // An unsaved edit: Spin saves the file first (the spin runs the file as saved).
    const edit = '  # edited before the spin';
    await page.keyboard.press('End');
    await page.keyboard.type(edit);
    await waitFor('the editor to be dirty', async () => (await text(page, '.tabs-container .tab.active.dirty')).includes(config.flowName));
    await page.keyboard.press('Control+Alt+S');
    const answer = await waitFor('the server\'s answer to Ctrl+Alt+S in a notification', async () => {
      const t = await toasts(page);
      return new RegExp(config.answerPattern, 'i').test(t) ? t : '';
    });
    const saved = readFileSync(config.flowPath, 'utf8').includes(edit);
    report('spin-answered', { notification: answer, saved });

    // The "▶ Spin" code lens above `end` sends its own {uri, step}; the extension logs the
    // request it forwards and the server's answer in the flowspin output channel.
    const spinLenses = page.locator('.codelens-decoration a', { hasText: /▶ Spin/ });
    await waitFor('two "▶ Spin" code lenses', async () => (await spinLenses.count()) >= 2);
    await spinLenses.nth(1).click();
    const logged = await waitFor('the lens click to reach the server (flowspin log)', () => {
      const logText = readFlowspinLog(config.logsDir);
      const sent = logText.indexOf('flowspin.server.spin {"uri":"file://');
      const forEnd = logText.indexOf('"step":"end"', sent);
      return forEnd > 0 && /\] spin: /.test(logText.slice(forEnd)) ? logText.slice(forEnd, forEnd + 300) : '';
    });
    report('lens-answered', { log: logged });

    if (config.noFlowspinPython) {
      // Point flowspin.python at an interpreter without flowspin: the extension restarts the
      // server, finds flowspin missing and says so once, with a button that installs it.
      // Workspace settings (.vscode/settings.json) override the user's, as a project would.
      mkdirSync(dirname(config.workspaceSettings), { recursive: true });
      writeFileSync(config.workspaceSettings, JSON.stringify({ 'flowspin.python': config.noFlowspinPython }, null, 2));
      const missing = await waitFor('the "flowspin is not installed" notification', async () => {
        const t = await toasts(page);
        return t.includes('flowspin is not installed in') ? t : '';
      });
      const button = await page.locator('.notifications-toasts .monaco-button', { hasText: 'Install flowspin' }).count();
      await waitFor('the status bar item to say "error"', async () => (await statusText(page)).includes('flowspin: error'));
      report('flowspin-missing', { notification: missing, installButtons: button });

      rmSync(config.workspaceSettings);
      await waitFor('the server to be ready again after restoring flowspin.python', async () =>
        (await statusText(page)).includes('flowspin: ready'),
      );
      report('server-restarted');
    }
  } catch (e) {
    mkdirSync(config.artifacts, { recursive: true });
    const shot = join(config.artifacts, 'vscode-e2e-failure.png');
    await page.screenshot({ path: shot }).catch(() => undefined);
    writeFileSync(join(config.artifacts, 'vscode-e2e-failure.txt'),
      `${e instanceof Error ? e.stack : String(e)}\n\nstatus bar: ${await statusText(page).catch(() => '?')}\n` +
      `notifications: ${await toasts(page).catch(() => '?')}\n`);
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\nscreenshot: ${shot}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
