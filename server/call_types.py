"""The class of a name bound to what a call returns, where the callee's source says.

After `box.` where `box = self.box.substitute(...)`, `response = client.get(url)` or `with
Progress(...) as progress:`, only inference knew the receiver, and jedi was often late there.
Where the callee is the document's or the project's own (or the standard library's
pure-Python source), its definition says plainly what it returns: `def substitute(self, ...)
-> "Box"`, `def get(...) -> Response`, an `__enter__` that returns `self`. Here the callee's
owner is typed as `receiver_types` and `class_members` type a receiver (or by a call again, a
few deep), its definition found through the imports (`source_classes`), and the annotation
read in the module that writes it. A callee whose source does not annotate it (or returns
anything but `self` without saying) gives nothing: jedi's to infer.
"""

from __future__ import annotations

from typing import NamedTuple

from .class_members import (
    attribute_type,
    cursor_class_name,
    element_type,
    function_result,
    method_result,
)
from .document_imports import dotted_receiver
from .receiver_types import annotation_class, bound_call, declared_type
from .source_classes import SourceClasses

MAX_CALLS = 3  # calls followed back from the cursor (`a = b.f()` where `b = c.g()`...)


class Typed(NamedTuple):
    """A class as the module in `file` names it (None: the document)."""

    file: str | None
    name: str


class CallTypes:
    """What a receiver bound to a call's result is an instance of, from the callee's source."""

    def __init__(self, sources: SourceClasses) -> None:
        self.sources = sources

    def receiver(self, path: str | None, before: str, after: str) -> Typed | None:
        """The class of the name before the final `.` of `before`, in the document `before +
        after` at `path`, where it was last bound to a call whose source says what it returns."""
        return self._bound(path, before, after, MAX_CALLS)

    def _bound(self, path: str | None, before: str, after: str, calls: int) -> Typed | None:
        bound = bound_call(before) if calls > 0 else None
        if bound is None:
            return None
        callee, entered = bound
        typed = self._result(path, before, after, callee, calls)
        return self._returned(path, before + after, typed, "__enter__") if entered else typed

    def _result(
        self, path: str | None, before: str, after: str, callee: str, calls: int
    ) -> Typed | None:
        """What calling `callee` (as the document at the cursor writes it) returns."""
        text = before + after
        owner, _, name = callee.rpartition(".")
        if name.lstrip("_")[:1].isupper():
            return Typed(None, callee)  # a class: its instance (`Console(...)`, `rich.Text(...)`)
        if owner:
            typed = self._typed(path, before, after, owner, calls)
            if typed is not None:
                return self._returned(path, text, typed, name)
        else:
            written = function_result(text, name)  # a function the document defines
            if written is not None:
                return _class_of(None, written)
        found = self.sources.definition(path, text, callee)  # imported: `httpx.get(...)`
        return None if found is None else _class_of(found[0], function_result(found[1], found[2]))

    def _typed(
        self, path: str | None, before: str, after: str, owner: str, calls: int
    ) -> Typed | None:
        """The class of the expression `owner` (`self`, `self.box`, `client`, `Text`) at the
        cursor: `before` with its receiver replaced by `owner`."""
        if owner == "self":
            name = cursor_class_name(before, after)
            return None if name is None else Typed(None, name)
        if owner.lstrip("_")[:1].isupper() and owner.isidentifier():
            return Typed(None, owner)  # a class's own method (`Text.from_markup(...)`)
        receiver = dotted_receiver(before)
        if receiver is None:
            return None
        at = before[: len(before) - len(receiver) - 1] + owner + "."
        found = declared_type(at) or attribute_type(at, after) or element_type(at, after)
        return Typed(None, found) if found else self._bound(path, at, after, calls - 1)

    def _returned(
        self, path: str | None, text: str, typed: Typed | None, method: str
    ) -> Typed | None:
        """What `method` of an instance of `typed` returns, as the class's own body says."""
        if typed is None:
            return None
        if typed.file is None:
            defined = method_result(text, typed.name, method)
            if defined is not None:
                return _class_of(None, defined, typed.name)
            found = self.sources.definition(path, text, typed.name)
        else:
            found = self.sources.definition_in(typed.file, typed.name)
        if found is None:
            return None
        file, source, name = found
        return _class_of(file, method_result(source, name, method), name)


def _class_of(file: str | None, written: str | None, own: str | None = None) -> Typed | None:
    """The class a return annotation `written` in the module `file` names (`own`: the class
    whose method it is, for `Self`)."""
    if written == "Self":
        return None if own is None else Typed(file, own)
    name = annotation_class(written) if written else None
    return None if name is None else Typed(file, name)
