"""Document sync: incremental edits land where the LSP spec says, whatever the text holds."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from grucomplete.server.text_document import LspTextDocument, LspWorkspace

PIECES = st.sampled_from(["a", "é", "😀", "\n", "\r\n", "\r", "\x0c", "\u2028", "\x85", " "])


def document(text: str, encoding: str = "utf-16") -> LspTextDocument:
    workspace = LspWorkspace("file:///w", position_encoding=encoding)
    workspace.put_text_document(types.TextDocumentItem("file:///w/a.py", "python", 1, text))
    return workspace.get_text_document("file:///w/a.py")


def edit(doc: LspTextDocument, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
    change = types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(*start), types.Position(*end)), text=text
    )
    doc.apply_change(change)


def reference_offset(text: str, line: int, character: int) -> int:
    """Index of an in-range UTF-16 position, from the spec's line breaks, the slow way."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    offset, units = starts[line], 0
    while units < character:
        units += 2 if ord(text[offset]) > 0xFFFF else 1
        offset += 1
    return offset


@st.composite
def positions(draw: st.DrawFn, text: str) -> tuple[int, int]:
    lines = re.split(r"\r\n|\r|\n", text)
    line = draw(st.integers(0, len(lines) - 1))
    cut = draw(st.integers(0, len(lines[line])))
    return line, len(lines[line][:cut].encode("utf-16-le")) // 2


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=25).map("".join), st.data())
def test_edits_replace_exactly_their_ranges(text: str, data: st.DataObject) -> None:
    doc = document(text)
    for _ in range(data.draw(st.integers(1, 5))):  # in sequence: lookups walk from the last
        a, b = sorted([data.draw(positions(text)), data.draw(positions(text))])
        inserted = data.draw(st.lists(PIECES, max_size=4).map("".join))
        edit(doc, a, b, inserted)
        start, end = reference_offset(text, *a), reference_offset(text, *b)
        text = text[:start] + inserted + text[end:]
        assert doc.source == text
        assert doc.edit_end == start + len(inserted)  # where typing goes on
        line, character = data.draw(positions(text))
        assert doc.offset_at(types.Position(line, character)) == reference_offset(
            text, line, character
        )


def test_a_form_feed_does_not_shift_lines() -> None:
    # str.splitlines (and so pygls's own document) breaks at \x0c; LSP does not.
    doc = document("a\x0cb\nc")
    edit(doc, (1, 0), (1, 0), "X")
    assert doc.source == "a\x0cb\nXc"


def test_ranges_past_the_end_are_clamped_and_reversed_ranges_insert() -> None:
    doc = document("ab\ncd")
    edit(doc, (0, 99), (0, 99), "!")
    assert doc.source == "ab!\ncd"
    edit(doc, (7, 0), (9, 3), "?")
    assert doc.source == "ab!\ncd?"
    edit(doc, (1, 2), (1, 0), "-")
    assert doc.source == "ab!\ncd-?"


def test_a_deletion_that_joins_cr_and_lf_merges_their_lines() -> None:
    # The line after "\r" is the one looked up last; deleting "x" makes "\r\n" one break.
    doc = document("a\rx\nb")
    assert doc.offset_at(types.Position(1, 0)) == 2
    edit(doc, (1, 0), (1, 1), "")
    assert doc.source == "a\r\nb"
    assert doc.offset_at(types.Position(1, 0)) == 3
