"""The class of a name bound to what a call returns or an attribute holds, where the source says.

After `box.` where `box = self.box.substitute(...)`, `response = client.get(url)` or `with
Progress(...) as progress:`, only inference knew the receiver, and jedi was often late there.
Where the callee is the document's or the project's own (or the standard library's
pure-Python source), its definition says plainly what it returns: `def substitute(self, ...)
-> "Box"`, `def get(...) -> Response`, an `__enter__` that returns `self`. Here the callee's
owner is typed as `receiver_types` and `class_members` type a receiver (or by a call again, a
few deep), its definition found through the imports (`source_classes`), and the annotation
read in the module that writes it. An attribute's value likewise, from a property's return
annotation or the class body's (`title.plain.`, `title = self._title`); and a conditional
expression's values (`Text.from_markup(t) if ... else t.copy()`) where those known agree. A
callee whose source does not annotate it (or returns anything but `self` without saying)
gives nothing: jedi's to infer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .class_members import (
    attribute_type,
    class_bases,
    class_body,
    cursor_class_name,
    element_type,
    iterated_item,
)
from .document_imports import dotted_receiver
from .member_results import attribute_result, function_result, method_result
from .receiver_types import Value, bound_value, declared_type, receiver_value
from .source_classes import SourceClasses
from .written_classes import annotation_class, capitalised

MAX_CALLS = 3  # bindings followed back from the cursor (`a = b.f()` where `b = c.g()`...)
MAX_BASES = 3  # bases followed up from a class to the one defining a member

# Reads what a member of a class gives in the source `text` defining it: (text, class, member).
Reader = Callable[[str, str, str], str | None]


class Typed(NamedTuple):
    """A class as the module in `file` names it (None: the document)."""

    file: str | None
    name: str


class _Cursor(NamedTuple):
    """The document a question is about: its file, its whole text, its text after the cursor."""

    path: str | None
    text: str
    after: str


class CallTypes:
    """What a receiver bound to a call's result is an instance of, from the callee's source."""

    def __init__(self, sources: SourceClasses) -> None:
        self.sources = sources

    def receiver(self, path: str | None, before: str, after: str) -> Typed | None:
        """The class of the receiver before the final `.` of `before`, in the document `before +
        after` at `path`: a name bound to a call or an attribute (`x = f()`, `x = self.title`),
        an attribute (`title.plain`) or a call (`Response(200)`), where the source says."""
        cursor = _Cursor(path, before + after, after)
        receiver = dotted_receiver(before)
        if receiver is None:  # a call, and what follows it: `Response(200).`, `Path(p).parent.`
            found = receiver_value(before)
            if found is None:
                return None
            value, start = found
            return self._value(cursor, before[:start], value, MAX_CALLS)
        if "." not in receiver:
            return self._bound(cursor, before, MAX_CALLS)
        return self._typed(cursor, before[: len(before) - len(receiver) - 1], receiver, MAX_CALLS)

    def _bound(self, cursor: _Cursor, before: str, calls: int) -> Typed | None:
        """The class of the name before the final `.` of `before`, by what it was last bound
        to (one class, where a conditional's two values have one or only one says)."""
        bound = bound_value(before) if calls > 0 else None
        if bound is None:
            return None
        values = (
            self._value(cursor, bound.above, value, calls - 1, bound.iterated)
            for value in bound.values
        )
        found = {typed for typed in values if typed is not None}
        if len(found) != 1:
            return None
        typed = found.pop()
        return self._member(cursor, typed, "__enter__", method_result) if bound.entered else typed

    def _value(
        self, cursor: _Cursor, above: str, value: Value, calls: int, items: bool = False
    ) -> Typed | None:
        """The class of `value` written after `above` (of its items, where `items`: what a
        `for` loop over it binds)."""
        if value.called:
            typed = self._result(cursor, above, value.dotted, calls, items and not value.then)
            for n, (name, called) in enumerate(value.then, 1):
                reader = method_result if called else attribute_result
                reader = _items(reader) if items and n == len(value.then) else reader
                typed = None if typed is None else self._member(cursor, typed, name, reader)
            return typed
        if items:  # `for row in self.rows:` where the class annotates `rows: list[Row]`
            head, _, attribute = value.dotted.rpartition(".")
            typed = self._typed(cursor, above, head, calls) if head else None
            if typed is None:
                return None
            return self._member(cursor, typed, attribute, _items(attribute_result))
        if value.dotted.isidentifier() and capitalised(value.dotted):
            return None  # a class itself (`_Style = Style`) or a constant, not an instance
        return self._typed(cursor, above, value.dotted, calls)

    def _result(
        self, cursor: _Cursor, above: str, callee: str, calls: int, items: bool = False
    ) -> Typed | None:
        """What calling `callee` (written after `above`) returns (an item of it, where
        `items`)."""
        owner, _, name = callee.rpartition(".")
        if capitalised(name):  # a class: its instance (`Console(...)`, `rich.Text(...)`)
            return None if items else Typed(None, callee)
        method, function = method_result, function_result
        if items:
            method, function = _items(method_result), _items(function_result)
        if owner:
            typed = self._typed(cursor, above, owner, calls)
            if typed is not None:
                return self._member(cursor, typed, name, method)
        else:
            written = function(cursor.text, name)  # a function the document defines
            if written is not None:
                return _class_of(None, written)
        found = self.sources.definition(cursor.path, cursor.text, callee)  # `httpx.get(...)`
        return None if found is None else _class_of(found[0], function(found[1], found[2]))

    def _typed(self, cursor: _Cursor, above: str, owner: str, calls: int) -> Typed | None:
        """The class of the expression `owner` (`self`, `self.box`, `client`, `Text`,
        `title.plain`) written after `above`."""
        at = above + owner + "."
        if owner == "self":
            name = cursor_class_name(at, cursor.after)
            return None if name is None else Typed(None, name)
        if owner.isidentifier() and capitalised(owner):
            bound = self._bound(cursor, at, calls) if owner.isupper() else None
            # a class's own method (`Text.from_markup(...)`), or a constant's (`WORD.match`)
            return bound or Typed(None, owner)
        found = (
            declared_type(at) or attribute_type(at, cursor.after) or element_type(at, cursor.after)
        )
        if found:
            return Typed(None, found)
        head, _, attribute = owner.rpartition(".")
        if not head:
            return self._bound(cursor, at, calls)
        if head.isidentifier() and capitalised(head):
            return None  # a class's attribute (a property there is no instance's value)
        typed = self._typed(cursor, above, head, calls)
        return None if typed is None else self._member(cursor, typed, attribute, attribute_result)

    def _member(self, cursor: _Cursor, typed: Typed, name: str, reader: Reader) -> Typed | None:
        """The class of what the member `name` of an instance of `typed` gives, as `reader`
        reads the body of the class or of a base defining it: `method_result` (a call's),
        `attribute_result` (a read's). `Self` is `typed`'s own class (`Path(...).parent`)."""
        found = self._definition(cursor, typed.file, typed.name)
        if found is None:
            return None
        written_in = self._written(cursor, found, name, reader, MAX_BASES)
        if written_in is None:
            return None
        if written_in[1] == "Self":
            return Typed(found[0], found[2])
        return _class_of(*written_in)

    def _definition(
        self, cursor: _Cursor, file: str | None, name: str
    ) -> tuple[str | None, str, str] | None:
        """Where the class `name`, as the module in `file` (None: the document) names it, is
        defined: that module's file (None: the document), its text, and the name there."""
        if file is not None:
            return self.sources.definition_in(file, name)
        if class_body(cursor.text, name) is not None:
            return None, cursor.text, name
        return self.sources.definition(cursor.path, cursor.text, name)

    def _written(
        self,
        cursor: _Cursor,
        found: tuple[str | None, str, str],
        name: str,
        reader: Reader,
        bases: int,
    ) -> tuple[str | None, str] | None:
        """The module (None: the document) that writes what the member `name` gives of the
        class `found` defines (`_definition`), and what it writes, from the class's body or its
        bases' (`bases` deep)."""
        file, source, class_name = found
        written = reader(source, class_name, name)
        if written is not None:
            return file, written
        for base in class_bases(source, class_name) if bases > 0 else ():
            defined = self._definition(cursor, file, base)
            if defined is None:
                continue
            inherited = self._written(cursor, defined, name, reader, bases - 1)
            if inherited is not None:
                return inherited
        return None


def _items(read: Callable[..., str | None]) -> Callable[..., str | None]:
    """`read`, reading what a `for` loop binds over the value it reads the annotation of."""

    def item(*arguments: str) -> str | None:
        written = read(*arguments)
        return iterated_item(written) if written else None

    return item


def _class_of(file: str | None, written: str | None, own: str | None = None) -> Typed | None:
    """The class a return annotation `written` in the module `file` names (`own`: the class
    whose method it is, for `Self`)."""
    if written == "Self":
        return None if own is None else Typed(file, own)
    name = annotation_class(written) if written else None
    return None if name is None else Typed(file, name)
