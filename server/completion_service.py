"""The completion service: the open documents' sessions, their requests, and the one worker.

Everything that touches tensors runs on a single worker thread, in submission order, so
sessions need no locks and edits are never raced. The LSP handlers stay on the event loop and
only read text snapshots and await the worker; an answer the last one covers (a continued
word) needs no tensor and is given on the loop (`answer_at_once`), not behind the worker.
This module knows nothing of LSP: it is tested directly, and the handlers in
`language_server.py` are thin.

The model itself is loaded, fitted to the machine and followed on disk by `model_loading`;
the documents' sessions are kept by `document_sessions`, their states read ahead in idle time
by `idle_preparation`, and a popup's line decoded after its answer by `deferred_line`. Static
analysis of the documents is asked by `document_analysis` (jedi's names arrive as
`pending_names`), and the workspace memory is run by `workspace_memory_hook`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from grucomplete.model.interrupt import Interrupt

from .deferred_line import DeferredLine
from .document_analysis import DocumentAnalysis, known_words, static_settings
from .document_sessions import DocumentSessions
from .idle_preparation import IdlePreparation
from .model_loading import ModelLoader
from .options import ServerOptions
from .pending_names import PendingNames
from .static_analysis import StaticAnalyzer
from .workspace_memory_hook import WorkspaceMemoryHook

if TYPE_CHECKING:  # torch loads on the worker, after `initialize` has been answered
    from grucomplete.model.completions import Completions
    from grucomplete.model.engine import CompletionEngine
    from grucomplete.model.machine_fit import Fit

    from .workspace_memory_sync import WorkspaceMemorySync

log = logging.getLogger("grucomplete.server")


class CompletionService:
    def __init__(
        self, options: ServerOptions, notify: Callable[[str, bool], None] | None = None
    ) -> None:
        self.options = options
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grucomplete-model")
        # The static-analysis worker, and what the documents ask of it (`document_analysis`).
        self.analysis = DocumentAnalysis()
        self.sessions = DocumentSessions(
            lambda: self.options, lambda: self.engine, self.analysis.spare_core_free
        )
        self._cancels: dict[tuple[str, str], threading.Event] = {}  # (uri, kind)
        self._stop = threading.Event()
        # The model, its fit to this machine, and its files followed on disk.
        # notify(message, is_error) reaches the user (window/showMessage in the server).
        self.loader = ModelLoader(
            self.executor,
            lambda: self.options,
            notify or (lambda message, is_error: None),
            self._model_swapped,
            self._stop,
        )
        # Where static analysis resolves imports from, and the workspace memory reads.
        self.workspace_root: Path | None = None
        # The workspace memory, and the completions its builder waits for (`workspace_memory_hook`).
        self.memory = WorkspaceMemoryHook(self.executor, self.loader)
        # Completion requests answered, and how many of them ran the model (the others came
        # from the last answer of their document): for tests and benchmarks.
        self.requests = 0
        self.model_runs = 0
        # Idle time reads documents' states ahead (`idle_preparation`).
        self.preparation = IdlePreparation(self.executor, self.sessions.current, self._stop)
        # A popup's line decoded after its answer, for the next keystroke's popup.
        self.deferred_line = DeferredLine(self.executor, self._decode_line)

    # --- the model (server/model_loading.py) ----------------------------------------------

    @property
    def engine(self) -> CompletionEngine | None:
        return self.loader.engine

    @property
    def model_error(self) -> str | None:
        return self.loader.model_error

    @property
    def model_dir(self) -> Path:
        return self.loader.model_dir

    @property
    def adapted(self) -> dict[str, Path]:
        return self.loader.adapted

    @property
    def fit(self) -> Fit | None:
        return self.loader.fit

    @fit.setter
    def fit(self, fit: Fit | None) -> None:
        self.loader.fit = fit

    @property
    def threads(self) -> int:
        return self.loader.threads

    @threads.setter
    def threads(self, threads: int) -> None:
        self.loader.threads = threads

    def load_model(self) -> Future[None]:
        """Load the configured model in the background; completions wait for it."""
        return self.loader.load()

    def watch_model(self, interval_s: float = 2.0) -> threading.Thread:
        """Reload when the model directory's files change on disk (e.g. `grucomplete train`)."""
        return self.loader.watch(interval_s)

    def set_adapted(self, setting: str, directory: Path | None, base: str | None = None) -> None:
        """Complete with an adaptation where the `model` setting is `setting`
        (`ModelLoader.set_adapted`)."""
        self.loader.set_adapted(setting, directory, base)

    def request_settings(self) -> ServerOptions:
        """The settings a completion runs with (`ModelLoader.request_settings`)."""
        return self.loader.request_settings()

    def machine_fit(self) -> dict[str, object]:
        """What was measured here and chosen (`ModelLoader.machine_fit`)."""
        return self.loader.machine_fit()

    @property
    def static(self) -> StaticAnalyzer | None:
        """The static-analysis worker, or None (`DocumentAnalysis.analyzer`)."""
        return self.analysis.analyzer

    @static.setter
    def static(self, analyzer: StaticAnalyzer | None) -> None:
        self.analysis.analyzer = analyzer

    @property
    def workspace_memory(self) -> WorkspaceMemorySync | None:
        """The workspace memory, or None (`WorkspaceMemoryHook.sync`)."""
        return self.memory.sync

    def _model_swapped(self) -> None:
        """On the worker, once a load replaced the engine: the old model's states go, and the
        workspace memory follows the new model (not after a failed load: the engine is None)."""
        memory = self.workspace_memory
        if self.engine is not None and memory is not None and memory.model_dir != self.model_dir:
            # Its keys are the loaded model's states (re-pointed while the sessions still
            # say which documents are open).
            self.start_workspace_memory()
        self.sessions.clear()  # states of the old model mean nothing to the new one

    def reconfigure(self, options: ServerOptions) -> None:
        def engine_options(o: ServerOptions) -> tuple[Path, str, str, int]:
            return self.loader.model_dir_for(o), o.device, o.precision, o.context_tokens

        reload = engine_options(options) != engine_options(self.options)
        restart_static = static_settings(options) != static_settings(self.options)
        # Sessions keep the neural cache's keys only while it is on: switching it on or off
        # starts them anew, so no answer comes from a window whose keys are partly missing.
        restart = (options.neural_cache > 0) != (self.options.neural_cache > 0)
        self.options = options
        if restart_static and self.loader.loading is not None:  # i.e. after `initialized`
            self.start_static_analysis()
        if reload:
            self.loader.load()
        elif restart:
            self.executor.submit(self.sessions.clear)
        else:
            self.executor.submit(self.sessions.trim)  # `cache.maxDocuments` may be lower
        if self.loader.loading is not None:  # after `initialized`: workspace memory hook
            self.start_workspace_memory()

    def shutdown(self) -> None:
        self._stop.set()
        self.memory.stop()
        self.analysis.close()
        for event in self._cancels.values():
            event.set()
        self.deferred_line.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # --- static analysis (server/document_analysis.py) -------------------------------------

    def start_static_analysis(self) -> None:
        """(Re)start the static-analysis worker the options ask for, or stop it."""
        self.analysis.restart(self.options, self.workspace_root, self.sessions.module_file)

    def static_names(self, uri: str, source: str, before: str) -> PendingNames | None:
        """Ask static analysis for the members at the end of `before` when it is an attribute
        (after `.`); None elsewhere (`DocumentAnalysis.names_at_dot`)."""
        wait_s = self.options.static_wait_ms / 1000
        return self.analysis.names_at_dot(uri, source, before, wait_s)

    def opened(self, uri: str, text: str) -> Future[None]:
        """A document was opened: its model state is warmed now (`prefill`), and jedi's parse
        of the file and its imports on its first edit (`edited`)."""
        self.analysis.opened(uri, text)
        self.memory.opened(uri)  # never its disk copy while it is open
        future = self.prefill(uri, text)
        self.preparation.prepare(uri, text)
        return future

    def edited(self, uri: str, source: str, edit_end: int | None = None) -> None:
        """A document changed, its last edit ending at `edit_end` (where typing goes on: its
        state is prepared first); jedi parses it on its first edit (`DocumentAnalysis.edited`)."""
        self.preparation.prepare(uri, source, cursor=edit_end)
        self.analysis.edited(uri, source)

    # --- documents -------------------------------------------------------------------------

    def prefill(self, uri: str, text: str) -> Future[None]:
        """Warm a document's state in the background, so its first completion is fast."""

        def run() -> None:
            session = self.sessions.open(uri)
            if session is not None:
                session.prompt(session.engine.heal(text).context)

        return self.executor.submit(run)

    def close(self, uri: str) -> None:
        self.preparation.forget(uri)
        self.analysis.closed(uri)
        self.memory.closed(uri)
        for key in [key for key in self._cancels if key[0] == uri]:
            self._cancels.pop(key).set()
        self.executor.submit(self.sessions.drop, uri)

    def supersede(
        self, uri: str, kind: str = "completion", text_before: str | None = None
    ) -> threading.Event:
        """A new request of `kind` for `uri` (at `text_before`) cancels the one of that kind
        in flight, and any line decoded in idle time for another place.

        Returns the new request's cancel flag. Kinds do not cancel each other: VS Code asks for
        the popup and for ghost text on the same keystroke, and wants both answered.
        """
        event = threading.Event()
        if (previous := self._cancels.get((uri, kind))) is not None:
            previous.set()
        self._cancels[(uri, kind)] = event
        self.deferred_line.request(uri, text_before)
        return event

    # --- completion ------------------------------------------------------------------------

    def answer_at_once(
        self,
        uri: str,
        text_before: str,
        lines: bool | None = None,
        static: PendingNames | None = None,
    ) -> Completions | None:
        """`complete`'s answer where the document's last answer covers the request (a
        continued word), given on the caller's thread: it needs no model, so it does not
        wait for the worker, which may be decoding the last answer's line. None where the
        model must run (then call `complete` on the worker)."""
        session = self.sessions.current(uri)
        if session is None:
            return None
        if self.deferred_line.decoding(uri, text_before):
            return None  # the worker decodes this very place's line: its answer has it
        settings = self.request_settings()
        known_words = None if static is None else static.result
        result = session.answer_from_last(
            text_before, settings, lines=lines, defer_line=lines is None, known_words=known_words
        )
        if result is None:
            return None
        self.requests += 1
        self.memory.completion_answered()  # typing goes on: the memory builder waits
        self.preparation.postpone()
        log.debug("complete at %d in %s: %s", len(text_before), uri, session.last_work)
        self._line_if_missing(uri, text_before, lines, settings, result, self.deferred_line.serial)
        return result

    def complete(
        self,
        uri: str,
        text_before: str,
        cancel: threading.Event | None = None,
        lines: bool | None = None,
        static: PendingNames | None = None,
    ) -> Completions | None:
        """Candidates at the end of `text_before`; None without a model or when cancelled.

        `lines=None` is the popup of a client without ghost text: the line is decoded with
        the words only where a line begins; elsewhere the popup has the last answer's line
        while the typing follows it, and a new line is decoded once the answer is out
        (`deferred_line`), for the next keystroke's popup.

        `static` (from `static_names`) is waited for once decoding is done, until its
        deadline: jedi and the model work at the same time. Counted in `requests_running`
        while it runs (the workspace memory's builder waits).
        """
        serial = self.deferred_line.serial
        with self.memory.completion_running():
            if cancel is not None and cancel.is_set():
                return None
            self.preparation.postpone()
            if self.preparation.log is not None:
                self.preparation.log.append(f"complete {uri}")
            session = self.sessions.open(uri)
            if session is None:
                return None
            runs = session.model_runs
            # The budget bounds decoding; the state must be computed whatever it costs, or a big
            # edit would leave nothing to decode from and every budget would end empty-handed.
            settings = self.request_settings()
            result = session.complete(
                text_before,
                settings,
                lines=lines,
                defer_line=lines is None,
                interrupt=Interrupt.after_ms(self.options.latency_budget_ms, cancel),
                known_words=known_words(static),
                # jedi, working on the question at this `.`, is the spare core's other user
                threads=self.analysis.spare_core_free(),
                workspace=self.memory.for_document(uri),
            )
            self.requests += 1
            self.model_runs += session.model_runs - runs
            log.debug("complete at %d in %s: %s", len(text_before), uri, session.last_work)
            if cancel is not None and cancel.is_set():
                return None  # superseded or cancelled while it ran: nobody shows this answer
            self._line_if_missing(uri, text_before, lines, settings, result, serial)
            return result

    def _line_if_missing(
        self,
        uri: str,
        text_before: str,
        lines: bool | None,
        settings: ServerOptions,
        result: Completions,
        serial: int,
    ) -> None:
        """A popup without ghost text (`lines=None`) answered without a line gets one
        decoded after the answer, for its next keystroke (`deferred_line`)."""
        if lines is None and not result.lines_decoded and settings.line_completions:
            self.deferred_line.queue(uri, text_before, serial)

    def _decode_line(self, uri: str, text_before: str, cancel: threading.Event) -> None:
        session = self.sessions.current(uri)
        if cancel.is_set() or session is None:
            return
        if session.last_text_before != text_before:
            return  # the document has had another answer since
        with self.memory.completion_running():
            session.complete(
                text_before,
                self.request_settings(),
                lines=True,
                interrupt=Interrupt(cancel=cancel),
                workspace=self.memory.for_document(uri),
            )

    # --- workspace memory (server/workspace_memory_hook.py) --------------------------------

    def start_workspace_memory(self) -> None:
        """Start, stop or re-point the workspace memory as the options say (after
        `initialized`, and on every change of settings)."""
        self.memory.follow(self.workspace_root, self.sessions)

    def workspace_memory_status(self) -> dict[str, object]:
        """The workspace memory's state and size (for `grucomplete.status`, `:checkhealth`)."""
        return self.memory.status()
