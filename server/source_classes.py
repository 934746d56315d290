"""The members of a class the document imports, read from its module's source.

The worker lists an imported class with jedi, behind the cursors' questions, and a large
module's first listing takes hundreds of milliseconds: the first `options.` after
`options: "ConsoleOptions"` was long answered when it came. Where the class is in the
project's own source (the document's package and its siblings, or a module the workspace
has), its body says what its instances have as plainly as the document's own classes do: it
is read here (`class_members`), following the module's imports to the class and to its
bases, a few modules deep; the standard library's pure-Python modules likewise (this
Python's: `pathlib.Path`, `threading.Thread`). A class or base not found in source (an
installed package, a compiled module's, a star import, a class made by a call) is left to
the worker. What a standard-library callee returns is read from its stub (`stdlib_stubs`),
and a stub's classes and their bases from stubs.
"""

from __future__ import annotations

import builtins
import os
import re
import sys
import sysconfig
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from .class_members import (
    DeclaredMembers,
    class_object_members,
    instance_members,
    public_members,
)
from .document_imports import (
    import_bindings,
    module_beside,
    module_in,
    package_of,
    qualified_name,
    star_imports,
)
from .module_listing import source_members
from .stdlib_stubs import lifted, stub_file

MAX_HOPS = 6  # modules followed from the document to a class and its bases
MAX_MODULES = 64  # modules kept (tens of KB of text each, typically), the least recently used out
MAX_MODULE_CHARS = 1_000_000  # a module larger than this is the worker's to read
# A module larger than this is the worker's to list: parsing takes about a ms per 10 kB.
MAX_LISTED_CHARS = 32_000

STANDARD_LIBRARY = sysconfig.get_paths()["stdlib"]

# What makes a module's names outside its own source: `globals()`, `from m import *`.
_MADE_ELSEWHERE = re.compile(r"\bglobals\(\)|\bimport[ \t]+\*")

Locate = Callable[[str, str | None], str | None]


class _Imports(NamedTuple):
    """What a module's imports bind: names (`document_imports.import_bindings`), and every
    name of the modules it star-imports."""

    bindings: dict[str, str]
    stars: tuple[str, ...]

    @classmethod
    def of(cls, text: str, path: str | None) -> _Imports:
        package = package_of(path)
        return cls(import_bindings(text, package), star_imports(text, package))


@dataclass
class _Module:
    """A module's source as last read, and what was found in it."""

    version: tuple[int, int]  # modification time and size
    text: str
    imports: _Imports
    # By name, and whether an instance's (or the class's own: `SourceClasses.members`).
    classes: dict[tuple[str, bool], DeclaredMembers | None] = field(default_factory=dict)
    names: list[str] | None = None  # the module's own names, once listed
    listed: bool = False


class SourceClasses:
    """Imported classes' members, read from their modules' files (kept while unchanged)."""

    def __init__(self, locate: Callable[[], Locate | None] = lambda: None) -> None:
        """`locate()`: where the workspace has a module's source, if it knows (the analyzer's
        `locate`, read at each question: it is set once the workspace is indexed)."""
        self._locate = locate
        self._modules: OrderedDict[str, _Module] = OrderedDict()  # by file
        # The last document's path, text and imports: a question asks about each
        # class it names, and each would read the document's imports again.
        self._document: tuple[str | None, str, _Imports] | None = None

    def members(
        self, path: str | None, text: str, class_name: str, instance: bool = True
    ) -> frozenset[str] | None:
        """Every member of an instance of `class_name` as the document `text` at `path` names
        it (`console.Console` or an imported `Console`), or of the class itself where not
        `instance` (its body's and its bases' names, not what `self.x = ...` gives instances);
        None where any part of the class or its bases is not found in source."""
        return self._resolve(path, self._imports(path, text), class_name, MAX_HOPS, instance)

    def _imports(self, path: str | None, text: str) -> _Imports:
        document = self._document
        if document is None or document[0] != path or document[1] != text:
            document = self._document = (path, text, _Imports.of(text, path))
        return document[2]

    def module_names(self, module: str, path: str | None) -> list[str] | None:
        """The names of `module` as the document at `path` imports it, where its source is the
        project's and small enough to parse here (`module_listing.source_members`): what the
        worker lists, for when the worker is busy. (A standard-library module is the worker's:
        it lists what importing one makes, `re`'s flags added through `globals()` too; and a
        module that star-imports others: reading them all took tens of ms.)"""
        if module.partition(".")[0] in sys.stdlib_module_names:
            return None
        file = self.module_file(module, path)
        if file is None:
            return None
        read = self._read(file)
        if read is None or len(read.text) > MAX_LISTED_CHARS or _MADE_ELSEWHERE.search(read.text):
            return None  # large, or its names made at run time or in modules it stars
        if not read.listed:
            read.names, read.listed = source_members(file), True
        return read.names

    def members_in(self, file: str, class_name: str) -> frozenset[str] | None:
        """`members`, of `class_name` as the module in `file` names it (a builtin class where
        the module does not bind the name: a stub's `-> bytes`)."""
        module = self._read(file)
        if module is None:
            return None
        found = self._defined(file, module, class_name, MAX_HOPS, True)
        builtin = getattr(builtins, class_name, None)
        if found is None and isinstance(builtin, type) and not _binds(module, class_name):
            return public_members(builtin)
        return found

    def definition(self, path: str | None, text: str, dotted: str) -> tuple[str, str, str] | None:
        """Where the class or function the document `text` at `path` names `dotted` is defined:
        its module's file and text, and its name there (followed through the imports)."""
        return self._definition(path, self._imports(path, text), dotted, MAX_HOPS)

    def definition_in(self, file: str, name: str) -> tuple[str, str, str] | None:
        """`definition`, of `name` as the module in `file` names it (defines or imports it)."""
        module = self._read(file)
        if module is None:
            return None
        if _defines(module.text, name):
            return file, module.text, name
        return self._definition(file, module.imports, name, MAX_HOPS)

    def _definition(
        self, path: str | None, imports: _Imports, dotted: str, hops: int
    ) -> tuple[str, str, str] | None:
        qualified = qualified_name(imports.bindings, dotted)
        candidates: list[tuple[str, str]] = []
        if qualified is not None and "." in qualified:
            candidates.append(qualified.rpartition(".")[::2])
        elif qualified is None and dotted.isidentifier():
            candidates.extend((star, dotted) for star in reversed(imports.stars))
        for module_name, name in candidates:
            file = self.module_file(module_name, path, annotated=True)
            module = None if file is None or hops == 0 else self._read(file)
            if file is None or module is None:
                continue
            if _defines(module.text, name):
                return file, module.text, name
            found = self._definition(file, module.imports, name, hops - 1)  # imported there
            if found is not None:
                return found
        return None

    def _resolve(
        self, path: str | None, imports: _Imports, class_name: str, hops: int, instance: bool
    ) -> frozenset[str] | None:
        """The members of `class_name` as the module at `path`, importing `imports`, names it
        without defining it."""
        if hops == 0:
            return None
        qualified = qualified_name(imports.bindings, class_name)
        if qualified is None and class_name.isidentifier():
            return self._starred(path, imports, class_name, hops, instance)
        if qualified is None or "." not in qualified:
            return None  # not imported by that name, or a module (`import os`)
        module_name, _, name = qualified.rpartition(".")
        file = self.module_file(module_name, path, annotated=_is_stub(path))
        module = None if file is None else self._read(file)
        defined = None if file is None or module is None else (file, module)
        found = None if defined is None else self._defined(*defined, name, hops, instance)
        return found if found is not None else loaded_members(module_name, name)

    def _starred(
        self, path: str | None, imports: _Imports, name: str, hops: int, instance: bool
    ) -> frozenset[str] | None:
        """`name` where a star import brings it: from the last module starred that defines or
        imports it."""
        for star in reversed(imports.stars):
            file = self.module_file(star, path)
            module = None if file is None else self._read(file)
            if file is not None and module is not None and _binds(module, name):
                return self._defined(file, module, name, hops - 1, instance)
        return None

    def _defined(
        self, file: str, module: _Module, name: str, hops: int, instance: bool
    ) -> frozenset[str] | None:
        """The members of class `name` of `module` (defined in it, or imported by it)."""
        if (name, instance) not in module.classes:  # a scan of a large module costs ms: once
            own = None if instance else class_object_members(module.text, name)
            module.classes[(name, instance)] = own or instance_members(module.text, name)
        declared = module.classes[(name, instance)]
        if declared is None:
            return None
        names = set(declared.names)
        for imported in declared.imported:  # the class itself, imported there, or its bases
            found = self._resolve(file, module.imports, imported, hops - 1, instance)
            if found is None:
                return None
            names |= found
        return frozenset(names)

    def module_file(self, module: str, path: str | None, annotated: bool = False) -> str | None:
        """The source file of `module` (a dotted name) as the document at `path` imports it:
        beside it, where the workspace has it, or this Python's standard library (its stub,
        where `annotated` and there is one)."""
        found = module_beside(module, path)
        locate = self._locate()
        if found is None and locate is not None:
            found = locate(module, path)
        if found is None and module.partition(".")[0] in sys.stdlib_module_names:
            stub = stub_file(module) if annotated else None
            found = stub or module_in(STANDARD_LIBRARY, module)  # this Python's
        return found

    def _read(self, file: str) -> _Module | None:
        """The module in `file`, read again when it changed."""
        try:
            status = os.stat(file)
            version = (status.st_mtime_ns, status.st_size)
            module = self._modules.get(file)
            if module is None or module.version != version:
                if status.st_size > MAX_MODULE_CHARS:
                    return None
                with open(file, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
                if _is_stub(file):
                    text = lifted(text)
                module = _Module(version, text, _Imports.of(text, file))
            self._modules[file] = module
        except OSError:
            return None
        self._modules.move_to_end(file)
        while len(self._modules) > MAX_MODULES:
            self._modules.popitem(last=False)
        return module


def _is_stub(path: str | None) -> bool:
    return path is not None and path.endswith(".pyi")


def _defines(text: str, name: str) -> bool:
    """Whether `text` defines a class or a function `name` at its top level."""
    found = re.search(rf"^(?:async[ \t]+)?(?:class|def)[ \t]+{re.escape(name)}\b", text, re.M)
    return found is not None


def _binds(module: _Module, name: str) -> bool:
    """Whether `module` defines, imports or assigns `name` at its top level."""
    assigned = re.search(rf"^{re.escape(name)}[ \t]*[:=]", module.text, re.MULTILINE)
    return name in module.imports.bindings or _defines(module.text, name) or assigned is not None


def loaded_members(module: str, name: str) -> frozenset[str] | None:
    """The members of class `name` of a standard-library module, where this process has loaded
    the module already (loading one may run anything) and its source did not say them all: a
    compiled class (`_io.StringIO`), or an alias made by a call (`typing.MutableMapping`)."""
    if module.partition(".")[0] not in sys.stdlib_module_names:
        return None
    found = getattr(sys.modules.get(module), name, None)
    found = getattr(found, "__origin__", found)  # `typing.List` is `list`'s alias
    return public_members(found) if isinstance(found, type) else None
