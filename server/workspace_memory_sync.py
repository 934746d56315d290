"""The workspace memory in the server: started with the workspace, told which files are open.

`CompletionService` holds one `WorkspaceMemorySync` (attribute `workspace_memory`, kept by
`workspace_memory_hook`) while the `workspaceMemory` setting is above 0 and a workspace folder
is known. It owns the memory and its builder thread, and it is the one place the server touches
them:

- `opened(uri)` / `closed(uri)`: an open document's entries are masked at once (before any
  completion in it can run), and the builder does not read it from disk while it is open: its
  text belongs to the editor, and its copy on disk may hold what is being typed. Its own window
  is the neural cache's. On close the copy on disk is what the user saved; the next pass reads it.
- `for_document(uri)`: what `decode_completions` retrieves from for a request in `uri`
  (passed through `DocumentSession.complete`).
- `status()`: what `grucomplete.status` can show (state, files, entries, MB, build time).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pygls import uris

if TYPE_CHECKING:  # torch loads with the model, after `initialize` has been answered
    from grucomplete.model.engine import CompletionEngine
    from grucomplete.model.memory_builder import MemoryBuilder
    from grucomplete.model.workspace_memory import DocumentMemory, WorkspaceMemory

log = logging.getLogger("grucomplete.server")


def document_path(uri: str) -> str | None:
    """The real path of a `file:` document (links resolved), or None."""
    if not uri.startswith("file:"):
        return None
    path = uris.to_fs_path(uri)
    return os.path.realpath(path) if path else None


class WorkspaceMemorySync:
    def __init__(
        self,
        root: Path,
        model_dir: Path,
        precision: str,
        busy: Callable[[], bool],
        poll_s: float = 5.0,
        engine: Callable[[], CompletionEngine | None] | None = None,
    ) -> None:
        """`engine()`: the service's loaded engine, whose model the builder runs (no copy)."""
        from grucomplete.model.memory_builder import MemoryBuilder
        from grucomplete.model.workspace_memory import WorkspaceMemory

        self.model_dir = model_dir
        self.memory: WorkspaceMemory = WorkspaceMemory()
        self.builder: MemoryBuilder = MemoryBuilder(
            root, model_dir, self.memory, precision, busy=busy, engine=engine
        )
        self.poll_s = poll_s

    def start(self) -> None:
        self.builder.start(self.poll_s)
        log.info("workspace memory: building for %s in the background", self.builder.root)

    def stop(self) -> None:
        self.builder.stop()

    def opened(self, uri: str) -> None:
        if (path := document_path(uri)) is not None:
            self.memory.mask(path, True)

    def closed(self, uri: str) -> None:
        if (path := document_path(uri)) is not None:
            self.memory.mask(path, False)

    def for_document(self, uri: str) -> DocumentMemory:
        """What `decode_completions` retrieves from for a request in `uri`."""
        return self.memory.for_path(document_path(uri))

    def status(self) -> dict[str, Any]:
        """The memory's state and size, for a status command or `:checkhealth`."""
        size = self.memory.size()
        return {
            "state": self.builder.state,
            "ready": self.builder.ready.is_set(),
            "files": size["files"],
            "entries": size["entries"],
            "memoryMB": round(size["bytes"] / 1e6, 1),
            "lastBuildSeconds": round(self.builder.last_build_s, 1),
            "tokensFed": self.builder.tokens_fed,
            "store": str(self.builder.directory),
        }
