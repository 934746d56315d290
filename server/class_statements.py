"""Class statements in a document's text: where they are, which one the cursor is in, their
bodies and their bases.

A scan of the text, not a parse: the document is half-typed at the cursor. What the classes
found here declare is `class_members`'s concern.
"""

from __future__ import annotations

import re

# A class header: its indentation, its name, and what its parentheses hold (bases, keywords).
CLASS = re.compile(r"^([ \t]*)class[ \t]+(\w+)[ \t]*(?:\(([^()]*)\))?[ \t]*:", re.MULTILINE)
_SCOPE = re.compile(r"^([ \t]*)(?:async[ \t]+)?(def|class)[ \t]+\w+", re.MULTILINE)
_CLASS_WORD = re.compile(r"class[ \t]")
_FIRST_STATEMENT = re.compile(r"^([ \t]*)(?=[^ \t\r\n#])", re.MULTILINE)


def class_headers(text: str) -> list[re.Match[str]]:
    """`CLASS.finditer(text)`'s matches, found from the word `class`: a `^`-anchored scan
    tries every line of a large module (ms at each keystroke), a literal's search only the
    few lines that hold it."""
    headers: list[re.Match[str]] = []
    end = tried = -1
    for word in _CLASS_WORD.finditer(text):
        line_start = text.rfind("\n", 0, word.start()) + 1
        if line_start < end or line_start == tried:
            continue  # inside the last header (its bases span lines), or its line was tried
        tried = line_start
        header = CLASS.match(text, line_start)
        if header is not None:
            headers.append(header)
            end = header.end()
    return headers


class ClassIndex:
    """A document's text and its class headers by name, found once per question."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.classes: dict[str, list[re.Match[str]]] = {}
        for header in class_headers(text):
            self.classes.setdefault(header.group(2), []).append(header)

    def outermost(self, name: str) -> re.Match[str] | None:
        """Of the classes named `name`, the least indented (the module's own); None if none."""
        defined = self.classes.get(name)
        return min(defined, key=lambda header: len(header.group(1))) if defined else None


def enclosing_class(before: str, start: int = 0) -> re.Match[str] | None:
    """The header of the class whose method the cursor at the end of `before` is in, searched
    from `start`: the nearest `class` line above, less indented than every scope between (a
    function nested in a method still sees the method's `self`)."""
    line_start = before.rfind("\n") + 1
    indent = len(before[line_start:]) - len(before[line_start:].lstrip())
    for scope in reversed(list(_SCOPE.finditer(before, start))):
        if len(scope.group(1)) >= indent:
            continue  # a sibling scope that ended above the cursor
        if scope.group(2) == "class":
            return CLASS.match(before, scope.start())
        indent = len(scope.group(1))
    return None


def body_of(text: str, header: re.Match[str]) -> tuple[str, str] | None:
    """The indentation of a class's statements and its body's text (to its end, or the
    document's); None while it has no body below its header."""
    first = _FIRST_STATEMENT.search(text, header.end())
    if first is None or text.count("\n", header.end(), first.start()) == 0:
        return None  # `class A: pass` on one line, or nothing below the header yet
    indent = first.group(1)
    if len(indent) <= len(header.group(1)):
        return None  # no body yet
    outdent = re.compile(rf"^[ \t]{{0,{len(header.group(1))}}}(?=[^ \t\r\n#])", re.MULTILINE)
    end = outdent.search(text, first.start())
    return indent, text[first.start() : end.start() if end else len(text)]


def split_bases(bases: str) -> list[str]:
    """The base classes of a header's parentheses (or a subscript's arguments), keywords
    (`metaclass=`) left out and subscripts (`Generic[T]`) dropped."""
    found, depth, current = [], 0, ""
    for char in bases + ",":
        depth += (char == "[") - (char == "]")
        if char == "," and depth == 0:
            base = re.sub(r"\[.*", "", current, flags=re.DOTALL).strip()
            if base and "=" not in base:
                found.append(base)
            current = ""
        else:
            current += char
    return found
