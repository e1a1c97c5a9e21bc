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
