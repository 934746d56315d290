"""The standard library's annotations: typeshed's stubs, as jedi ships them.

A call's result is typed by its callee's return annotation (`call_types`), and the standard
library's source says none: `hashlib.sha256` is made at import time, `re.compile` and
`Path.parent` carry no annotation, `io.BytesIO` is compiled. jedi types them from typeshed's
stubs; where jedi is installed (the `static` extra) its copy is read here too, found without
importing jedi. A stub writes what differs by version or platform under `if sys.version_info
...:` and `if sys.platform ...:`; the readers (`class_members`) look for a definition at its
module's or class's own level, so a stub is read with those blocks lifted to the level of
their `if` (every branch kept, the first found first).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys

from .document_imports import module_in

# A stub's condition on the Python it describes, and the branches that follow one.
_CONDITION = re.compile(r"(?:el)?if[ \t]+sys\.(?:version_info|platform)\b[^\n]*:[ \t]*(?:#.*)?")
_ELSE = re.compile(r"else[ \t]*:[ \t]*(?:#.*)?")
_LEVEL = 4  # typeshed's indentation


@functools.cache
def _typeshed_stdlib() -> str | None:
    """The folder of jedi's standard-library stubs (None: jedi is not installed)."""
    spec = importlib.util.find_spec("jedi")  # finds the package without running it
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        return None
    root = os.path.join(next(iter(locations)), "third_party", "typeshed", "stdlib")
    return root if os.path.isdir(root) else None


def stub_file(module: str) -> str | None:
    """typeshed's stub of the standard-library `module` (a dotted name), where there is one."""
    root = _typeshed_stdlib()
    if root is None or module.partition(".")[0] not in sys.stdlib_module_names:
        return None
    return module_in(root, module, ".pyi")


def lifted(stub: str) -> str:
    """The text of `stub` with its version and platform conditions' blocks at the level of the
    `if` (the condition lines themselves left out)."""
    lines = []
    opened: list[int] = []  # the indentation of each condition the line is under
    for line in stub.split("\n"):
        code = line.lstrip(" \t")
        indent = len(line) - len(code)
        if code and not code.startswith("#"):
            while opened and indent < opened[-1]:
                opened.pop()
            if opened and indent == opened[-1]:
                if code.startswith("elif") and _CONDITION.fullmatch(code) or _ELSE.fullmatch(code):
                    continue  # the next branch of the same condition
                opened.pop()
            if code.startswith("if") and _CONDITION.fullmatch(code):
                opened.append(indent)
                continue
        lines.append(line[min(indent, _LEVEL * len(opened)) :])
    return "\n".join(lines)
