"""Class statements found in a half-typed document (`server/class_statements.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grucomplete.server.class_statements import (
    CLASS,
    ClassIndex,
    body_of,
    class_headers,
    enclosing_class,
    split_bases,
)

SOURCE = """\
class Outer(Base, metaclass=Meta):
    size = 1

    class Inner:
        pass

    def method(self):
        def helper():
            return self.size

class Inner(dict[str, int]):
    def get(self):
        return 1
"""

_PIECES = ["class", "class ", " ", "\t", "\n", "\r\n", "(", ")", ":", "A", "b_1", "#", "'", ","]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_class_headers_are_those_a_line_anchored_scan_finds(pieces: list[str]) -> None:
    """The word-first search of class headers (fast on a large module) finds exactly what
    the `^`-anchored pattern finds: the same matches, spans and groups."""
    text = "".join(pieces)
    expected = [(m.span(), m.groups()) for m in CLASS.finditer(text)]
    assert [(m.span(), m.groups()) for m in class_headers(text)] == expected


def test_class_headers_of_real_modules() -> None:
    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "server").glob("*.py")) + sorted((root / "tests").glob("*.py"))
    tricky = "class A(\n    Base,\n    Mixin,\n):\n    class Meta:  # class of class B\n"
    for text in [f.read_text() for f in files] + [tricky, tricky.replace("\n", "\r\n")]:
        expected = [(m.span(), m.groups()) for m in CLASS.finditer(text)]
        assert [(m.span(), m.groups()) for m in class_headers(text)] == expected


def test_of_classes_sharing_a_name_the_module_s_own_is_the_outermost() -> None:
    index = ClassIndex(SOURCE)
    assert [h.group(1) for h in index.classes["Inner"]] == ["    ", ""]
    outermost = index.outermost("Inner")
    assert outermost is not None and outermost.group(3) == "dict[str, int]"
    assert index.outermost("Missing") is None


def test_a_nested_function_sees_the_class_of_its_method() -> None:
    cursor = SOURCE.index("return self.size") + len("return self.")
    header = enclosing_class(SOURCE[:cursor])
    assert header is not None and header.group(2) == "Outer"
    after_class = SOURCE.index("class Inner(dict") - 1
    assert enclosing_class(SOURCE[:after_class] + "\nx = ") is None  # at module level


def test_a_body_ends_where_the_class_does() -> None:
    index = ClassIndex(SOURCE)
    outer = index.outermost("Outer")
    assert outer is not None
    body = body_of(SOURCE, outer)
    assert body is not None
    indent, text = body
    assert indent == "    " and text.startswith("    size = 1\n") and "dict[str, int]" not in text
    half_typed = CLASS.match("class A:\n")
    assert half_typed is not None and body_of("class A:\n", half_typed) is None


@pytest.mark.parametrize(
    ("bases", "expected"),
    [
        ("Base, metaclass=Meta", ["Base"]),
        ("Generic[T], abc.ABC", ["Generic", "abc.ABC"]),
        ("Dict[str, List[int]], Task", ["Dict", "Task"]),
        ("", []),
    ],
)
def test_bases_leave_out_keywords_and_subscripts(bases: str, expected: list[str]) -> None:
    assert split_bases(bases) == expected
