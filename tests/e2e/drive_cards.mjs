// Drives the card viewer in a running code-server with chromium (playwright-core), as a user:
// open the flow, put the cursor in a @card step, "Flowspin: Show Card", see the run's card;
// spin from a shell (as an agent would), see the spin's card; edit the Markdown text, spin
// again, see the new text, without touching the panel.
// Usage: node drive_cards.mjs CONFIG.json. One JSON line per finished check; exit 1 on failure.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, report, waitFor } from './harness.mjs';

const statusText = (page) =>
  page.evaluate(() => Array.from(document.querySelectorAll('.statusbar-item'), (e) => e.textContent).join('\n'));

/** The visible text of the frames below the workbench: the webview and the card inside it
 * (not the editor, which shows the flow's source text too). */
async function framesText(page) {
  const frames = page.frames().filter((f) => f !== page.mainFrame());
  const parts = await Promise.all(
    frames.map((f) => f.evaluate(() => document.body?.innerText ?? '').catch(() => '')),
  );
  return parts.join('\n');
}

function spin() {
  return execFileSync(config.python, ['-m', 'flowspin', 'spin', 'flow.py', config.step, '--no-daemon'], {
    cwd: config.workspace,
    env: config.env,
    encoding: 'utf8',
  });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    await page.goto(`${config.url}/?folder=${encodeURIComponent(config.workspace)}`);
    await waitFor('the VS Code workbench', () => page.locator('.monaco-workbench').isVisible());
    await page.keyboard.press('Control+P');
    await waitFor('quick open', () => page.locator('.quick-input-widget input').isVisible());
    await page.keyboard.type('flow.py');
    await waitFor('flow.py in quick open', async () =>
      (await page.evaluate(() => document.querySelector('.quick-input-list')?.textContent ?? '')).includes('flow.py'),
    );
    await page.keyboard.press('Enter');
    await waitFor('the flow.py editor tab', async () =>
      (await page.evaluate(() => document.querySelector('.tabs-container .tab.active')?.textContent ?? '')).includes('flow.py'),
    );
    await waitFor('flowspin ready', async () => (await statusText(page)).includes('flowspin: ready'));
    report('server-ready');

    await page.keyboard.press('Control+G');
    await waitFor('go-to-line', () => page.locator('.quick-input-widget input').isVisible());
    await page.keyboard.type(String(config.stepLine));
    await page.keyboard.press('Enter');
    await waitFor(`the cursor on line ${config.stepLine}`, async () => (await statusText(page)).includes(`Ln ${config.stepLine},`));

    await page.keyboard.press('F1');
    await waitFor('the command palette', () => page.locator('.quick-input-widget input').isVisible());
    await page.keyboard.type('Flowspin: Show Card');
    await waitFor('the Show Card command', async () =>
      (await page.evaluate(() => document.querySelector('.quick-input-list')?.textContent ?? '')).includes('Show Card'),
    );
    await page.keyboard.press('Enter');
    const runCard = await waitFor('the run card in the card viewer', async () => {
      const t = await framesText(page);
      return t.includes(config.textV1) && t.includes('run ') ? t : '';
    });
    report('run-card-shown', { header: runCard.match(/run \d+, task \d+/)?.[0] });

    spin();
    const spinCard = await waitFor('the spin card after a spin from the shell', async () => {
      const t = await framesText(page);
      return t.includes(config.textV1) && /spin \d{8}-/.test(t) ? t : '';
    });
    report('spin-card-shown', { header: spinCard.match(/spin \S+/)?.[0] });

    writeFileSync(config.flowPath, readFileSync(config.flowPath, 'utf8').replace(config.textV1, config.textV2));
    const started = Date.now();
    spin();
    const spun = Date.now();
    await waitFor('the edited text in the card viewer, without reopening it', async () =>
      (await framesText(page)).includes(config.textV2),
    );
    report('edited-card-shown', { afterSpinMs: Date.now() - spun, totalMs: Date.now() - started });
  } catch (e) {
    mkdirSync(config.artifacts, { recursive: true });
    const shot = join(config.artifacts, 'card-viewer-failure.png');
    await page.screenshot({ path: shot }).catch(() => undefined);
    writeFileSync(join(config.artifacts, 'card-viewer-frames.txt'), await framesText(page).catch(() => '?'));
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\nscreenshot: ${shot}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
