"""Open documents' text, kept in sync by incremental edits at the cost of the edit.

pygls's `TextDocument` applies an edit by splitting the whole document with `str.splitlines`
and rewriting it line by line: milliseconds per keystroke in a 20,000-line file, and wrong in
a file holding a form feed, U+2028 or another character that `splitlines` breaks at but LSP
does not (the edit lands on the wrong line). `LspWorkspace` creates `LspTextDocument`s, which
find an edit's range with `positions` (LSP's `\\n`, `\\r\\n` and `\\r` only, searched in C) and
splice the text once.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from .positions import line_bounds, offset_at


class LspTextDocument(TextDocument):
    # (line, offset where it starts) of the last position looked up: typing stays near it, so
    # the next lookup walks a line or two from there instead of counting the whole document.
    _known = (0, 0)
    # Where the last edit's text ends (None after a full-text change): most likely the cursor.
    edit_end: int | None = None

    def offset_at(self, position: types.Position) -> int | None:
        """Index into the text of an LSP position, or None when it is out of range."""
        source, line = self.source, position.line
        bounds = line_bounds(source, line, self._known)
        if bounds is None:
            return None
        self._known = (line, bounds[0])
        return offset_at(source, line, position.character, self.encoding, self._known)

    @property
    def encoding(self) -> str:
        kind = self.position_codec.encoding or types.PositionEncodingKind.Utf16
        return str(getattr(kind, "value", kind))

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        source = self.source
        start = self._clamped_offset(change.range.start)
        end = max(self._clamped_offset(change.range.end), start)  # a reversed range: insert
        self._source = source[:start] + change.text + source[end:]
        self.edit_end = start + len(change.text)
        known_start = self._known[1]
        # The known line start stays one if nothing before it changed (and no "\r" before it
        # now meets a "\n", inserted there or brought there by a deletion, which would merge
        # two line breaks into one).
        if start < known_start or (
            start == known_start > 0
            and source[known_start - 1] == "\r"
            and self._source.startswith("\n", known_start)
        ):
            self._known = (0, 0)

    def _apply_full_change(self, change: types.TextDocumentContentChangeEvent) -> None:
        super()._apply_full_change(change)
        self._known, self.edit_end = (0, 0), None

    def _clamped_offset(self, position: types.Position) -> int:
        """The index of `position`; past the end of its line or the document, the end of it."""
        line = max(position.line, 0)
        offset = self.offset_at(types.Position(line, max(position.character, 0)))
        if offset is not None:
            return offset
        bounds = line_bounds(self.source, line, self._known)
        return len(self.source) if bounds is None else bounds[1]  # past the last line: the end


class LspWorkspace(Workspace):
    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self.position_codec,
        )

    @classmethod
    def like(cls, workspace: Workspace) -> LspWorkspace:
        """The same (still empty) workspace, creating `LspTextDocument`s."""
        folders = list(workspace.folders.values())
        return cls(workspace.root_uri, workspace._sync_kind, folders, workspace.position_encoding)
