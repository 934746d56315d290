"""`self.`'s members read from the document's own class (`server/class_members.py`)."""

from __future__ import annotations

import pytest

from grucomplete.server.class_members import (
    attribute_type,
    class_object_members,
    element_type,
    imported_bases,
    instance_members,
    iterated_item,
    property_members,
    self_members,
    super_members,
)
from grucomplete.server.member_results import attribute_result

SOURCE = '''\
import threading
from .columns import Column


class Base:
    """A base.

    Args:
        nothing: no class attribute.
    """

    limit: int = 3
    retries = 2

    def helper(self):
        self.counter += 1


class Widget(Base, metaclass=Meta):
    def __init__(self, size):
        self.size = size
        self.label: str = ""
        self._cache = {}
        if size == self.limit:
            pass

    @property
    def area(self):
        def inner():
            return self.'''


def test_a_class_lists_its_methods_attributes_and_its_bases_in_the_document() -> None:
    declared = self_members(SOURCE, "\n\n    async def refresh(self):\n        self.stale = True\n")
    assert declared is not None and declared.imported == frozenset()
    own = {"__init__", "area", "size", "label", "_cache", "refresh", "stale"}
    inherited = {"limit", "retries", "helper", "counter"}
    assert own | inherited | {"__class__", "__eq__"} <= declared.names
    # Comparisons, docstrings' words and the names a method reads are not members.
    assert not {"Args", "nothing", "inner", "pass", "if", "Meta", "True"} & declared.names


def test_a_base_the_document_imports_is_named_for_static_analysis() -> None:
    text = "from .columns import Column\n\nclass Bar(Column, typing.Generic[T]):\n"
    text += "    def f(self):\n        self."
    declared = self_members(text, "")
    assert declared is not None and declared.imported == {"Column"}  # Generic is known here
    assert imported_bases(SOURCE) == set()  # `metaclass=` is no base
    assert imported_bases(text) == {"Column"}


def test_builtin_and_abstract_bases_are_known_here() -> None:
    text = "class Failure(ValueError, abc.ABC):\n    def f(self):\n        self."
    declared = self_members(text, "")
    assert declared is not None and not declared.imported
    assert {"args", "with_traceback", "__abstractmethods__"} <= declared.names
    assert "_abc_impl" not in declared.names  # private to `abc`
    # A named tuple's and an enum's own API, underscores and all.
    text = "class Point(typing.NamedTuple):\n    x: int\n    def f(self):\n        self."
    declared = self_members(text, "")
    assert declared is not None and not declared.imported
    assert {"x", "f", "_asdict", "_replace", "_fields", "count"} <= declared.names
    text = "class Color(enum.Enum):\n    RED = 1\n    def f(self):\n        self."
    declared = self_members(text, "")
    assert declared is not None and {"RED", "name", "value"} <= declared.names


@pytest.mark.parametrize(
    "before",
    [
        "def f(self):\n    return self.",  # a function outside any class
        "class A:\n    def f(self):\n        return other.self.",  # not `self` itself
        "class A:\n    def __getattr__(self, name):\n        return self.",  # any name may be
        "class A(B):\n    pass\nclass B(A):\n    def f(self):\n        self.",  # a cycle
        "class A:\n    def f(self):\n        return x\ny = self.",  # the class ended above
    ],
)
def test_nothing_is_listed_where_the_members_cannot_be_known(before: str) -> None:
    assert self_members(before, "") is None


def test_the_enclosing_class_is_the_one_the_cursor_is_in() -> None:
    before = (
        "class First:\n    def one(self):\n        self.first = 1\n\n"
        "class Second:\n    def two(self):\n        self.second = 2\n\n"
        "    def three(self):\n        self."
    )
    declared = self_members(before, "")
    assert declared is not None
    assert {"two", "three", "second"} <= declared.names and "first" not in declared.names


READER = """\
from typing import BinaryIO


class Reader:
    limit: int = 3
    items = []

    def __init__(self, handle: BinaryIO, name, path: "Path") -> None:
        self.handle = handle
        self.name = name
        self.path = path
        self.cache = {}
        self.both = Thing()

    def reset(self):
        self.both = Other()
        self.cache = {}
        if self.cache == {}:
            pass

    def read(self):
        return self."""


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("handle", "BinaryIO"),  # a parameter's annotation, assigned as it came
        ("path", "Path"),
        ("cache", "dict"),  # assigned twice, the same both times
        ("limit", "int"),  # in the class body
        ("items", "list"),
        ("name", None),  # an unannotated parameter
        ("both", None),  # two classes
        ("missing", None),
    ],
)
def test_an_attribute_has_the_class_every_assignment_of_it_says(
    attribute: str, expected: str | None
) -> None:
    assert attribute_type(READER + attribute + ".", "") == expected


def test_super_has_the_bases_members_not_the_class_own() -> None:
    before = SOURCE.rsplit("\n", 3)[0] + "\n    def grow(self):\n        super()."
    declared = super_members(before, "")
    assert declared is not None and not declared.imported
    assert {"helper", "limit", "counter", "__init__"} <= declared.names  # Base's, object's
    assert not {"area", "size", "grow"} & declared.names  # Widget's own
    imported = "from .columns import Column\n\nclass Bar(Column):\n    def f(self):\n"
    listed = super_members(imported + "        super().", "")
    assert listed is not None and listed.imported == {"Column"}  # for the worker to list
    assert super_members("def f():\n    return super().", "") is None  # no class


def test_a_class_itself_has_its_class_level_names_and_every_class_s() -> None:
    text = "class Color(enum.Enum):\n    RED = 1\n\n    @classmethod\n    def parse(cls, text):\n"
    declared = class_object_members(text + "        pass\n\nColor.", "Color")
    assert declared is not None and not declared.imported
    assert {"RED", "parse", "name", "mro", "__name__", "__subclasses__"} <= declared.names
    assert class_object_members(text + "        pass\n\ncolor.", "color") is None  # no class
    assert class_object_members("from .colors import Color\nColor.", "Color") is None
    declared = class_object_members(SOURCE, "Widget")
    assert declared is not None and {"helper", "limit", "mro"} <= declared.names
    assert (
        not {"size", "label", "_cache", "counter"} & declared.names
    )  # only instances have `self.x`


TASKS = """\
class Progress:
    columns: "List[Column]"

    def __init__(self):
        self._tasks: Dict[TaskID, Task] = {}
        self._order: Deque["Task"] = deque()
        self._mixed = {}

    def update(self, task_id, i):
"""


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("task = self._tasks[task_id]\n        task.", "Task"),
        ("last = self._order[-1]\n        last.", "Task"),
        ("column = self.columns[i]\n        column.", "Column"),
        ("task = self._mixed[task_id]\n        task.", None),  # not annotated
        ("task = self._tasks[task_id].copy()\n        task.", None),  # something follows
        ("task = self._tasks[task_id]\n        task = other()\n        task.", None),
        ("for task in self._tasks:\n            task.", None),  # a loop binds it
    ],
)
def test_an_item_of_an_annotated_container_has_its_class(line: str, expected: str | None) -> None:
    assert element_type(TASKS + "        " + line, "") == expected


PROPERTIES = """\
import functools


class Panel:
    title: "Text"
    width = 80

    @property
    def plain(self) -> str:
        return ""

    @plain.setter
    def plain(self, value: str) -> None:
        pass

    @functools.cached_property
    def lines(self) -> "list[str]":
        return []

    def copy(self) -> "Panel":
        return self

    def __init__(self, console: "Console", raw) -> None:
        self.headers = Headers(raw)
        self.console = console
        self.mixed = Headers()

    def reset(self) -> None:
        self.headers = Headers([])
        self.mixed = []
"""


@pytest.mark.parametrize(
    ("name", "annotation"),
    [
        ("title", "Text"),  # the class body's annotation
        ("plain", "str"),  # a property's, not its setter's
        ("lines", "list[str]"),
        ("width", None),  # no annotation
        ("headers", "Headers"),  # every assignment's class
        ("console", "Console"),  # an annotated parameter's
        ("mixed", None),  # assignments that disagree
        ("copy", None),  # a method is no attribute's value
        ("missing", None),
    ],
)
def test_an_attribute_s_value_is_what_its_class_body_annotates(
    name: str, annotation: str | None
) -> None:
    assert attribute_result(PROPERTIES, "Panel", name) == annotation


def test_a_property_s_decorator_lists_a_property_s_members() -> None:
    at_setter = PROPERTIES.index("    @plain.setter") + len("    @plain.")
    before, after = PROPERTIES[:at_setter], PROPERTIES[at_setter:]
    declared = property_members(before, after)
    assert declared is not None and {"setter", "getter", "deleter", "fget"} <= declared.names
    assert property_members(PROPERTIES + "    @copy.", "") is None  # a method, no property
    assert property_members(PROPERTIES + "    @lines.", "") is None  # no setter to name
    assert property_members(PROPERTIES + "\n@plain.", "") is None  # outside the class


def test_a_class_s_attributes_set_below_it_are_its_own() -> None:
    text = (
        "class Zone:\n"
        "    def name(self):\n"
        "        if self is self.utc:\n"  # a condition's colon, not an annotation
        "            return 'UTC'\n"
        "\n\n"
        "UTC = Zone.utc = Zone()\n"
        "Zone.max = Zone()\n"
        "other.Zone.min = None\n"
    )
    declared = class_object_members(text, "Zone")
    assert declared is not None and {"utc", "max", "name"} <= declared.names
    assert "min" not in declared.names
    instance = instance_members(text.replace("UTC = Zone.utc", "UTC"), "Zone")
    assert instance is not None and not {"utc", "min"} & instance.names


@pytest.mark.parametrize(
    ("annotation", "item"),
    [
        ("Iterator[Match[str]]", "Match"),
        ("list[Path]", "Path"),
        ('typing.Generator["Row", None, None]', '"Row"'),
        ("tuple[Task, ...]", "Task"),
        ("Dict[str, Task]", "str"),  # a mapping's keys
        ("tuple[int, str]", None),
        ("Match[str]", None),
        ("Path", None),
    ],
)
def test_a_loop_over_a_container_binds_its_items(annotation: str, item: str | None) -> None:
    assert iterated_item(annotation) == item
