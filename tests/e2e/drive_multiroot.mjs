// Drives code-server on a multi-root workspace (folders alpha and beta, each with its own
// flowspin.python): the server starts with the interpreter of the active editor's folder, the
// settings it gets name every folder, and they are sent again when a setting or the set of
// folders changes. What the extension sent is read afterwards from the LSP trace (pytest side).
// Usage: node drive_multiroot.mjs CONFIG.json  (written by test_multiroot_vscode.py)
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { config, launchBrowser, report, text, waitFor } from './harness.mjs';

const statusText = (page) => text(page, '.statusbar-item');

/** Runs `command` from the palette once it is the first choice. */
async function palette(page, command) {
  await page.keyboard.press('F1');
  await waitFor('the command palette', () => page.locator('.quick-input-widget input').isVisible());
  await page.keyboard.type(command);
  const label = command.replace(/^Flowspin: /, '');
  await waitFor(`${command} as the palette's first choice`, async () =>
    (await text(page, '.quick-input-list .monaco-list-row.focused')).includes(label),
  );
  await page.keyboard.press('Enter');
}

/** The "flowspin" output channel as VS Code writes it to disk (with the LSP trace). */
function flowspinLog() {
  const found = readdirSync(config.logsDir, { recursive: true }).filter((f) => String(f).endsWith('flowspin.log'));
  return found.map((f) => readFileSync(join(config.logsDir, String(f)), 'utf8')).join('\n');
}

/** The JSON value starting at text[start] (an object), or undefined if it is not complete. */
function jsonAt(text, start) {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return JSON.parse(text.slice(start, i + 1));
  }
  return undefined;
}

/** The params of every `what` ("request 'initialize" ...) the client sent, from the verbose trace. */
function sent(what) {
  const log = flowspinLog();
  const out = [];
  for (let at = log.indexOf(`Sending ${what}`); at >= 0; at = log.indexOf(`Sending ${what}`, at + 1)) {
    const params = log.indexOf('Params: {', at);
    const value = params >= 0 ? jsonAt(log, params + 'Params: '.length) : undefined;
    if (value) out.push(value);
  }
  return out;
}

/** The servers started so far (`<folder name> <cwd>` per `-m flowspin lsp` launch). */
function launches() {
  try {
    return readFileSync(config.launches, 'utf8').split('\n').filter((l) => l.includes(' -m flowspin lsp'));
  } catch {
    return [];
  }
}

/** Quick open of a file that may be open already: Enter only once it is the focused choice. */
async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  await waitFor('the quick open box', () => page.locator('.quick-input-widget input').isVisible());
  await page.keyboard.type(name);
  await waitFor(`"${name}" as quick open's first choice`, async () =>
    (await text(page, '.quick-input-list .monaco-list-row.focused')).includes(name),
  );
  await page.keyboard.press('Enter');
  await waitFor(`an editor tab for ${name}`, async () => (await text(page, '.tabs-container .tab.active')).includes(name));
}

/**
 * Restarts the server from the palette with `fileName` active and waits for a launch of
 * `folder`'s interpreter after it; that launch (a restart in the wrong folder times out).
 */
async function restartWith(page, fileName, folder) {
  await openFile(page, fileName);
  // The tab is active in the page before the extension host hears of it: move the cursor and
  // wait for the extension's `flowspin/cursor` for this file, so the restart sees it active.
  const cursors = "notification 'flowspin/cursor'";
  const seen = sent(cursors).length;
  // A click in the text (the focus may still be elsewhere after quick open) moves the cursor.
  await page.locator('.editor-group-container.active .monaco-editor .view-line').nth(6).click();
  await page.keyboard.press('ArrowDown');
  await waitFor(`the extension host to see ${fileName} active`, () =>
    sent(cursors).slice(seen).find((p) => String(p.uri).endsWith(fileName)),
  );
  const before = launches().length;
  await palette(page, 'Flowspin: Restart Server');
  const launch = await waitFor(`a new server launch with ${folder}'s interpreter`, () =>
    launches().slice(before).find((l) => l.startsWith(`${folder} `)),
  );
  await waitFor('flowspin ready after the restart', async () => (await statusText(page)).includes('flowspin: ready'));
  return launch;
}

async function main() {
  const browser = await launchBrowser(chromium);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    await page.goto(`${config.url}/?workspace=${encodeURIComponent(config.workspaceFile)}`);
    await waitFor('the VS Code workbench', () => page.locator('.monaco-workbench').isVisible());
    await openFile(page, 'alpha_flow.py');
    await waitFor('flowspin ready', async () => (await statusText(page)).includes('flowspin: ready'));
    report('server-ready', { launches: launches() });

    report('restart-in-beta', { launch: await restartWith(page, 'beta_flow.py', 'beta'), launches: launches() });
    report('restart-in-alpha', { launch: await restartWith(page, 'alpha_flow.py', 'alpha'), launches: launches() });

    // A window setting changes (the workspace file's settings) and a folder is added: each time
    // the server gets the settings again (the trace, read by the test, has the notifications).
    const workspace = JSON.parse(readFileSync(config.workspaceFile, 'utf8'));
    workspace.settings = { ...workspace.settings, 'flowspin.spin.timeout': 7 };
    writeFileSync(config.workspaceFile, JSON.stringify(workspace, null, 2));
    const changes = "notification 'workspace/didChangeConfiguration'";
    const changed = await waitFor('the changed setting sent to the server', () =>
      sent(changes).find((p) => p.settings?.flowspin?.spin?.timeout === 7),
    );
    report('setting-sent', { params: changed });
    workspace.folders.push({ path: 'gamma' });
    writeFileSync(config.workspaceFile, JSON.stringify(workspace, null, 2));
    const withGamma = await waitFor('the new folder sent to the server', () =>
      sent(changes).find((p) => (p.settings?.folder_settings ?? []).some((f) => f.uri.endsWith('/gamma'))),
    );
    report('folder-sent', { params: withGamma });
    report('initialize', { params: sent("request 'initialize").map((p) => p.initializationOptions) });
  } catch (e) {
    mkdirSync(config.artifacts, { recursive: true });
    const shot = join(config.artifacts, 'multiroot-failure.png');
    await page.screenshot({ path: shot }).catch(() => undefined);
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\nstatus bar: ${await statusText(page).catch(() => '?')}\nscreenshot: ${shot}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
