"""The members `self.` has, read from the document's own class while jedi's answer is not in.

jedi infers the class of `self` and its bases, and in a long class that takes longer than the
wait after `.` (half a second in a 1,700-line module); until an answer after `self.` in that
class is in, the model's words went unchecked and many were attributes of other objects. The
class body says what the instance has: its methods and class attributes, and every
`self.name = ...` in it. Its bases are read the same way when the document defines them;
`object`, the builtin types, `ABC`, `Generic` and `Protocol` are known here; any other base
(`class Panel(JupyterMixin)`, imported) is named for static analysis to list
(`imported_bases`). A class with a `__getattr__` may have any member: nothing is listed.
`instance_members` reads any class so, for a name `receiver_types` finds an instance of.

A scan of the text, not a parse: the document is half-typed at the cursor. Where the
classes are, their bodies and bases, is `class_statements`'s.
"""

from __future__ import annotations

import abc
import builtins
import enum
import functools
import keyword
import re
import typing
from dataclasses import dataclass

from .class_statements import (
    CLASS,
    ClassIndex,
    body_of,
    class_headers,
    enclosing_class,
    split_bases,
)
from .receiver_types import assigned_value
from .source_scan import closing, without_long_strings
from .written_classes import annotation_class, parameter_class, value_class

_SELF_DOT = re.compile(r"(?<![\w.])self\.\Z")
_SUPER_DOT = re.compile(r"(?<![\w.])super\(\)\.\Z")
_SELF_ATTRIBUTE_DOT = re.compile(r"(?<![\w.])self\.(\w+)\.\Z")
_METHOD = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(", re.MULTILINE)
# `self.name` assigned: `=`, an annotation, or an augmented assignment (not `==`, `:=` or the
# colon ending `if x is self.name:`).
_SELF_ASSIGNED = re.compile(
    r"(?<![\w.])self\.(\w+)[ \t]*(?::(?=[ \t]*[^\s=#])|=(?!=)|(?://|\*\*|<<|>>|[-+*/%&|^@])=)"
)
# Names assigned together: `a, self.b = ...`, `(self.a, self.b) = ...`.
_TUPLE_ASSIGNED = re.compile(
    r"^[ \t]*\(?((?:[\w.]+[ \t]*,[ \t]*)+[\w.]+)[ \t]*,?[ \t]*\)?[ \t]*=(?!=)", re.MULTILINE
)


def public_members(cls: type) -> frozenset[str]:
    """A known class's public and special names (`_abc_impl` is no one's to use)."""
    return frozenset(n for n in dir(cls) if n[:1] != "_" or n[:2] == "__")


_BASES: dict[str, frozenset[str]] = {
    **{
        name: public_members(value)
        for name, value in vars(builtins).items()
        if isinstance(value, type)
    },
    "ABC": public_members(abc.ABC),
    "Generic": public_members(typing.Generic),
    "Protocol": public_members(typing.Protocol),
    "NamedTuple": public_members(tuple)
    | {"_asdict", "_field_defaults", "_fields", "_make", "_replace"},
    "Enum": public_members(enum.Enum) | {"name", "value"},
    "IntEnum": public_members(enum.IntEnum) | {"name", "value"},
}
TYPE_MEMBERS = public_members(type)  # what every class has, itself: `mro`, `__name__`, `__dict__`
_ITEM = re.compile(r"self\.(\w+)\[[^\[\]\n]+\]")  # `self._tasks[task_id]`
_MAPPINGS = {
    "Dict",
    "dict",
    "Mapping",
    "MutableMapping",
    "OrderedDict",
    "DefaultDict",
    "defaultdict",
}
_SEQUENCES = {"List", "list", "Sequence", "MutableSequence", "Deque", "deque"}
# What a `for` loop takes one item of at a time, besides sequences and mappings (their keys).
_ITERABLES = {
    *_SEQUENCES,
    *("Iterable", "Iterator", "Generator", "Collection", "Set", "set", "FrozenSet", "frozenset"),
    *("AbstractSet", "MutableSet", "KeysView", "ValuesView", "Reversible"),
}
_KNOWN_MODULES = ("abc.", "typing.", "builtins.", "enum.")
MAX_DEPTH = 8  # bases followed through the document before the list is called unknown
SCANNED = 200_000  # characters before the cursor searched for the enclosing class


@dataclass(frozen=True)
class DeclaredMembers:
    """What the document says a class's instances have: `names`, and the classes it inherits
    from or is that the document `imported`, whose members must be listed elsewhere before the
    list is whole."""

    names: frozenset[str]
    imported: frozenset[str]


def self_members(before: str, after: str) -> DeclaredMembers | None:
    """The members of `self` at the end of `before` in a document `before + after`; None
    where `before` does not end in `self.`, outside a class, and where the members cannot be
    known from the text."""
    if _SELF_DOT.search(before[-6:]) is None:
        return None
    found = _cursor_class(before, after)
    if found is None:
        return None
    text, header = found
    return _members(ClassIndex(text), header, frozenset())


def super_members(before: str, after: str) -> DeclaredMembers | None:
    """The members `super().` has at the end of `before`: its class's bases', as for `self.`
    (the class's own names are not among them)."""
    if _SUPER_DOT.search(before[-10:]) is None:
        return None
    found = _cursor_class(before, after)
    if found is None:
        return None
    text, header = found
    return _inherited(ClassIndex(text), header, frozenset([header.group(2)]))


def property_members(before: str, after: str) -> DeclaredMembers | None:
    """The members of a property at `@name.` on a decorator line in a class's body (`@value.
    setter`), where the body above makes `name` one (`@property`, or `@name.setter` again)."""
    line = before[before.rfind("\n") + 1 :]
    decorator = re.fullmatch(r"([ \t]*)@(\w+)\.", line)
    found = _cursor_class(before, after) if decorator is not None else None
    if decorator is None or found is None:
        return None
    text, header = found
    indent, name = decorator.group(1), re.escape(decorator.group(2))
    made = rf"^{indent}@(?:property|{name}\.(?:setter|getter|deleter))[ \t]*(?:#[^\n]*)?\n"
    defined = rf"{made}(?:{indent}@[^\n]*\n)*{indent}(?:async[ \t]+)?def[ \t]+{name}\b"
    body_above = text[header.end() : len(text) - len(after)]
    if re.search(defined, body_above, re.MULTILINE) is None:
        return None
    return DeclaredMembers(public_members(property), frozenset())


def attribute_type(before: str, after: str) -> str | None:
    """The class of `self.name` at the end of `before` (which ends in `self.name.`), where every
    assignment of it in the class says the same plainly (`assigned_class`)."""
    found = _SELF_ATTRIBUTE_DOT.search(before[-200:])
    body = _cursor_class_body(before, after) if found is not None else None
    return None if found is None or body is None else assigned_class(*body, found.group(1))


def assigned_class(indent: str, source: str, name: str) -> str | None:
    """The class every assignment of the attribute `name` in a class's body (`source`, its
    lines at `indent`, long strings emptied) gives it plainly: an annotation, a constructor
    call or a literal, or a parameter of the method assigning it whose annotation names a
    class; None where they differ, one says nothing, or there are none."""
    assignments = _assignments(indent, source, name)
    classes = {annotation_class(a) if a else value for a, value in assignments}
    return classes.pop() if len(classes) == 1 else None


def element_type(before: str, after: str) -> str | None:
    """The class of the name at the end of `before` (`task.`) where it was last bound to an
    item of an attribute (`task = self._tasks[task_id]`) that the class annotates as a
    container of one class (`self._tasks: Dict[TaskID, Task] = {}`)."""
    value = assigned_value(before)
    item = _ITEM.fullmatch(value) if value else None
    body = _cursor_class_body(before, after) if item is not None else None
    if item is None or body is None:
        return None
    annotations = {a for a, _ in _assignments(*body, item.group(1)) if a}
    return _item_class(annotations.pop()) if len(annotations) == 1 else None


def _cursor_class_body(before: str, after: str) -> tuple[str, str] | None:
    """The indentation and the body (long strings emptied) of the class the cursor is in."""
    cursor_class = _cursor_class(before, after)
    body = body_of(*cursor_class) if cursor_class is not None else None
    return None if body is None else (body[0], without_long_strings(body[1]))


def _assignments(indent: str, source: str, name: str) -> set[tuple[str, str | None]]:
    """Each assignment of the attribute `name` in a class's body: its annotation (stripped, or
    ""), and the class its value plainly has where it has none."""
    escaped, level = re.escape(name), re.escape(indent)
    found: set[tuple[str, str | None]] = set()
    # In the class body (`name: Console`, `name = []`) and in its methods (`self.name = ...`).
    target = rf"(?:^{level}{escaped}|(?<![\w.])self\.{escaped})[ \t]*"
    for assignment in re.finditer(rf"{target}(?::(?!=)([^=\n]*))?(=(?!=)[ \t]*)?", source, re.M):
        annotation, value = (assignment.group(1) or "").strip(), assignment.group(2)
        if annotation:
            found.add((annotation, None))
        elif value:
            found.add(("", value_class(source, assignment.end()) or _parameter(source, assignment)))
    return found


def _item_class(annotation: str) -> str | None:
    """The class of an item of a container annotated `annotation`: a mapping's values, a
    sequence's or set's elements (`Dict[K, Task]`, `List[Task]`, `deque["Task"]`)."""
    found = re.fullmatch(r"(?:[\w.]*\.)?(\w+)\[(.*)\]", annotation.strip().strip("\"'"), re.DOTALL)
    if found is None:
        return None
    container, arguments = found.group(1), split_bases(found.group(2))
    if container in _MAPPINGS and len(arguments) == 2:
        return annotation_class(arguments[1])
    if container in _SEQUENCES and len(arguments) == 1:
        return annotation_class(arguments[0])
    return None


def iterated_item(annotation: str) -> str | None:
    """What a `for` loop over a value annotated `annotation` binds: an iterator's, a sequence's
    or a set's items (`Iterator[Match[str]]`, `list[Path]`, `tuple[Task, ...]`), a mapping's
    keys; as written (None where the annotation names no such container)."""
    found = re.fullmatch(r"(?:[\w.]*\.)?(\w+)\[(.*)\]", annotation.strip().strip("\"'"), re.DOTALL)
    if found is None:
        return None
    container, arguments = found.group(1), split_bases(found.group(2))
    if container in _ITERABLES or container in _MAPPINGS:
        return arguments[0] if arguments else None
    if container in ("tuple", "Tuple") and len(arguments) == 2 and arguments[1] == "...":
        return arguments[0]
    return None


def _parameter(source: str, assignment: re.Match[str]) -> str | None:
    """The annotated class of the parameter an assignment's value names alone on its line
    (`self.handle = handle` in `def __init__(self, handle: BinaryIO)`)."""
    value = re.match(r"([A-Za-z_]\w*)[ \t]*(?:#.*)?$", source[assignment.end() :], re.MULTILINE)
    methods = list(_METHOD.finditer(source, 0, assignment.start()))
    if value is None or not methods:
        return None
    signature_end = closing(source, methods[-1].end())
    if signature_end is None:
        return None
    return parameter_class(source[methods[-1].end() : signature_end - 1], value.group(1))


def _cursor_class(before: str, after: str) -> tuple[str, re.Match[str]] | None:
    """The text read (the document, less what is too far above the cursor) and the header of
    the class the cursor is in, in it."""
    start = max(0, len(before) - SCANNED)
    header = enclosing_class(before, start)
    if header is None:
        return None
    text = before[start:] + after
    class_header = CLASS.match(text, header.start() - start)
    return (text, class_header) if class_header is not None else None


def cursor_class_name(before: str, after: str) -> str | None:
    """The name of the class whose method the cursor at the end of `before` is in."""
    found = _cursor_class(before, after)
    return found[1].group(2) if found is not None else None


def imported_bases(text: str) -> set[str]:
    """The bases of the document's classes that it does not define and that are not known
    here: those whose members static analysis lists ahead of the first `self.`. (Not the
    classes annotations name: there are many, a large module's first listing takes hundreds
    of ms, and the worker busy with them answered the cursor's questions later.)"""
    return set(_imported_bases(tuple((h.group(2), h.group(3) or "") for h in class_headers(text))))


@functools.lru_cache(maxsize=64)
def _imported_bases(headers: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """`imported_bases` of the (name, bases) of a document's class headers: the same headers
    at each keystroke are split once."""
    defined = {name for name, _ in headers}
    bases = {base for _, within in headers for base in split_bases(within)}
    return frozenset(b for b in bases if _bare(b) not in defined and _bare(b) not in _BASES)


def _members(
    document: ClassIndex, header: re.Match[str], below: frozenset[str], instance: bool = True
) -> DeclaredMembers | None:
    """`below`: the classes whose bases led here (a class that is its own base is a cycle);
    `instance`: an instance's members (`self.x` too), else the class's own."""
    if header.group(2) in below or len(below) >= MAX_DEPTH:
        return None  # a cycle, or a hierarchy too deep to read this way
    below |= {header.group(2)}
    body = body_of(document.text, header)
    if body is None:
        return None
    indent, source = body
    source = without_long_strings(source)  # `Args:` in a docstring is not a class attribute
    level = re.escape(indent)
    statement = rf"^{level}(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)"
    names = set(re.findall(statement, source, re.MULTILINE))
    assigned = re.findall(rf"^{level}(\w+)[ \t]*(?::(?!=)|=(?!=))", source, re.MULTILINE)
    names.update(name for name in assigned if not keyword.iskeyword(name))
    if not header.group(1):  # a module's class: `timezone.utc = ...` below it sets one too
        chained = r"(?:[\w.]+[ \t]*=[ \t]*)*"  # `UTC = timezone.utc = ...`
        outside = rf"^{chained}{re.escape(header.group(2))}\.(\w+)[ \t]*=(?!=)"
        names.update(re.findall(outside, document.text, re.MULTILINE))
    if instance:
        names.update(_SELF_ASSIGNED.findall(source))
        for targets in _TUPLE_ASSIGNED.findall(source):  # `self.top_left, self.top = ...`
            names.update(re.findall(r"(?<![\w.])self\.(\w+)", targets))
    if "__getattr__" in names or "__getattribute__" in names:
        return None  # any name may be a member
    inherited = _inherited(document, header, below, instance)
    if inherited is None:
        return None
    return DeclaredMembers(inherited.names | names, inherited.imported)


def _inherited(
    document: ClassIndex, header: re.Match[str], below: frozenset[str], instance: bool = True
) -> DeclaredMembers | None:
    """What a class's bases (and `object`) give its instances."""
    names, imported = set(dir(object)), set[str]()
    for base in split_bases(header.group(3) or ""):
        inherited = _resolve(document, base, below, instance)
        if inherited is None:
            return None
        names |= inherited.names
        imported |= inherited.imported
    return DeclaredMembers(frozenset(names), frozenset(imported))


def instance_members(text: str, class_name: str) -> DeclaredMembers | None:
    """The members of an instance of `class_name` (a dotted name as the document `text`
    writes it, `receiver_types.declared_type`), or None where they cannot be known."""
    return _resolve(ClassIndex(text), class_name, frozenset())


def class_object_members(text: str, name: str) -> DeclaredMembers | None:
    """The members of the class `name` itself (`Color.RED`, `Text.from_markup(...)`) where the
    document `text` defines it: what its body and its bases' define (not what `self.x = ...`
    gives only instances) and what every class has (`mro`, `__name__`); None elsewhere."""
    document = ClassIndex(text)
    header = document.outermost(name)
    members = _members(document, header, frozenset(), instance=False) if header else None
    if members is None:
        return None
    return DeclaredMembers(members.names | TYPE_MEMBERS, members.imported)


def class_bases(text: str, class_name: str) -> list[str]:
    """The bases of the class `class_name` that `text` defines at its outermost, as written
    there (subscripts and keywords left out)."""
    header = ClassIndex(text).outermost(class_name)
    return split_bases(header.group(3) or "") if header is not None else []


def class_body(text: str, class_name: str) -> tuple[str, str] | None:
    """The indentation and the body (long strings emptied) of the class `class_name` that
    `text` defines at its outermost."""
    header = ClassIndex(text).outermost(class_name)
    body = body_of(text, header) if header is not None else None
    return None if body is None else (body[0], without_long_strings(body[1]))


def _resolve(
    document: ClassIndex, class_name: str, below: frozenset[str], instance: bool = True
) -> DeclaredMembers | None:
    name = _bare(class_name)
    defined = document.outermost(name)
    if defined is not None:  # the document's own class
        return _members(document, defined, below, instance)
    if name in _BASES:
        return DeclaredMembers(_BASES[name], frozenset())
    return DeclaredMembers(frozenset(), frozenset([class_name]))


def _bare(base: str) -> str:
    """A base as this module names it: `abc.ABC` is `ABC`."""
    return base.rpartition(".")[2] if base.startswith(_KNOWN_MODULES) else base
