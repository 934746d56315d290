"""The workspace memory as the completion service runs it: on, off or re-pointed as the settings
and the model say, and held back while the user types.

`WorkspaceMemorySync` (`workspace_memory_sync`) is the memory in the server. `CompletionService`
holds one `WorkspaceMemoryHook`, which keeps a `WorkspaceMemorySync` while the
`workspaceMemory` setting is above 0 and a workspace folder is known, always for the model
being loaded (its keys are that model's states), and passes the open documents on to it. Its
builder shares the one model worker with completions: it waits while a completion runs or
waits for the worker, and for `MEMORY_GRACE_S` after one.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from .model_loading import ModelLoader

if TYPE_CHECKING:  # torch loads on the worker, after `initialize` has been answered
    from grucomplete.model.engine import CompletionEngine
    from grucomplete.model.workspace_memory import DocumentMemory

    from .workspace_memory_sync import WorkspaceMemorySync

log = logging.getLogger("grucomplete.server")

# After a completion, the workspace memory's builder waits this long before it feeds again
# (the user is typing: the next keystroke's completion will come).
MEMORY_GRACE_S = 0.5


class WorkspaceMemoryHook:
    """The workspace memory the settings ask for (or none), and when its builder may feed."""

    def __init__(self, executor: ThreadPoolExecutor, loader: ModelLoader) -> None:
        """`executor`: the model worker; `loader`: the settings and the model they load."""
        self._executor, self._loader = executor, loader
        self.sync: WorkspaceMemorySync | None = None
        self.requests_running = 0  # completions on the worker now: the memory builder waits
        self._last_request = 0.0  # time.monotonic() when the last completion ended

    def follow(self, root: Path | None, open_uris: Iterable[str]) -> None:
        """Start, stop or re-point the workspace memory of `root` as the settings say, telling
        a new one which documents are open."""
        from .workspace_memory_sync import WorkspaceMemorySync

        options, current = self._loader.options, self.sync
        wanted = options.workspace_memory > 0 and root is not None and root.is_dir()
        if current is not None and (not wanted or current.model_dir != self._loader.model_dir):
            current.stop()
            self.sync = current = None
        if not wanted or root is None or current is not None:
            return
        try:
            # On a CPU the builder runs the engine's own model; on a GPU, a CPU copy of its own.
            shared = self._engine_of if options.device == "cpu" else None
            sync = WorkspaceMemorySync(
                root, self._loader.model_dir, options.precision, self._busy, engine=shared
            )
        except OSError as e:  # no model files yet: the model's own error is reported
            log.warning("workspace memory: not started: %s", e)
            return
        for uri in open_uris:
            sync.opened(uri)
        self.sync = sync
        sync.start()

    @contextlib.contextmanager
    def completion_running(self) -> Iterator[None]:
        """A completion on the worker, counted in `requests_running` while it runs."""
        self.requests_running += 1
        try:
            yield
        finally:
            self.requests_running -= 1
            self._last_request = time.monotonic()

    def completion_answered(self) -> None:
        """A completion was answered off the worker: typing goes on, the builder waits."""
        self._last_request = time.monotonic()

    def _engine_of(self) -> CompletionEngine | None:
        """The loaded engine, whose model the memory's builder runs (None while it loads)."""
        loading = self._loader.loading
        if loading is None or not loading.done():
            return None
        return self._loader.engine

    def _busy(self) -> bool:
        """A completion is running, waiting on the worker, or ended less than MEMORY_GRACE_S
        ago (the user is typing: the next keystroke's will come): the memory builder waits."""
        return (
            self.requests_running > 0
            or self._executor._work_queue.qsize() > 0
            or time.monotonic() - self._last_request < MEMORY_GRACE_S
        )

    def opened(self, uri: str) -> None:
        """`uri` is open: the memory never reads its disk copy while it is."""
        if self.sync is not None:
            self.sync.opened(uri)

    def closed(self, uri: str) -> None:
        if self.sync is not None:
            self.sync.closed(uri)

    def for_document(self, uri: str) -> DocumentMemory | None:
        """What a completion in `uri` retrieves from (None without a memory)."""
        sync = self.sync
        return None if sync is None else sync.for_document(uri)

    def status(self) -> dict[str, object]:
        """The workspace memory's state and size (for `grucomplete.status`, `:checkhealth`)."""
        weight = self._loader.options.workspace_memory
        if self.sync is None:
            return {"state": "off", "weight": weight}
        return {**self.sync.status(), "weight": weight}

    def stop(self) -> None:
        if self.sync is not None:
            self.sync.stop()
