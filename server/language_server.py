"""The LSP surface: pygls handlers, each a few lines, over the `CompletionService`.

Handlers run on the event loop and never touch the model: they snapshot the text before the
cursor, await the service's worker thread, and turn candidates into LSP items. Malformed
messages are answered by `protocol_guard.GuardedProtocol` before any handler runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from grucomplete.model import package_version

from . import stdio
from .completion_service import CompletionService
from .memory_release import ReleaseAfterCloses, release_freed_memory
from .options import ServerOptions, parse_options
from .positions import character_at
from .protocol_guard import GuardedProtocol
from .text_document import LspTextDocument, LspWorkspace
from .workspace_adaptation import ADAPT_COMMAND, RESET_COMMAND, WorkspaceAdaptation
from .workspace_names import WorkspaceNames

if TYPE_CHECKING:
    from grucomplete.model.completions import Completions

log = logging.getLogger("grucomplete.server")

EMPTY = types.CompletionList(is_incomplete=False, items=[])
STATS_COMMAND = "grucomplete.completionStats"
# workspace/executeCommand: where the server stands, as JSON (`:checkhealth`, VS Code's status).
STATUS_COMMAND = "grucomplete.serverStatus"


class GruCompleteServer(LanguageServer):
    protocol: GuardedProtocol

    def __init__(self) -> None:
        super().__init__("grucomplete", package_version(), protocol_cls=GuardedProtocol)
        self.defaults = ServerOptions()  # what settings start from (`serve --model` changes it)
        self.service = CompletionService(ServerOptions(), self.show)
        self.model_started = False  # `initialized` loads the model and starts its watcher
        # The client shows ghost text (`textDocument/inlineCompletion`): lines go there, and
        # the popup is words alone; without it (Neovim 0.11) the popup offers the line too.
        self.inline_client = False
        self.adaptation = WorkspaceAdaptation(self.service, self.show)
        # After closes, free memory on the worker: behind the session drops queued there.
        self.memory = ReleaseAfterCloses(lambda: self.service.executor.submit(release_freed_memory))
        self.names = WorkspaceNames(None)  # the project's identifiers, once a folder opens
        self.watch_files = False  # the client sends workspace/didChangeWatchedFiles for us

    def stop_background_work(self) -> None:
        """Stop what runs beside the handlers: the model worker, jedi's process and a running
        workspace adaptation (at `shutdown`, and again when the process exits)."""
        self.adaptation.stop()
        self.names.stop()
        self.service.shutdown()

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve on stdin and stdout, read by the event loop where they allow it (`stdio`)."""
        stdin, stdout = stdin or sys.stdin.buffer, stdout or sys.stdout.buffer
        if stdio.watchable(stdin, stdout):
            stdio.serve(self, stdin, stdout)
        else:
            super().start_io(stdin, stdout)

    def report_server_error(self, error: Exception, source: Any) -> None:
        # The reader reports with source JsonRpcException only what it could not decode (the
        # protocol itself never raises): answer it, instead of a popup in the user's editor.
        if source is JsonRpcException:
            self.protocol.answer_parse_error(error)
            return
        super().report_server_error(error, source)

    def show(self, message: str, is_error: bool) -> None:
        kind = types.MessageType.Error if is_error else types.MessageType.Info
        self.window_show_message(types.ShowMessageParams(kind, message))

    def apply_options(self, raw: Any) -> ServerOptions:
        options, problems = parse_options(raw, self.defaults)
        for problem in problems:
            self.show(f"grucomplete settings: {problem}", True)
        return options

    def status(self) -> dict[str, Any]:
        """The model's state, static analysis's (see `StaticAnalyzer.status`), what was fitted
        to this machine (`CompletionService.machine_fit`), the workspace memory's state and the
        workspace's lines (those recalled whole, `line_memory`)."""
        service = self.service
        model: dict[str, Any] = {"path": str(service.model_dir)}
        if service.engine is not None:
            model["state"] = "ready"
        elif service.model_error is not None:
            model.update(state="failed", reason=service.model_error)
        else:
            model["state"] = "loading" if self.model_started else "waiting for `initialized`"
        if service.static is not None:
            static = service.static.status()
        elif not service.options.static_analysis:
            static = {"state": "off", "reason": "the staticAnalysis setting is false"}
        else:
            static = {"state": "starting"}
        return {
            "version": self.version,
            "model": model,
            "staticAnalysis": static,
            "machineFit": service.machine_fit(),
            "workspaceMemory": service.workspace_memory_status(),
            "workspaceLines": self.names.lines_status()
            if service.options.recall_lines
            else {"state": "off", "reason": "the recallLines setting is false"},
        }

    @property
    def encoding(self) -> str:
        kind = self.workspace.position_encoding or types.PositionEncodingKind.Utf16
        return str(kind.value if hasattr(kind, "value") else kind)

    def document(self, uri: str) -> LspTextDocument | None:
        """An open document's synced text, or None."""
        # `initialize` put our workspace in place, which makes every document an LspTextDocument.
        document = self.workspace.text_documents.get(unquote(uri))  # pygls keys, unquoted
        return cast(LspTextDocument | None, document)

    def text_before(self, uri: str, position: types.Position) -> tuple[str, str] | None:
        """The document's text and the text before `position`; None if unknown or out of range."""
        document = self.document(uri)
        if document is None:
            return None
        source = document.source
        offset = document.offset_at(position)  # an LspTextDocument: near the last edit, O(1)
        return None if offset is None else (source, source[:offset])

    async def complete(
        self, uri: str, position: types.Position, lines: bool | None = None
    ) -> tuple[str, int, Completions] | None:
        snapshot = self.text_before(uri, position)
        if snapshot is None:
            return None
        source, before = snapshot
        cancel = self.service.supersede(uri, "inline" if lines else "completion", before)
        static = self.service.static_names(uri, source, before)  # jedi starts now, in parallel
        at_once = self.service.answer_at_once(uri, before, lines, static)
        if at_once is not None:
            return source, len(before), at_once
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self.service.executor, self.service.complete, uri, before, cancel, lines, static
            )
        except asyncio.CancelledError:
            cancel.set()  # $/cancelRequest: stop the worker within one decoding step
            raise
        return None if result is None else (source, len(before), result)


server = GruCompleteServer()


@server.feature(types.INITIALIZE)
def initialize(ls: GruCompleteServer, params: types.InitializeParams) -> None:
    ls.service.options = ls.apply_options(params.initialization_options)
    document = params.capabilities.text_document
    ls.inline_client = document is not None and document.inline_completion is not None
    # pygls made the workspace a moment ago; ours applies edits right and in O(edit). pygls
    # 2.1 has no hook for a workspace class, hence its private attribute (pinned in pyproject).
    ls.protocol._workspace = LspWorkspace.like(ls.workspace)
    ls.service.workspace_root = ls.adaptation.workspace = workspace_root(params)
    watched = (
        params.capabilities.workspace and params.capabilities.workspace.did_change_watched_files
    )
    ls.watch_files = bool(watched and watched.dynamic_registration)
    # Without file events from the client, the disk is looked at again every half minute.
    ls.names = WorkspaceNames(ls.service.workspace_root, poll_s=None if ls.watch_files else 30.0)
    ls.service.sessions.workspace_names = ls.names


@server.feature(types.INITIALIZED)
def initialized(ls: GruCompleteServer, params: types.InitializedParams) -> None:
    if ls.model_started:  # a client that says it twice gets one model and one watcher
        return
    ls.model_started = True
    ls.adaptation.reconfigure(ls.service.options)  # first: a stored adaptation is what loads
    ls.service.load_model()  # off the critical path of initialize
    ls.service.watch_model()
    ls.service.start_static_analysis()
    ls.service.start_workspace_memory()
    ls.names.start()
    if ls.watch_files:
        watcher = types.FileSystemWatcher(glob_pattern="**/*.py")
        options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[watcher])
        registration = types.Registration(
            id="grucomplete-python-files",
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=options,
        )
        ls.client_register_capability(types.RegistrationParams([registration]))


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(
    ls: GruCompleteServer, params: types.DidChangeConfigurationParams
) -> None:
    settings = params.settings
    if isinstance(settings, dict) and "grucomplete" in settings:
        settings = settings["grucomplete"]
    options = ls.apply_options(settings)
    ls.adaptation.reconfigure(options)  # first, so that a changed model loads once
    ls.service.reconfigure(options)


@server.command(RESET_COMMAND)
def reset_adaptation(ls: GruCompleteServer, *args: Any) -> str:
    message = ls.adaptation.reset()
    ls.show(message, False)
    return message


@server.command(ADAPT_COMMAND)
def adapt_workspace(ls: GruCompleteServer, *args: Any) -> str:
    message = ls.adaptation.adapt_again()
    ls.show(message, False)
    return message


@server.command(STATS_COMMAND)
def completion_stats(ls: GruCompleteServer, *args: Any) -> dict[str, int]:
    """Completion requests answered and how many ran the model (benchmarks read it)."""
    return {"requests": ls.service.requests, "modelRuns": ls.service.model_runs}


@server.command(STATUS_COMMAND)
def server_status(ls: GruCompleteServer, *args: Any) -> dict[str, Any]:
    return ls.status()


def _file_path(uri: str) -> Path | None:
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path and path.endswith(".py") else None


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: GruCompleteServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.service.opened(params.text_document.uri, params.text_document.text)
    if path := _file_path(params.text_document.uri):
        ls.names.document(path, params.text_document.text)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: GruCompleteServer, params: types.DidChangeTextDocumentParams) -> None:
    document = ls.document(params.text_document.uri)  # pygls applied the edit already
    if document is not None:
        ls.service.edited(params.text_document.uri, document.source, document.edit_end)
        if path := _file_path(params.text_document.uri):
            ls.names.document(path, document.source)  # indexed after a pause, off the loop


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: GruCompleteServer, params: types.DidSaveTextDocumentParams) -> None:
    document = ls.document(params.text_document.uri)
    if document is not None and (path := _file_path(params.text_document.uri)):
        ls.names.document(path, document.source)


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(
    ls: GruCompleteServer, params: types.DidChangeWatchedFilesParams
) -> None:
    for change in params.changes:  # created, changed or deleted: the disk says which
        if path := _file_path(change.uri):
            ls.names.changed_on_disk(path)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: GruCompleteServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.service.close(params.text_document.uri)
    ls.memory.document_closed()
    if path := _file_path(params.text_document.uri):
        ls.names.closed(path)


@server.feature(types.SHUTDOWN)
def shutdown(ls: GruCompleteServer, params: Any) -> None:
    ls.stop_background_work()


def workspace_root(params: types.InitializeParams) -> Path | None:
    """The folder the editor opened: the first workspace folder, else the root URI or path."""
    uri = params.workspace_folders[0].uri if params.workspace_folders else params.root_uri
    path = to_fs_path(uri) if uri and uri.startswith("file:") else params.root_path
    return Path(path) if path else None


def _position(source: str, line: int, offset: int, encoding: str) -> types.Position:
    # The request named the line: only the column is computed, from that line's text.
    return types.Position(line, character_at(source, offset, encoding))


def completion_items(
    source: str, line: int, cursor: int, result: Completions, encoding: str
) -> list[types.CompletionItem]:
    """Words ranked by the model, and the best whole line where it adds more than a word,
    ordered by probability: the first item is the most likely one.

    A line's probability is of the whole line; a word's is normalised over the words offered,
    so a line ranks above a word only when it is clearly likelier.
    """
    edit_range = types.Range(  # the typed part of the word (identifiers never span lines)
        _position(source, line, cursor - len(result.typed), encoding),
        _position(source, line, cursor, encoding),
    )
    items = [
        types.CompletionItem(
            label=word.label,
            kind=types.CompletionItemKind.Variable,
            detail=f"{word.probability:.1%} · grucomplete",
            filter_text=word.label,
            text_edit=types.TextEdit(edit_range, word.label),
        )
        for word in result.words
    ]
    best_word = result.words[0].label if result.words else result.typed
    for whole in result.lines[:1]:
        text = result.typed + whole.insert
        if text.rstrip() == best_word or "\n" in text:
            continue
        rank = sum(word.probability >= whole.probability for word in result.words)
        items.insert(
            rank,
            types.CompletionItem(
                label=whole.label,
                kind=types.CompletionItemKind.Snippet,
                detail=f"{whole.probability:.1%} line · grucomplete",
                filter_text=text,
                text_edit=types.TextEdit(edit_range, text),
            ),
        )
    for rank, item in enumerate(items):
        item.sort_text = f"{rank:04d}"  # keep the model's ranking; editors sort by this
    return items


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."]))
async def completion(ls: GruCompleteServer, params: types.CompletionParams) -> types.CompletionList:
    # A client that shows ghost text gets the line there; the popup never waits for it.
    lines = False if ls.inline_client else None
    found = await ls.complete(params.text_document.uri, params.position, lines=lines)
    if found is None:
        return EMPTY
    source, cursor, result = found
    # Incomplete unless the words are all the names there are (static analysis listed them):
    # the editor asks again as the word grows, answered from this answer where it covers it.
    return types.CompletionList(
        is_incomplete=not result.closed,
        items=completion_items(source, params.position.line, cursor, result, ls.encoding),
    )


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(
    ls: GruCompleteServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    found = await ls.complete(params.text_document.uri, params.position, lines=True)
    if found is None:
        return types.InlineCompletionList(items=[])
    source, cursor, result = found
    here = _position(source, params.position.line, cursor, ls.encoding)
    threshold = ls.service.options.ghost_text_threshold
    items = [
        types.InlineCompletionItem(insert_text=line.insert, range=types.Range(here, here))
        for line in result.lines
        if line.insert.strip() and line.probability >= threshold  # only when likely right
    ]
    return types.InlineCompletionList(items=items)
