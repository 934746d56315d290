"""The completion service without LSP: memory bounds, document lifetime, model failures."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

import pytest

from grucomplete.model import checkpoint
from grucomplete.model import completions as completions_module
from grucomplete.model.checkpoint import load_checkpoint, save_checkpoint
from grucomplete.model.decode_options import StopAt
from grucomplete.model.lm import GRULanguageModel
from grucomplete.model.tokenizer import train_tokenizer
from grucomplete.model.window import CHUNK
from grucomplete.server import deferred_line
from grucomplete.server.completion_service import CompletionService
from grucomplete.server.options import CacheOptions, ServerOptions, parse_options
from grucomplete.server.pending_names import PendingNames

from .conftest import TOY_SOURCES

MAIN = "import os\nimport sys\n\n\ndef main():\n    path = os."


def service_for(model: Path, **cache: int) -> CompletionService:
    options = ServerOptions(
        model=str(model), precision="fp32", latency_budget_ms=10_000, cache=CacheOptions(**cache)
    )
    service = CompletionService(options)
    service.load_model().result()
    return service


def complete(service: CompletionService, uri: str, text: str, lines: bool | None = None):
    return service.executor.submit(service.complete, uri, text, None, lines).result()


def test_least_recently_used_documents_are_dropped(tiny_model_dir: Path) -> None:
    service = service_for(tiny_model_dir, max_documents=3)
    for n in range(5):
        complete(service, f"file:///doc{n}.py", MAIN)
    assert list(service.sessions) == ["file:///doc2.py", "file:///doc3.py", "file:///doc4.py"]
    assert complete(service, "file:///doc0.py", MAIN).words[0].label == "path"  # rebuilt
    service.shutdown()


def test_close_frees_the_documents_state(tiny_model_dir: Path) -> None:
    service = service_for(tiny_model_dir)
    service.prefill("file:///a.py", "".join(TOY_SOURCES) * 5).result()
    assert "file:///a.py" in service.sessions
    service.close("file:///a.py")
    service.executor.submit(lambda: None).result()  # closing runs in order on the worker
    assert service.sessions == {}
    service.shutdown()


def test_missing_model_gives_no_completions_then_recovers(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    messages: list[tuple[str, bool]] = []
    options = ServerOptions(model=str(tmp_path / "model"), precision="fp32")
    service = CompletionService(options, lambda text, error: messages.append((text, error)))
    service.load_model().result()
    assert complete(service, "file:///a.py", MAIN) is None
    assert messages and messages[0][1] and "model directory not found" in messages[0][0]
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    service.load_model().result()
    assert complete(service, "file:///a.py", MAIN).words[0].label == "path"
    assert messages[-1] == (f"grucomplete: model loaded from {tmp_path / 'model'}", False)
    service.shutdown()


def test_corrupt_model_is_reported_once_and_keeps_serving_nothing(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    (model / "model.safetensors").write_bytes(b"garbage")
    messages: list[tuple[str, bool]] = []
    service = CompletionService(
        ServerOptions(model=str(model)), lambda t, e: messages.append((t, e))
    )
    service.load_model().result()
    service.load_model().result()
    assert len(messages) == 1 and "unreadable weights" in messages[0][0]
    assert complete(service, "file:///a.py", MAIN) is None
    service.shutdown()


def test_the_popup_and_the_ghost_text_of_one_keystroke_do_not_cancel_each_other(
    tiny_model_dir: Path,
) -> None:
    service = service_for(tiny_model_dir)
    popup = service.supersede("file:///a.py", "completion")
    ghost = service.supersede("file:///a.py", "inline")
    assert not popup.is_set() and not ghost.is_set()
    assert service.supersede("file:///a.py", "completion") and popup.is_set()  # same kind
    service.close("file:///a.py")
    assert ghost.is_set()  # closing cancels every kind
    service.shutdown()


def test_the_second_request_of_a_keystroke_reuses_the_first_answer(tiny_model_dir: Path) -> None:
    service = service_for(tiny_model_dir)
    first = complete(service, "file:///a.py", MAIN, lines=True)
    fed = service.sessions["file:///a.py"].states.ids[:]  # what the model has read
    again = complete(service, "file:///a.py", MAIN, lines=True)
    assert again is first
    typed = complete(service, "file:///a.py", MAIN + "p")  # a new keystroke computes anew
    assert typed is not first and typed.words[0].label == "path"
    assert service.sessions["file:///a.py"].states.ids[: len(fed)] == fed
    service.shutdown()


def test_a_popup_without_ghost_text_gets_its_line_decoded_after_the_answer(
    tiny_model_dir: Path,
) -> None:
    service = service_for(tiny_model_dir)
    popup = complete(service, "file:///a.py", MAIN)  # mid-line, no line to carry: words
    assert popup.words[0].label == "path" and not popup.lines_decoded
    service.executor.submit(lambda: None).result()  # the line, decoded once the answer was out
    session = service.sessions["file:///a.py"]
    runs = session.model_runs
    line = complete(service, "file:///a.py", MAIN, lines=True).lines[0].insert
    assert session.model_runs == runs  # decoded already
    typed = complete(service, "file:///a.py", MAIN + line[:2])
    assert typed.lines and typed.lines[0].insert == line[2:]  # carried while it is followed
    assert not popup.lines and session.model_runs <= runs + 1  # no line decoded for it
    service.shutdown()


def test_a_request_interrupts_the_line_decoded_in_the_background(tiny_model_dir: Path) -> None:
    service = service_for(tiny_model_dir)
    gate = threading.Event()
    answer = service.executor.submit(service.complete, "file:///a.py", MAIN)
    service.executor.submit(gate.wait)  # the worker is busy: the popup's line waits behind
    assert not answer.result().lines_decoded
    service.supersede("file:///a.py")  # the next keystroke's request, arriving meanwhile
    gate.set()
    service.executor.submit(lambda: None).result()
    session = service.sessions["file:///a.py"]
    assert session.model_runs == 1  # the line never ran: a request came after its popup
    service.shutdown()


def test_a_line_waits_for_a_quiet_moment_and_a_request_within_it_goes_first(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, uri = service_for(tiny_model_dir), "file:///a.py"
    monkeypatch.setattr(deferred_line, "QUIET_S", 30.0)  # no quiet moment within the test
    assert not complete(service, uri, MAIN).lines_decoded  # its line waits on the worker
    session = service.sessions[uri]
    started = time.monotonic()
    service.supersede(uri, "completion", MAIN + "p(")  # typing on: the line is not decoded
    complete(service, uri, MAIN + "p(")
    assert session.model_runs == 2 and time.monotonic() - started < 10
    # Asked for at the line's own place, the line is decoded at once and answers it.
    started = time.monotonic()
    service.supersede(uri, "inline", MAIN + "p(")
    line = complete(service, uri, MAIN + "p(", lines=True)
    assert line.lines and session.model_runs == 3 and time.monotonic() - started < 10
    service.shutdown()


def test_after_a_quiet_moment_the_popup_s_line_is_decoded(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, uri = service_for(tiny_model_dir), "file:///a.py"
    monkeypatch.setattr(deferred_line, "QUIET_S", 0.01)
    assert not complete(service, uri, MAIN).lines_decoded
    service.executor.submit(lambda: None).result()  # behind the line
    session = service.sessions[uri]
    assert session.model_runs == 2
    runs = session.model_runs
    assert complete(service, uri, MAIN, lines=True).lines and session.model_runs == runs
    service.shutdown()


def test_a_continued_word_is_answered_at_once_while_the_worker_is_busy(
    tiny_model_dir: Path,
) -> None:
    service = service_for(tiny_model_dir)
    uri = "file:///a.py"
    first = complete(service, uri, MAIN, lines=False)
    assert first.words[0].label == "path"
    assert service.answer_at_once(uri, MAIN + "p(", lines=False) is None  # the model must run
    gate = threading.Event()
    busy = service.executor.submit(gate.wait)  # the worker decodes something long
    session = service.sessions[uri]
    runs, requests = session.model_runs, service.requests
    typed = service.answer_at_once(uri, MAIN + "pa", lines=False)
    assert typed is not None and typed.typed == "pa" and typed.words[0].label == "path"
    assert session.model_runs == runs and service.requests == requests + 1
    assert not busy.done()  # answered beside the busy worker, not behind it
    gate.set()
    # The next keystroke continues from the answer given at once, on the worker as well.
    assert complete(service, uri, MAIN + "pat", lines=False).words[0].insert == "h"
    assert session.model_runs == runs
    service.shutdown()


def test_a_model_swapped_while_running_for_another_vocabulary(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A retrained model is picked up; a half-swapped one is refused, then recovered from."""
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    messages: list[tuple[str, bool]] = []
    options = ServerOptions(model=str(model), precision="fp32", latency_budget_ms=10_000)
    service = CompletionService(options, lambda t, e: messages.append((t, e)))
    service.load_model().result()
    service.watch_model(interval_s=0.05)
    assert complete(service, "file:///a.py", MAIN).words[0].label == "path"

    def wait_for(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 20
        while not condition():
            assert time.monotonic() < deadline, messages
            time.sleep(0.05)

    # Only the tokenizer of another model lands (a copy caught half way): refused, no garbage.
    other = train_tokenizer(iter(["something else entirely = 1\n"] * 50), vocab_size=300)
    other.save(model / "tokenizer.json")
    wait_for(lambda: bool(messages) and messages[-1][1])
    assert "tokenizer.json: does not match" in messages[-1][0]
    assert complete(service, "file:///a.py", MAIN) is None  # empty, never the old states
    # The whole retrained model (another vocabulary) lands: it is loaded and used.
    checkpoint = load_checkpoint(tiny_model_dir)
    fresh = GRULanguageModel(replace(checkpoint.model.config, vocab_size=other.vocab_size))
    save_checkpoint(model, fresh, other, {"purpose": "retrained"})
    wait_for(lambda: not messages[-1][1])
    result = complete(service, "file:///a.py", MAIN)
    assert result is not None and service.engine.tokenizer.vocab_size == other.vocab_size
    service.shutdown()


def test_a_request_arriving_mid_preparation_is_answered_first(tiny_model_dir: Path) -> None:
    """Background preparation runs in slices queued behind requests: a request submitted
    while it runs is answered after at most the slice in progress, and preparation goes on."""
    service = service_for(tiny_model_dir)
    service.preparation.log = []
    uri = "file:///big.py"
    text = "".join(TOY_SOURCES) * 40
    service.prefill(uri, text[:200]).result()
    service.preparation.prepare(uri, text, idle_s=0)
    while not any(e.startswith("prepare") for e in service.preparation.log):
        time.sleep(0.001)
    queued = len(service.preparation.log)
    answer = service.executor.submit(service.complete, uri, text[:300])
    assert answer.result() is not None
    log = service.preparation.log
    at = log.index(f"complete {uri}")
    assert at <= queued + 1  # behind the slice that was running, if any, not the rest
    service.preparation.prepare(uri, text, idle_s=0)
    deadline = time.monotonic() + 60
    while service.preparation.queued and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not service.preparation.queued  # it finished
    prepared = service.sessions[uri].prepared
    assert 0 < len(prepared) <= service.options.cache.prepared_windows
    service.shutdown()


def test_after_a_paste_the_state_where_it_ends_is_read_while_idle(tiny_model_dir: Path) -> None:
    service = service_for(tiny_model_dir)
    uri = "file:///paste.py"
    text = "".join(TOY_SOURCES) * 6
    service.prefill(uri, text[:100]).result()
    pasted = len(text) * 2 // 3  # a paste of many chunks, then the rest of the file below it
    service.edited(uri, text, edit_end=pasted)
    session = service.sessions[uri]
    deadline = time.monotonic() + 60
    while service.preparation.queued and time.monotonic() < deadline:
        time.sleep(0.01)
    engine = service.engine
    prompt = service.executor.submit(session.prompt, engine.heal(text[:pasted]).context)
    assert prompt.result().tokens_fed <= CHUNK
    service.shutdown()


def test_the_work_is_fitted_to_the_machine_and_settings_override_it(tiny_model_dir: Path) -> None:
    from grucomplete.model.machine_fit import Costs, fit
    from grucomplete.server.options import parse_options

    service = service_for(tiny_model_dir)
    assert service.fit is not None  # measured at load
    report = service.machine_fit()
    assert report["fitted"] and report["costs_ms"]["token_ms"] > 0
    # A slow machine: the fit reports the budgets missed, and takes a cheaper rung if offered...
    costs = Costs(token_ms=0.4, call_ms=0.1, step_ms=4.0, row_ms=0.1)
    assert fit(costs, 512).predicted_keystroke_ms > 15
    with patch("grucomplete.model.machine_fit.LADDER", [(5, 16), (4, 8)]):
        slow = fit(costs, 512)
    assert (slow.beam_width, slow.line_max_tokens, slow.context_tokens) == (4, 8, 512)
    service.fit = slow
    settings = service.request_settings()
    fitted = (settings.beam_width, settings.line_max_tokens)
    assert fitted == (slow.beam_width, slow.line_max_tokens)
    # ...but what the editor set explicitly stays as set.
    raw = {"lineMaxTokens": 16, "model": str(tiny_model_dir), "precision": "fp32"}
    options, problems = parse_options(raw)
    assert not problems and options.explicit == {"line_max_tokens", "model", "precision"}
    service.options = options
    assert service.request_settings().line_max_tokens == 16
    assert service.machine_fit()["from_settings"] == ["line_max_tokens"]
    assert complete(service, "file:///a.py", MAIN) is not None
    service.shutdown()


def test_a_machine_too_slow_for_the_default_runs_the_fast_model(
    bundled_fast: Path, cost_by_width: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="grucomplete.server")
    workspace = tmp_path / "project"
    workspace.mkdir()
    (workspace / "util.py").write_text("import os\n\n\ndef main():\n    path = os.getcwd()\n")
    service = CompletionService(ServerOptions(precision="fp32", workspace_memory=0.3))
    service.workspace_root = workspace
    service.start_workspace_memory()  # before the model loads, as `initialized` does
    service.load_model().result()
    assert service.engine is not None and service.engine.model.config.hidden_size == 448
    assert service.model_dir == bundled_fast
    assert service.workspace_memory is not None
    assert service.workspace_memory.model_dir == bundled_fast  # its keys are fast's states
    from grucomplete.server.language_server import GruCompleteServer

    ls = GruCompleteServer()  # what `grucomplete.serverStatus` answers
    ls.service.shutdown()
    ls.service = service
    status = ls.status()
    assert status["model"] == {"path": str(bundled_fast), "state": "ready"}
    fit = status["machineFit"]
    assert fit["model"] == "fast" and fit["predicted_keystroke_ms"] == 10.5
    assert fit["model_reason"] == (
        "default predicted 18.0 ms a keystroke and 72.4 ms a jump, past the budgets "
        "(15 ms, 120 ms); fast 10.5 ms a keystroke and 42.2 ms a jump, within them"
    )
    assert fit["model_reason"] in caplog.text
    assert complete(service, "file:///a.py", MAIN) is not None
    service.shutdown()


def test_a_busy_start_does_not_switch_a_machine_to_the_fast_model(
    bundled_fast: Path, cost_by_width: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grucomplete.model import machine_fit

    measured = machine_fit.measure_costs  # cost_by_width's: the default past the budgets

    def quiet_then_busy(engine, repeats: int = 5, beams: int = 5) -> machine_fit.Costs:
        costs = measured(engine, repeats, beams)
        return costs if starts else replace(costs, step_ms=costs.step_ms / 2)

    monkeypatch.setattr(machine_fit, "measure_costs", quiet_then_busy)
    models = []
    for starts in range(2):  # a quiet start, then one as busy as cost_by_width's machine
        service = CompletionService(ServerOptions(precision="fp32"))
        service.load_model().result()
        assert service.engine is not None
        models.append(service.engine.model.config.hidden_size)
        report = service.machine_fit()
        assert report["costs_from_starts"] == starts + 1
        service.shutdown()
    assert models == [768, 768]
    assert report["model"] == "default" and report["predicted_keystroke_ms"] < 15


def test_an_explicit_model_is_kept_however_slow(bundled_fast: Path, cost_by_width: None) -> None:
    options, problems = parse_options({"model": "default", "precision": "fp32"})
    assert not problems
    service = CompletionService(options)
    service.load_model().result()
    assert service.engine is not None and service.engine.model.config.hidden_size == 768
    fit = service.machine_fit()
    assert (fit["model"], fit["model_reason"]) == ("default", "set in the settings")
    assert fit["predicted_keystroke_ms"] == 18.0
    service.shutdown()


def test_without_a_bundled_fast_model_the_default_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cost_by_width: None
) -> None:
    bundled = checkpoint.bundled_model_dir
    monkeypatch.setattr(
        checkpoint,
        "bundled_model_dir",
        lambda name="default": tmp_path / "absent" if name == "fast" else bundled(name),
    )
    service = CompletionService(ServerOptions(precision="fp32"))
    service.load_model().result()
    assert service.engine is not None and service.engine.model.config.hidden_size == 768
    assert service.model_dir == checkpoint.default_model_dir()
    assert str(service.machine_fit()["model_reason"]).endswith("no fast model is bundled")
    service.shutdown()


def test_a_read_leaves_the_spare_core_to_jedi_while_it_works(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    service = service_for(tiny_model_dir)
    engine = service.engine
    assert engine is not None
    feeds: list[bool] = []
    feed = engine.feed
    monkeypatch.setattr(engine, "feed", lambda chunks, *a: feeds.append(a[-1]) or feed(chunks, *a))
    service.static = SimpleNamespace(busy=True)  # working on the question at this `.`
    assert complete(service, "file:///a.py", MAIN) is not None
    service.static = SimpleNamespace(busy=False)
    assert complete(service, "file:///a.py", MAIN + "path.") is not None
    assert feeds[0] is False and feeds[-1] is True
    service.static = None
    service.shutdown()


def test_members_static_analysis_has_in_hand_are_scored_without_a_search(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `.`, names that need no wait (what the document declares, an earlier answer)
    reach decoding in hand and no beam search of words runs; jedi still at work, it runs."""
    searched: list[list[StopAt]] = []
    real = completions_module.decode_together

    def recording(model, state, logits, index, prefix, requests, **kw):
        searched.append([stop for stop, _ in requests])
        return real(model, state, logits, index, prefix, requests, **kw)

    service = service_for(tiny_model_dir)
    monkeypatch.setattr(completions_module, "decode_together", recording)
    members = ["path", "pardir", "getcwd"]
    jedi_at_work: Future[list[str] | None] = Future()
    declared = PendingNames(jedi_at_work, time.monotonic() + 60, declared=members)
    answer = service.executor.submit(
        service.complete, "file:///a.py", MAIN, None, False, declared
    ).result()
    assert searched == [[]] and answer.words[0].label == "path"
    pending = PendingNames(jedi_at_work, time.monotonic() + 0.2)  # nothing known yet
    service.executor.submit(service.complete, "file:///b.py", MAIN, None, False, pending).result()
    assert searched[-1] == [StopAt.IDENTIFIER]
    service.shutdown()
