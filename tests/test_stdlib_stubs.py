"""The standard library's annotations, read from typeshed's stubs (`server/stdlib_stubs.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grucomplete.server.call_types import CallTypes
from grucomplete.server.source_classes import SourceClasses
from grucomplete.server.static_analysis import StaticAnalyzer
from grucomplete.server.stdlib_stubs import lifted, stub_file

STUB = """\
import sys

if sys.version_info >= (3, 12):
    def made() -> New: ...

elif sys.platform == "win32":
    def made() -> Windows: ...
else:
    def made() -> Old: ...

class Box:
    if sys.version_info >= (3, 11):
        @property
        def size(self) -> int: ...
        if sys.platform != "win32":
            def fileno(self) -> int: ...
    def close(self) -> None: ...

if TYPE_CHECKING:
    def checked() -> int: ...
else:
    checked = 1
"""


def test_a_stub_s_conditions_are_lifted_to_the_level_of_their_if() -> None:
    assert lifted(STUB) == (
        "import sys\n"
        "\n"
        "def made() -> New: ...\n"
        "\n"
        "def made() -> Windows: ...\n"
        "def made() -> Old: ...\n"
        "\n"
        "class Box:\n"
        "    @property\n"
        "    def size(self) -> int: ...\n"
        "    def fileno(self) -> int: ...\n"
        "    def close(self) -> None: ...\n"
        "\n"
        "if TYPE_CHECKING:\n"  # not a condition on the Python: kept as it is
        "    def checked() -> int: ...\n"
        "else:\n"
        "    checked = 1\n"
    )


needs_stubs = pytest.mark.skipif(stub_file("re") is None, reason="jedi (the static extra) absent")


@needs_stubs
def test_only_the_standard_library_has_stubs() -> None:
    assert Path(stub_file("re") or "").name == "re.pyi"
    assert Path(stub_file("os.path") or "").name == "path.pyi"
    assert stub_file("requests") is None  # an installed package's are not jedi's to ship
    assert stub_file("re.no-such") is None


@needs_stubs
@pytest.mark.parametrize(
    ("before", "class_name", "members"),
    [
        ("import hashlib\n\nhashlib.sha256(b'').", "HASH", {"hexdigest", "update"}),
        ("import io\n\nstdout = io.BytesIO()\nstdout.getvalue().", "bytes", {"decode"}),
        (  # a property of a base (`PurePath.parent -> Self`): the instance's own class
            "from pathlib import Path\n\nroot = Path(__file__).parent.",
            "Path",
            {"parent", "resolve", "exists"},
        ),
        ("from pathlib import Path\n\nup = Path('a').parent\nup.", "Path", {"is_dir"}),
        ("from pathlib import Path\n\nPath('a').parent.name.", "str", {"upper"}),
        ("from pathlib import Path\n\nPath('a').resolve().", "Path", {"is_dir"}),
        ("import io\n\nio.BytesIO().getvalue().", "bytes", {"decode"}),
        (  # a loop over an iterator of matches
            "import re\n\n\ndef f(t):\n    for m in re.finditer('a', t):\n        m.",
            "Match",
            {"groups"},
        ),
        (  # a module's global, read in a function; a method's overloads, the first one's
            "import re\nWORD = re.compile(r'\\w+')\n\n\n"
            "def f(text):\n    found = WORD.match(text)\n    found.",
            "Match",
            {"group", "span"},
        ),
    ],
)
def test_a_standard_library_call_s_result_is_typed_by_its_stub(
    before: str, class_name: str, members: set[str]
) -> None:
    sources = SourceClasses()
    typed = CallTypes(sources).receiver("/project/module.py", before, "\n")
    assert typed is not None and typed.file is not None and typed.file.endswith(".pyi")
    assert typed.name == class_name
    listed = sources.members_in(typed.file, typed.name)
    assert listed is not None and members <= listed
    assert "getvalue" not in listed  # the members of this class alone


@needs_stubs
def test_the_analyzer_serves_a_stub_s_members_before_jedi(tmp_path: Path) -> None:
    document = tmp_path / "digest.py"
    before = "import hashlib\n\n\ndef digest(data):\n    return hashlib.sha256(data)."
    analyzer = StaticAnalyzer(str(tmp_path))
    try:
        declared = analyzer.names_at(str(document), before, "\n", wait_s=0.0).declared
    finally:
        analyzer.close()
    assert declared is not None and {"hexdigest", "digest", "update"} <= set(declared)
    assert "read_bytes" not in declared
