"""JSON-RPC hardening over pygls: every request gets exactly one answer, whatever its frame holds.

pygls 2.1 turns each frame into lsprotocol types inside its reader: `pygls.io_.run_async` calls
`json.loads(body, object_hook=protocol.structure_message)`, and when `structure_message` raises
(`JsonRpcInvalidParams` for a negative or >= 2^31 position, a position given as a string,
`params: null`; `JsonRpcInternalError` for `params: 7`) the reader only logs it. Such a request
is never answered and the editor waits forever. Non-object bodies (`[]`, `"x"`) fail the same
way, and invalid JSON gets no ParseError.

`GuardedProtocol` moves that step out of the reader: `structure_message` (still the reader's
object_hook) returns plain JSON, and `handle_message`, which sees the whole message, checks the
envelope, structures it, and answers what cannot be structured:

- not an object, no `method`, a non-string method or a bad id: InvalidRequest (-32600), with
  the id when there is one, else id null (as JSON-RPC 2.0 asks);
- params that do not fit the method's types: InvalidParams (-32602) with the offending path;
- a request before `initialize`: ServerNotInitialized (-32002); after `shutdown`: InvalidRequest,
  as the LSP spec says (pygls drops it silently);
- a notification that cannot be structured is logged and dropped (it has no one to answer).

Invalid JSON never reaches the protocol; the reader hands that error to the server's
`report_server_error`, which calls `answer_parse_error` here.

`didChange` is also made forgiving: changes to a document that was never opened are ignored
(pygls raised KeyError and showed it to the user), and a range whose end precedes its start is
read as an insertion at its start (pygls' own document would duplicate text).

pygls has no public hook for any of this, so the subclass reads its parent's state
(`_shutdown`, `_workspace`, `_converter`) and writes with `_send_data`, as pygls 2.1 names them;
`pyproject.toml` pins the pygls minor release this was checked on, and the robustness tests
fail if an upgrade moves them.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import (
    JsonRPCNotification,
    JsonRPCProtocol,
    JsonRPCRequestMessage,
)
from pygls.protocol.language_server import lsp_method

log = logging.getLogger("grucomplete.server")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002


def _valid_id(value: Any) -> bool:
    # LSP ids are integers or strings; bool is an int to Python but not to JSON.
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _echo_id(value: Any) -> int | float | str | None:
    """The id to put in an error reply: the request's, if it is any JSON-RPC id at all."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    return None


def _why(error: BaseException) -> str:
    """A one-line reason for a structuring failure: cattrs' paths when it has them."""
    cause = error.__cause__ or error
    try:
        from cattrs import transform_error

        lines = transform_error(cause, path="$")
    except Exception:  # not a cattrs error, or an older cattrs: the exception's own words
        lines = [f"{type(cause).__name__}: {cause}"]
    text = "; ".join(lines)
    return text if len(text) <= 300 else text[:297] + "..."


class GuardedProtocol(LanguageServerProtocol):
    """pygls' LSP protocol, with the message checks described in this module's docstring."""

    @property
    def shutdown_requested(self) -> bool:
        return self._shutdown

    @property
    def initialized(self) -> bool:
        return self._workspace is not None

    # --- reading ---------------------------------------------------------------------------

    def structure_message(self, data: dict[str, Any]) -> dict[str, Any]:
        # Called by the reader for every JSON object, innermost first: keep plain JSON here
        # and structure the whole message in handle_message, where failures can be answered.
        return data

    def handle_message(self, message: Any) -> None:
        try:
            self._handle_json(message)
        except Exception:
            # Never let one message take the reader loop down; answer it if it was a request.
            log.exception("failed to handle a message")
            if isinstance(message, dict) and "method" in message and _valid_id(message.get("id")):
                self.reply_error(message["id"], INTERNAL_ERROR, "internal error")

    def _handle_json(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            self.reply_error(None, INVALID_REQUEST, "a JSON-RPC message must be an object")
            return
        has_id = "id" in raw
        if "method" not in raw:
            if has_id and ("result" in raw or "error" in raw) and raw.get("jsonrpc") == "2.0":
                self._handle_client_response(raw)
            else:
                self.reply_error(_echo_id(raw.get("id")), INVALID_REQUEST, "no method")
            return
        method, msg_id = raw.get("method"), raw.get("id")
        if raw.get("jsonrpc") != JsonRPCProtocol.VERSION:
            problem = 'jsonrpc must be "2.0"'
        elif not isinstance(method, str):
            problem = "method must be a string"
        elif has_id and not _valid_id(msg_id):
            problem = "id must be an integer or a string"
        else:
            problem = None
        if problem is not None:
            self.reply_error(_echo_id(msg_id), INVALID_REQUEST, problem)
            return

        if self._shutdown and method != types.EXIT:
            if has_id:
                self.reply_error(msg_id, INVALID_REQUEST, "the server is shutting down")
            return
        if not self.initialized and method not in (types.INITIALIZE, types.EXIT):
            if has_id:
                self.reply_error(msg_id, SERVER_NOT_INITIALIZED, "initialize first")
            return

        message_type = self.get_message_type(method)
        if message_type is None:  # not an LSP method: pygls' generic types, params optional
            message_type = JsonRPCRequestMessage if has_id else JsonRPCNotification
            raw = {"params": None, **raw}
        try:
            message = self._converter.structure(raw, message_type)
        except Exception as error:
            reason = _why(error)
            if has_id:
                log.warning("request %r (%s): invalid params: %s", msg_id, method, reason)
                self.reply_error(msg_id, INVALID_PARAMS, f"invalid params for {method}: {reason}")
            else:
                log.warning("dropped notification %s: invalid params: %s", method, reason)
            return
        super().handle_message(message)

    def _handle_client_response(self, raw: dict[str, Any]) -> None:
        """A reply to a request the server sent (e.g. window/showMessageRequest)."""
        try:
            message = JsonRPCProtocol.structure_message(self, raw)
        except Exception as error:
            log.warning("dropped an unreadable response %r: %s", raw.get("id"), _why(error))
            return
        super().handle_message(message)

    # --- answering -------------------------------------------------------------------------

    def reply_error(self, msg_id: int | float | str | None, code: int, message: str) -> None:
        # Written as plain JSON: lsprotocol's converter leaves out a None id, but an error
        # about an unidentifiable request must carry "id": null.
        self._send_data(
            {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}
        )

    def answer_parse_error(self, error: BaseException) -> None:
        """The reader could not decode a frame (invalid JSON or UTF-8): say so, with id null."""
        log.warning("unreadable frame: %s", error)
        self.reply_error(None, PARSE_ERROR, f"parse error: {type(error).__name__}")

    # --- forgiving document sync -----------------------------------------------------------

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        document = self.workspace.text_documents.get(unquote(uri))  # pygls' keys
        if document is None:
            log.warning("didChange for %s, which is not open: ignored", uri)
            return
        version = params.text_document.version
        if document.version is not None and version is not None and version < document.version:
            # Applied all the same: the edit is what the editor shows; the number is a label.
            log.info("didChange for %s goes back to version %s", uri, version)
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start, end = change.range.start, change.range.end
                if (end.line, end.character) < (start.line, start.character):
                    # Read as an insertion at its start, as `text_document.LspTextDocument` does.
                    change = types.TextDocumentContentChangePartial(
                        range=types.Range(start, start), text=change.text
                    )
            self.workspace.update_text_document(params.text_document, change)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None
