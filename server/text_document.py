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
    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        source = self.source
        start = self._offset(source, change.range.start)
        end = max(self._offset(source, change.range.end), start)  # a reversed range: insert
        self._source = source[:start] + change.text + source[end:]

    def _offset(self, source: str, position: types.Position) -> int:
        """The index of `position`; past the end of its line or the document, the end of it."""
        encoding = self.position_codec.encoding or types.PositionEncodingKind.Utf16
        line, character = max(position.line, 0), max(position.character, 0)
        offset = offset_at(source, line, character, encoding)
        if offset is not None:
            return offset
        bounds = line_bounds(source, line)
        return len(source) if bounds is None else bounds[1]  # past the last line: the end


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
