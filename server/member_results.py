"""What a class's member, or a function, gives, as its source says.

A receiver bound to a call's result or an attribute's value (`call_types`) is typed by what
the callee's or the attribute's definition writes: a return annotation, a class body's
annotation, a property's; `Self` where a method returns its own instance. Read from the text
of the module that defines it (the document, the project's source, a stub), without a parse.
"""

from __future__ import annotations

import re

from .class_members import assigned_class, class_body
from .source_scan import closing, without_long_strings


def method_result(text: str, class_name: str, method: str) -> str | None:
    """What `method` of the class `class_name` that `text` defines returns, as its source says:
    the return annotation (`-> "Box"`), or `Self` for the class itself (`-> Self`, `-> T` where
    `self: T`, or no annotation and only `return self`, as a context manager's `__enter__`);
    None where the class's own body does not say."""
    body = class_body(text, class_name)
    return None if body is None else _result(body[1], body[0], method)


def attribute_result(text: str, class_name: str, name: str) -> str | None:
    """What the attribute `name` of an instance of the class `class_name` that `text` defines
    holds, as its body says: a class-level annotation (`name: Text`), a property's return
    annotation (`@property def plain(self) -> str`), or the one class its assignments give it
    (`self.headers = Headers(...)`, `class_members.assigned_class`); None where the class's own
    body does not say (a method is not an attribute's value)."""
    body = class_body(text, class_name)
    if body is None:
        return None
    indent, source = body
    level, escaped = re.escape(indent), re.escape(name)
    annotated = re.search(rf"^{level}{escaped}[ \t]*:(?!=)([^=\n]*)", source, re.MULTILINE)
    if annotated is not None:
        return annotated.group(1).strip().strip("\"'") or None
    decorators = rf"(?:{level}@[^\n]*\n)*"
    prop = rf"^{level}@(?:functools\.)?(?:property|cached_property)\b[^\n]*\n{decorators}"
    if re.search(rf"{prop}{level}(?:async[ \t]+)?def[ \t]+{escaped}\b", source, re.M) is None:
        return assigned_class(indent, source, name)  # `self.headers = Headers(...)`
    return _result(source, indent, name)


def function_result(text: str, name: str) -> str | None:
    """The return annotation of the function `name` that `text` defines at its top level."""
    return _result(without_long_strings(text), "", name)


def _result(source: str, indent: str, name: str) -> str | None:
    """What the function `name` defined at `indent` in `source` returns (`method_result`)."""
    header = re.search(
        rf"^{re.escape(indent)}(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", source, re.M
    )
    end = closing(source, header.end()) if header is not None else None
    if header is None or end is None:
        return None
    line_end = source.find("\n", end) % (len(source) + 1)  # none: the text's end
    # `-> T:` and a body below, or a stub's `-> T: ...`
    rest = re.fullmatch(r"[ \t]*(?:->(.*?))?:[ \t]*(?:\.\.\.[ \t]*)?(?:#.*)?", source[end:line_end])
    if rest is None:
        return None
    annotation = (rest.group(1) or "").strip().strip("\"'")
    first = re.match(r"\s*(?:self|cls)[ \t]*(?::([^,=]*))?", source[header.end() : end - 1])
    own = first.group(1).strip().strip("\"'") if first is not None and first.group(1) else None
    if annotation in ("Self", "typing.Self", "typing_extensions.Self") or (
        own and annotation == own
    ):
        return "Self"
    if annotation:
        return annotation
    outdent = re.compile(rf"^[ \t]{{0,{len(indent)}}}(?=[^ \t\r\n#])", re.MULTILINE)
    stop = outdent.search(source, line_end + 1)
    returns = re.findall(r"\breturn\b([^\n]*)", source[line_end : stop.start() if stop else None])
    return "Self" if returns and all(r.strip() == "self" for r in returns) else None
