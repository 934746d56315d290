"""The open documents' sessions: one `DocumentSession` per document, on the loaded model.

A session holds a document's token ids, GRU states and last answer; it is made on the first
request or preparation that needs it, and made anew once the model is replaced. The least
recently used is dropped past `cache.maxDocuments`. Each session is given the names and the
lines of its own project (`WorkspaceNames`), and asks whether jedi leaves the spare core free
before a long read takes it. Sessions are touched on the model worker only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Container, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pygls import uris

from grucomplete.model.line_memory import LineSource

from .options import ServerOptions
from .workspace_names import WorkspaceNames

if TYPE_CHECKING:  # torch loads on the worker, after `initialize` has been answered
    from grucomplete.model.engine import CompletionEngine
    from grucomplete.model.session import DocumentSession


class DocumentSessions(Mapping[str, "DocumentSession"]):
    """The sessions by document URI, least recently used first."""

    def __init__(
        self,
        options: Callable[[], ServerOptions],
        engine: Callable[[], CompletionEngine | None],
        spare_core_free: Callable[[], bool],
    ) -> None:
        self._options, self._engine, self._spare_core_free = options, engine, spare_core_free
        self._sessions: OrderedDict[str, DocumentSession] = OrderedDict()
        self.workspace_names: Container[str] | None = None  # the project's names

    def __getitem__(self, uri: str) -> DocumentSession:
        return self._sessions[uri]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)

    def current(self, uri: str) -> DocumentSession | None:
        """`uri`'s session if it runs on the loaded model; none is made."""
        session = self._sessions.get(uri)
        engine = self._engine()
        return session if session is not None and engine is session.engine else None

    def open(self, uri: str) -> DocumentSession | None:
        """`uri`'s session on the loaded model, made if need be, now the most recently used;
        None while no model is loaded."""
        from grucomplete.model.session import DocumentSession

        engine = self._engine()
        if engine is None:
            return None
        session = self._sessions.get(uri)
        if session is None or session.engine is not engine:
            options = self._options()
            session = DocumentSession(
                engine,
                options.cache.max_checkpoints,
                options.neural_cache > 0,
                options.cache.prepared_windows,
            )
            session.workspace_names = self._names_for(uri)
            session.line_source = self._lines_for(uri)
            session.spare_core_free = self._spare_core_free
            self._sessions[uri] = session
        self._sessions.move_to_end(uri)
        self.trim()
        return session

    def trim(self) -> None:
        """Drop the least recently used sessions past `cache.maxDocuments`."""
        while len(self._sessions) > self._options().cache.max_documents:
            self._sessions.popitem(last=False)

    def drop(self, uri: str) -> None:
        self._sessions.pop(uri, None)

    def clear(self) -> None:
        self._sessions.clear()

    def module_file(self, module: str, document: str | None) -> str | None:
        """Where the workspace has `module`'s source (a project's own package, not installed)."""
        names = self.workspace_names
        if not isinstance(names, WorkspaceNames):
            return None
        found = names.module_file(module, Path(document) if document else None)
        return str(found) if found is not None else None

    def _names_for(self, uri: str) -> Container[str] | None:
        """The workspace's names a document may use: those of its own project (`for_document`)."""
        names, path = self.workspace_names, _file_path(uri)
        if isinstance(names, WorkspaceNames) and path is not None:
            return names.for_document(path)
        return names

    def _lines_for(self, uri: str) -> LineSource | None:
        """The lines of the workspace's files other than the document's own."""
        names, path = self.workspace_names, _file_path(uri)
        if isinstance(names, WorkspaceNames) and path is not None:
            return names.lines_for(path)
        return None


def _file_path(uri: str) -> Path | None:
    """The file a `file:` document is (None for other schemes)."""
    path = uris.to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path is not None else None
