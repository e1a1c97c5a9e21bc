"""The flowspin language server (pygls 2, stdio: `flowspin lsp`). Handlers translate between
LSP and the static model of `flowspin.analysis` (queries in `flowspin.analysis.queries`); they
hold no flow logic of their own. One module per feature:

- `diagnostics`: lint findings of every open file that defines a FlowSpec (source "flowspin",
  code = rule id), on open/change/save, cleared when fixed or closed. An edit is checked at
  once when no check is pending; edits that pile up wait a short debounce, latest text wins.
- `lenses`: "▶ Spin" (`flowspin.spin`, `[{"uri", "step"}]`) above every step, "▶ Run"
  (`flowspin.run`, `[{"uri"}]`) above the start step, "Card" (`flowspin.showCard`) above steps
  with @card. `FlowspinServer.set_step_status(uri, step, "✓ 12 ms")` appends a status to the
  Spin lens title and asks the client to refresh.
- `hover`, `navigation` (definition, references), `completion` (trigger "."), `symbols`.
- `commands`: `workspace/executeCommand` for `flowspin.server.{spin, run, resume, showCard,
  selectBaseRun, restartWorker, cancel}`; one argument `{"uri", "step"?, "line"? (0-based)}`,
  result `{"ok": bool, "message": str, ...}`. Each feature declares its commands (`COMMANDS`);
  `create_server` builds one frozen `commands.CommandRegistry` from them.
- `spinning` (+ `spin_host`): `flowspin.server.spin` runs the step through the warm worker
  (off the event loop), streaming `flowspin/log` `{uri, step, stream, text}`, a cancellable
  `$/progress` "Spinning <step>", then the lens status, `flowspin/spinResult` `{uri, flow,
  step, status, duration_ms, spin_id, summary, state_source, error?}` and the answer `{ok,
  message, result: <SpinResult dict>}`. A failed spin is a diagnostic (code `spin-error`) at
  the failing line, merged with the lint findings, until the step's next good spin or close.
  `flowspin.server.cancel` / `restartWorker`; notification `flowspin/cursor` `{uri, line}`
  preloads the step's parent state. Shared warm workers: the server owns one `SpinService`
  and serves it on each workspace's `.flowspin/daemon.sock` (taking over from a detached
  daemon), so `flowspin spin` and MCP in a terminal there use the editor's workers and state.
  Settings: `spin.timeout`, `worker.memoryBudgetMB`, `store.keepSpins`, `run.env`.
- `step_at`: request `flowspin/stepAt` `{"uri", "line"}` -> `{"flow", "step", "node_type",
  "line"}` (0-based def line) or null.
- notification to the client `flowspin/status` `{"state": "ready"|"busy"|"error", "message"}`.

Initialization options: `{"settings": {...the window's flowspin section...}, "folder_settings":
[{"uri": folder uri, "settings": {...that folder's section...}}]?, "logLevel": "debug"?}`;
`workspace/didChangeConfiguration` `{"flowspin": {...}, "folder_settings"?: [...]}` replaces
them. A file's settings are its folder's (`state.settings_for(uri)`). Logs of the `flowspin`
logger go to the client as `window/logMessage`; nothing is printed (stdout is the protocol).
The `shutdown` request stops the engines (`FlowspinServer.stop_engines`).
"""

from flowspin.lsp.server import FlowspinServer, create_server

__all__ = ["FlowspinServer", "create_server"]
