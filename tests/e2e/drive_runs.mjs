// Drives "Run Flow" in a running code-server with chromium (playwright-core), as a user: open
// the flow, Ctrl+Alt+R, answer the Parameter prompts, watch the run finish in the status bar
// and the per-step lenses; run again (the prompt remembers the last values) with a value that
// makes a step fail, and find the failure in the Problems view at the failing line. Then
// "Flowspin: Cancel Run…" on a flow whose run a terminal started and lost (its launcher was
// killed): the pick offers that run as running, and picking it cancels it.
// Usage: node drive_runs.mjs CONFIG.json. One JSON line per finished check; exit 1 on failure.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, gotoLine, launchBrowser, openFile, openWorkbench, report, statusLabels, text, waitFor } from './harness.mjs';

const RUN_TIMEOUT = 180_000;

/** Answers the next input box whose title mentions `name`; returns the value it offered. */
async function answer(page, name, value) {
  const box = page.locator('.quick-input-widget');
  await waitFor(`the prompt for Parameter ${name}`, async () =>
    (await box.isVisible()) && (await text(page, '.quick-input-widget .quick-input-title')).includes(name),
  );
  const input = page.locator('.quick-input-widget input');
  const offered = await input.inputValue();
  await input.fill(value);
  await page.keyboard.press('Enter');
  return offered;
}

const lensText = (page) => text(page, '.codelens-decoration');

async function main() {
  const browser = await launchBrowser(chromium);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    await openWorkbench(page);
    await openFile(page, 'flow.py');
    await waitFor('flowspin ready', async () => (await text(page, '.statusbar-item')).includes('flowspin: ready'));
    report('server-ready');

    await gotoLine(page, config.stepLine);
    await page.keyboard.press('Control+Alt+R');
    const firstOffer = await answer(page, 'width', '3');
    await answer(page, 'divisor', '');
    const ok = await waitFor(
      'the run to succeed (status bar)',
      async () => (await statusLabels(page)).match(/flowspin run ok: (Run RunsFlow\/\d+ succeeded[^\n]*)/)?.[1],
      RUN_TIMEOUT,
    );
    const lenses = await waitFor('the run status in the lenses', async () => {
      const t = await lensText(page);
      return /✓ run \d+: done in [\d.]+ s \(3 tasks\)/.test(t) ? t : '';
    });
    report('run-succeeded', { status: ok, firstOffer, lens: lenses.match(/✓ run \d+: done in [^\n]*\(3 tasks\)/)?.[0] });

    await page.keyboard.press('Control+Alt+R');
    const remembered = await answer(page, 'width', '3');
    await answer(page, 'divisor', '0');
    const failed = await waitFor(
      'the run to fail (status bar)',
      async () => (await statusLabels(page)).match(/flowspin run failed: (Run RunsFlow\/\d+ failed[^\n]*)/)?.[1],
      RUN_TIMEOUT,
    );
    // VS Code fetches lenses while the editor has focus (the Problems view would take it).
    await page.keyboard.press('Control+1');
    const failedLens = await waitFor('the failed step in its lens', async () =>
      (await lensText(page)).match(/✗ run \d+: failed/)?.[0],
    );
    await page.keyboard.press('Control+Shift+M');
    const problem = await waitFor('the failed task in the Problems view at its line', async () => {
      const rows = await text(page, '.markers-panel .monaco-list-row');
      return rows.includes('ZeroDivisionError') && rows.includes(`Ln ${config.failLine}`) ? rows : '';
    });
    report('run-failed', { status: failed, remembered, problem, lens: failedLens });

    await openFile(page, 'held_flow.py');
    await page.keyboard.press('F1');
    await waitFor('the command palette', () => page.locator('.quick-input-widget input').isVisible());
    await page.keyboard.type('Flowspin: Cancel Run');
    await waitFor('the Cancel Run command', async () => (await text(page, '.quick-input-list')).includes('Cancel Run'));
    await page.keyboard.press('Enter');
    const offered = await waitFor('the held run in the pick, running', async () => {
      const t = await text(page, '.quick-input-list');
      return t.includes(config.heldRunId) && t.includes('running') ? t : '';
    });
    await page.keyboard.press('Enter');
    const toast = await waitFor('the cancel in a notification', async () => {
      const t = await text(page, '.notifications-toasts');
      return t.includes(`Cancelled run ${config.heldRunId}`) ? t : '';
    });
    report('run-cancelled', { offered, toast });
  } catch (e) {
    mkdirSync(config.artifacts, { recursive: true });
    const shot = join(config.artifacts, 'runs-failure.png');
    await page.screenshot({ path: shot }).catch(() => undefined);
    writeFileSync(join(config.artifacts, 'runs-status.txt'), await statusLabels(page).catch(() => '?'));
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\nscreenshot: ${shot}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
