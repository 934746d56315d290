"""What a document's imports say (`server/document_imports.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grucomplete.server.document_imports import (
    import_bindings,
    import_statements,
    imported_module,
    imported_package,
    package_of,
    project_folders,
    star_imports,
    submodules,
)


def test_the_receivers_module_is_found_from_the_documents_imports() -> None:
    imports = "import os, sys\nimport os.path as p\nfrom os import path as q, sep\n"
    imports += "from . import r\n"
    cases = {
        "x = os.": "os",
        "os.path.": "os.path",
        "p.": "os.path",
        "q.": "os.path",
        "sep.": "os.sep",  # a name, not a module: the worker answers that it has no members
        "sys.": "sys",
        "r.": None,  # relative: the worker does not know the package
        "self.os.": None,  # an attribute named like a module is not the module
        "json.": None,  # not imported
    }
    found = {before: imported_module(imports + before, imports + before) for before in cases}
    assert found == cases
    # Relative to the document's package, once it is known (`package_of`).
    relative = "from . import sub\nfrom ..up import thing as t\nfrom ... import top\n"
    assert imported_module(relative, relative + "sub.", "pkg.inner") == "pkg.inner.sub"
    assert imported_module(relative, relative + "t.", "pkg.inner") == "pkg.up.thing"
    assert imported_module(relative, relative + "top.", "pkg.inner") is None  # above the top


def test_a_documents_package_is_the_chain_of_folders_with_an_init(tmp_path: Path) -> None:
    inner = tmp_path / "tool-1.0" / "pkg" / "inner"
    inner.mkdir(parents=True)
    for folder in (inner, inner.parent):
        (folder / "__init__.py").write_text("")
    assert package_of(str(inner / "m.py")) == "pkg.inner"
    assert package_of(str(tmp_path / "script.py")) is None
    assert package_of(None) is None


def test_the_imports_a_class_name_is_read_under_are_all_at_the_top_level() -> None:
    text = (
        "import os\nfrom typing import (\n    TYPE_CHECKING,\n    Any,\n)\n\n"
        "if TYPE_CHECKING:\n    from .console import Console\n\nx = 1  # import nothing\n"
    )
    assert import_statements(text).splitlines() == [
        "import os",
        "from typing import (",
        "    TYPE_CHECKING,",
        "    Any,",
        ")",
        "from .console import Console",
    ]


def test_parenthesised_imports_bind_every_name_on_every_line() -> None:
    text = (
        "from typing import (\n    IO,\n    BinaryIO,  # files\n    List as L,\n)\n"
        "from .text import Text, \\\n    Span\nfrom os import (path)\nfrom json import ()\n"
        "from half import (\n    typed"
    )
    bound = import_bindings(text, "pkg")
    assert {name: bound.get(name) for name in ("IO", "BinaryIO", "L", "Text", "path")} == {
        "IO": "typing.IO",
        "BinaryIO": "typing.BinaryIO",
        "L": "typing.List",
        "Text": "pkg.text.Text",
        "path": "os.path",
    }
    assert "typed" not in bound  # an import still being typed binds nothing yet


def test_a_document_s_project_folders_end_at_its_project_s(tmp_path: Path) -> None:
    project = tmp_path / "project"
    tests = project / "tests" / "unit"
    tests.mkdir(parents=True)
    (project / "src").mkdir()
    (project / "setup.cfg").write_text("")
    assert project_folders(str(tests / "test_a.py")) == (
        str(tests),
        str(tests.parent),
        str(project),
        str(project / "src"),
    )
    loose = tmp_path.joinpath("a", "b", "c", "d", "e")
    loose.mkdir(parents=True)
    assert project_folders(str(loose / "m.py")) == tuple(
        str(folder) for folder in (loose, *list(loose.parents)[:3])
    )
    assert project_folders(None) == ()


def test_star_imports_are_read_in_order() -> None:
    text = "from .a import *\nfrom b import x\nfrom ..c import *  # re-exported\n"
    assert star_imports(text, "pkg.sub") == ("pkg.sub.a", "pkg.c")
    assert star_imports(text, None) == ()


@pytest.mark.parametrize(
    ("line", "package"),
    [
        ("from rich.", "rich"),
        ("    from rich.markup.", "rich.markup"),
        ("import os, email.", "email"),
        ("import numpy as np, email.", "email"),
        ("from . import x.", None),  # a name imported, not a module
        ("x = rich.", None),
        ("from .rich.", None),  # relative: the package is the document's
    ],
)
def test_an_import_statement_s_package_is_read_up_to_the_cursor(
    line: str, package: str | None
) -> None:
    assert imported_package("import os\n" + line) == package


def test_a_package_s_modules_are_its_folder_s(tmp_path: Path) -> None:
    package = tmp_path / "shapes"
    (package / "sub").mkdir(parents=True)
    (package / "namespace").mkdir()
    (package / "__pycache__").mkdir()
    for name in ("__init__.py", "box.py", "stub.pyi", "fast.cpython-311-x86_64-linux-gnu.so"):
        (package / name).write_text("")
    (package / "not-a-module.py").write_text("")
    (package / "README.md").write_text("")
    found = submodules(str(package / "__init__.py"))
    assert found == {"sub", "namespace", "box", "stub", "fast"}
    assert submodules(str(package / "box.py")) is None  # a module, no package
