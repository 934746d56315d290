"""Static candidates: jedi's names at the cursor, in a worker process, ranked by the model."""

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
import torch
from lsprotocol import types

from grucomplete.model.candidate_scoring import word_probabilities
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.lm import State
from grucomplete.server.module_listing import module_members
from grucomplete.server.pending_names import PendingNames
from grucomplete.server.static_analysis import StaticAnalyzer, receiver_key
from grucomplete.server.workspace_names import WorkspaceNames

from .conftest import decode_from
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


def wait_until(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture()
def analyzer(tmp_path: Path):
    analyzer = StaticAnalyzer(str(tmp_path))
    yield analyzer
    analyzer.close()


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


# --- ranking with the model ------------------------------------------------------------------


def test_static_names_are_ranked_by_the_model_and_nothing_else_is_offered(
    tiny_engine: CompletionEngine,
) -> None:
    text = "import os\nimport sys\n\n\ndef main():\n    path = os."
    known = ["getcwd", "sep", "path"]  # alphabetical is not the model's order
    words = decode_from(tiny_engine, text, known_words=lambda: known, lines=False).words
    assert {w.label for w in words} == set(known)
    assert words[0].label == "path"  # what the toy corpus always says after `os.`


def test_a_scored_word_has_the_probability_beam_search_gives_it(
    tiny_engine: CompletionEngine,
) -> None:
    healed = tiny_engine.heal("class Point:\n    def __init__(self, x, y):\n        self.")
    logits, state = tiny_engine.prompt_state(tiny_engine.prompt_ids(healed.context))
    words = decode_from(tiny_engine, healed.context + healed.removed, lines=False).words
    scored = word_probabilities(
        tiny_engine.model,
        tiny_engine.tokenizer,
        tiny_engine.index,
        healed,
        state,
        logits,
        [w.label for w in words],
    )
    best = words[0]
    # The beam adds up every spelling of a word; scoring takes the tokenizer's own one.
    assert 0.5 * best.probability <= scored[best.label] <= best.probability * 1.001
    assert sum(scored.values()) <= 1.0 + 1e-6


def test_names_far_below_the_best_are_not_followed(tiny_engine: CompletionEngine) -> None:
    """Scoring stops following a name once it is `negligible` times less probable than the
    best: fewer model steps; the name is still offered, with a bound for its probability."""
    healed = tiny_engine.heal("class Point:\n    def __init__(self, x, y):\n        self.")
    logits, state = tiny_engine.prompt_state(tiny_engine.prompt_ids(healed.context))
    names = ["x", "y", "x_coordinate_of_the_point", "total_length_of_the_point", "yy"]

    class CountingSteps:
        steps = 0

        def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
            CountingSteps.steps += 1
            return tiny_engine.model.step(tokens, state)

    def score(negligible: float) -> tuple[dict[str, float], int]:
        CountingSteps.steps = 0
        scored = word_probabilities(
            CountingSteps(), tiny_engine.tokenizer, tiny_engine.index, healed, state, logits,
            names, negligible=negligible,
        )  # fmt: skip
        return scored, CountingSteps.steps

    every, all_steps = score(0.0)
    assert set(every) == set(names)
    best = max(every.values())
    cutoff = sorted(every.values())[1] / best * 1.01  # above the two least probable names
    cut, steps = score(cutoff)
    assert set(cut) == set(names)  # every name is still offered
    bounded = [n for n in names if cut[n] != every[n]]
    assert bounded and steps < all_steps
    for name in bounded:  # not followed to its end: its prefix's probability, a bound
        # (steps batched differently round differently: a word may edge past its prefix)
        assert every[name] <= cut[name] * (1 + 1e-4) and cut[name] < cutoff * best


def test_names_the_model_cannot_spell_after_the_typed_part_are_skipped(
    tiny_engine: CompletionEngine,
) -> None:
    healed = tiny_engine.heal("import os\nos.pa")
    logits, state = tiny_engine.prompt_state(tiny_engine.prompt_ids(healed.context))
    args = (tiny_engine.model, tiny_engine.tokenizer, tiny_engine.index, healed, state, logits)
    scored = word_probabilities(*args, ["path", "pardir", "sep"])
    assert set(scored) == {"path", "pardir"}  # `sep` does not start with what is typed


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


# --- a broken parser cache, and what health says ---------------------------------------------


def _os_members(analyzer: StaticAnalyzer) -> list[str] | None:
    """jedi's own answer (not the module's names, which come without jedi)."""
    return analyzer.names_at(None, "import os\nos.", "", wait_s=60).future.result(timeout=60)


def test_a_truncated_parser_cache_heals_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed while parso wrote a pickle leaves it truncated: loading it raised
    `EOFError: Ran out of input` at every `.`, until the user deleted the file."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # jedi's cache goes there
    first = StaticAnalyzer(str(tmp_path))
    try:
        assert "getcwd" in _os_members(first)
    finally:
        first.close()
    pickles = list((tmp_path / "cache").rglob("*.pkl"))
    assert pickles, "jedi cached no parsed module"
    for pickle_file in pickles:
        pickle_file.write_bytes(pickle_file.read_bytes()[:10])  # as if killed mid-write
    second = StaticAnalyzer(str(tmp_path))
    try:
        names = _os_members(second)
        assert names is not None and {"getcwd", "path", "environ"} <= set(names)
        assert second.status()["state"] == "ok", second.status()
        assert _os_members(second) is not None  # and again, from the rewritten cache
    finally:
        second.close()
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # pickles are written whole


def test_failing_static_analysis_is_reported_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cache folder that cannot be made: every question jedi answers fails the same way.
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    analyzer = StaticAnalyzer(str(tmp_path))
    try:
        assert _os_members(analyzer) is None
        status = analyzer.status()
        assert status["state"] == "failing", status
        assert "NotADirectoryError" in status["reason"], status
    finally:
        analyzer.close()


def test_the_server_reports_static_analysis_in_its_status(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "not-a-folder").write_text("")
    server = RawServer(env={"XDG_CACHE_HOME": str(tmp_path / "not-a-folder")})
    try:
        server.initialize(tiny_model_dir, staticWaitMs=30_000)
        server.open("file:///tmp/grucomplete-test/m.py", "import os\nos.")
        server.wait(server.completion("file:///tmp/grucomplete-test/m.py", 1, 3), timeout=60)
        reply = server.call(
            "workspace/executeCommand", {"command": "grucomplete.serverStatus", "arguments": []}
        )
        status = reply["result"]
        assert status["model"]["state"] == "ready", status
        assert status["staticAnalysis"]["state"] == "failing", status
        assert "NotADirectoryError" in status["staticAnalysis"]["reason"], status
        # What was fitted to this machine, and the workspace memory (off by default).
        assert status["machineFit"]["beam_width"] == 5, status
        assert status["workspaceMemory"]["state"] == "off", status
    finally:
        server.close()


# --- a module's members, before jedi has parsed it --------------------------------------------


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
