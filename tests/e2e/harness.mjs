// What both drivers share: the config the pytest module wrote (argv[2]), one JSON line per
// finished check on stdout, and polling of observable state with a deadline (never a fixed sleep).
import { readFileSync } from 'node:fs';

export const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
export const TIMEOUT = (config.timeoutSeconds ?? 60) * 1000;

export function report(check, detail = {}) {
  process.stdout.write(`${JSON.stringify({ check, ...detail })}\n`);
}

/** Polls `probe` (returns a truthy value when done) until it succeeds or the deadline passes. */
export async function waitFor(what, probe, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout / 1000} s waiting for ${what} (last probe: ${JSON.stringify(last)})`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Debian's chromium, headless, with the flags that keep it off the network. */
export async function launchBrowser(chromium) {
  return chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The text of every element matching `selector` in the workbench, without <style>/<script>. */
export function text(page, selector) {
  return page.evaluate((sel) => {
    const textOf = (root) => {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      let out = '';
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.parentElement?.closest('style, script') == null) out += node.nodeValue;
      }
      return out;
    };
    return Array.from(document.querySelectorAll(sel), textOf).join('\n');
  }, selector);
}

/** Opens the workspace and waits for the workbench. */
export async function openWorkbench(page) {
  await page.goto(`${config.url}/?folder=${encodeURIComponent(config.workspace)}`);
  await waitFor('the VS Code workbench', () => page.locator('.monaco-workbench').isVisible());
}

/** Quick open (Ctrl+P) of a file by name, until its editor tab is the active one. */
export async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  await waitFor('the quick open box', () => page.locator('.quick-input-widget input').isVisible());
  await page.keyboard.type(name);
  await waitFor(`"${name}" in quick open`, async () => (await text(page, '.quick-input-list')).includes(name));
  await page.keyboard.press('Enter');
  await waitFor(`an editor tab for ${name}`, async () => (await text(page, '.tabs-container .tab.active')).includes(name));
}

/** Ctrl+G to a 1-based line of the first editor group, until the status bar shows it. */
export async function gotoLine(page, line) {
  const input = page.locator('.quick-input-widget input');
  await page.keyboard.press('Control+1'); // the editor, not a view, has the focus
  await page.keyboard.press('Control+G');
  await waitFor('the go-to-line box', () => input.isVisible());
  await page.keyboard.type(String(line));
  // Enter only once the box offers the line: pressed earlier, it is lost now and then on a
  // loaded machine.
  await waitFor(`the go-to-line box to offer line ${line}`, async () =>
    (await text(page, '.quick-input-list .monaco-list-row')).includes(`line ${line}`),
  );
  await page.keyboard.press('Enter');
  await waitFor(`the cursor on line ${line}`, async () => (await text(page, '.statusbar-item')).includes(`Ln ${line},`));
}

/** The status bar items' accessible labels (what screen readers read: state and message). */
export function statusLabels(page) {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('.statusbar-item'), (e) =>
      [e.getAttribute('aria-label'), e.querySelector('[aria-label]')?.getAttribute('aria-label')].filter(Boolean).join(' '),
    ).join('\n'),
  );
}
