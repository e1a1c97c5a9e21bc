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


LSP = PACKAGE / "lsp"


def _type_only(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` (the annotations' imports: never run, so never a cycle)."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.If) and _type_only(node):
            children = node.orelse  # the body only ever runs under a type checker
        todo.extend(children)
    return found


def lsp_import_graph() -> dict[str, set[str]]:
    """lsp module -> the lsp modules it imports when it runs, imports inside functions
    included (`flowspin.lsp.x`, `from flowspin.lsp import x`, relative imports)."""
    modules = {p.stem for p in LSP.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in sorted(LSP.glob("*.py")):
        deps: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
                deps |= {n.split(".")[2] for n in names if n.startswith("flowspin.lsp.")}
                continue
            module = node.module or ""
            if node.level == 1:
                module = "flowspin.lsp" + (f".{module}" if module else "")
            if module == "flowspin.lsp":
                deps |= {a.name if a.name in modules else "__init__" for a in node.names}
            elif module.startswith("flowspin.lsp."):
                deps.add(module.split(".")[2])
        graph[path.stem] = deps - {path.stem}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (`[a, b, a]`), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for dep in sorted(graph.get(node, ())):
            cycle = visit(dep, path + [node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_lsp_modules_import_each_other_without_a_cycle():
    graph = lsp_import_graph()
    assert graph["server"] >= {"spinning", "running", "commands", "cards"}  # it sees them
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in flowspin.lsp: " + " -> ".join(cycle or [])


def test_the_cycle_check_sees_cycles_and_imports_inside_functions():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from flowspin.lsp.server import FlowspinServer\n"
        "def f():\n    from flowspin.lsp import running\n    import flowspin.lsp.cards\n"
    )
    seen = {
        n.module or n.names[0].name if isinstance(n, ast.ImportFrom) else n.names[0].name
        for n in _runtime_imports(ast.parse(source))
    }
    assert seen == {"typing", "flowspin.lsp", "flowspin.lsp.cards"}
