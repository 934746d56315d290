"""Reading half-typed Python source without parsing it: where a bracket closes, what lies
outside brackets and long strings, where a call ends, and the blocks a line is in.

The readers of a receiver's class (`receiver_types`, `written_classes`, `class_members`) scan
the document as it is at the cursor, where a parser fails; these are the scans they share.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")  # `name`, `module.Class`
_DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(", re.MULTILINE)
_TRIPLE_QUOTED = re.compile(r"(\"\"\"|\'\'\')[\s\S]*?\1")
_TOP_LEVEL_BLOCK = re.compile(r"\n(?:async[ \t]+)?(?:def|class)[ \t]")
_TOP_LEVEL_CODE = re.compile(r"\n(?=[^ \t\r\n#)\]}])")  # a line of the module's own


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


def call_at(text: str, start: int) -> tuple[str, int] | None:
    """The callee of a call starting at `start` (a dotted name), and where the call ends."""
    called = DOTTED_NAME.match(text, start)
    if called is None or text[called.end() : called.end() + 1] != "(":
        return None
    end = closing(text, called.end() + 1)
    return None if end is None else (called.group(), end)


def split_top_level(text: str, separator: str = ",") -> list[str]:
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


def top_level_comma(text: str) -> bool:
    return len(split_top_level(text)) > 1


def without_long_strings(text: str) -> str:
    """`text` with its triple-quoted strings emptied: their lines (a docstring's `Args:`, text
    at the margin) say nothing of the code's names or indentation."""
    return _TRIPLE_QUOTED.sub('""', text)


def rest_of_line(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start : len(text) if end < 0 else end]


def has_code(text: str) -> bool:
    """Whether `text` holds code, not only blanks and a comment."""
    return bool(text.split("#", 1)[0].strip())


def enclosing_function(text: str, line_start: int) -> int | None:
    """Where the parameters of the function the line at `line_start` is in begin: the first
    `def` above that is less indented than every line of code between."""
    for start in outer_lines(text, line_start):
        header = _DEF.match(text, start)
        if header is not None:
            return header.end()
    return None


def outer_lines(text: str, line_start: int) -> Iterator[int]:
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


def without_functions(body: str) -> str:
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


def module_level(text: str, line_start: int) -> bool:
    """Whether the statement at `line_start` binds at the module's level: not in a class or a
    function (an `if __name__ == "__main__":` block is the module's)."""
    scope = re.compile(r"[ \t]*(?:async[ \t]+)?(?:def|class)\b")
    return not any(scope.match(text, start) for start in outer_lines(text, line_start))


def module_statements(text: str) -> str:
    """`text` without its top-level functions and classes: the module's own statements."""
    lined = "\n" + text  # every line after a newline, the first too (`^` scans every character)
    kept, position = [], 1
    for header in _TOP_LEVEL_BLOCK.finditer(lined):
        start = header.start() + 1
        if start < position:
            continue  # inside a block left out already
        end = _TOP_LEVEL_CODE.search(lined, header.end())
        kept.append(lined[position:start])
        position = end.start() + 1 if end else len(lined)
    return "".join(kept) + lined[position:]
