// Drives the card viewer in a running code-server with chromium (playwright-core), as a user:
// open the flow, put the cursor in a @card step, "Flowspin: Show Card", see the run's card;
// spin from a shell (as an agent would), see the spin's card; edit the Markdown text, spin
// again, see the new text, without touching the panel. Then the Auto/Spin/Run toggle and its
// header, and a run in flight: the cursor moves to a step whose card refreshes while it waits
// on files this driver writes, and each update shows in the panel as the run goes. Last, a
// hostile card tries to speak for the extension, and the header stays true.
// Usage: node drive_cards.mjs CONFIG.json. One JSON line per finished check; exit 1 on failure.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, gotoLine, launchBrowser, report, waitFor } from './harness.mjs';

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

/** The frame of the viewer's own page (header, toggle), below VS Code's webview host. */
async function viewerFrame(page) {
  for (const f of page.frames()) {
    if (f !== page.mainFrame() && (await f.$('.toggle button[data-source="run"]').catch(() => null))) return f;
  }
  return null;
}

async function toggle(page, source) {
  const frame = await waitFor('the card viewer page', () => viewerFrame(page));
  await frame.click(`.toggle button[data-source="${source}"]`);
}

function spin() {
  return execFileSync(config.python, ['-m', 'flowspin', 'spin', 'flow.py', config.step, '--no-daemon'], {
    cwd: config.workspace,
    env: config.env,
    encoding: 'utf8',
  });
}

async function main() {
  const browser = await launchBrowser(chromium);
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

    await gotoLine(page, config.stepLine);

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
    const spinHeader = /spin \d+ s ago, base run \d+/;
    const spinCard = await waitFor('the spin card after a spin from the shell', async () => {
      const t = await framesText(page);
      return t.includes(config.textV1) && spinHeader.test(t) ? t : '';
    });
    report('spin-card-shown', { header: spinCard.match(spinHeader)?.[0] });

    writeFileSync(config.flowPath, readFileSync(config.flowPath, 'utf8').replace(config.textV1, config.textV2));
    const started = Date.now();
    spin();
    const spun = Date.now();
    await waitFor('the edited text in the card viewer, without reopening it', async () =>
      (await framesText(page)).includes(config.textV2),
    );
    report('edited-card-shown', { afterSpinMs: Date.now() - spun, totalMs: Date.now() - started });

    // The toggle: the run's card (older than the spin) on "Run", the spin's on "Spin" and "Auto".
    const runHeader = /run (\d+), task (\d+)/;
    await toggle(page, 'run');
    const runAgain = await waitFor('the run card after "Run"', async () => {
      const t = await framesText(page);
      return t.includes(config.textV1) && runHeader.test(t) && !t.includes(config.textV2) ? t : '';
    });
    report('toggle-run', { header: runAgain.match(runHeader)?.[0] });
    await toggle(page, 'spin');
    await waitFor('the spin card after "Spin"', async () => {
      const t = await framesText(page);
      return t.includes(config.textV2) && spinHeader.test(t);
    });
    report('toggle-spin');
    await toggle(page, 'auto');
    const auto = await waitFor('the newer (spin) card after "Auto"', async () => {
      const f = await viewerFrame(page);
      const pressed = await f?.$eval('.toggle button[aria-pressed="true"]', (b) => b.dataset.source).catch(() => '');
      const t = await framesText(page);
      return pressed === 'auto' && t.includes(config.textV2) && spinHeader.test(t) ? t : '';
    });
    report('toggle-auto', { header: auto.match(spinHeader)?.[0] });

    // A run in flight: the panel follows the cursor to `live` and shows its card as it refreshes.
    await gotoLine(page, config.liveLine);
    await waitFor('the card of the first (quick) run of the live step', async () =>
      (await framesText(page)).includes('quick progress 2 of 2'),
    );
    mkdirSync(config.gate, { recursive: true });
    const run = spawn(config.python, ['flow.py', '--no-pylint', 'run', '--gate', config.gate], {
      cwd: config.workspace,
      env: config.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let runOutput = '';
    run.stdout.on('data', (d) => (runOutput += d));
    run.stderr.on('data', (d) => (runOutput += d));
    const exited = new Promise((resolve) => run.on('exit', (code) => resolve(code)));
    try {
      const first = await waitFor('the running task\'s first card render', async () => {
        const t = await framesText(page);
        return t.includes('live progress 0 of 2') && t.includes('· running') ? t : '';
      });
      const updates = [];
      for (const epoch of [1, 2]) {
        writeFileSync(join(config.gate, `go-${epoch}`), '');
        const wrote = Date.now();
        // a data update of current.card.refresh(), applied by the card's own JavaScript
        await waitFor(`"live progress ${epoch} of 2" while the run is in flight`, async () =>
          (await framesText(page)).includes(`live progress ${epoch} of 2`),
        );
        updates.push(Date.now() - wrote);
      }
      report('live-run-card-updates', { header: first.match(/run \d+, task \d+[^\n]*/)?.[0], msFromGoFile: updates });
      writeFileSync(join(config.gate, 'go-end'), '');
      await waitFor('the final card once the task finished', async () => {
        const t = await framesText(page);
        return t.includes('live progress 2 of 2') && runHeader.test(t) && !t.includes('· running');
      });
      const code = await exited;
      if (code !== 0) throw new Error(`the live run failed (${code}):\n${runOutput}`);
      report('live-run-card-final');
    } finally {
      if (run.exitCode === null) run.kill('SIGKILL');
    }

    // A hostile card posts the viewer's own message shapes, itself and from frames it nests,
    // every 50 ms. Once it has tried 20 times (its count is on screen, so its script ran,
    // "<script" strings and all), the header must still name its real step and run.
    await gotoLine(page, config.forgeLine);
    const tries = await waitFor('the forging card, trying 20 times', async () => {
      const m = (await framesText(page)).match(/forge attempts: (\d+)/);
      return m && Number(m[1]) >= 20 ? Number(m[1]) : 0;
    });
    const viewer = await waitFor('the card viewer page', () => viewerFrame(page));
    const header = await viewer.evaluate(() => ({
      step: document.getElementById('step')?.textContent ?? '',
      label: document.getElementById('label')?.textContent ?? '',
    }));
    const text = await framesText(page);
    if (header.step !== 'Step forge' || !runHeader.test(header.label) || text.includes('FORGED')) {
      throw new Error(`a card forged the viewer: ${JSON.stringify(header)}\n${text}`);
    }
    // The card can read the page's nonce (from a CSP violation report), but the frame's own
    // policy (the iframe's csp) has none, so scripts it nests with that nonce never run.
    const attempts = text.match(/forge attempts: \d+ \(([^)]*)\)/)?.[1] ?? '';
    if (!attempts.includes('nested scripts ran 0 times')) {
      throw new Error(`a card ran scripts with the page's nonce: ${attempts}`);
    }
    report('forged-header-refused', { header, tries, attempts });
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
