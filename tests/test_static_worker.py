"""The static-analysis worker process on its own: its protocol, its warm-ups, its memory bound."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grucomplete.server import static_worker


def test_the_worker_forgets_parsed_modules_past_its_bound(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import parso.cache

    jedi = static_worker._Jedi()
    request = {"path": str(tmp_path / "m.py"), "before": "import json\njson.", "root": None}
    assert "dumps" in jedi.names(request)
    cached = sum(len(c) for c in parso.cache.parser_cache.values())
    monkeypatch.setattr(static_worker, "MAX_MODULES", cached)
    jedi.bound_memory()
    assert sum(len(c) for c in parso.cache.parser_cache.values()) == cached  # within bound
    monkeypatch.setattr(static_worker, "MAX_MODULES", cached - 1)
    jedi.bound_memory()
    assert sum(len(c) for c in parso.cache.parser_cache.values()) == 0
    assert "dumps" in jedi.names(request)  # parsed again when needed


def test_warming_a_file_parses_the_modules_it_imports(tmp_path: Path) -> None:
    import parso.cache

    (tmp_path / "helpers_mod.py").write_text("class Tool:\n    def run(self):\n        pass\n")

    def parsed() -> set[str]:
        return {Path(p).name for cache in parso.cache.parser_cache.values() for p in cache}

    jedi = static_worker._Jedi()
    assert "helpers_mod.py" not in parsed()
    source = "from helpers_mod import Tool\nimport json\n\ntool = Tool()\n"
    jedi.warm({"path": str(tmp_path / "m.py"), "before": source, "root": str(tmp_path)})
    assert {"helpers_mod.py", "m.py"} <= parsed()


def test_questions_are_answered_before_warm_ups() -> None:
    _newest = static_worker._newest
    warm = {"id": 1, "path": "/a.py", "warm": True}
    question, newer = {"id": 2, "path": "/b.py"}, {"id": 3, "path": "/b.py"}
    assert _newest([warm, question, newer]) == (newer, [question])
    assert _newest([warm]) == (warm, [])
    # A question for the warmed file supersedes its warm-up: the question parses it anyway,
    # and a warm-up that comes after a question never supersedes it.
    same_file = {"id": 4, "path": "/a.py"}
    assert _newest([warm, same_file]) == (same_file, [warm])
    assert _newest([same_file, warm]) == (same_file, [warm])
    # A base class's members are asked once each, in turn: never superseded.
    base = {"id": 5, "path": "/a.py", "members_of": "Base"}
    other = {"id": 6, "path": "/a.py", "members_of": "Other"}
    assert _newest([base, other, same_file]) == (base, [])
    assert _newest([other, same_file, {**same_file, "id": 7}]) == (other, [])
    assert _newest([same_file, base]) == (same_file, [])


def test_a_base_class_is_asked_about_beside_the_document_not_in_it(tmp_path: Path) -> None:
    import parso.cache

    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "base.py").write_text("class Base:\n    def run(self):\n        pass\n")
    path = str(tmp_path / "m.py")
    jedi = static_worker._Jedi()
    question = {"path": path, "before": "from .base import Base", "root": str(tmp_path)}
    assert "run" in jedi.names({**question, "members_of": "Base"})
    # parso keeps one parse per path: the document's own is left for its next question.
    parsed = {str(p) for cache in parso.cache.parser_cache.values() for p in cache}
    assert str(tmp_path / static_worker.BASES_FILE) in parsed and path not in parsed


def test_a_question_right_after_an_edit_makes_its_warm_up_needless(tmp_path: Path) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "grucomplete.server.static_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        assert json.loads(worker.stdout.readline()) == {"id": None, "ready": True}
        path = str(tmp_path / "m.py")
        for request in (
            {"id": 1, "path": path, "before": "import os\n", "warm": True},
            {"id": 2, "path": path, "before": "import os\nos.pa"},  # within WARM_DELAY_S
            {"id": 3, "path": str(tmp_path / "n.py"), "before": "import os\n", "warm": True},
        ):
            worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()
        answers = [json.loads(worker.stdout.readline()) for _ in range(3)]
        assert answers[0] == {"id": 1, "skipped": True}
        assert answers[1]["id"] == 2 and "path" in answers[1]["names"]
        assert answers[2] == {"id": 3, "names": None}  # no question came: it warmed n.py
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)


def test_a_package_is_imported_from_above_its_outermost_init(tmp_path: Path) -> None:
    package = tmp_path / "src" / "pkg" / "sub"
    package.mkdir(parents=True)
    for folder in (package, package.parent):
        (folder / "__init__.py").write_text("")
    (package / "mod.py").write_text("")
    (tmp_path / "script.py").write_text("")
    assert static_worker.import_root(str(package / "mod.py")) == str(tmp_path / "src")
    assert static_worker.import_root(str(tmp_path / "script.py")) is None  # not in a package
    assert static_worker.import_root(None) is None


def test_relative_imports_resolve_in_a_package_below_the_workspace_folder(tmp_path: Path) -> None:
    # A workspace holding a project whose folder is no module name (`tool-1.0`): jedi named the
    # module by its path under the workspace and could not follow its relative imports.
    package = tmp_path / "tool-1.0" / "tool"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text("class Thing:\n    def frobnicate(self):\n        pass\n")
    use = package / "use.py"
    before = "from .models import Thing\n\n\ndef run(thing: Thing):\n    thing."
    use.write_text(before)
    request = {"path": str(use), "before": before, "root": str(tmp_path)}
    assert "frobnicate" in static_worker._Jedi().names(request)


def test_parameters_are_not_inferred_from_calls_in_other_modules(tmp_path: Path) -> None:
    # That search reads every module of the project at each question (`configure`).
    (tmp_path / "caller.py").write_text(
        "from helper import show\n\n\nclass Thing:\n    def frobnicate(self):\n        pass\n\n\n"
        "show(Thing())\n"
    )
    helper = tmp_path / "helper.py"
    before = "def show(item):\n    item."
    helper.write_text(before)
    request = {"path": str(helper), "before": before, "root": str(tmp_path)}
    assert "frobnicate" not in static_worker._Jedi().names(request)
