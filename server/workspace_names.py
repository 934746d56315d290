"""The workspace's names: every identifier in the code of the project's Python files.

With the document's own names, builtins and keywords, these are the names that exist where a
name is used, so a word outside them is one the model invented. Built on a background thread
when a folder opens, then kept up to date: an open document's names come from the editor's text
(never from its copy on disk, which may hold what is not typed yet), a saved, created, changed
or deleted file is read again (`workspace/didChangeWatchedFiles`, or a re-scan by mtime when the
client cannot watch). Bounded: at most `max_files` files and `max_names` distinct names (names
past the bound are left out: a name missing only makes the filter stricter), and a build
stops after `max_seconds`.

A document uses the names of its own project only (`for_document`): in a folder of several
projects, a name another project defines is not one it can use, unless it imports that file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Container
from pathlib import Path

from grucomplete.model.code_text import code_names
from grucomplete.model.line_memory import LineMemory, LineSource

from .project_scope import ProjectScopes, imported_modules, module_names

log = logging.getLogger("grucomplete.server")

SKIPPED_DIRS = {"node_modules", "site-packages", "__pycache__", "build", "dist"}
MAX_FILE_BYTES = 1_000_000  # a generated or vendored giant is not read
MAX_FILES_PER_MODULE = 4  # `import utils` may match several files; the names of a few count


class WorkspaceNames:
    """A set of names (`name in index`), per file, refreshed as files change."""

    def __init__(
        self,
        root: Path | None,
        max_names: int = 200_000,
        max_files: int = 20_000,
        max_seconds: float = 30.0,
        debounce_s: float = 0.5,
        poll_s: float | None = None,
    ) -> None:
        """`poll_s`: re-scan by mtime this often (a client that cannot watch files).

        Paths are resolved: a document opened through a link is the file it links to, so its
        copy on disk is never read while it is open."""
        root = root.resolve() if root is not None else None
        self.root = root
        self.max_names, self.max_files, self.max_seconds = max_names, max_files, max_seconds
        self.debounce_s, self.poll_s = debounce_s, poll_s
        self._counts: Counter[str] = Counter()  # name -> files it is in (those kept)
        self.scopes = ProjectScopes(root)
        self._projects: dict[Path, Counter[str]] = {}  # project folder -> its files' names
        self._modules: dict[str, set[Path]] = {}  # a dotted name an import may use -> files
        self._imports: dict[Path, list[tuple[Path | None, str]]] = {}  # editor's documents
        self.version = 0  # changes whenever a file's names do
        self._files: dict[Path, tuple[float, frozenset[str]]] = {}  # path -> (mtime, names)
        self._open: set[Path] = set()  # documents the editor has open: their text wins
        self._pending: dict[Path, str | None] = {}  # path -> editor text (None: read the disk)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lines = LineMemory()  # the same files' lines, for lines written before
        self.ready = threading.Event()  # set once the first build is done
        self.truncated = False  # a bound was reached: some names were left out

    def __contains__(self, name: object) -> bool:
        return name in self._counts

    def __len__(self) -> int:
        return len(self._counts)

    def lines_status(self) -> dict[str, object]:
        """What the workspace's lines hold, for `grucomplete.serverStatus` and the editors."""
        if self.root is None:
            return {"state": "off", "reason": "no workspace folder"}
        state = "ready" if self.ready.is_set() else "reading"
        lines = self.lines
        return {
            "state": state,
            "files": lines.files,
            "lines": len(lines),
            "truncated": lines.truncated,
        }

    def for_document(self, path: Path) -> DocumentNames:
        """The names a document may use: its project's and those of the files it imports."""
        return DocumentNames(self, path.resolve())

    def lines_for(self, path: Path) -> LineSource:
        """The lines a document may recall: every file's but its own (the editor has that)."""
        return self.lines.for_file(path.resolve())

    def project_names(self, project: Path) -> Container[str]:
        """The names of a project's files; the root's are the whole workspace's."""
        if project == self.root:
            return self._counts
        return self._projects.get(project) or ()

    def module_file(self, module: str, document: Path | None) -> Path | None:
        """The workspace's file that `import module` most likely means in `document`: one in
        the document's project first, then the one nearest the root."""
        with self._lock:
            files = list(self._modules.get(module, ()))
        if not files:
            return None
        project = self.scopes.project_of(document.resolve()) if document is not None else None

        def rank(file: Path) -> tuple[bool, int, str]:
            outside = project is not None and not file.is_relative_to(project)
            return outside, len(file.parts), str(file)

        return min(files, key=rank)

    def imported_names(self, path: Path) -> list[frozenset[str]]:
        """The names of the workspace's files that the document at `path` imports."""
        with self._lock:
            found: dict[Path, frozenset[str]] = {}
            for base, name in self._imports.get(path, ()):
                if base is None:
                    files = sorted(self._modules.get(name, ()))[:MAX_FILES_PER_MODULE]
                else:
                    target = base.joinpath(*name.split(".")) if name else base
                    files = [target.with_suffix(".py"), target / "__init__.py"]
                for file in files:
                    if file in self._files and file != path:
                        found[file] = self._files[file][1]
            return list(found.values())

    # --- what the editor and the file system say ------------------------------------------

    def start(self) -> threading.Thread:
        """Build the index in the background, then follow the changes handed to it."""
        self._thread = threading.Thread(target=self._run, name="workspace-names", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def document(self, path: Path, text: str) -> None:
        """An open document's text (on open, change or save): indexed shortly, off the caller."""
        path = path.resolve()
        with self._lock:
            self._open.add(path)
            self._pending[path] = text
        self._wake.set()

    def closed(self, path: Path) -> None:
        """The editor closed it: its copy on disk counts again."""
        path = path.resolve()
        with self._lock:
            self._open.discard(path)
            self._pending[path] = None
        self._wake.set()

    def changed_on_disk(self, path: Path) -> None:
        """Created, changed or deleted on disk (a watched-files event); open documents ignore it."""
        path = path.resolve()
        with self._lock:
            if path not in self._open:
                self._pending[path] = None
        self._wake.set()

    def rescan(self) -> None:
        """Re-read what changed on disk since it was read (by mtime), and drop what is gone."""
        seen = set()
        for path in self._walk():
            seen.add(path)
            if path in self._open:
                continue
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            known = self._files.get(path)
            if known is None or known[0] != mtime:
                self._apply(path, None)
        for path in [p for p in self._files if p not in seen and p not in self._open]:
            self._apply(path, None)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending (tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ready.is_set() and not self._pending and not self._wake.is_set():
                return True
            time.sleep(0.01)
        return False

    # --- the worker ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._build()
        except Exception:  # an unreadable tree must not take the server down
            log.exception("workspace names: build failed")
        self.ready.set()
        while not self._stop.is_set():
            if not self._wake.wait(self.poll_s):
                self.rescan()  # no event for a while: look at the disk
                continue
            if self._stop.is_set():
                return
            time.sleep(self.debounce_s)  # a burst of keystrokes is indexed once
            self._wake.clear()
            with self._lock:
                pending, self._pending = self._pending, {}
            for path, text in pending.items():
                self._apply(path, text)

    def _build(self) -> None:
        began = time.monotonic()
        for path in self._walk():
            if self._stop.is_set() or time.monotonic() - began > self.max_seconds:
                self.truncated = True
                break
            if path not in self._files and path not in self._open:
                self._apply(path, None)
        log.info("workspace names: %d names from %d files", len(self), len(self._files))

    def _walk(self):
        if self.root is None or not self.root.is_dir():
            return
        count = 0
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
            for name in sorted(files):
                if name.endswith(".py"):
                    count += 1
                    if count > self.max_files:
                        self.truncated = True
                        return
                    yield Path(folder, name)

    def _apply(self, path: Path, text: str | None) -> None:
        """Index `path` from `text`, or from disk (None); a missing file is forgotten."""
        mtime = 0.0
        if text is None and path in self._open:
            return  # the editor's text is what counts (its copy on disk may hold the future)
        if text is None:
            try:
                stat = path.stat()
                if stat.st_size > MAX_FILE_BYTES:
                    raise OSError("too big")
                mtime = stat.st_mtime
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = None
        names = frozenset(code_names(text)) if text is not None else frozenset()
        self.lines.update(path, text)
        project = self.scopes.project_of(path)
        with self._lock:
            self.version += 1
            old = self._files.pop(path, None)
            if old is not None:
                _forget(self._counts, old[1])
                names_left = self._projects.get(project)
                if names_left is not None:
                    _forget(names_left, old[1])
                    if not names_left:  # a dict keeps its size when emptied: drop it
                        del self._projects[project]
                for module in self._module_names(path):
                    self._modules.get(module, set()).discard(path)
            self._imports.pop(path, None)
            if text is None:
                return
            if path in self._open:
                self._imports[path] = imported_modules(text, path)
            room = self.max_names - len(self._counts)
            new = [n for n in names if n not in self._counts]
            if len(new) > room:
                self.truncated = True
                keep = set(new[: max(room, 0)])
                names = frozenset(n for n in names if n in self._counts or n in keep)
            self._counts.update(names)
            self._projects.setdefault(project, Counter()).update(names)
            self._files[path] = (mtime, names)
            for module in self._module_names(path):
                self._modules.setdefault(module, set()).add(path)

    def _module_names(self, path: Path) -> list[str]:
        root = self.root
        return module_names(path, root) if root is not None and path.is_relative_to(root) else []


class DocumentNames:
    """The names legal at a use in one document (`name in names`), read live from the index:
    those of its project, then those of the workspace's files it imports."""

    def __init__(self, index: WorkspaceNames, path: Path) -> None:
        self.index, self.path = index, path
        self.project = index.scopes.project_of(path)
        self._version = -1
        self._imported: list[frozenset[str]] = []

    def __contains__(self, name: object) -> bool:
        if name in self.index.project_names(self.project):
            return True
        if self._version != self.index.version:
            self._version = self.index.version
            self._imported = self.index.imported_names(self.path)
        return any(name in names for names in self._imported)


def _forget(counts: Counter[str], names: frozenset[str]) -> None:
    counts.subtract(names)
    for name in names:
        if counts[name] <= 0:
            del counts[name]
