"""The class a name is an instance of, where the document says so plainly.

After `options.`, jedi infers what `options` is; where it is late, the model's words went
unchecked, and on held-out code most of the attributes the receiver lacks came after a
parameter or a local variable. Most such names are declared in one of two plain ways: an
annotated parameter of the enclosing function (`options: "ConsoleOptions"`, `path: Path |
None = None`) or an assignment of a constructor call or a literal (`client = httpx.Client()`,
`spans = []`). Those are found here, and the class read from the annotation or the value by
`written_classes`; a name bound to a function's result, an attribute's value or a loop's
items is only found here (`bound_value`), for `call_types` to type from the source; a name
bound any other way (a tuple's unpacking, a comprehension) has a type only inference knows,
and gets none. A name the enclosing function does not bind is the module's.
"""

from __future__ import annotations

import functools
import keyword
import re
from typing import NamedTuple

from .source_scan import (
    DOTTED_NAME,
    call_at,
    closing,
    enclosing_function,
    has_code,
    module_level,
    module_statements,
    rest_of_line,
    without_functions,
    without_long_strings,
)
from .written_classes import annotation_class, capitalised, parameter_class, value_class

_NAME_DOT = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\.\Z")
_STRING_DOT = re.compile(r"""(?<![\w"'])([rRbBuUfF]{0,2})(?:"[^"\\\n]*"|'[^'\\\n]*')\.\Z""")
_MEMBER = re.compile(r"\.([A-Za-z_]\w*)")
_NAME_END = re.compile(r"[A-Za-z_]\w*\Z")
_WITH = re.compile(r"^[ \t]*(?:async[ \t]+)?with[ \t]+", re.MULTILINE)
_WITH_ITEM = re.compile(r"[ \t]*as[ \t]+(\w+)[ \t]*(,[ \t]*)?")  # after a `with` item's call
SCANNED = 100_000  # characters before the cursor searched for the enclosing function
CALL_SCANNED = 2_000  # characters of a call's arguments read back to its callee


def declared_type(before: str) -> str | None:
    """The class (a dotted name as the document writes it) that the name before the final `.`
    of `before` is an instance of, or None where the document does not say so plainly."""
    literal = _string_literal(before[before.rfind("\n") + 1 :])
    if literal is not None:
        return literal
    scope = _binding_scope(before)
    if scope is None:
        return None
    if scope.parameters is None or scope.binding is not None:
        return _assigned_type(scope)
    return parameter_class(scope.parameters, scope.name)


def assigned_value(before: str) -> str | None:
    """The value (the rest of its line) that the name before the final `.` of `before` was
    last bound to in the enclosing function, where that binding is a plain `name = value`."""
    scope = _binding_scope(before)
    if scope is None or scope.parameters is None or scope.binding is None:
        return None
    name, body, line_start = scope.name, scope.body, scope.binding
    statement = re.match(rf"[ \t]*{re.escape(name)}[ \t]*=(?!=)[ \t]*([^\n#]*)", body[line_start:])
    return statement.group(1).strip() if statement is not None else None


class Value(NamedTuple):
    """An expression a name may be bound to and typed by: a dotted name, read or called, and
    the members read or called on the call's result after it (`Path(p).parent`,
    `Path(p).resolve()`), each a name and whether it is called."""

    dotted: str
    called: bool
    then: tuple[tuple[str, bool], ...] = ()


class Bound(NamedTuple):
    """What the name before the cursor's `.` was last bound to: the values it may hold (one,
    or a conditional expression's two), whether through `with value as name` (what
    `__enter__` returns), and the text above the binding (from its scope's start, ending in its
    line's indentation), where the values' own names are read; and whether through `for name
    in value:` (an item of the value)."""

    values: tuple[Value, ...]
    entered: bool
    above: str
    iterated: bool = False


def bound_value(before: str) -> Bound | None:
    """What the name before the final `.` of `before` was last bound to, where that is a call
    or an attribute and nothing else (`x = f(...)`, `x = a.b`, `x = (f() if c else a.b)`,
    `with f(...) as x:`, `for x in f(...):`); None where it was bound otherwise or something
    follows the value."""
    scope = _binding_scope(before)
    if scope is None:
        return None
    name, body, line_start = scope.name, scope.body, scope.binding
    if line_start is None or (scope.parameters is None and not module_level(body, line_start)):
        return None
    indent = re.match(r"[ \t]*", body[line_start:])
    above = scope.head + body[:line_start] + (indent.group() if indent else "")
    assigned = re.match(
        rf"[ \t]*{re.escape(name)}[ \t]*(?::[^=\n]*)?=(?!=)[ \t]*", body[line_start:]
    )
    if assigned is not None:
        values = _values_alone(body, line_start + assigned.end())
        return None if values is None else Bound(values, False, above)
    loop = re.match(
        rf"[ \t]*(?:async[ \t]+)?for[ \t]+{re.escape(name)}[ \t]+in[ \t]+", body[line_start:]
    )
    if loop is not None:
        value = _value(body, line_start + loop.end())
        if value is None or not re.match(r"[ \t]*:", body[value[1] :]):
            return None
        return Bound((value[0],), False, above, iterated=True)
    # The `with` (its line, or above where `) as name:` ends its call's lines).
    line_end = body.find("\n", line_start)
    through_line = body[: len(body) if line_end < 0 else line_end]
    headers = list(_WITH.finditer(through_line, max(0, line_start - 2000)))
    position = headers[-1].end() if headers else None
    while position is not None:  # `with A() as a, B() as b:`: the item that binds `name`
        call = call_at(body, position)
        item = None if call is None else _WITH_ITEM.match(body, call[1])
        if call is None or item is None:
            return None
        if item.group(1) == name and item.start() >= line_start:  # on the binding's line
            return Bound((Value(call[0], True),), True, above)
        position = item.end() if item.group(2) else None
    return None


def receiver_value(before: str) -> tuple[Value, int] | None:
    """The call, and what follows it, that is the receiver before the final `.` of `before`
    (`httpx.Response(200).`, `Path(p).resolve().parent.`), and where it starts in `before`;
    None where the receiver is no call (a dotted name is `dotted_receiver`'s)."""
    if not before.endswith("."):
        return None
    end = len(before) - 1
    limit, start = max(0, end - CALL_SCANNED), end
    while start > limit:  # back over `name`, `name(...)`, each after a `.`
        if before[start - 1] == ")":
            opening = _opening(before, start - 1, limit)
            if opening is None:
                return None
            start = opening
        name = _NAME_END.search(before, max(0, start - 200), start)
        if name is None:
            return None
        start = name.start()
        if before[start - 1 : start] != ".":
            break
        start -= 1
    found = _value(before, start)
    if found is None or found[1] != end or not found[0].called:
        return None
    return found[0], start


def _opening(text: str, close: int, limit: int) -> int | None:
    """Where the parenthesis opens that `close` closes, scanning back no further than `limit`
    (one-line strings skipped)."""
    depth, i = 0, close
    while i >= limit:
        char = text[i]
        if char in "\"'":
            i = text.rfind(char, limit, i)  # the string's opening quote
            if i < 0:
                return None
        elif char in ")]}":
            depth += 1
        elif char in "([{":
            depth -= 1
            if depth == 0:
                break
        i -= 1
    if i < limit or text[i] != "(" or closing(text, i + 1) != close + 1:
        return None  # not found, or a string's escaped quote misled the scan
    return i


def class_alias(before: str) -> str | None:
    """The class (a dotted name as written) that the name before the final `.` of `before`
    was last bound to itself, not to an instance of it (`_Style = Style`)."""
    bound = bound_value(before)
    if bound is None or bound.entered or len(bound.values) != 1 or bound.values[0].called:
        return None
    dotted = bound.values[0].dotted
    return dotted if capitalised(dotted.rpartition(".")[2]) else None


def _values_alone(body: str, start: int) -> tuple[Value, ...] | None:
    """The values of the expression at `start` in `body`, if nothing follows it on its line: a
    value, or a conditional expression's two (on a line, or parenthesised over lines)."""
    stop = None
    if body[start : start + 1] == "(":  # a parenthesised expression (a call has its name first)
        end = closing(body, start + 1)
        if end is None or has_code(rest_of_line(body, end)):
            return None
        stop = end - 1
        start = stop - len(body[start + 1 : stop].lstrip())
    first = _value(body, start)
    if first is None:
        return None
    if stop is None:
        stop = first[1] + len(rest_of_line(body, first[1]))
    rest = body[first[1] : stop]
    if not has_code(rest):
        return (first[0],)
    if not re.match(r"\s+if\s", rest):
        return None
    for other in re.finditer(r"\selse\s+", rest):
        if closing(rest[: other.start()] + ")", 0) == other.start() + 1:  # outside brackets
            second = _value(body, first[1] + other.end())
            if second is None or second[1] > stop or has_code(body[second[1] : stop]):
                return None
            return first[0], second[0]
    return None


def _value(text: str, start: int) -> tuple[Value, int] | None:
    """The value (a dotted name, or its call and the members read or called after it) at
    `start` in `text`, and where it ends."""
    called = call_at(text, start)
    if called is None:
        read = DOTTED_NAME.match(text, start)
        if read is None or read.group() != "None" and keyword.iskeyword(read.group().split(".")[0]):
            return None  # `x = await f()`, `x = not y`: no value's name
        return Value(read.group(), False), read.end()
    then, end = [], called[1]
    while (member := _MEMBER.match(text, end)) is not None:
        end = member.end()
        if text[end : end + 1] == "(":
            close = closing(text, end + 1)
            if close is None:
                return None
            end = close
        then.append((member.group(1), end != member.end()))
    return Value(called[0], True, tuple(then)), end


class _Scope(NamedTuple):
    """The name before the cursor's `.`, the enclosing function's parameters (None at the top
    level), the code where the name may have been bound (the function's body above the
    cursor, less nested functions, or the text above), the text before that code, and where
    the line of the name's last binding in that code starts (None: not bound there)."""

    name: str
    parameters: str | None
    body: str
    head: str
    binding: int | None


@functools.lru_cache(maxsize=4)  # a question reads the same name's binding several ways
def _binding_scope(before: str) -> _Scope | None:
    """Where the name before the final `.` of `before` may have been bound (`_Scope`)."""
    found = _NAME_DOT.search(before[-200:])
    if found is None or found.group(1) in ("self", "cls"):
        return None
    text = without_long_strings(before[max(0, len(before) - SCANNED) :])
    line_start = text.rfind("\n") + 1
    function = enclosing_function(text, line_start)
    name = found.group(1)
    if function is None:
        body = text[:line_start]
        return _Scope(name, None, body, "", _last_binding(body, name))
    signature_end = closing(text, function)
    if signature_end is None:
        return None
    body = without_functions(text[signature_end:line_start])
    parameters = text[function : signature_end - 1]
    binding = _last_binding(body, name)
    if binding is None and not re.search(rf"(?<![\w.]){re.escape(name)}\b", parameters):
        module = module_statements(text[:line_start])  # not the function's own: a global
        return _Scope(name, None, module, "", _last_binding(module, name))
    return _Scope(name, parameters, body, text[:signature_end], binding)


def _string_literal(line: str) -> str | None:
    """`str` or `bytes` where `line` ends in a one-line string literal and a `.`
    (`", ".join`), outside any other string."""
    found = _STRING_DOT.search(line)
    if found is None or any(line.count(quote, 0, found.start()) % 2 for quote in "\"'"):
        return None
    return "bytes" if "b" in found.group(1).lower() else "str"


def _last_binding(body: str, name: str) -> int | None:
    """Where the line of the last statement in `body` that binds `name`, in any way, starts."""
    for use in reversed(list(re.finditer(rf"(?<![\w.]){re.escape(name)}\b", body))):
        line_start = body.rfind("\n", 0, use.start()) + 1
        line_end = body.find("\n", use.end())
        head = body[line_start : use.start()]
        tail = body[use.end() : len(body) if line_end < 0 else line_end]
        keyword = head.split(None, 1)[0] if head.strip() else ""
        # `f(name=1)` passes an argument, on the call's line or one of its continuation lines.
        in_call = head.count("(") > head.count(")") or _continues(body, line_start)
        if (
            not in_call
            and re.match(r"\s*(?::[^=]*)?=(?!=)|\s*,[^=]*=(?!=)", tail)  # name = .., a, name = ..
            or re.search(r"\bas\s*$", head)  # with/except ... as name
            or re.match(r"\s*:=", tail)
            or keyword in ("for", "async", "import", "from", "global", "nonlocal", "del")
            or re.fullmatch(r"\s*(?:async\s+)?(?:def|class)\s+", head)
        ):
            if keyword in ("for", "async") and not re.match(r"[^=]*\bin\b", tail):
                continue  # `for x in name`: a use
            return line_start
    return None


def _continues(body: str, line_start: int) -> bool:
    """Whether the line at `line_start` continues a bracket's items: the line of code above it
    ends with a comma or an opening bracket."""
    above = body[:line_start].rstrip()
    last = above[above.rfind("\n") + 1 :].split("#", 1)[0].rstrip()
    return last.endswith((",", "(", "[", "{"))


def _assigned_type(scope: _Scope) -> str | None:
    """The class of the scope's name after its last binding, if that is `name = Class(...)`,
    `name: Class = ...` or `name = <literal>` alone on its line."""
    name, body, line_start = scope.name, scope.body, scope.binding
    if line_start is None:
        return None
    statement = re.match(
        rf"([ \t]*){re.escape(name)}[ \t]*(?::([^=\n]*))?=(?!=)[ \t]*", body[line_start:]
    )
    top_level = scope.parameters is None
    if statement is None or (top_level and not module_level(body, line_start)):
        return None  # bound some other way; or, outside functions, in a class or a function
    if statement.group(2) and statement.group(2).strip():
        return annotation_class(statement.group(2))
    return value_class(body, line_start + statement.end())
