// Drives the Artifacts view in a running code-server with chromium (playwright-core), as a
// user: open the flow, spin the cursor's step (Ctrl+Alt+S), open the flowspin view in the
// activity bar and see the step's artifacts with their values and badges; click the DataFrame
// and see its first 100 rows in the preview, sort by a column, page on. Usage: node
// drive_artifacts.mjs CONFIG.json. One JSON line per finished check; exit 1 on failure (with a
// screenshot in config.artifacts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, gotoLine, launchBrowser, openFile, openWorkbench, report, text, waitFor } from './harness.mjs';

const statusText = (page) => text(page, '.statusbar-item');

/** The Artifacts view's rows: label and description as the tree shows them. */
const rows = (page) =>
  page.evaluate(() =>
    Array.from(document.querySelectorAll('.pane-body .monaco-list-row .monaco-icon-label'), (r) => ({
      label: r.querySelector('.label-name')?.textContent ?? '',
      description: r.querySelector('.label-description')?.textContent ?? '',
    })),
  );

/** The frame of the preview's page (the one holding the table). */
async function tableFrame(page) {
  for (const f of page.frames()) {
    if (f !== page.mainFrame() && (await f.$('table#table').catch(() => null))) return f;
  }
  return null;
}

async function table(page) {
  const frame = await tableFrame(page);
  if (!frame) return null;
  return frame.evaluate(() => ({
    range: document.getElementById('range')?.textContent ?? '',
    status: document.getElementById('status')?.textContent ?? '',
    heads: Array.from(document.querySelectorAll('#head th'), (t) => t.firstChild?.textContent ?? ''),
    rows: Array.from(document.querySelectorAll('#body tr'), (tr) => Array.from(tr.children, (td) => td.textContent)),
    numClass: document.querySelector('#body tr td:nth-child(2)')?.className ?? '',
  }));
}

async function main() {
  const browser = await launchBrowser(chromium);
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  try {
    await openWorkbench(page);
    await openFile(page, 'flow.py');
    await waitFor('flowspin ready', async () => (await statusText(page)).includes('flowspin: ready'));
    report('server-ready');

    await gotoLine(page, config.lines.start);
    await page.keyboard.press('Control+Alt+S');
    await waitFor('the spin of start to end', async () => (await statusText(page)).includes('✓ start'), 120_000);
    report('spun');

    // The activity bar's flowspin container: the view lists start's artifacts.
    await page.locator('.activitybar .action-item .action-label[aria-label^="Flowspin"]').first().click();
    await gotoLine(page, config.lines.start);
    const listed = await waitFor('the artifacts of start in the view', async () => {
      const r = await rows(page);
      return r.some((x) => x.label === 'df') && r.some((x) => x.label === 'answer') ? r : null;
    });
    const answer = listed.find((x) => x.label === 'answer');
    const df = listed.find((x) => x.label === 'df');
    if (!answer.description.includes('int = 42')) throw new Error(`answer reads ${answer.description}`);
    if (!df.description.includes('[250 x 2]')) throw new Error(`df reads ${df.description}`);
    report('view-lists-artifacts', { answer: answer.description, df: df.description });

    // Open: a click on the DataFrame's row shows its first 100 rows.
    await page.locator('.pane-body .monaco-list-row', { hasText: /^df/ }).first().click();
    const first = await waitFor('the preview with 100 rows', async () => {
      const t = await table(page);
      return t && t.rows.length === 100 ? t : null;
    });
    if (!first.range.includes('1–100 of 250')) throw new Error(`the preview says ${first.range}`);
    if (first.rows[0][1] !== '0' || !first.numClass.includes('num')) throw new Error(`first row ${JSON.stringify(first.rows[0])} (${first.numClass})`);
    report('open-shows-rows', { range: first.range, firstRow: first.rows[0], heads: first.heads });
    mkdirSync(config.artifacts, { recursive: true });
    await page.screenshot({ path: join(config.artifacts, 'artifacts-view.png') });

    // Sort by n (twice: descending), then the next page.
    const frame = await tableFrame(page);
    await frame.locator('#head th').nth(1).click();
    await waitFor('sorted ascending by n', async () => (await table(page))?.heads.some((h) => h.includes('▲')));
    await frame.locator('#head th').nth(1).click();
    const sorted = await waitFor('sorted descending by n', async () => {
      const t = await table(page);
      return t?.heads.some((h) => h.includes('▼')) && t.rows[0]?.[1] === '249' ? t : null;
    });
    report('sort-by-column', { firstRow: sorted.rows[0] });
    await frame.locator('#next').click();
    const next = await waitFor('the next page', async () => {
      const t = await table(page);
      return t?.range.includes('101–200 of 250') && t.rows[0]?.[1] === '149' ? t : null;
    });
    report('next-page', { range: next.range, firstRow: next.rows[0] });
  } catch (e) {
    mkdirSync(config.artifacts, { recursive: true });
    await page.screenshot({ path: join(config.artifacts, 'artifacts-view-failure.png') }).catch(() => {});
    writeFileSync(join(config.artifacts, 'artifacts-view-failure.txt'), String(e?.stack ?? e));
    process.stderr.write(`${e?.stack ?? e}\n`);
    await browser.close();
    process.exit(1);
  }
  await browser.close();
}

await main();
