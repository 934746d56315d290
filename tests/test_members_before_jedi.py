"""Members offered before jedi has answered: a module's names listed ahead, the members
jedi gave after the same receiver, and what the document's classes declare."""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from grucomplete.server.module_listing import module_members
from grucomplete.server.pending_names import PendingNames
from grucomplete.server.static_analysis import StaticAnalyzer, receiver_key
from grucomplete.server.workspace_names import WorkspaceNames

from .conftest import wait_until
from .raw_lsp import RawServer


def test_a_modules_members_come_before_jedi_has_parsed_it(tmp_path: Path) -> None:
    """jedi's first `os.` parses os (seconds, cold): the module's own names come at once."""
    analyzer = StaticAnalyzer(str(tmp_path))
    try:
        source = "import os\nimport json\n\nos."
        started = time.monotonic()
        names = analyzer.names_at(str(tmp_path / "m.py"), source, "", wait_s=1.0).result()
        assert names is not None, "no names within the wait"
        assert time.monotonic() - started < 1.5
        assert {"getcwd", "path", "environ", "sep"} <= set(names)
        assert "dumps" not in names  # json's, not os's
        # A name that is not a module has no members of its own; jedi answers for it.
        pending = analyzer.names_at(str(tmp_path / "m.py"), "import os\nos.environ.", "", 60)
        assert pending.module is not None and pending.module.result(timeout=60) is None
        assert "keys" in pending.result()
    finally:
        analyzer.close()


def test_the_modules_from_imports_bind_are_listed_ahead(tmp_path: Path) -> None:
    """`from attr import _config`: `_config.` is a module's, listed when the import is read."""
    package = tmp_path / "shapes"
    package.mkdir()
    (package / "__init__.py").write_text("from .box import Box\n")
    (package / "box.py").write_text("class Box:\n    pass\n\n\ndef pack():\n    pass\n")
    analyzer = StaticAnalyzer(str(tmp_path))
    try:
        path = str(tmp_path / "app.py")
        text = "from shapes import box, Box\nfrom concurrent import futures\nimport os\n\n"
        analyzer.list_ahead(path, text)
        listed = {module for module, _ in analyzer._modules}
        assert listed == {"shapes.box", "concurrent.futures", "os"}  # not `shapes.Box`
        members = analyzer.names_at(path, text + "box.", "", wait_s=0.0).module
        assert members is not None and {"Box", "pack"} <= set(members.result(timeout=60) or ())
        analyzer.list_ahead(path, text + "from shapes import box as shape_box\n")  # a new line
        assert len(analyzer._modules) == 3  # the same module, listed once
    finally:
        analyzer.close()


def test_a_freshly_started_servers_first_dot_after_a_module_lists_its_members(
    tiny_model_dir: Path,
) -> None:
    """The first `os.` after the editor starts: jedi takes seconds to parse os, far past the
    wait, and the model alone offered `py`, `endswith`, `append`."""
    server = RawServer()
    try:
        server.initialize(tiny_model_dir)  # the default wait for static analysis
        server.open("file:///tmp/grucomplete-test/a.py", "x = 1\n")
        server.wait(server.completion("file:///tmp/grucomplete-test/a.py", 1, 0), timeout=60)
        text = "import os\nimport sys\n\n\ndef main():\n    path = os."
        uri = "file:///tmp/grucomplete-test/m.py"
        server.open(uri, text)
        reply = server.wait(server.completion(uri, 5, len("    path = os.")), timeout=60)
        words = [i["label"] for i in reply["result"]["items"] if i["kind"] == 6]  # Variable
        assert words and set(words) <= set(dir(os)), words
        assert "path" in words, words
    finally:
        server.close()


CLASSES = (
    "class Point:\n    def __init__(self):\n        self.alpha = 1\n\n"
    "    def move(self):\n        self.beta = 2\n"
)


def test_a_late_dot_gets_jedis_earlier_answer_after_the_same_receiver(
    analyzer: StaticAnalyzer, tmp_path: Path
) -> None:
    """jedi's inference takes 60-70 ms at the median, past the wait: a later `.` after the
    same receiver in the same class gets the members jedi listed at the earlier one."""
    path = str(tmp_path / "points.py")
    first = analyzer.names_at(path, CLASSES + "        self.", "", wait_s=60).future.result(60)
    assert first is not None and {"alpha", "beta", "move"} <= set(first)
    wait_until(lambda: bool(analyzer._receivers))  # kept as the answer came
    later = CLASSES + "\n    def scale(self):\n        self."
    assert set(analyzer.names_at(path, later, "", wait_s=0.0).result() or ()) == set(first)
    analyzer.forget(str(tmp_path / "elsewhere.py"))  # another document closed: kept
    again = later.replace("def scale", "def grow")  # another question, the same receiver
    assert analyzer.names_at(path, again, "", wait_s=0.0).result()
    # Another class's `self` is another object: nothing earlier serves it.
    other = later + "\n\n\nclass Line:\n    def draw(self):\n        self."
    assert analyzer.names_at(path, other, "", wait_s=0.0).earlier is None
    analyzer.forget(path)  # the document closed: its answers are not kept
    again = later.replace("def scale", "def shrink")
    assert analyzer.names_at(path, again, "", wait_s=0.0).earlier is None


def test_members_known_already_are_not_waited_for() -> None:
    """A `.` after a receiver jedi listed before, or after a module whose members are listed,
    is answered at once from that list; jedi's new answer is used only if it is in already."""
    running: Future[list[str] | None] = Future()  # jedi still inferring
    pending = PendingNames(running, time.monotonic() + 60, earlier=["alpha", "beta"])
    started = time.monotonic()
    assert pending.result() == ["alpha", "beta"]
    assert time.monotonic() - started < 1.0  # not the 60 s deadline
    running.set_result(["alpha", "beta", "gamma"])
    assert pending.result() == ["alpha", "beta", "gamma"]
    failed: Future[list[str] | None] = Future()
    failed.set_result(None)  # jedi answered with nothing: the earlier list still serves
    assert PendingNames(failed, time.monotonic(), earlier=["alpha"]).result() == ["alpha"]
    listed: Future[list[str] | None] = Future()  # a module's members, listed ahead
    listed.set_result(["dumps", "loads"])
    started = time.monotonic()
    assert PendingNames(Future(), started + 60, module=listed).result() == ["dumps", "loads"]
    assert time.monotonic() - started < 1.0
    # After `self.`, what its class declares, when jedi's answer or an earlier one is not in.
    declared = PendingNames(Future(), started + 60, declared=["size", "area"])
    assert declared.result() == ["size", "area"]
    assert PendingNames(failed, started, declared=["size"]).result() == ["size"]
    assert PendingNames(Future(), started, earlier=["x"], declared=["y"]).result() == ["x"]
    # `ready`: whether `result` answers without waiting (decoding then scores the names alone).
    assert pending.ready() and declared.ready() and PendingNames(failed, started + 60).ready()
    assert not PendingNames(Future(), time.monotonic() + 60).ready()  # jedi still at work
    assert not PendingNames(Future(), time.monotonic() + 60, module=Future()).ready()
    assert PendingNames(Future(), time.monotonic() - 1).ready()  # past its deadline


def test_members_the_document_declares_serve_before_jedi_has_read_the_class(
    analyzer: StaticAnalyzer, tmp_path: Path
) -> None:
    package = tmp_path / "shapes"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "base.py").write_text("class Shape:\n    def area(self):\n        return 0\n")
    before = (
        "from .base import Shape\n\n\nclass Square(Shape):\n    def __init__(self, side):\n"
        "        self.side = side\n\n    def grow(self):\n        self."
    )
    path = str(package / "square.py")
    # A base in the project's source is read there at once: the worker is not asked.
    analyzer.list_ahead(path, before)
    pending = analyzer.names_at(path, before, "", wait_s=0.0)
    assert pending.declared is not None
    assert {"side", "grow", "__init__", "area"} <= set(pending.declared)
    assert "Shape" not in pending.declared  # what the class reads is no member
    assert not analyzer._classes
    # An installed base is listed by the worker, asked ahead on the document's edits.
    installed = before.replace("from .base import Shape", "from pytest import MonkeyPatch")
    installed = installed.replace("Square(Shape)", "Patch(MonkeyPatch)")  # no earlier answer
    analyzer.list_ahead(path, installed)
    listed = analyzer._classes
    wait_until(lambda: bool(listed) and all(f.done() for f in listed.values()))
    assert {"setenv", "__class__"} <= set(listed[(path, "MonkeyPatch")].result() or ())
    pending = analyzer.names_at(path, installed, "", wait_s=0.0)
    assert {"side", "grow", "setenv"} <= set(pending.declared or ())
    # A name the document declares plainly has its class's members: a builtin's and the
    # project's own class's at once (read from its module), any other imported class's once
    # the worker has listed it (asked at the first `.` after it).
    spans = "def f():\n    spans = []\n    spans."
    assert "append" in (analyzer.names_at(path, spans, "", wait_s=0.0).declared or ())
    typed = "from .base import Shape\n\n\ndef paint(shape: 'Shape'):\n    shape."
    pending = analyzer.names_at(str(package / "paint.py"), typed, "", wait_s=0.0)
    assert "area" in (pending.declared or ()) and "side" not in (pending.declared or ())
    assert not any(key[1] == "Shape" for key in analyzer._classes if key[0].endswith("paint.py"))
    typed = "from pytest import MonkeyPatch\n\n\ndef paint(shape: MonkeyPatch):\n    shape."
    analyzer.names_at(str(package / "paint.py"), typed, "", wait_s=0.0)
    wait_until(lambda: all(f.done() for f in analyzer._classes.values()))
    # In another function: jedi's answer at the first `.` may be in and would serve there.
    elsewhere = typed.replace("def paint", "def fill")
    pending = analyzer.names_at(str(package / "paint.py"), elsewhere, "", wait_s=0.0)
    assert pending.earlier is None
    assert "setenv" in (pending.declared or ())
    # A base jedi cannot find leaves the list unknown: the class may have any member.
    unknown = before.replace("from .base import Shape", "from .nowhere import Shape")
    analyzer.list_ahead(str(package / "other.py"), unknown)
    wait_until(lambda: all(f.done() for f in analyzer._classes.values()))
    assert analyzer.names_at(str(package / "other.py"), unknown, "", wait_s=0.0).declared is None


def test_receivers_are_told_apart_by_the_scope_they_are_read_in() -> None:
    assert receiver_key(CLASSES + "        self.") == ("self", "class Point")
    assert receiver_key(CLASSES + "        x.y.") == ("x.y", "def move")
    assert receiver_key("import os\nos.path.") == ("os.path", "")
    assert receiver_key("x = f().") is None  # a call's value may differ each time


def test_a_workspace_package_that_is_not_installed_has_its_members_listed(
    tmp_path: Path,
) -> None:
    package = tmp_path / "proj" / "src" / "shapes_pkg_x"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from .circle import Circle\nAREA = 1\n")
    (package / "circle.py").write_text("class Circle: ...\n")
    assert module_members("shapes_pkg_x") is None  # not on sys.path
    members = module_members("shapes_pkg_x", str(package / "__init__.py"))
    assert members is not None and {"Circle", "AREA", "circle"} <= set(members)
    index = WorkspaceNames(tmp_path, debounce_s=0.0)
    index.start()
    try:
        assert index.wait_idle()
        document = tmp_path / "proj" / "tests" / "test_shapes.py"
        assert index.module_file("shapes_pkg_x", document) == package / "__init__.py"
        assert index.module_file("shapes_pkg_x.circle", document) == package / "circle.py"
        analyzer = StaticAnalyzer(str(tmp_path))
        analyzer.locate = lambda module, path: str(index.module_file(module, None) or "")
        try:
            source = "import shapes_pkg_x\n\nshapes_pkg_x."
            pending = analyzer.names_at(str(document), source, "", wait_s=60)
            assert pending.module is not None
            assert {"Circle", "AREA"} <= set(pending.module.result(timeout=60) or ())
        finally:
            analyzer.close()
    finally:
        index.stop()


def test_the_modules_a_document_imports_are_listed_before_its_first_dot(
    analyzer: StaticAnalyzer, tmp_path: Path
) -> None:
    """Listing `json` when its `.` is typed took longer than the wait on a busy machine."""
    path = str(tmp_path / "m.py")
    analyzer.list_ahead(path, "import json\nimport os.path as osp\n")
    wait_until(lambda: all(f.done() for f in analyzer._modules.values()))
    assert {module for module, _ in analyzer._modules} == {"json", "os.path"}
    names = analyzer.names_at(path, "import json\n\njson.", "", wait_s=0.0).result()
    assert names is not None and "dumps" in names  # not waited for: it was there already


def test_the_document_is_read_once_per_question_not_per_keystroke(
    analyzer: StaticAnalyzer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = []
    declared = analyzer._declared_members
    monkeypatch.setattr(analyzer, "_declared_members", lambda *a: reads.append(a) or declared(*a))
    path, before = str(tmp_path / "m.py"), "def f():\n    spans = []\n    spans."
    for _ in range(3):  # the `.`, then two keystrokes of the member's name: the same question
        assert "append" in (analyzer.names_at(path, before, "", wait_s=0.0).declared or ())
    assert len(reads) == 1
    # Where a class the document imports is still being listed, its members may be in by now.
    waiting: Future[list[str] | None] = Future()
    analyzer._classes[(path, "Decoder")] = waiting
    unknown = "def f(x):\n    x."
    analyzer.names_at(path, unknown, "", wait_s=0.0)
    analyzer.names_at(path, unknown, "", wait_s=0.0)
    assert len(reads) == 3
