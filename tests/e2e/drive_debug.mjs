// Drives "Flowspin: Debug Step" in a running code-server with chromium (playwright-core), as a
// user: open the flow, spin `start` (the worker is warm from then on), put a breakpoint in
// `train` (Ctrl+G, F9), run "Flowspin: Debug Step" from the palette, wait for VS Code's debugger
// to show the paused state at that line (the top stack frame's decoration, `train` in the call
// stack), press F5 and wait for the spin's ✓ on train's lens. F5 on a launch.json `flowspin`
// configuration pauses at the same breakpoint. Then make train raise, spin it,
// take the quick fix "Debug this step" and wait for the editor paused at the raising line.
// Usage: node drive_debug.mjs CONFIG.json. One JSON line per finished check; exit 1 on failure.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, gotoLine, launchBrowser, openFile, openWorkbench, report, text, waitFor } from './harness.mjs';

const statusText = (page) => text(page, '.statusbar-item');
const lensText = (page) => text(page, '.codelens-decoration');

/** The lens lines (one `.codelens-decoration` per line: "▶ Spin  ✓ 12 ms | ▷ Debug | ▶ Run"). */
function lensLines(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll('.codelens-decoration'), (e) => e.textContent ?? ''));
}

/** Runs `command` from the palette once it is the first choice; when Enter was pressed. */
async function palette(page, command) {
  await page.keyboard.press('F1');
  await waitFor('the command palette', () => page.locator('.quick-input-widget input').isVisible());
  await page.keyboard.type(command);
  const label = command.replace(/^Flowspin: /, '');
  await waitFor(`${command} as the palette's first choice`, async () =>
    (await text(page, '.quick-input-list .monaco-list-row.focused')).includes(label),
  );
  const pressed = Date.now();
  await page.keyboard.press('Enter');
  return pressed;
}

async function main() {
  const browser = await launchBrowser(chromium);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    await openWorkbench(page);
    await openFile(page, 'flow.py');
    await waitFor('flowspin ready', async () => (await statusText(page)).includes('flowspin: ready'));
    await waitFor('the ▷ Debug lenses', async () => (await lensText(page)).includes('▷ Debug'));
    report('server-ready');

    // A plain spin of `start` first: the worker is warm (and the cursor in `train` later
    // preloads train's parent state), as when a user debugs a step while iterating.
    await gotoLine(page, config.startLine);
    await page.keyboard.press('Control+Alt+S');
    await waitFor('the ✓ of the spin of start', async () => /✓ \d+ ms/.test(await lensText(page)));
    report('warm');

    await gotoLine(page, config.breakLine);
    await page.keyboard.press('F9');
    await waitFor('the breakpoint in the glyph margin', () =>
      page.locator('.monaco-editor .codicon-debug-breakpoint').first().isVisible(),
    );
    report('breakpoint-set');

    const started = await palette(page, 'Flowspin: Debug Step');
    // Waited for by the page's own observer, not by polling: this time is the figure.
    await page.locator('.debug-top-stack-frame-line').first().waitFor({ state: 'attached', timeout: 60_000 });
    const pausedMs = Date.now() - started;
    const stack = await waitFor('train in the call stack view', async () => {
      const t = await text(page, '.debug-call-stack');
      return t.includes('train') ? t : '';
    });
    const cursor = (await statusText(page)).match(/Ln \d+/)?.[0];
    report('paused', { pausedMs, stack: stack.slice(0, 300), cursor });

    await page.keyboard.press('Control+1');
    await page.keyboard.press('F5');
    const lens = await waitFor('the ✓ of the debug spin on train\'s lens', async () => {
      // start's line is the one with ▶ Run; end was never spun.
      return (await lensLines(page)).find((t) => /✓ \d+ ms/.test(t) && !t.includes('▶ Run')) ?? '';
    }, 90_000);
    await waitFor('the debug session to end', async () =>
      !(await page.locator('.debug-toolbar').isVisible().catch(() => false)),
    );
    report('finished', { lens });

    // launch.json: a `flowspin` configuration naming the step; F5 starts the same debug spin.
    mkdirSync(join(config.workspace, '.vscode'), { recursive: true });
    writeFileSync(join(config.workspace, '.vscode', 'launch.json'), JSON.stringify({ version: '0.2.0', configurations: [config.launch] }, null, 2));
    await waitFor('Run and Debug to offer the launch.json configuration', async () =>
      (await text(page, '.part.sidebar')).includes(config.launch.name),
    );
    await page.keyboard.press('Control+1');
    const launched = Date.now();
    await page.keyboard.press('F5');
    await page.locator('.debug-top-stack-frame-line').first().waitFor({ state: 'attached', timeout: 60_000 });
    const launchMs = Date.now() - launched;
    const launchCursor = (await statusText(page)).match(/Ln \d+/)?.[0];
    await page.keyboard.press('Control+1');
    await page.keyboard.press('F5');
    await waitFor('the launch.json session to end', async () =>
      !(await page.locator('.debug-toolbar').isVisible().catch(() => false)),
    );
    report('launch-json', { pausedMs: launchMs, cursor: launchCursor });

    // Post-mortem: `train` now raises; its failed spin's diagnostic offers "Debug this step",
    // which spins the same task under the debugger, breaking on uncaught exceptions: the editor
    // stops at the raising line with the exception shown.
    writeFileSync(config.flowPath, config.raisingSource);
    // The editor takes the file from disk (it is not dirty) before the cursor moves in it.
    await waitFor('the editor to show the raising line', async () =>
      (await text(page, '.monaco-editor .view-lines')).replace(/\s+/g, ' ').includes(config.raisingText),
    );
    await gotoLine(page, config.raiseLine);
    await page.keyboard.press('Control+Alt+S');
    await waitFor('the ✗ ZeroDivisionError of the failed spin', async () => (await lensText(page)).includes('✗ ZeroDivisionError'));
    await waitFor('the spin error underlined', async () => (await page.locator('.monaco-editor .squiggly-error').count()) > 0);
    await page.keyboard.press('End');
    await page.keyboard.press('Control+.');
    const fix = page.locator('.action-widget .monaco-list-row', { hasText: 'Debug this step' }).first();
    await waitFor('the "Debug this step" quick fix', () => fix.isVisible());
    const chosen = Date.now();
    await fix.click();
    const exception = await waitFor('the exception widget at the raising line', async () => {
      const t = await text(page, '.exception-widget');
      return t.includes('ZeroDivisionError') ? t : '';
    }, 90_000);
    const postMortemMs = Date.now() - chosen;
    await page.locator('.debug-top-stack-frame-line').first().waitFor({ state: 'attached', timeout: 60_000 });
    const raisedAt = (await statusText(page)).match(/Ln \d+/)?.[0];
    const postMortemStack = await text(page, '.debug-call-stack');
    report('post-mortem', { pausedMs: postMortemMs, exception: exception.slice(0, 300), cursor: raisedAt, stack: postMortemStack.slice(0, 300) });
    await page.keyboard.press('Control+1');
    await page.keyboard.press('F5');
    await waitFor('the post-mortem session to end', async () =>
      !(await page.locator('.debug-toolbar').isVisible().catch(() => false)),
    );
    report('post-mortem-ended', { lens: (await lensLines(page)).find((t) => t.includes('✗')) ?? '' });
    // Its failure's toast goes, so the next check reads only its own.
    await palette(page, 'Notifications: Clear All Notifications');
    await waitFor('no notification toast left', async () => (await page.locator('.notifications-toasts .notification-toast').count()) === 0);

    // A debug spin that fails before its step listens (the DAG broken on disk): the session
    // started for it ends quietly, and the spin's failure is the one message.
    writeFileSync(config.flowPath, config.brokenSource);
    await waitFor('the editor to show the broken next()', async () =>
      (await text(page, '.monaco-editor .view-lines')).includes('self.nope'),
    );
    await waitFor('the broken next() underlined', async () => (await page.locator('.monaco-editor .squiggly-error').count()) > 0);
    await gotoLine(page, config.breakLine);
    await palette(page, 'Flowspin: Debug Step');
    const failed = await waitFor('the failed debug spin\'s message', async () => {
      const t = await text(page, '.notifications-toasts .notification-toast');
      return /FlowGraphError|failed/.test(t) ? t : '';
    });
    await waitFor('no debug session left', async () =>
      !(await page.locator('.debug-toolbar').isVisible().catch(() => false)),
    );
    const dialog = await page.locator('.monaco-dialog-box').isVisible().catch(() => false);
    report('failed-quietly', { message: failed.slice(0, 300), dialog });
  } catch (e) {
    mkdirSync(config.artifacts, { recursive: true });
    const shot = join(config.artifacts, 'vscode-debug-failure.png');
    await page.screenshot({ path: shot }).catch(() => undefined);
    writeFileSync(join(config.artifacts, 'vscode-debug-failure.txt'),
      `${e instanceof Error ? e.stack : String(e)}\n\nstatus bar: ${await statusText(page).catch(() => '?')}\n` +
      `lenses: ${await lensText(page).catch(() => '?')}\n`);
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\nscreenshot: ${shot}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
