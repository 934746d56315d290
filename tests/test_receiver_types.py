"""The class the document plainly says a name is an instance of (`server/receiver_types.py`)."""

from __future__ import annotations

import pytest

from grucomplete.server.receiver_types import declared_type

SIGNATURE = (
    "def render(self, console, options: 'ConsoleOptions', path: Optional[Path] = None,\n"
    "           items: List[int] = (), callback: Callable = None, either: int | str = 0,\n"
    "           maybe: 'mod.Thing | None' = None, *rest: Any) -> str:\n"
    "    title = 'x'\n"
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("options", "ConsoleOptions"),
        ("path", "Path"),
        ("items", "list"),  # typing's alias of a builtin container
        ("maybe", "mod.Thing"),
        ("console", None),  # not annotated: inference's
        ("callback", None),
        ("either", None),  # a union of classes
        ("rest", None),
        ("self", None),  # the class's members: `class_members`
        ("title", None),  # a literal, but this one is typed by the next case's rule
    ],
)
def test_an_annotated_parameter_is_an_instance_of_its_annotation(
    name: str, expected: str | None
) -> None:
    before = SIGNATURE + f"    return {name}."
    if name == "title":
        expected = "str"
    assert declared_type(before) == expected


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("x = httpx.Client(timeout=3)", "httpx.Client"),
        ("x = Client(\n        base,\n    )  # made here", "Client"),
        ("x = []", "list"),
        ("x = {}", "dict"),
        ("x = {'a': 1}", "dict"),
        ("x = {1, 2}", "set"),
        ("x = (1, 2)", "tuple"),
        ("x = set()", "set"),
        ('x = """a\nb"""', "str"),
        ("x: Path = make()", "Path"),
        ("x = (a)", None),  # parentheses, not a tuple
        ("x = make()", None),  # a function's result
        ("x = Client().connect()", None),  # a method's result
        ("x = 'a'.join(parts)", None),
        ("x = Client()\n    for x in items:\n        pass", None),  # rebound by the loop
        ("x = Client()\n    with open(p) as x:\n        pass", None),
        ("x = Client()\n    x = make()", None),
        ("x = Client()\n    a, x = pair", None),
        ("x = Client()\n    use(x=1)\n    y = x.name", "Client"),  # uses, not bindings
        ("x = Client()\n    for item in x:\n        pass", "Client"),
    ],
)
def test_a_name_assigned_a_constructor_or_a_literal_is_an_instance_of_it(
    assignment: str, expected: str | None
) -> None:
    before = f"def f(items, pair, p):\n    {assignment}\n    x."
    assert declared_type(before) == expected


def test_the_enclosing_function_is_the_one_the_cursor_is_in() -> None:
    before = (
        "def outer(console: Console):\n"
        "    def helper(console):\n"
        "        return console\n"
        "\n"
        "    if console:\n"
        "        console."
    )
    assert declared_type(before) == "Console"  # `helper` ended above: its parameter is not it
    assert declared_type(before.rsplit("\n", 3)[0] + "\n        console.") is None  # inside it


def test_at_the_top_level_only_the_module_s_assignments_count() -> None:
    assert declared_type("import re\nPATTERN = re.Pattern()\n\nPATTERN.") == "re.Pattern"
    main = 'if __name__ == "__main__":\n    console = Console()\n    console.'
    assert declared_type(main) == "Console"  # a block of the module's is the module's
    assert declared_type("class A:\n    x = Thing()\n\n\nx.") is None  # a class attribute
    assert declared_type("def f():\n    x = Thing()\n\n\nx.") is None  # a local
    assert declared_type("x = Thing()\nx.y.") is None  # an attribute's type is inference's


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ('mode = "".', "str"),
        ("sep = ', '.", "str"),
        ('raw = b"ab".', "bytes"),
        ('raw = rb"ab".', "bytes"),
        ('shown = f"{x}".', "str"),
        ('print("a" + "".', "str"),
        ('s = "it\'s "x".', None),  # the quotes are another string's
        ('x = "a\\"b".', None),  # an escaped quote: not read this way
        ('name".', None),
    ],
)
def test_a_one_line_string_literal_is_a_str(before: str, expected: str | None) -> None:
    assert declared_type(before) == expected


def test_a_name_the_function_does_not_bind_is_the_module_s() -> None:
    assert declared_type("PATTERN = Pattern()\n\n\ndef f():\n    PATTERN.") == "Pattern"
    assert declared_type("x = Thing()\n\n\ndef f(x):\n    x.") is None  # the parameter
    assert declared_type("x = Thing()\n\n\ndef f():\n    x = Other()\n    x.") == "Other"
    other = "x = Thing()\n\n\nclass A:\n    def g(self):\n        x = Other()\n\n\ndef f():\n    x."
    assert declared_type(other) == "Thing"  # another function's local is not the module's
    method = "class A:\n    x = Thing()\n\n    def f(self):\n        x."
    assert declared_type(method) is None  # a class attribute is no global
