"""The class a piece of code writes down: an annotation's (`Optional[Path]` is `Path`), a
signature's parameter's, or a value's that is a literal or a constructor call (`[]` is
`list`, `httpx.Client(...)` is `httpx.Client`).

`receiver_types` finds where a name was declared, `class_members` where an attribute or a
container's items were, and `call_types` a function's return annotation; each reads the class
from that text here. Only what is written plainly gives a class: a union of classes, `Any`, a
callable or a function's result gives none, and is left to inference.
"""

from __future__ import annotations

import re

from .source_scan import (
    DOTTED_NAME,
    call_at,
    closing,
    has_code,
    rest_of_line,
    split_top_level,
    top_level_comma,
)

_CONTAINERS = ("list", "dict", "set", "frozenset", "tuple")
_ALIASES = {
    "List": "list",
    "Dict": "dict",
    "Set": "set",
    "FrozenSet": "frozenset",
    "Tuple": "tuple",
}
_NOT_AN_INSTANCE = {"Any", "Type", "type", "Callable", "Union", "Literal", "ClassVar", "None"}
_LITERALS = {"[": "list", "(": "tuple"}  # "{" is a dict or a set, by its items


def capitalised(name: str) -> bool:
    """Whether `name` is written as a class's (`Console`, `_Style`)."""
    return name.lstrip("_")[:1].isupper()


def value_class(body: str, start: int) -> str | None:
    """The class of the value starting at `start`, if it is a literal or a call of a class
    (a capitalised name, or a builtin type) and nothing follows it on its line."""
    opener = body[start : start + 1]
    end: int | None
    if opener in ("[", "(", "{"):
        end = closing(body, start + 1)
        if end is None:
            return None
        inside = body[start + 1 : end - 1]
        if opener == "(" and not top_level_comma(inside):
            return None  # a parenthesised expression, not a tuple
        kind = _LITERALS.get(opener) or ("set" if inside.strip() and ":" not in inside else "dict")
    elif opener in ("'", '"'):
        close = re.match(r"('''|\"\"\"|'|\")(?:\\.|[^\\])*?\1", body[start:], re.DOTALL)
        if close is None:
            return None
        end, kind = start + close.end(), "str"
    else:
        call = call_at(body, start)
        if call is None:
            return None
        kind, end = call
        last = kind.rpartition(".")[2]
        if not (last[:1].isupper() or last in (*_CONTAINERS, "object")):
            return None  # a function's result: its type is inference's
    if end is None or has_code(rest_of_line(body, end)):
        return None  # something follows: `Class(...).method()`, `"a" + b`
    return kind


def parameter_class(parameters: str, name: str) -> str | None:
    """The annotated class of parameter `name` in a signature's text."""
    for parameter in split_top_level(parameters):
        declared = rf"\s*\**{re.escape(name)}\s*(?::(.*?))?\s*(?:=.*)?$"
        found = re.match(declared, parameter, re.DOTALL)
        if found is not None:
            return annotation_class(found.group(1)) if found.group(1) else None
    return None


def annotation_class(annotation: str) -> str | None:
    """The class an annotation names: `"Console"`, `Optional[Path]` and `Path | None` are
    `Path`; `List[int]` is `list`; a union of classes, `Any` or a callable is none."""
    text = annotation.strip().strip("\"'").strip()
    optional = re.fullmatch(r"(?:typing\.)?Optional\[(.*)\]", text, re.DOTALL)
    if optional:
        text = optional.group(1).strip()
    parts = [p.strip() for p in split_top_level(text, "|") if p.strip() not in ("None", "")]
    if len(parts) != 1:
        return None
    found = DOTTED_NAME.match(parts[0])
    if found is None or parts[0][found.end() :].strip()[:1] not in ("", "["):
        return None
    bare = found.group().rpartition(".")[2]
    if bare in _NOT_AN_INSTANCE:
        return None
    return _ALIASES.get(bare, found.group())
