"""The package's layers, as code: no module imports from a layer above its own.

From the bottom up (docs/architecture.md): analysis; store; cards; spin and runs; agents;
daemon; mcp and lsp; commands; cli. Imports inside functions count too (the fast shell path
keeps most imports there, so a checker that only read module tops would see little).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "server" / "flowspin"
LAYERS = [
    ["analysis"],
    ["store"],
    ["cards"],
    ["spin", "runs"],
    ["agents"],
    ["daemon"],
    ["mcp", "lsp"],
    ["commands"],
    ["cli"],
]
RANK = {name: i for i, group in enumerate(LAYERS) for name in group}
# Known, to be removed: every entry here is a debt, and the test fails when one is paid
# without being struck off, so the list can only shrink.
KNOWN: set[tuple[str, str]] = set()


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "flowspin" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in RANK else None


def upward_imports() -> set[tuple[str, str]]:
    """(file, module) for every import of a higher (or sibling) layer. Modules at the top of
    the package (`results.py`, `errors_text.py`) are the base: they may import no layer."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        mine = rel.parts[0].removesuffix(".py")
        if len(rel.parts) == 1 and mine not in ("__init__", "__main__", "cli"):
            mine = "base"
        elif mine not in RANK:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            else:
                continue
            for target in targets:
                other = layer_of(target)
                if other is None or other == mine:
                    continue
                if mine == "base" or RANK[other] >= RANK[mine]:
                    found.add((rel.as_posix(), target))
    return found


def test_no_module_imports_from_a_layer_above_its_own():
    found = upward_imports()
    new = sorted(found - KNOWN)
    assert not new, "upward imports (move the code down, or the caller up):\n" + "\n".join(
        f"  {where} imports {what}" for where, what in new
    )


def test_the_list_of_known_exceptions_only_shrinks():
    assert not sorted(KNOWN - upward_imports()), "strike the paid debts off KNOWN"
