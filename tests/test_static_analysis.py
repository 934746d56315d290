"""Static candidates: jedi's names at the cursor, from a worker process, in the analyzer and
in the language server (`server/static_analysis.py`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest
from lsprotocol import types

from grucomplete.server.pending_names import PendingNames
from grucomplete.server.static_analysis import StaticAnalyzer

from .conftest import wait_until
from .raw_lsp import RawServer
from .test_completion_service import service_for
from .test_server_lsp import complete, open_doc, start

CLASS_SOURCE = (
    "class Foo:\n"
    "    def __init__(self):\n"
    "        self.alpha = 1\n"
    "        self.beta_value = 2\n"
    "\n"
    "    def gamma(self):\n"
    "        return self.alpha\n"
    "\n"
    "\n"
    "foo = Foo()\n"
    "foo."
)


def test_jedi_names_the_members_of_a_class_in_the_file(analyzer: StaticAnalyzer, tmp_path: Path):
    names = analyzer.names_at(str(tmp_path / "m.py"), CLASS_SOURCE, "", wait_s=60).result()
    assert {"alpha", "beta_value", "gamma"} <= set(names)
    assert "path" not in names  # what a model might invent after a dot


def test_code_after_the_cursor_counts(analyzer: StaticAnalyzer, tmp_path: Path) -> None:
    # A function defined below the cursor is in scope where it is called.
    after = "\n\n\ndef helper_below():\n    pass\n"
    before = "def f():\n    return hel"
    names = analyzer.names_at(str(tmp_path / "m.py"), before, after, wait_s=60).result()
    assert "helper_below" in names


def test_the_same_question_twice_runs_jedi_once(analyzer: StaticAnalyzer) -> None:
    first = analyzer.names_at(None, "import os\nos.", "", wait_s=60)
    second = analyzer.names_at(None, "import os\nos.", "", wait_s=60)
    assert second.future is first.future
    assert "path" in second.result()


def test_a_killed_worker_is_restarted(analyzer: StaticAnalyzer) -> None:
    assert "path" in analyzer.names_at(None, "import os\nos.", "", wait_s=60).result()
    analyzer.worker._process.kill()
    analyzer.worker._process.wait()
    names = analyzer.names_at(None, "import sys\nsys.", "", wait_s=60).result()
    assert "argv" in names
    assert analyzer.disabled is None


def test_without_jedi_static_analysis_is_off_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "site"
    fake.mkdir()
    (fake / "jedi.py").write_text("raise ImportError('No module named jedi')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    analyzer = StaticAnalyzer(None)
    try:
        analyzer.start()
        wait_until(lambda: analyzer.disabled is not None)
        assert "grucomplete[static]" in analyzer.disabled
        assert analyzer.names_at(None, "import os\nos.", "", wait_s=1).result() is None
    finally:
        analyzer.close()


def test_huge_documents_are_not_analyzed(analyzer: StaticAnalyzer) -> None:
    text = "x = 1\n" * 200_000 + "x."
    started = time.monotonic()
    assert analyzer.names_at(None, text, "", wait_s=60).result() is None
    assert time.monotonic() - started < 1


def test_a_late_answer_is_not_waited_for() -> None:
    never: Future[list[str] | None] = Future()
    started = time.monotonic()
    assert PendingNames(never, time.monotonic() + 0.05).result() is None
    assert 0.04 < time.monotonic() - started < 2


# --- in the language server ------------------------------------------------------------------


async def _member_labels(model: Path, **options) -> list[str]:
    client = await start(model, **options)
    try:
        open_doc(client, CLASS_SOURCE)
        line = CLASS_SOURCE.count("\n")
        result = await complete(client, line, len("foo."))
        return [i.label for i in result.items if i.kind == types.CompletionItemKind.Variable]
    finally:
        await client.shutdown_session()


async def test_the_server_offers_only_members_the_receiver_has(tiny_model_dir: Path) -> None:
    labels = await _member_labels(tiny_model_dir, staticWaitMs=30_000)
    members = {"alpha", "beta_value", "gamma"}
    assert members <= set(labels)
    assert all(label in members or label.startswith("__") for label in labels), labels


async def test_static_analysis_can_be_turned_off(tiny_model_dir: Path) -> None:
    labels = await _member_labels(tiny_model_dir, staticAnalysis=False)
    # The toy model knows nothing of Foo: alone, it offers the attributes of its corpus.
    assert not {"alpha", "beta_value", "gamma"} <= set(labels)


def test_the_worker_never_imports_workspace_files(tmp_path: Path) -> None:
    # A workspace `json.py` would shadow the worker's own imports if the cwd were on sys.path.
    (tmp_path / "json.py").write_text("raise SystemExit('workspace code ran')\n")
    analyzer = StaticAnalyzer(str(tmp_path))
    try:
        assert "path" in analyzer.names_at(None, "import os\nos.", "", wait_s=60).result()
    finally:
        analyzer.close()


def test_one_keystroke_asks_jedi_once_and_only_for_members(tiny_model_dir: Path) -> None:
    service = service_for(tiny_model_dir)
    service.options.static_wait_ms = 30_000  # a cold jedi takes longer than a keystroke's wait
    service.start_static_analysis()
    uri = "file:///tmp/grucomplete-test/m.py"
    try:
        first, second = "import os\nos.pa", "import os\nos.pat"
        asked = service.static_names(uri, first, first)
        assert service.static_names(uri, first, first).future is asked.future  # popup, ghost
        # Typing the member's name keeps the receiver: the list `os.` asked for serves it.
        assert service.static_names(uri, second, second).future is asked.future
        other = "import os\nos.path.jo"
        assert service.static_names(uri, other, other).future is not asked.future
        assert service.static_names(uri, "x = 1\n", "x = 1\n") is None  # a line, not a name
        assert service.static_names(uri, "x = 12", "x = 12") is None  # a number
        assert service.static_names(uri, "x = fo", "x = fo") is None  # a name, not a member
        pending = service.static_names(uri, second, second)
        result = service.executor.submit(service.complete, uri, second, None, False, pending)
        words = [w.label for w in result.result().words]
        assert words and set(words) <= set(pending.future.result())
        assert all(w.startswith("pat") for w in words)
        service.reconfigure(replace(service.options, static_analysis=False))
        assert service.static is None
        assert service.static_names(uri, second, second) is None
    finally:
        service.shutdown()


@pytest.mark.parametrize("ending", ["shutdown", "kill -9"])
def test_the_worker_ends_with_the_server(tiny_model_dir: Path, ending: str) -> None:
    server = RawServer()
    try:
        server.initialize(tiny_model_dir)
        children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
        wait_until(lambda: children.read_text().split())
        worker = int(children.read_text().split()[0])
        if ending == "shutdown":
            server.close()
        else:
            server.proc.kill()
            server.proc.wait()
        wait_until(lambda: not _alive(worker), timeout_s=10)
    finally:
        server.close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def test_a_file_whose_answers_come_late_is_not_waited_for(analyzer: StaticAnalyzer) -> None:
    slow = analyzer.names_at("/tmp/big.py", "import os\nos.", "", wait_s=0.0)
    assert slow.future.result(timeout=60) is not None  # it came, after a 0 ms wait
    started = time.monotonic()
    assert analyzer.names_at("/tmp/big.py", "import os\nos.pa", "", wait_s=60).result() is None
    assert time.monotonic() - started < 1  # not waited for...
    wait_until(lambda: analyzer._late["/tmp/big.py"] is False)  # ...until one is in time
    assert "path" in analyzer.names_at("/tmp/big.py", "import os\nos.p", "", wait_s=60).result()


def test_static_python_chooses_whose_packages_jedi_sees(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "only_in_that_venv.py").write_text("def installed_there():\n    pass\n")
    code = "import only_in_that_venv\nonly_in_that_venv."
    for python, expected in ((str(venv / "bin" / "python"), True), ("", False)):
        analyzer = StaticAnalyzer(None, python)
        try:
            names = analyzer.names_at(str(tmp_path / "m.py"), code, "", wait_s=60).result()
            assert ("installed_there" in names) is expected
        finally:
            analyzer.close()


def test_a_static_python_that_is_not_one_turns_static_analysis_off(tmp_path: Path) -> None:
    analyzer = StaticAnalyzer(None, str(tmp_path / "no-python"))
    try:
        assert analyzer.names_at(None, "x = 1\nx.", "", wait_s=60).result() is None
        wait_until(lambda: analyzer.disabled is not None)
        assert "staticPython" in analyzer.disabled and "no-python" in analyzer.disabled
    finally:
        analyzer.close()


class _Recorder:
    disabled = None
    busy = False

    def __init__(self) -> None:
        self.warmed: list[str] = []
        self.listed: list[str] = []
        self.forgotten: list[str] = []

    def warm(self, path: str, text: str) -> None:
        self.warmed.append(path)

    def list_ahead(self, path: str, text: str) -> None:
        self.listed.append(path)

    def forget(self, path: str) -> None:
        self.forgotten.append(path)


def test_an_opened_file_is_warmed_on_its_first_edit_only(tiny_model_dir: Path) -> None:
    service = service_for(tiny_model_dir)
    recorder = _Recorder()
    service.static = recorder  # type: ignore[assignment]  # what the service asks, not jedi
    try:
        uri, new, untitled = (
            "file:///tmp/grucomplete-test/edited.py",
            "file:///tmp/grucomplete-test/new.py",
            "untitled:Untitled-1",
        )
        for opened, text in ((uri, "import os\n"), (new, ""), (untitled, "import os\n")):
            service.opened(opened, text).result()
        assert recorder.warmed == []  # opening alone warms nothing
        service.edited(uri, "import os\nx")
        service.edited(uri, "import os\nxy")
        service.edited(new, "import os\n")  # begun empty: its questions parse it as it grows
        service.edited(untitled, "import os\nx")  # no file for jedi to resolve imports from
        assert recorder.warmed == ["/tmp/grucomplete-test/edited.py"]
        # The modules a file imports are listed on its edits, begun empty or not (once each).
        assert set(recorder.listed) == {
            "/tmp/grucomplete-test/edited.py",
            "/tmp/grucomplete-test/new.py",
        }
        service.close(uri)
        assert recorder.forgotten == ["/tmp/grucomplete-test/edited.py"]  # what it kept goes
        service.opened(uri, "import os\n").result()
        service.edited(uri, "import os\nx")  # opened again: a new first edit
        assert len(recorder.warmed) == 2
    finally:
        service.static = None
        service.shutdown()


def test_the_worker_answers_a_question_after_a_warm_up(
    analyzer: StaticAnalyzer, tmp_path: Path
) -> None:
    path = str(tmp_path / "m.py")
    analyzer.warm(path, CLASS_SOURCE + "alpha\n")
    names = analyzer.names_at(path, CLASS_SOURCE, "alpha\n", wait_s=60).result()
    assert {"alpha", "beta_value", "gamma"} <= set(names)
    wait_until(lambda: not analyzer.busy)


def test_a_stalled_worker_never_blocks_the_caller(analyzer: StaticAnalyzer, tmp_path: Path) -> None:
    assert "path" in analyzer.names_at(None, "import os\nos.", "", wait_s=60).result()
    assert analyzer.worker._process is not None
    pid = analyzer.worker._process.pid
    big = "x = 1\n" * 50_000 + "x."  # 300 KB: more than a pipe holds
    asked: list[PendingNames] = []
    os.kill(pid, signal.SIGSTOP)  # a worker deep in jedi reads nothing for a while
    try:
        caller = threading.Thread(
            target=lambda: asked.append(
                analyzer.names_at(str(tmp_path / "big.py"), big, "", wait_s=0.05)
            )
        )
        caller.start()
        caller.join(timeout=10)
        assert not caller.is_alive(), "the request waited for the worker to read it"
        assert asked[0].result() is None  # nothing in time from a stopped worker
    finally:
        os.kill(pid, signal.SIGCONT)
    assert "real" in asked[0].future.result(timeout=60)  # it came once the worker read on
