"""The flowspin language server (pygls, stdio). Handlers translate between LSP and the static
model of `flowspin.analysis`; they hold no flow logic of their own.

Features: diagnostics, code lenses, hover, definition/references, completion, document
symbols, `workspace/executeCommand` (`flowspin.server.*`), the `flowspin/stepAt` request and
the `flowspin/status` notification.
"""

from flowspin.lsp.server import FlowspinServer, create_server

__all__ = ["FlowspinServer", "create_server"]
