"""Imported classes' members read from the project's source (`server/source_classes.py`)."""

from __future__ import annotations

import os
import sys
from concurrent.futures import Future
from pathlib import Path

import pytest

from grucomplete.server.source_classes import SourceClasses
from grucomplete.server.static_analysis import StaticAnalyzer

CONSOLE = '''\
from dataclasses import dataclass
from typing import NamedTuple

from .base import Renderable


@dataclass
class ConsoleOptions:
    """Options.

    Attributes:
        nothing: no field.
    """

    max_width: int
    min_width: int = 1

    def update(self, width=None):
        return self


class Console(Renderable):
    def __init__(self):
        self.width = 80

    def print(self, *objects):
        pass


class Point(NamedTuple):
    x: int


class Lazy:
    def __getattr__(self, name):
        return name
'''


def make_package(root: Path) -> Path:
    package = root / "shapes"
    package.mkdir()
    (package / "__init__.py").write_text("from .console import Console\n")
    (package / "base.py").write_text("class Renderable:\n    def render(self):\n        pass\n")
    (package / "console.py").write_text(CONSOLE)
    return package


def test_an_imported_class_of_the_project_lists_its_members_and_bases(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    document = str(package / "panel.py")
    text = (
        "from typing import TYPE_CHECKING\nfrom . import console\n"
        "from .console import Point\n\nif TYPE_CHECKING:\n"
        "    from .console import Console, ConsoleOptions as Options\n"
    )
    sources = SourceClasses()
    options = sources.members(document, text, "Options")
    assert options is not None
    assert {"max_width", "min_width", "update", "__class__"} <= options
    assert "nothing" not in options and "dataclass" not in options
    console = sources.members(document, text, "Console")
    assert console is not None and {"width", "print", "render"} <= console  # a base's too
    assert "max_width" not in console
    assert sources.members(document, text, "console.Console") == console
    point = sources.members(document, text, "Point")
    assert point is not None and {"x", "_asdict", "count"} <= point
    # Through a package's re-export, from a module outside the package.
    beside = str(tmp_path / "app.py")  # a script beside the package imports it
    assert sources.members(beside, "from shapes import Console\n", "Console") == console
    far = str(tmp_path.joinpath("a", "b", "c", "d", "app.py"))  # past `PROJECT_DEPTH`
    assert sources.members(far, "from shapes import Console\n", "Console") is None
    inside = str(package / "sub.py")
    assert sources.members(inside, "from shapes import Console\n", "Console") == console


def test_what_is_not_in_source_is_left_to_the_worker(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    document = str(package / "panel.py")
    sources = SourceClasses()
    assert sources.members(document, "from .console import Lazy\n", "Lazy") is None  # any name
    assert sources.members(document, "from .missing import Thing\n", "Thing") is None
    assert sources.members(document, "from .console import Nope\n", "Nope") is None
    assert sources.members(document, "import numpy\n", "numpy.ndarray") is None  # installed
    assert sources.members(document, "", "Console") is None  # not imported
    assert sources.members(document, "import os\n", "os") is None  # a module, no class
    (package / "base.py").write_text(
        "from elsewhere import Base\n\n\nclass Renderable(Base):\n    x = 1\n"
    )
    assert sources.members(document, "from .console import Console\n", "Console") is None
    assert sources.members(None, "from .console import Console\n", "Console") is None


def test_a_module_changed_on_disk_is_read_again(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    document, text = str(package / "panel.py"), "from .base import Renderable\n"
    sources = SourceClasses()
    assert "render" in (sources.members(document, text, "Renderable") or ())
    base = package / "base.py"
    base.write_text("class Renderable:\n    def draw(self):\n        pass\n")
    os.utime(base, ns=(1, 1))  # a new modification time however fast the test runs
    members = sources.members(document, text, "Renderable")
    assert members is not None and "draw" in members and "render" not in members


def test_a_module_the_workspace_locates_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    console = make_package(tmp_path / "lib") / "console.py"
    asked = []

    def locate(module: str, document: str | None) -> str | None:
        asked.append((module, document))
        return str(console) if module == "shapes.console" else None

    document = str(tmp_path / "app" / "main.py")  # outside any package: nothing beside it
    text = "from shapes.console import ConsoleOptions\n"
    assert SourceClasses().members(document, text, "ConsoleOptions") is None
    members = SourceClasses(lambda: locate).members(document, text, "ConsoleOptions")
    assert members is not None and "max_width" in members
    assert ("shapes.console", document) in asked


def test_after_a_class_s_own_name_its_members_serve_before_jedi(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    path = str(package / "panel.py")
    text = "from .console import Console\n\n\nclass Local:\n    SIZE = 2\n\n\n"
    analyzer = StaticAnalyzer(str(tmp_path))
    try:
        own = analyzer.names_at(path, text + "Local.", "", wait_s=0.0).declared
        assert own is not None and {"SIZE", "mro"} <= set(own)
        imported = analyzer.names_at(path, text + "Console.", "", wait_s=0.0).declared
        assert imported is not None and {"print", "render", "__name__"} <= set(imported)
        assert "width" not in imported  # `self.width = 80`: an instance's, not the class's
        assert analyzer.names_at(path, text + "local.", "", wait_s=0.0).declared is None
        assert not analyzer._classes  # the worker is not asked about a name not known a class
        alias = text + "def draw():\n    _Console = Console\n    _Console."  # the class itself
        aliased = analyzer.names_at(path, alias, "", wait_s=0.0).declared
        assert aliased is not None and {"print", "render", "__name__"} <= set(aliased)
        instance = text + "def draw():\n    _Console = Console()\n    _Console."
        assert "__name__" not in (analyzer.names_at(path, instance, "", wait_s=0.0).declared or ())
    finally:
        analyzer.close()


def test_an_import_s_package_lists_its_modules_before_jedi(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    (package / "__pycache__").mkdir()
    (package / "shapes.cpython-311.pyc").write_text("")  # a name with a dot is no module's
    path = str(tmp_path / "app.py")
    analyzer = StaticAnalyzer(str(tmp_path))
    try:
        for before in ("from shapes.", "import os, shapes."):
            modules = analyzer.names_at(path, before, " import x\n", wait_s=0.0).declared
            assert modules == ["base", "console"]
        assert analyzer.names_at(path, "from shapes.base.", "", wait_s=0.0).declared is None
    finally:
        analyzer.close()


def test_the_standard_library_s_pure_python_classes_are_read_too(tmp_path: Path) -> None:
    sources, document = SourceClasses(), str(tmp_path / "app.py")
    path = sources.members(document, "from pathlib import Path\n", "Path")
    assert path is not None and {"read_text", "parent", "with_suffix", "__fspath__"} <= path
    thread = sources.members(document, "import threading\n", "threading.Thread")
    assert thread is not None and {"start", "join", "name", "daemon"} <= thread


def test_loaded_standard_library_classes_are_known_where_their_source_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources, document = SourceClasses(), str(tmp_path / "app.py")
    buffer = sources.members(document, "import io\n", "io.StringIO")  # compiled: `_io`'s
    assert buffer is not None and {"getvalue", "write", "seek", "closed"} <= buffer
    text = "import typing\n"
    mapping = sources.members(document, text, "typing.MutableMapping")  # an alias made by a call
    assert mapping is not None and {"get", "setdefault", "items"} <= mapping
    assert "_abc_impl" not in mapping  # private to `abc`
    (tmp_path / "headers.py").write_text(
        "import typing\n\n\nclass Headers(typing.MutableMapping[str, str]):\n"
        "    def raw(self):\n        pass\n"
    )
    headers = sources.members(document, "from headers import Headers\n", "Headers")
    assert headers is not None and {"raw", "get", "items"} <= headers
    for name in ("io", "_io"):  # not loaded: loading one may run anything
        monkeypatch.delitem(sys.modules, name)
    assert SourceClasses().members(document, "import io\n", "io.StringIO") is None


def test_a_class_a_star_import_brings_is_followed(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    (package / "__init__.py").write_text("from .base import *\nfrom .console import *\n")
    text = "import shapes\nfrom shapes import Renderable\n"
    sources, document = SourceClasses(), str(tmp_path / "app.py")
    assert {"print", "render"} <= (sources.members(document, text, "shapes.Console") or set())
    assert "render" in (sources.members(document, text, "Renderable") or set())
    assert sources.members(document, text, "shapes.Missing") is None


def test_tests_outside_the_package_find_the_project_s_source(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    make_package(project / "src")
    (project / "pyproject.toml").write_text("[project]\nname = 'shapes'\n")
    test = str(project / "tests" / "unit" / "test_console.py")
    members = SourceClasses().members(test, "from shapes.console import Console\n", "Console")
    assert members is not None and {"print", "render"} <= members
    # Above the project's folder nothing is looked for (the marker ends the walk).
    make_package(tmp_path)
    (project / "src" / "shapes").rename(project / "src" / "other")
    assert SourceClasses().members(test, "from shapes.console import Console\n", "Console") is None


def test_a_project_module_s_names_are_read_where_the_worker_is_busy(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    (package / "dynamic.py").write_text("globals().update(made=1)\n")
    (package / "huge.py").write_text("x = 1\n" * 20_000)
    (package / "starred.py").write_text("from .base import *\n")
    sources, path = SourceClasses(), str(tmp_path / "app.py")
    names = sources.module_names("shapes.console", path)
    assert names is not None and {"Console", "ConsoleOptions", "Renderable", "dataclass"} <= set(
        names
    )
    package_names = sources.module_names("shapes", path)
    assert package_names is not None and {"Console", "base", "console"} <= set(package_names)
    assert sources.module_names("shapes.dynamic", path) is None  # names made at run time
    assert sources.module_names("shapes.huge", path) is None  # the worker's to parse
    assert sources.module_names("shapes.starred", path) is None  # and to follow stars from
    assert sources.module_names("os", path) is None  # the worker imports the standard library's
    analyzer = StaticAnalyzer(str(tmp_path))
    try:
        busy: Future[list[str] | None] = Future()  # the worker's listing, not in yet
        analyzer._modules[("shapes.console", str(package / "console.py"))] = busy
        text = "from shapes import console\n\nconsole."
        declared = analyzer.names_at(path, text, "", wait_s=0.0).declared
        assert declared is not None and "Console" in declared
        busy.set_result(["Console"])
        again = analyzer.names_at(path, text + "Console\nconsole.", "", wait_s=0.0)
        assert again.declared is None and again.result() == ["Console"]  # the worker's, once in
    finally:
        analyzer.close()
