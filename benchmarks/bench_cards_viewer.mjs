// The driver of bench_cards_viewer.py: code-server + chromium (playwright-core), the card
// viewer open beside the flow. Spins from a shell, each with a new text for the card, and takes
// the moment the text first shows in the webview; then a run whose step refreshes its card once
// per go-N file, timed in flowspin's viewer and in Metaflow's own card server page side by side.
// Usage: node bench_cards_viewer.mjs CONFIG.json. Prints one JSON line per measurement.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, gotoLine, report, waitFor } from '../tests/e2e/harness.mjs';

const statusText = (page) =>
  page.evaluate(() => Array.from(document.querySelectorAll('.statusbar-item'), (e) => e.textContent).join('\n'));

/** Frames that can show a card: below the workbench, not VS Code's extension-host worker. */
const cardFrames = (page) =>
  page.frames().filter((f) => f !== page.mainFrame() && !f.url().includes('webWorkerExtensionHost'));

async function framesText(page) {
  const parts = await Promise.all(
    cardFrames(page).map((f) => f.evaluate(() => document.body?.innerText ?? '').catch(() => '')),
  );
  return parts.join('\n');
}

/** Polls the frames back to back until one shows `text`; returns that frame's clock then. */
async function drawnAt(page, text, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const seen = await Promise.all(
      cardFrames(page).map((f) =>
        f
          .evaluate((t) => (document.body && document.body.innerText.includes(t) ? Date.now() : 0), text)
          .catch(() => 0),
      ),
    );
    const at = seen.find((t) => t > 0);
    if (at) return at;
    if (Date.now() > deadline) throw new Error(`"${text}" not drawn within ${timeout / 1000} s`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function start(args) {
  const child = spawn(config.python, args, { cwd: config.workspace, env: config.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const started = Date.now();
  const done = new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, started, exited: Date.now() })));
  return { child, done };
}

const mtimeMs = (path) => Number(statSync(path, { bigint: true }).mtimeNs) / 1e6;

function dataFile(runId) {
  const tasks = join(config.workspace, '.metaflow', 'mf.cards', 'BenchViewerFlow', 'runs', runId, 'steps', 'live', 'tasks');
  for (const task of readdirSync(tasks)) {
    const folder = join(tasks, task, 'runtime');
    for (const name of readdirSync(folder)) {
      if (name.endsWith('.data.json')) return join(folder, name);
    }
  }
  throw new Error(`no runtime data file under ${tasks}`);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  let cardServer;
  let live;
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
    await waitFor('flowspin ready', async () => (await statusText(page)).includes('flowspin: ready'));
    await gotoLine(page, config.showLine);
    await page.keyboard.press('F1');
    await waitFor('the command palette', () => page.locator('.quick-input-widget input').isVisible());
    await page.keyboard.type('Flowspin: Show Card');
    await waitFor('the Show Card command', async () =>
      (await page.evaluate(() => document.querySelector('.quick-input-list')?.textContent ?? '')).includes('Show Card'),
    );
    await page.keyboard.press('Enter');
    await waitFor('the run card', async () => (await framesText(page)).includes('no token'));

    const token = join(config.workspace, 'token.txt');
    const latest = join(config.workspace, '.flowspin', 'cards', 'BenchViewerFlow', 'show', 'latest.html');
    for (let i = 0; i <= config.spins; i++) {
      const text = `bench token ${i}`;
      writeFileSync(token, text);
      const spin = start(['-m', 'flowspin', 'spin', 'flow.py', 'show', '--json']);
      const drawn = await drawnAt(page, text, config.timeoutSeconds * 1000);
      const { code, out, started, exited } = await spin.done;
      if (code !== 0) throw new Error(`spin ${i} failed (${code}): ${out}`);
      if (i === 0) continue; // the first spin starts the worker
      report('spin', {
        kind: 'spin',
        afterCardMs: drawn - mtimeMs(latest),
        afterExitMs: drawn - exited,
        spinMs: exited - started,
      });
    }

    await gotoLine(page, config.liveLine);
    await waitFor('the quick run card of the live step', async () =>
      (await framesText(page)).includes(`quick progress 2 of 2`),
    );
    const gate = join(config.artifacts, 'gate');
    mkdirSync(gate, { recursive: true });
    live = start(['flow.py', '--no-pylint', 'run', '--gate', gate, '--epochs', String(config.epochs)]);
    const header = await waitFor('the running task in the viewer', async () => {
      const t = await framesText(page);
      return t.includes(`live progress 0 of ${config.epochs}`) ? t.match(/run (\d+), task \d+/) : null;
    });
    const runId = header[1];
    // Metaflow's own viewer of the same run, polling at its shortest interval.
    cardServer = start(['flow.py', '--no-pylint', 'card', 'server', '--port', String(config.cardServerPort), '--poll-interval', '1']);
    const metaflowPage = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    await waitFor('Metaflow card server', async () => {
      const r = await metaflowPage.goto(`http://127.0.0.1:${config.cardServerPort}/`).catch(() => null);
      return r && r.ok();
    });
    // its page opens the run's first card; pick the live step's, as a user would
    const option = await waitFor('the live card in the card server\'s list', () =>
      metaflowPage.evaluate(
        () => Array.from(document.querySelectorAll('#selector option')).find((o) => o.textContent.startsWith('live/'))?.value,
      ),
    );
    await metaflowPage.selectOption('#selector', option);
    await waitFor('the running card in Metaflow\'s card server', async () =>
      (await framesText(metaflowPage)).includes(`live progress 0 of ${config.epochs}`),
    );
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      writeFileSync(join(gate, `go-${epoch}`), '');
      const text = `live progress ${epoch} of ${config.epochs}`;
      const [flowspin, metaflow] = await Promise.all([
        drawnAt(page, text),
        drawnAt(metaflowPage, text, 15000).catch(() => null),
      ]);
      const written = mtimeMs(dataFile(runId));
      report('data', {
        kind: 'data',
        epoch,
        flowspinMs: flowspin - written,
        metaflowMs: metaflow === null ? null : metaflow - written,
      });
    }
    writeFileSync(join(gate, 'go-end'), '');
    const { code, out } = await live.done;
    if (code !== 0) throw new Error(`the live run failed (${code}): ${out}`);
  } catch (e) {
    mkdirSync(config.artifacts, { recursive: true });
    await page.screenshot({ path: join(config.artifacts, 'bench-failure.png') }).catch(() => undefined);
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  } finally {
    if (cardServer && cardServer.child.exitCode === null) cardServer.child.kill('SIGTERM');
    if (live && live.child.exitCode === null) live.child.kill('SIGKILL');
    await browser.close();
  }
}

await main();
