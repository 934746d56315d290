"""A module's names, listed without jedi: after `os.` they are known long before jedi has
parsed `os` (the static-analysis worker answers these questions at once, `static_worker`).

A standard-library module is imported (in the worker, never in the server) and listed with
`dir()`; any other module is only read, never run: the top-level names of its source, with
what its `from .x import *` brings.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.machinery
import os
import pkgutil
import sys
import threading
from typing import Any

STAR_DEPTH = 3  # `from .x import *` followed this deep, past it the names are unknown
# Standard-library modules whose import does more than define names (a browser, a window, a
# poem on stdout): their members are not listed.
_NOT_IMPORTED = {
    *("__main__", "__hello__", "__phello__", "antigravity", "this"),
    *("idlelib", "tkinter", "turtle", "turtledemo"),
}


def module_members(
    name: str, file: str | None = None, stdout_lock: threading.Lock | None = None
) -> list[str] | None:
    """The names module `name` has, or None when it is not a module or they are unknown.
    `file`: its source in the workspace, read when the module is not found on sys.path;
    `stdout_lock`: held while a module is imported (what it prints goes to stderr)."""
    top = name.partition(".")[0]
    if top in _NOT_IMPORTED or not all(part.isidentifier() for part in name.split(".")):
        return None
    if top in sys.stdlib_module_names:
        try:
            # stdout is the worker's answers' channel: nothing an import prints may reach it.
            with stdout_lock or contextlib.nullcontext(), contextlib.redirect_stdout(sys.stderr):
                module = importlib.import_module(name)
        except Exception:  # not a module (`os.environ`), or not on this platform
            return None
        return sorted(set(dir(module)) | _submodules(getattr(module, "__path__", None)))
    found = _source_members(name)
    if found is None and file and file.endswith(".py"):
        found = source_members(file)
    return found


def source_members(file: str) -> list[str] | None:
    """The names of the module whose source is `file`, read and never run (`_file_members`;
    a package's modules are those beside its `__init__.py`)."""
    package = os.path.basename(file) == "__init__.py"
    return _file_members(file, [os.path.dirname(file)] if package else None)


def _submodules(paths: Any) -> set[str]:
    """A package's modules, which `package.` may name once imported (jedi lists them too)."""
    return {m.name for m in pkgutil.iter_modules(list(paths))} if paths else set()


def _source_members(name: str) -> list[str] | None:
    """The top-level names of a pure-Python module found on sys.path, read with `ast` and never
    run; None when they cannot all be known (a module `__getattr__`, an `import *` of a
    module that cannot be read)."""
    found = _find_source(name)
    return _file_members(*found) if found is not None else None


def _find_source(name: str) -> tuple[str, Any] | None:
    """Where a pure-Python module's source is on sys.path, and where its modules are (a
    package's)."""
    spec, search = None, None
    for part in name.split("."):
        spec = importlib.machinery.PathFinder.find_spec(part, search)
        if spec is None:
            return None
        search = spec.submodule_search_locations
    origin = spec.origin if spec is not None else None
    if origin is None or not origin.endswith(".py"):
        return None
    return origin, search


def _file_members(origin: str, search: Any) -> list[str] | None:
    """The top-level names of the module whose source is `origin` (a package's modules are
    found in `search`)."""
    found = _top_level(origin, 0)
    if found is None:
        return None
    return sorted(found[0] | _submodules(search) | {"__name__", "__doc__", "__file__"})


def _top_level(origin: str, depth: int) -> tuple[set[str], list[str] | None] | None:
    """The names a module's source binds at its top level, and its `__all__` when that is a
    literal list of strings; None when they cannot all be known."""
    try:
        with open(origin, "rb") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return None
    names: set[str] = set()
    exported: list[str] | None = None
    body = list(tree.body)
    while body:
        node = body.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                with contextlib.suppress(ValueError):
                    exported = [str(n) for n in ast.literal_eval(node.value or ast.List([]))]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name.partition(".")[0])
                    continue
                if not isinstance(node, ast.ImportFrom):  # only `from m import *` has a star
                    return None
                star = _star_names(origin, node, depth)
                if star is None:
                    return None
                names |= star
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                names.add(node.module.partition(".")[0])  # `from .sub import x` binds `sub`
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for field in ("body", "orelse", "finalbody"):
                body.extend(getattr(node, field, []))
            body.extend(s for h in getattr(node, "handlers", []) for s in h.body)
    if "__getattr__" in names:
        return None
    return names, exported


def _star_names(origin: str, node: ast.ImportFrom, depth: int) -> set[str] | None:
    """The names `from module import *` binds in the module whose source is `origin`: the
    imported module's `__all__`, else its names without a leading underscore."""
    if depth >= STAR_DEPTH:
        return None
    if node.level:  # relative: a module beside `origin`, or above it
        folder = os.path.dirname(origin)
        for _ in range(node.level - 1):
            folder = os.path.dirname(folder)
        path = os.path.join(folder, *(node.module or "").split("."))
        source = path + ".py" if os.path.isfile(path + ".py") else os.path.join(path, "__init__.py")
    else:
        found = _find_source(node.module or "")
        source = found[0] if found is not None else ""
    found_names = _top_level(source, depth + 1) if os.path.isfile(source) else None
    if found_names is None:
        return None
    names, exported = found_names
    return set(exported) if exported is not None else {n for n in names if n[:1] != "_"}
