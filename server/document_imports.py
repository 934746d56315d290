"""What a document's imports say: the module a receiver before `.` names, the imports a
class's name is read under, the package the document is in. Read from the text, on the event
loop, for static analysis (`static_analysis`): cheap, and wrong only towards knowing nothing.
"""

from __future__ import annotations

import functools
import os
import re
from inspect import getmodulename

from .static_worker import import_root

_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^#\n;]+)", re.MULTILINE)
# `from m import a, b` or `from m import (\n    a,  # why\n    b,\n)`: the names (group 2 or 3).
_FROM_IMPORT = re.compile(
    r"^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]*(?:\(([^()]*)\)|([^#\n;(]+))", re.MULTILINE
)
# An import statement, parenthesised names and all (indented too: `if TYPE_CHECKING:`).
_IMPORT_STATEMENT = re.compile(
    r"^[ \t]*(from[ \t]+[\w.]+[ \t]+import[ \t]*\([^)]*\)|(?:from|import)[ \t][^\n]*)",
    re.MULTILINE,
)
# Files that mark a project's folder: what a test or a script outside any package imports its
# project's packages from is a folder between it and that one (or a `src/` in one).
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
PROJECT_DEPTH = 4  # folders looked through above a document for its project's
# An import statement's module name, up to the cursor after its package's `.`.
_IMPORTED_PACKAGE = re.compile(
    r"[ \t]*(?:from[ \t]+|import[ \t]+(?:[\w.]+(?:[ \t]+as[ \t]+\w+)?[ \t]*,[ \t]*)*)"
    r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\."
)
_RECEIVER = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\.\Z")


def dotted_receiver(before: str) -> str | None:
    """The dotted name before the final `.` of `before` (None after a call, a subscript...)."""
    found = _RECEIVER.search(before[-200:])
    return found.group(1) if found is not None else None


def imported_package(before: str) -> str | None:
    """The package whose modules are named at the end of `before`, where it ends in an import
    statement's module name and a `.` (`from rich.`, `import os, email.`)."""
    found = _IMPORTED_PACKAGE.fullmatch(before[before.rfind("\n") + 1 :])
    return found.group(1) if found is not None else None


def submodules(package_file: str) -> frozenset[str] | None:
    """The modules and packages in a package's folder, given its `__init__.py` (None for a
    module that is no package): what an import names after the package's `.`."""
    if os.path.basename(package_file) != "__init__.py":
        return None
    try:
        entries = list(os.scandir(os.path.dirname(package_file)))
    except OSError:
        return None
    found = set()
    for entry in entries:
        if entry.is_dir():  # a package, or a namespace package's folder
            name: str | None = entry.name if entry.name != "__pycache__" else None
        else:
            name = entry.name[:-4] if entry.name.endswith(".pyi") else getmodulename(entry.name)
        if name and name.isidentifier() and name != "__init__":
            found.add(name)
    return frozenset(found)


def imported_modules(text: str) -> dict[str, str]:
    """The names `import` statements in `text` bind, each to its module."""
    bound: dict[str, str] = {}
    for match in _IMPORT.finditer(text):
        for item in match.group(1).split(","):
            name, _, alias = item.strip().partition(" as ")
            name, alias = name.strip(), alias.strip()
            bound[alias or name.partition(".")[0]] = name if alias else name.partition(".")[0]
    return bound


def import_statements(text: str) -> str:
    """The document's imports, each at the top level: what a class's name means in it."""
    return "\n".join(match.group(1) for match in _IMPORT_STATEMENT.finditer(text))


def imported_module(text: str, before: str, package: str | None = None) -> str | None:
    """The module that the receiver before the final `.` of `before` names, if the document
    `text` imports it by that name (`import os`, `import os.path as p`, `from os import path`;
    `from . import sub` when the document's `package` is known).
    """
    receiver = dotted_receiver(before)
    return None if receiver is None else qualified_name(import_bindings(text, package), receiver)


def import_bindings(text: str, package: str | None = None) -> dict[str, str]:
    """The names the document's imports bind, each to the dotted name it stands for
    (`from .console import Console as C` in package `rich`: `C` -> `rich.console.Console`);
    relative ones left out where the `package` is not known."""
    bound = imported_modules(text)
    for match in _FROM_IMPORT.finditer(text):
        names = re.sub(r"#[^\n]*", "", match.group(2) or match.group(3) or "").replace("\\", " ")
        for item in names.split(","):
            name, _, alias = " ".join(item.split()).partition(" as ")
            if name.strip().isidentifier():
                joint = "" if match.group(1).endswith(".") else "."
                bound[alias.strip() or name.strip()] = f"{match.group(1)}{joint}{name.strip()}"
    absolute = {name: _absolute(dotted, package) for name, dotted in bound.items()}
    return {name: dotted for name, dotted in absolute.items() if dotted is not None}


def star_imports(text: str, package: str | None = None) -> tuple[str, ...]:
    """The modules `from m import *` statements in `text` bind every name of, in order (a
    later one's names shadow an earlier one's)."""
    found = (
        _absolute(match.group(1), package)
        for match in _FROM_IMPORT.finditer(text)
        if (match.group(3) or "").strip() == "*"
    )
    return tuple(module for module in found if module is not None)


def qualified_name(bindings: dict[str, str], dotted: str) -> str | None:
    """What `dotted` (`path.join`) stands for under a document's `import_bindings`."""
    first, _, rest = dotted.partition(".")
    module = bindings.get(first)
    if module is None:
        return None  # not imported, or relative to a package not known
    return f"{module}.{rest}" if rest else module


def _absolute(module: str, package: str | None) -> str | None:
    """A module's absolute dotted name (`..util` in package `a.b` is `a.util`)."""
    if not module.startswith("."):
        return module
    relative = module.lstrip(".")
    above = package.split(".") if package else []
    level = len(module) - len(relative)
    if level - 1 >= len(above):
        return None  # no package, or beyond its top
    return ".".join(above[: len(above) - level + 1] + ([relative] if relative else []))


def package_of(path: str | None) -> str | None:
    """The dotted name of the package a file is in (None outside a package)."""
    root = import_root(path)
    if path is None or root is None:
        return None
    folder = os.path.relpath(os.path.dirname(os.path.abspath(path)), root)
    return folder.replace(os.sep, ".")


def module_beside(module: str, path: str | None) -> str | None:
    """The source file of `module` (a dotted name) in the tree the document at `path` is
    imported from (its package's `import_root`), if it is there: the document's own package
    and its siblings; else in a folder of its project (`tests/` importing the project's
    package, as jedi's path has them). Found without asking any index."""
    for root in (import_root(path), *project_folders(path)):
        found = None if root is None else module_in(root, module)
        if found is not None:
            return found
    return None


def project_folders(path: str | None) -> tuple[str, ...]:
    """The folders above the document at `path`, nearest first, up to its project's (the
    nearest with a `PROJECT_MARKERS` file) or `PROJECT_DEPTH` folders up, each followed by its
    `src/` where it has one."""
    return () if path is None else _project_folders(os.path.dirname(os.path.abspath(path)))


@functools.lru_cache(maxsize=256)  # asked at every `.`; a project's folders seldom change
def _project_folders(folder: str) -> tuple[str, ...]:
    found: list[str] = []
    for _ in range(PROJECT_DEPTH):
        source = os.path.join(folder, "src")
        found += [folder, source] if os.path.isdir(source) else [folder]
        parent = os.path.dirname(folder)
        if parent == folder or any(
            os.path.exists(os.path.join(folder, marker)) for marker in PROJECT_MARKERS
        ):
            break
        folder = parent
    return tuple(found)


def module_in(root: str, module: str, suffix: str = ".py") -> str | None:
    """The source file of `module` (a dotted name) in the folder `root` is imported from (its
    stub there, with `suffix` ".pyi")."""
    if not all(part.isidentifier() for part in module.split(".")):
        return None
    stem = os.path.join(root, *module.split("."))
    for candidate in (stem + suffix, os.path.join(stem, "__init__" + suffix)):
        if os.path.isfile(candidate):
            return candidate
    return None
