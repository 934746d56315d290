"""The class a name is an instance of, where the document says so plainly.

After `options.`, jedi infers what `options` is; where it is late, the model's words went
unchecked, and on held-out code most of the attributes the receiver lacks came after a
parameter or a local variable. Most such names are declared in one of two plain ways: an
annotated parameter of the enclosing function (`options: "ConsoleOptions"`, `path: Path |
None = None`) or an assignment of a constructor call or a literal (`client = httpx.Client()`,
`spans = []`). Only those are read: a name bound any other way after them (a loop, a `with`,
a tuple, a function's result) has a type only inference knows, and gets none here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_NAME_DOT = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\.\Z")
_DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(", re.MULTILINE)
_TRIPLE_QUOTED = re.compile(r"(\"\"\"|\'\'\')[\s\S]*?\1")
_STRING_DOT = re.compile(r"""(?<![\w"'])([rRbBuUfF]{0,2})(?:"[^"\\\n]*"|'[^'\\\n]*')\.\Z""")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_WITH = re.compile(r"^[ \t]*(?:async[ \t]+)?with[ \t]+", re.MULTILINE)
_WITH_ITEM = re.compile(r"[ \t]*as[ \t]+(\w+)[ \t]*(,[ \t]*)?")  # after a `with` item's call
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
SCANNED = 100_000  # characters before the cursor searched for the enclosing function


def declared_type(before: str) -> str | None:
    """The class (a dotted name as the document writes it) that the name before the final `.`
    of `before` is an instance of, or None where the document does not say so plainly."""
    literal = _string_literal(before[before.rfind("\n") + 1 :])
    if literal is not None:
        return literal
    scope = _binding_scope(before)
    if scope is None:
        return None
    name, parameters, body = scope
    if parameters is None:
        return _assigned_type(body, name, top_level=True)
    if _last_binding(body, name) is not None:
        return _assigned_type(body, name, top_level=False)
    return parameter_class(parameters, name)


def assigned_value(before: str) -> str | None:
    """The value (the rest of its line) that the name before the final `.` of `before` was
    last bound to in the enclosing function, where that binding is a plain `name = value`."""
    scope = _binding_scope(before)
    if scope is None or scope[1] is None:
        return None
    name, _, body = scope
    line_start = _last_binding(body, name)
    if line_start is None:
        return None
    statement = re.match(rf"[ \t]*{re.escape(name)}[ \t]*=(?!=)[ \t]*([^\n#]*)", body[line_start:])
    return statement.group(1).strip() if statement is not None else None


def bound_call(before: str) -> tuple[str, bool] | None:
    """The callee (a dotted name as written) of the call whose result the name before the
    final `.` of `before` was last bound to, and whether through `with callee(...) as name`
    (what `__enter__` returns) rather than `name = callee(...)`; None where the name was bound
    otherwise or something follows the call."""
    scope = _binding_scope(before)
    if scope is None:
        return None
    name, parameters, body = scope
    line_start = _last_binding(body, name)
    if line_start is None or (parameters is None and not _module_level(body, line_start)):
        return None
    assigned = re.match(
        rf"[ \t]*{re.escape(name)}[ \t]*(?::[^=\n]*)?=(?!=)[ \t]*", body[line_start:]
    )
    if assigned is not None:
        callee = _call_alone(body, line_start + assigned.end())
        return None if callee is None else (callee[0], False)
    # The `with` (its line, or above where `) as name:` ends its call's lines).
    line_end = body.find("\n", line_start)
    through_line = body[: len(body) if line_end < 0 else line_end]
    headers = list(_WITH.finditer(through_line, max(0, line_start - 2000)))
    position = headers[-1].end() if headers else None
    while position is not None:  # `with A() as a, B() as b:`: the item that binds `name`
        call = _call(body, position)
        item = None if call is None else _WITH_ITEM.match(body, call[1])
        if call is None or item is None:
            return None
        if item.group(1) == name and item.start() >= line_start:  # on the binding's line
            return call[0], True
        position = item.end() if item.group(2) else None
    return None


def _call_alone(body: str, start: int) -> tuple[str, int] | None:
    """`_call`, if nothing follows the call on its line (`f(x)`, not `f(x).y` or `f(x) + 1`)."""
    call = _call(body, start)
    if call is None or body[call[1] :].split("\n", 1)[0].split("#", 1)[0].strip():
        return None
    return call


def _call(body: str, start: int) -> tuple[str, int] | None:
    """The callee of a call starting at `start` (a dotted name), and where the call ends."""
    called = _DOTTED.match(body, start)
    if called is None or body[called.end() : called.end() + 1] != "(":
        return None
    end = closing(body, called.end() + 1)
    return None if end is None else (called.group(), end)


def _module_level(text: str, line_start: int) -> bool:
    """Whether the statement at `line_start` binds at the module's level: not in a class or a
    function (an `if __name__ == "__main__":` block is the module's)."""
    scope = re.compile(r"[ \t]*(?:async[ \t]+)?(?:def|class)\b")
    return not any(scope.match(text, start) for start in _outer_lines(text, line_start))


def _binding_scope(before: str) -> tuple[str, str | None, str] | None:
    """The name before the final `.` of `before`, the enclosing function's parameters (None
    at the top level), and the code where the name may have been bound: the function's body
    above the cursor (less nested functions), or the text above."""
    found = _NAME_DOT.search(before[-200:])
    if found is None or found.group(1) in ("self", "cls"):
        return None
    text = without_long_strings(before[max(0, len(before) - SCANNED) :])
    line_start = text.rfind("\n") + 1
    function = _enclosing_function(text, line_start)
    if function is None:
        return found.group(1), None, text[:line_start]
    signature_end = closing(text, function)
    if signature_end is None:
        return None
    body = _without_functions(text[signature_end:line_start])
    return found.group(1), text[function : signature_end - 1], body


def _string_literal(line: str) -> str | None:
    """`str` or `bytes` where `line` ends in a one-line string literal and a `.`
    (`", ".join`), outside any other string."""
    found = _STRING_DOT.search(line)
    if found is None or any(line.count(quote, 0, found.start()) % 2 for quote in "\"'"):
        return None
    return "bytes" if "b" in found.group(1).lower() else "str"


def without_long_strings(text: str) -> str:
    """`text` with its triple-quoted strings emptied: their lines (a docstring's `Args:`, text
    at the margin) say nothing of the code's names or indentation."""
    return _TRIPLE_QUOTED.sub('""', text)


def _enclosing_function(text: str, line_start: int) -> int | None:
    """Where the parameters of the function the line at `line_start` is in begin: the first
    `def` above that is less indented than every line of code between."""
    for start in _outer_lines(text, line_start):
        header = _DEF.match(text, start)
        if header is not None:
            return header.end()
    return None


def _outer_lines(text: str, line_start: int) -> Iterator[int]:
    """Where each line of code above the line at `line_start` begins that is less indented than
    every line of code between: the headers of the blocks it is in, nearest first."""
    least = len(text[line_start:]) - len(text[line_start:].lstrip(" \t"))
    end = line_start - 1
    while end > 0 and least > 0:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        end = start - 1
        code = line.lstrip()
        if not code or code[0] in "#)]}":
            continue  # blank, a comment, or the end of a bracket's lines
        indent = len(line) - len(code)
        if indent < least:
            least = indent
            yield start


def _without_functions(body: str) -> str:
    """`body` without the functions defined in it: their names are their own."""
    kept, position = [], 0
    for header in _DEF.finditer(body):
        if header.start() < position:
            continue  # inside a function left out already
        outdent = re.compile(rf"^[ \t]{{0,{len(header.group(1))}}}(?=[^ \t\r\n#)\]}}])", re.M)
        end = outdent.search(body, body.find("\n", header.end()) + 1 or len(body))
        kept.append(body[position : header.start()])
        position = end.start() if end else len(body)
    return "".join(kept) + body[position:]


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


def _assigned_type(body: str, name: str, top_level: bool) -> str | None:
    """The class of `name` after its last binding in `body`, if that is `name = Class(...)`,
    `name: Class = ...` or `name = <literal>` alone on its line."""
    line_start = _last_binding(body, name)
    if line_start is None:
        return None
    statement = re.match(
        rf"([ \t]*){re.escape(name)}[ \t]*(?::([^=\n]*))?=(?!=)[ \t]*", body[line_start:]
    )
    if statement is None or (top_level and not _module_level(body, line_start)):
        return None  # bound some other way; or, outside functions, in a class or a function
    if statement.group(2) and statement.group(2).strip():
        return annotation_class(statement.group(2))
    return value_class(body, line_start + statement.end())


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
        if opener == "(" and not _top_level_comma(inside):
            return None  # a parenthesised expression, not a tuple
        kind = _LITERALS.get(opener) or ("set" if inside.strip() and ":" not in inside else "dict")
    elif opener in ("'", '"'):
        close = re.match(r"('''|\"\"\"|'|\")(?:\\.|[^\\])*?\1", body[start:], re.DOTALL)
        if close is None:
            return None
        end, kind = start + close.end(), "str"
    else:
        call = _call(body, start)
        if call is None:
            return None
        kind, end = call
        last = kind.rpartition(".")[2]
        if not (last[:1].isupper() or last in (*_CONTAINERS, "object")):
            return None  # a function's result: its type is inference's
    if end is None or body[end:].split("\n", 1)[0].split("#", 1)[0].strip():
        return None  # something follows: `Class(...).method()`, `"a" + b`
    return kind


def parameter_class(parameters: str, name: str) -> str | None:
    """The annotated class of parameter `name` in a signature's text."""
    for parameter in _split(parameters):
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
    parts = [p.strip() for p in _split(text, "|") if p.strip() not in ("None", "")]
    if len(parts) != 1:
        return None
    found = _DOTTED.match(parts[0])
    if found is None or parts[0][found.end() :].strip()[:1] not in ("", "["):
        return None
    bare = found.group().rpartition(".")[2]
    if bare in _NOT_AN_INSTANCE:
        return None
    return _ALIASES.get(bare, found.group())


def _split(text: str, separator: str = ",") -> list[str]:
    """`text` split at `separator` outside brackets and strings."""
    parts, depth, current, quote = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    return [*parts, current]


def _top_level_comma(text: str) -> bool:
    return len(_split(text)) > 1


def closing(text: str, start: int) -> int | None:
    """The position after the bracket that closes the one open before `start`, skipping
    strings; None when it is not closed in `text`."""
    depth, quote, i = 1, "", start
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None
