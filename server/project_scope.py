"""Projects in a workspace folder: which project a file belongs to, and which of the folder's
files a document's imports name.

A workspace folder may hold several projects (a folder of checkouts, a monorepo). A name
defined only in another project is not one a document can use, so the names legal at a use
come from the document's own project, plus the files it imports. A file's project is the
nearest folder above it, up to the workspace root, with a project marker (`pyproject.toml`,
`setup.py`, `setup.cfg`, `.git`); without one, the folder directly under the root that holds
it (a document directly in the root belongs to the whole folder).
"""

from __future__ import annotations

import re
from pathlib import Path

PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
# `import a.b, c as d` and `from .a.b import x`, at a line's start (what a statement can be).
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w. \t,]+)", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import\b", re.M)


class ProjectScopes:
    """The project of each path under `root`, with the markers looked up once per folder."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._marked: dict[Path, bool] = {}

    def project_of(self, path: Path) -> Path:
        folder = path.parent
        root = self.root
        if root is None or not path.is_relative_to(root):
            return self._nearest_marked(folder, None) or folder
        marked = self._nearest_marked(folder, root)
        if marked is not None:
            return marked
        parts = path.relative_to(root).parts
        return root / parts[0] if len(parts) > 1 else root

    def _nearest_marked(self, folder: Path, root: Path | None) -> Path | None:
        for candidate in (folder, *folder.parents):
            if self._has_marker(candidate):
                return candidate
            if candidate == root:
                return None
        return None

    def _has_marker(self, folder: Path) -> bool:
        known = self._marked.get(folder)
        if known is None:
            known = any((folder / marker).exists() for marker in PROJECT_MARKERS)
            self._marked[folder] = known
        return known


def imported_modules(text: str, path: Path) -> list[tuple[Path | None, str]]:
    """The modules `text` (the file at `path`) imports, each as (the folder a relative import
    starts from, else None; the dotted name, empty for `from . import x`)."""
    found: list[tuple[Path | None, str]] = []
    for match in _IMPORT.finditer(text):
        for part in match.group(1).split(","):
            name = part.split()[0] if part.split() else ""
            if name:
                found.append((None, name))
    for match in _FROM.finditer(text):
        dots, name = match.group(1), match.group(2)
        base = None
        if dots:
            base = path.parent
            for _ in range(len(dots) - 1):
                base = base.parent
        if name or base is not None:
            found.append((base, name))
    return found


def module_names(path: Path, root: Path) -> list[str]:
    """Every dotted name an import could reach `path` by: `src/pkg/core.py` is `core`,
    `pkg.core` and `src.pkg.core` (which folder is on `sys.path` is not known)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    names = []
    for i in range(len(parts) - 1, -1, -1):
        if not parts[i].isidentifier():
            break
        names.append(".".join(parts[i:]))
    return names
