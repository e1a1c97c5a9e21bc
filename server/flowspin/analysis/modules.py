"""Find the classes a flow builds on in other files of the same project, statically.

A flow often subclasses a base flow or mixes in a class from a sibling module (`from .base
import BaseFlow`, `from common.mixins import LoadMixin`). Python would import those modules;
the language server must never run user code, so here the import is only *located*: the module
file is found the way `python flow.py` would find it (the flow's folder is `sys.path[0]`; a
flow inside a package also sees the package's root), read, parsed with `ast`, and the class
looked up in it, following re-exports (`from .base import BaseFlow` in an `__init__.py`).

Only files of the project are considered: a base from an installed package (or one that
cannot be found, read or parsed) stays unresolved, and the flow keeps the "partial" treatment
(whole-graph rules off). Every file read is recorded with its text, so a caller (the language
server) can tell when a base changed and the flow must be checked again.
"""

from __future__ import annotations

import ast
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from flowspin.analysis.source import Source

Reader = Callable[[str], "str | None"]

MAX_FILE_BYTES = 2_000_000  # a generated or data file is no base flow
MAX_DEPTH = 8  # re-export chains and base-of-base chains deeper than this are given up on


def read_disk(path: str) -> str | None:
    """The file's text, or None when it is missing, unreadable or too large."""
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


@dataclass
class Module:
    """One parsed file: its classes and what its top-level imports bind."""

    path: str
    text: str
    tree: ast.Module
    classes: dict[str, ast.ClassDef]
    # local name -> (module, level, imported attribute or None for `import x`)
    imports: dict[str, tuple[str, int, str | None]] = field(default_factory=dict)
    src: Source | None = None  # positions in this text, made once by the parser


def module_of(path: str, text: str, tree: ast.Module) -> Module:
    classes: dict[str, ast.ClassDef] = {}
    imports: dict[str, tuple[str, int, str | None]] = {}
    for stmt in _top_level(tree.body):
        if isinstance(stmt, ast.ClassDef):
            classes[stmt.name] = stmt
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name != "*":
                    imports[alias.asname or alias.name] = (
                        stmt.module or "",
                        stmt.level,
                        alias.name,
                    )
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    imports[alias.asname] = (alias.name, 0, None)
                else:
                    head = alias.name.split(".")[0]
                    imports.setdefault(head, (head, 0, None))
    return Module(path, text, tree, classes, imports)


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module statements, looking into `if`/`try` blocks (guarded imports)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If):
            out.extend(_top_level(stmt.body) + _top_level(stmt.orelse))
        elif isinstance(stmt, ast.Try):
            out.extend(_top_level(stmt.body))
            for handler in stmt.handlers:
                out.extend(_top_level(handler.body))
    return out


# Parsed modules by (path, text): a keystroke in a flow re-parses the flow, not its bases.
_CACHE: OrderedDict[tuple[str, str], Module | None] = OrderedDict()
_CACHE_SIZE = 64


def _parse_cached(path: str, text: str) -> Module | None:
    key = (path, text)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    try:
        tree = ast.parse(text, filename=path)
        module: Module | None = module_of(path, text, tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        module = None
    _CACHE[key] = module
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return module


def search_dirs(path: str) -> list[str]:
    """Where an absolute import from `path` is looked for: the file's folder (`sys.path[0]`
    of `python flow.py`), then the folder above its top package (how `python -m pkg.flow`,
    and tests or notebooks run from the project root, see it)."""
    here = os.path.dirname(os.path.abspath(path))
    top = here
    while os.path.isfile(os.path.join(top, "__init__.py")):
        parent = os.path.dirname(top)
        if parent == top:
            break
        top = parent
    return list(dict.fromkeys([here, top]))


class Resolver:
    """Locates classes named in a file's class bases; records every file it read."""

    def __init__(self, main: Module, read: Reader | None = None) -> None:
        self.main = main
        self.read = read or read_disk
        self.dirs = search_dirs(main.path)
        self.files: dict[str, str] = {}  # path -> text of every project file read

    def module_file(self, importer: str, module: str, level: int) -> str | None:
        parts = [p for p in module.split(".") if p]
        if level > 0:
            base = os.path.dirname(os.path.abspath(importer))
            for _ in range(level - 1):
                base = os.path.dirname(base)
            roots = [base]
        else:
            roots = self.dirs
        for root in roots:
            stem = os.path.join(root, *parts) if parts else root
            candidates = [os.path.join(stem, "__init__.py")]
            if parts:
                candidates.insert(0, stem + ".py")
            for candidate in candidates:
                if os.path.isfile(candidate):
                    return candidate
        return None

    def load(self, path: str) -> Module | None:
        if path == self.main.path:
            return self.main
        text = self.files.get(path)
        if text is None:
            text = self.read(path)
            if text is None:
                return None
            self.files[path] = text
        module = _parse_cached(path, text)
        if module is None and self.read is not read_disk:
            # A base being edited in another tab, mid-keystroke: the saved file stands in
            # until the text parses again (`files` keeps the editor's text, so an edit that
            # fixes it makes this model stale).
            saved = read_disk(path)
            if saved is not None and saved != text:
                module = _parse_cached(path, saved)
        return module

    def resolve(
        self, module: Module, expr: ast.expr, depth: int = 0
    ) -> tuple[Module, ast.ClassDef] | None:
        """The class a base-class expression of `module` names, when it is in the project."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, ast.Name):
            return self.lookup(module, expr.id, depth)
        if isinstance(expr, ast.Attribute):
            # `mod.Base`, `pkg.sub.Base` after `import pkg.sub` or `from pkg import sub`
            parts: list[str] = []
            node: ast.expr = expr
            while isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            if isinstance(node, ast.Name):
                parts.reverse()
                target = self.module_named(module, node.id, parts[:-1])
                if target is not None:
                    return self.lookup(target, parts[-1], depth + 1)
        return None

    def module_named(self, module: Module, name: str, submodules: list[str]) -> Module | None:
        """The module `name.<submodules...>` names in `module` (`import x`, `import x.y as
        z`, `from . import x`)."""
        bound = module.imports.get(name)
        if bound is None:
            return None
        mod, level, attr = bound
        dotted = mod if attr is None else ".".join(p for p in (mod, attr) if p)
        dotted = ".".join([dotted, *submodules]) if dotted else ".".join(submodules)
        path = self.module_file(module.path, dotted, level)
        return self.load(path) if path else None

    def lookup(self, module: Module, name: str, depth: int) -> tuple[Module, ast.ClassDef] | None:
        """Class `name` as seen from `module`: defined there, or imported (re-exports
        followed)."""
        if depth > MAX_DEPTH:
            return None
        cls = module.classes.get(name)
        if cls is not None:
            return module, cls
        bound = module.imports.get(name)
        if bound is None:
            return None
        mod, level, attr = bound
        if attr is None:
            return None
        path = self.module_file(module.path, mod, level)
        target = self.load(path) if path else None
        if target is None or target is module:
            return None
        return self.lookup(target, attr, depth + 1)


MAX_SCANNED_FILES = 300


def subclassed_elsewhere(path: str, name: str, read: Reader | None = None) -> str | None:
    """Another project file (in the folders `path`'s imports are looked up in) with a class
    deriving from `name`, if any: then the class in `path` is a base flow, completed there.
    A text scan, only run for the rare class that goes to steps it does not define."""
    pattern = re.compile(rf"^\s*class\s+\w+\s*\([^)]*\b{re.escape(name)}\b", re.MULTILINE)
    read = read or read_disk
    own = os.path.abspath(path)
    scanned = 0
    for folder in search_dirs(path):
        try:
            entries = sorted(e.path for e in os.scandir(folder) if e.name.endswith(".py"))
        except OSError:
            continue
        for file in entries:
            if file == own or scanned >= MAX_SCANNED_FILES:
                continue
            scanned += 1
            text = read(file)
            if text and name in text and pattern.search(text):
                return file
    return None
