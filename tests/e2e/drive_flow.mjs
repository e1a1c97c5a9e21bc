// Drives the flow panel in a running code-server with chromium (playwright-core), as a user:
// open the flow, "Flowspin: Show Flow", see every step; spin the cursor's step (Ctrl+Alt+S) and
// see its node turn ok; click a node and see the editor's cursor on that step; move the cursor
// and see its node highlighted; edit an upstream step and see the downstream nodes turn stale
// (when config.checkStale). Usage: node drive_flow.mjs CONFIG.json. One JSON line per finished
// check; exit 1 on failure (with a screenshot in config.artifacts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, gotoLine, launchBrowser, openFile, openWorkbench, report, text, waitFor } from './harness.mjs';

const statusText = (page) => text(page, '.statusbar-item');

/** The editor's cursor line, from its highlighted line number (the status bar shows Ln only
 * while the editor has the focus, and a click in the panel leaves the focus there). */
const cursorLine = (page) =>
  page.evaluate(() => Number(document.querySelector('.editor-group-container .line-numbers.active-line-number')?.textContent ?? 0));

/** The frame of the flow panel's page (the one holding the graph's SVG). */
async function panelFrame(page) {
  for (const f of page.frames()) {
    if (f !== page.mainFrame() && (await f.$('svg#graph').catch(() => null))) return f;
  }
  return null;
}

/** Each node's step name and state class, from the panel's SVG. */
async function nodes(page) {
  const frame = await panelFrame(page);
  if (!frame) return null;
  return frame.evaluate(() =>
    Object.fromEntries(
      Array.from(document.querySelectorAll('.node'), (n) => [
        n.getAttribute('data-step'),
        {
          state: (n.getAttribute('class') ?? '').match(/state-(\w+)/)?.[1] ?? '',
          kind: (n.getAttribute('class') ?? '').match(/kind-(\w+)/)?.[1] ?? '',
          cursor: n.classList.contains('cursor'),
          title: n.querySelector('title')?.textContent ?? '',
          text: Array.from(n.querySelectorAll(':scope > text'), (t) => t.textContent).join(' | '),
        },
      ]),
    ),
  );
}

/** The cursor to a line of flow.py; a click in its text first takes the focus back from the
 * panel (keys pressed while the webview has the focus reach the workbench only now and then). */
async function goto(page, line) {
  await page.locator('.editor-group-container .view-line', { hasText: 'class PanelFlow' }).first().click();
  await gotoLine(page, line);
}

async function palette(page, command) {
  await page.keyboard.press('F1');
  await waitFor('the command palette', () => page.locator('.quick-input-widget input').isVisible());
  await page.keyboard.type(command);
  await waitFor(`"${command}" in the palette`, async () => (await text(page, '.quick-input-list')).includes(command.replace(/^Flowspin: /, '')));
  await page.keyboard.press('Enter');
}

async function main() {
  const browser = await launchBrowser(chromium);
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  try {
    await openWorkbench(page);
    await openFile(page, 'flow.py');
    await waitFor('flowspin ready', async () => (await statusText(page)).includes('flowspin: ready'));
    report('server-ready');

    await gotoLine(page, config.lines.train);
    await palette(page, 'Flowspin: Show Flow');
    const shown = await waitFor('every step in the flow panel', async () => {
      const n = await nodes(page);
      return n && config.steps.every((s) => s in n) ? n : null;
    });
    const kinds = Object.fromEntries(Object.entries(shown).map(([k, v]) => [k, v.kind]));
    for (const [step, kind] of Object.entries(config.kinds)) {
      if (kinds[step] !== kind) throw new Error(`node ${step} is drawn as ${kinds[step]}, not ${kind}`);
    }
    report('panel-shows-every-step', { kinds, train: shown.train.state });
    await waitFor('the cursor\'s step (train) highlighted', async () => (await nodes(page))?.train?.cursor);
    report('cursor-step-highlighted');

    // Ctrl+Alt+S in the editor spins `train`; its node turns ok, with the spin's duration.
    await gotoLine(page, config.lines.train);
    await page.keyboard.press('Control+Alt+S');
    const ok = await waitFor('the train node to turn ok after the spin', async () => {
      const n = await nodes(page);
      return n?.train?.state === 'ok' ? n.train : null;
    }, 120_000);
    report('spin-turns-node-ok', { text: ok.text, title: ok.title });
    mkdirSync(config.artifacts, { recursive: true });
    await page.screenshot({ path: join(config.artifacts, 'flow-panel.png') });

    // A click on the `end` node puts the editor's cursor on `def end`.
    let frame = await waitFor('the flow panel page', () => panelFrame(page));
    await frame.locator('.node[data-step="end"] .name').click();
    await waitFor(`the cursor on line ${config.defLines.end} (def end)`, async () =>
      (await cursorLine(page)) === config.defLines.end,
    );
    report('click-reveals-step', { line: config.defLines.end });
    await waitFor('the end node highlighted as the cursor\'s step', async () => (await nodes(page))?.end?.cursor);

    // Keyboard: Tab goes from node to node, Enter reveals the focused one.
    await frame.locator('.node[data-step="start"]').focus();
    await page.keyboard.press('Tab');
    const focused = await frame.evaluate(() => document.activeElement?.getAttribute('data-step'));
    if (!focused || !(focused in config.defLines) || focused === 'start') {
      throw new Error(`Tab from the start node focused ${focused}, not another node`);
    }
    await page.keyboard.press('Enter');
    await waitFor(`Enter on ${focused} to put the cursor on line ${config.defLines[focused]}`, async () =>
      (await cursorLine(page)) === config.defLines[focused],
    );
    report('keyboard-tab-enter-reveals', { focused, line: config.defLines[focused] });

    // The Spin button on the start node spins start.
    await frame.locator('.node[data-step="start"] .name').hover();
    await frame.locator('.node[data-step="start"] .action-spin').click();
    await waitFor('the start node to turn ok after its Spin button', async () => (await nodes(page))?.start?.state === 'ok', 120_000);
    report('spin-button');

    // Spin Downstream on fan: fan, each (every split), gather and end are spun and turn ok.
    await frame.locator('.node[data-step="fan"] .name').hover();
    await frame.locator('.node[data-step="fan"] .action-downstream').click();
    const below = ['fan', 'each', 'gather', 'end'];
    const spun = await waitFor('fan and every step below it ok after Spin Downstream', async () => {
      const n = await nodes(page);
      return n && below.every((s) => n[s]?.state === 'ok') ? n : null;
    }, 180_000);
    report('spin-downstream-button', { end: spun.end.text, fan: spun.fan.text });

    // Resume from here asks which run to resume (Escape: nothing runs); Card opens the card
    // viewer on the step.
    await frame.locator('.node[data-step="train"] .name').hover();
    await frame.locator('.node[data-step="train"] .action-resume').click();
    const asked = await waitFor('the resume question for train', async () => {
      const t = await text(page, '.quick-input-widget');
      return /Resume \w+ from train/.test(t) ? t.match(/Resume \w+ from train[^\n]*/)?.[0] : '';
    });
    await page.keyboard.press('Escape');
    await frame.locator('.node[data-step="train"] .name').hover();
    await frame.locator('.node[data-step="train"] .action-card').click();
    const cardTab = page.locator('.tabs-container .tab', { hasText: 'Card' });
    await waitFor('a card viewer tab', () => cardTab.first().isVisible());
    report('resume-and-card-buttons', { asked });
    // Close the card viewer; Show Flow reveals the flow panel (and brings it back if the card
    // viewer had covered it).
    await cardTab.first().locator('.tab-actions .action-label').click();
    await waitFor('the card viewer closed', async () => (await cardTab.count()) === 0);
    await goto(page, config.lines.train);
    await palette(page, 'Flowspin: Show Flow');
    frame = await waitFor('the flow panel shown again', async () => {
      const n = await nodes(page);
      return n && config.steps.every((x) => x in n) ? panelFrame(page) : null;
    });

    if (config.checkStale) {
      // An edit of `start` (upstream of train): the nodes whose outputs it fed turn stale.
      await goto(page, config.lines.startValue);
      await page.keyboard.press('End');
      await page.keyboard.press('Backspace');
      await page.keyboard.type('7');
      const stale = await waitFor('train to turn stale after an edit upstream', async () => {
        const n = await nodes(page);
        return n?.train?.state === 'stale' ? n.train : null;
      });
      report('edit-turns-downstream-stale', { title: stale.title });
    }

    // Zoom in; a syntax error empties the panel (saying why), the fix brings the graph back at
    // the same zoom and pan.
    const transform = () => frame.evaluate(() => document.getElementById('viewport')?.getAttribute('transform'));
    await goto(page, config.lines.train);
    await waitFor('train highlighted as the cursor\'s step', async () => (await nodes(page))?.train?.cursor);
    await frame.locator('#zoomIn').click();
    const zoomed = await transform();
    await goto(page, config.lines.train);
    await page.keyboard.press('End');
    await page.keyboard.type(' +');
    const said = await waitFor('the panel to say the file has a syntax error', () =>
      frame.evaluate(() => (document.getElementById('empty')?.hidden ? '' : document.getElementById('empty')?.textContent ?? '')),
    );
    if (!/syntax error/i.test(said)) throw new Error(`the empty panel says: ${said}`);
    await page.keyboard.press('Backspace');
    await page.keyboard.press('Backspace');
    await waitFor('the graph back after the fix', async () => {
      const n = await nodes(page);
      return n && config.steps.every((s) => s in n) && (await frame.evaluate(() => document.getElementById('empty')?.hidden));
    });
    const after = await transform();
    if (after !== zoomed) throw new Error(`zoom and pan changed across the redraw: ${zoomed} -> ${after}`);
    report('syntax-error-empty-state-and-zoom-kept', { said, transform: after });

    // After a window reload the panel comes back (its serializer) and draws the graph again.
    await palette(page, 'Developer: Reload Window');
    await waitFor('the workbench after the reload', () => page.locator('.monaco-workbench').isVisible());
    await waitFor('the flow panel restored with every step', async () => {
      const n = await nodes(page);
      return n && config.steps.every((s) => s in n);
    });
    report('restored-after-reload');
  } catch (e) {
    mkdirSync(config.artifacts, { recursive: true });
    const shot = join(config.artifacts, 'flow-panel-failure.png');
    await page.screenshot({ path: shot }).catch(() => undefined);
    writeFileSync(join(config.artifacts, 'flow-panel-nodes.json'), JSON.stringify(await nodes(page).catch(() => null), null, 1));
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\nscreenshot: ${shot}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
