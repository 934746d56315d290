"""A name bound to a call's result, typed from the callee's source (`server/call_types.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grucomplete.server.call_types import CallTypes, Typed
from grucomplete.server.member_results import function_result, method_result
from grucomplete.server.receiver_types import Value, bound_value, receiver_value
from grucomplete.server.source_classes import SourceClasses
from grucomplete.server.static_analysis import StaticAnalyzer

BOX = '''\
class Box:
    """A box."""

    def __init__(self, spec):
        self.top_left, self.top = spec

    def substitute(self, safe: bool = True) -> "Box":
        return self

    def describe(self):
        return str(self)
'''

CLIENT = """\
from typing import TypeVar

from .models import Response

T = TypeVar("T", bound="Client")


class Client:
    def __enter__(self: T) -> T:
        return self

    def get(
        self,
        url: str,
    ) -> Response:
        return Response()


def connect(url: str) -> Client:
    return Client()
"""

TEXT = """\
class Text:
    style: "Style"

    def __init__(self, text):
        self._text = text

    @property
    def plain(self) -> str:
        return self._text

    @classmethod
    def from_markup(cls, markup: str) -> "Text":
        return cls(markup)

    def copy(self) -> "Text":
        return Text(self._text)


class Style:
    bold = False
"""

APP = """\
import shapes
from shapes.box import Box
from shapes.text import Text


class Live:
    def __enter__(self):
        return self

    def refresh(self):
        pass

    @property
    def box(self) -> Box:
        return Box(1)

    def show(self):
        shown = self.box
        shown.<


class Opener:
    def __enter__(self):
        return open("f")


def render(box: Box):
    inner = box.substitute(True)
    inner.<
    described = box.describe()
    described.<


def fetch():
    with shapes.Client() as client:
        response = client.get(
            "x",
        )
        response.<
        client.<
    with Live() as live, Opener() as opened:
        live.<
        opened.<
    connection = shapes.connect("u")
    connection.<
    chained = connection.get("u").json
    chained.<


def titled(title: Text | str):
    text = (
        Text.from_markup(title)  # a conditional expression over lines
        if isinstance(title, str)
        else title.copy()
    )
    text.<
    text.plain.<
    text.style.<
    mixed = Text.from_markup(title) if title else Box(1)
    mixed.<
    text = text.copy()
    text.<
    text.copy.<
    Text("a, (b").<
    text.copy().<
    shapes.connect(
        "u",
    ).<
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shapes'\n")
    package = tmp_path / "src" / "shapes"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from .client import *\nfrom .box import Box\n")
    (package / "box.py").write_text(BOX)
    (package / "client.py").write_text(CLIENT)
    (package / "text.py").write_text(TEXT)
    (package / "models.py").write_text(
        "class Response:\n    status_code = 200\n\n    def json(self):\n        pass\n"
    )
    (tmp_path / "tests").mkdir()
    return tmp_path / "tests" / "test_app.py"


def _at(receiver: str, nth: int = 0) -> tuple[str, str]:
    """The text before and after the `nth` `receiver.<` of `APP`."""
    marker = f"{receiver}.<"
    index = -1
    for _ in range(nth + 1):
        index = APP.index(marker, index + 1)
    before = APP[: index + len(receiver) + 1].replace(".<", ".")
    return before, APP[index + len(marker) :].replace(".<", ".")


@pytest.mark.parametrize(
    ("receiver", "expected"),
    [
        ("inner", Typed("box.py", "Box")),  # `-> "Box"`, read in the module that writes it
        ("response", Typed("client.py", "Response")),  # a call over lines, through a star import
        ("client", Typed("client.py", "Client")),  # `__enter__(self: T) -> T`
        ("live", Typed(None, "Live")),  # the document's class, `__enter__` returns `self`
        ("connection", Typed("client.py", "Client")),  # a module's function
        ("described", None),  # no annotation, and not `self` alone
        ("opened", None),  # `__enter__` returns something else
        ("chained", None),  # something follows the call
        ("shown", Typed(None, "Box")),  # a property of the document's class
        ("text", Typed("text.py", "Text")),  # a conditional's one value typed
        ("text.plain", Typed("text.py", "str")),  # a property's annotation
        ("text.style", Typed("text.py", "Style")),  # the class body's annotation
        ("mixed", None),  # a conditional's two values typed apart
        (("text", 1), Typed("text.py", "Text")),  # rebound to a call on what it was
        ("text.copy", None),  # a method is no attribute's value
        ('Text("a, (b")', Typed(None, "Text")),  # a call is the receiver
        ("text.copy()", Typed("text.py", "Text")),
        ('shapes.connect(\n        "u",\n    )', Typed("client.py", "Client")),
    ],
)
def test_the_callee_s_source_says_what_a_call_returns(
    project: Path, receiver: str | tuple[str, int], expected: Typed | None
) -> None:
    before, after = _at(*receiver) if isinstance(receiver, tuple) else _at(receiver)
    typed = CallTypes(SourceClasses()).receiver(str(project), before, after)
    if typed is not None and typed.file is not None:
        typed = Typed(Path(typed.file).name, typed.name)
    assert typed == expected


def test_a_call_s_result_serves_its_class_s_members_before_jedi(project: Path) -> None:
    analyzer = StaticAnalyzer(str(project.parent))
    try:
        for receiver, members in (
            ("inner", {"top", "top_left", "substitute"}),
            ("live", {"refresh"}),
        ):
            before, after = _at(receiver)
            declared = analyzer.names_at(str(project), before, after, wait_s=0.0).declared
            assert declared is not None and members <= set(declared)
        before, after = _at("response")
        declared = analyzer.names_at(str(project), before, after, wait_s=0.0).declared
        assert declared is not None and {"json", "status_code"} <= set(declared)
        assert "get" not in declared
    finally:
        analyzer.close()


def _values(before: str) -> tuple[tuple[Value, ...], bool] | None:
    bound = bound_value(before)
    return None if bound is None else (bound.values, bound.entered)


def test_a_with_item_binds_only_its_own_name() -> None:
    assert _values("def f():\n    with A() as a, B(\n        1,\n    ) as b:\n        b.") == (
        (Value("B", True),),
        True,
    )
    rebound = "def f():\n    with A() as c:\n        pass\n    for c in x:\n        c."
    found = bound_value(rebound)  # the loop's, not the `with`'s
    assert found is not None and found.iterated and found.values == (Value("x", False),)
    assert (
        bound_value("def f(options):\n    g(\n        options=options.x(),\n    )\n    options.")
        is None
    )
    assert _values("def f():\n    x = y.z(1)\n    x.") == ((Value("y.z", True),), False)


@pytest.mark.parametrize(
    ("statement", "values"),
    [
        ("x = self.title", (Value("self.title", False),)),
        ("x = a.b  # why", (Value("a.b", False),)),
        ("x = f(\n        1,\n    )", (Value("f", True),)),
        ("x = Path(p).parent.name", (Value("Path", True, (("parent", False), ("name", False))),)),
        ("x = Path(p).resolve()", (Value("Path", True, (("resolve", True),)),)),
        ("x = Path(p).resolve() / name", ()),
        ("x = (\n        A.make(t)\n        if t\n        else t.copy()\n    )", None),
        ("x = A.make(t) if isinstance(t, str) else t.copy()", None),
        ("x = a.b if c else None", (Value("a.b", False), Value("None", False))),
        ("x = a.b + 1", ()),
        ("x = (a, b)", ()),
        ("x = f(a) if g(b else c) else", ()),
        ("x = await f()", ()),
        ("x = a.b if c", ()),
    ],
)
def test_a_name_is_bound_to_values_that_can_be_typed(
    statement: str, values: tuple[Value, ...] | None
) -> None:
    found = bound_value(f"def f(t, a, c):\n    {statement}\n    x.")
    if values is None:  # a conditional expression's two
        values = (Value("A.make", True), Value("t.copy", True))
    assert (found.values if found is not None else ()) == values


def test_a_method_s_result_is_what_its_class_body_says() -> None:
    assert method_result(BOX, "Box", "substitute") == "Box"
    assert method_result(BOX, "Box", "describe") is None
    assert method_result(BOX, "Box", "missing") is None
    assert method_result(CLIENT, "Client", "__enter__") == "Self"
    assert method_result(CLIENT, "Client", "get") == "Response"
    assert method_result("class A:\n    x = 1\n", "A", "x") is None
    track = "def track(items: Iterable[T]) -> Iterable[T]:\n    yield from items\n"
    assert function_result(track, "track") == "Iterable[T]"  # not `Self`: a function's
    assert function_result("class A:\n    def track(self) -> int:\n        pass\n", "track") is None


@pytest.mark.parametrize(
    ("before", "value"),
    [
        ('x = httpx.Response(200, headers={"a": ")"}).', Value("httpx.Response", True)),
        ("f(g(x)).", Value("f", True)),
        ("x = f(a).b.", Value("f", True, (("b", False),))),
        (
            "root = Path(\n    here,\n).resolve().parent.",
            Value("Path", True, (("resolve", True), ("parent", False))),
        ),
        ("x = (a).", None),  # parentheses, no call
        ("a[1](2).", None),  # the callee is no dotted name
        ("x = y).", None),  # nothing opens it
        ("x = a.b.", None),  # no call: a dotted name
    ],
)
def test_a_call_before_the_dot_is_read_back_with_what_follows_it(
    before: str, value: Value | None
) -> None:
    found = receiver_value(before)
    assert (found[0] if found is not None else None) == value
    if found is not None and value is not None:
        assert before[found[1] :].startswith(value.dotted)


def test_a_loop_variable_is_an_item_of_what_the_loop_goes_over() -> None:
    loop = "def f(t):\n    for row in source.rows(t):\n        row."
    found = bound_value(loop)
    assert found is not None and found.iterated and found.values == (Value("source.rows", True),)
    assert bound_value("def f(t):\n    for row in source.rows(t) + extra:\n        row.") is None
    rows = "def rows() -> Iterator[Row]:\n    yield Row()\n\n\n"
    typed = CallTypes(SourceClasses()).receiver(None, rows + "for row in rows():\n    row.", "")
    assert typed == Typed(None, "Row")
    made = "for row in Row():\n    row."  # what iterating an instance gives is not said
    assert CallTypes(SourceClasses()).receiver(None, made, "") is None


def test_a_document_class_s_member_is_read_from_its_bases() -> None:
    base = "class Base:\n    def make(self) -> 'Thing':\n        pass\n\n    def own(self):\n"
    mine = base + "        return self\n\n\nclass Mine(Base):\n    pass\n\n\n"
    calls = CallTypes(SourceClasses())
    assert calls.receiver(None, mine + "Mine().make().", "") == Typed(None, "Thing")
    assert calls.receiver(None, mine + "Mine().own().", "") == Typed(None, "Mine")  # `Self`
    assert calls.receiver(None, mine + "Mine().missing().", "") is None
