"""`grucomplete eval`: scoring rules checked by hand, and runs on toy files the tiny model knows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.engine import CompletionEngine
from grucomplete.training.cli import main as grucomplete_main
from grucomplete.training.evaluation.command import main
from grucomplete.training.evaluation.metrics import (
    TokenStats,
    edit_similarity,
    hit_rank,
    levenshtein,
    score_line,
    simulate_typing,
    summarize_typing,
    summarize_words,
)
from grucomplete.training.evaluation.model_eval import FilePrompts
from grucomplete.training.evaluation.queries import SampleConfig, load_files, plan_queries

from .conftest import TOY_SOURCES

# --- scoring rules, by hand -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("ab", "ba", 2)],
)
def test_levenshtein(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == levenshtein(b, a) == distance


def test_edit_similarity_is_one_minus_distance_over_the_longer() -> None:
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("x", "") == 0.0


def test_a_word_hits_when_it_ends_where_the_identifier_ends() -> None:
    # The gauge's rule: "foo(" completes foo, "foobar" is another name.
    assert hit_rank(["foobar", "fo", "foo(", "foo"], "foo") == 3
    assert hit_rank(["foobar"], "foo") is None
    summary = summarize_words([1, 3, None, 6])
    assert summary["top1"] == 0.25 and summary["top5"] == 0.5
    assert summary["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 6) / 4)


def test_line_scores_compare_stripped_first_lines() -> None:
    score = score_line(["x = 2", "x = 1  \nmore"], "x = 1")
    assert (score.em1, score.em5) == (False, True)
    assert score.es1 == pytest.approx(1 - 1 / 5)
    assert score_line([], "x = 1").es1 == 0.0


LINE = "total = values.sum()"
WORDS = [(0, 5), (8, 14), (15, 18)]  # total, values, sum


def test_typing_with_always_right_suggestions_costs_one_key_per_word() -> None:
    oracle = {p: LINE[s:e] for s, e in WORDS for p in range(s, e)}
    result = simulate_typing(LINE, WORDS, oracle.get)
    # 3 accepts, plus the 6 characters outside words: " ", "=", " ", ".", "(", ")"
    assert result.keystrokes == 3 + 6 and result.accepted == 3
    assert result.saved == pytest.approx(1 - 9 / 20)


def test_typing_with_always_wrong_suggestions_saves_nothing() -> None:
    asked: list[int] = []

    def fool(p: int) -> str:
        asked.append(p)
        return "nonsense"

    result = simulate_typing(LINE, WORDS, fool)
    assert (result.keystrokes, result.baseline, result.saved) == (20, 20, 0.0)
    assert asked == [p for s, e in WORDS for p in range(s, e)]  # asked inside words only


def test_typing_takes_a_word_once_it_is_suggested() -> None:
    # Right only after two characters of "values" are typed: t-o-t-a-l typed, then v, a, accept.
    result = simulate_typing(LINE, WORDS, lambda p: "values" if p == 10 else None)
    assert result.keystrokes == 20 - 6 + 2 + 1 and result.accepted == 1
    totals = summarize_typing([result, simulate_typing("ab", [], lambda p: None)])
    assert totals["baseline"] == 22 and totals["saved"] == pytest.approx(1 - 19 / 22)


def test_token_stats_turn_nats_into_bits() -> None:
    stats = TokenStats(tokens=4, chars=8, nats=4 * math.log(2), top1=1, top5=3)
    summary = stats.summary()
    assert summary["bits_per_token"] == pytest.approx(1.0)
    assert summary["bits_per_char"] == pytest.approx(0.5)
    assert summary["perplexity"] == pytest.approx(2.0)
    assert summary["next_token_top5"] == 0.75


# --- on toy files with the tiny model ---------------------------------------------------------


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("heldout")
    for i, source in enumerate(TOY_SOURCES):
        (root / f"toy{i}.py").write_text(source)
    (root / "notes.txt").write_text("not python")
    return root


def test_queries_follow_the_gauge_definitions(toy_dir: Path) -> None:
    files = load_files([toy_dir], SampleConfig(queries=1000))
    plan = plan_queries(files, SampleConfig(queries=1000))
    members = {q.expected for q in plan.queries if q.kind == "member"}
    assert members == {"path", "join", "exit", "x", "y"}
    idents = [q for q in plan.queries if q.kind == "ident"]
    assert all(files[q.file].text[q.offset :].startswith(q.expected) for q in idents)
    assert "def" not in {q.expected for q in idents}  # keywords are not queries
    lines = {q.expected for q in plan.queries if q.kind == "line"}
    assert "path = os.path.join(root, name)" in lines and "import os" in lines
    again = plan_queries(load_files([toy_dir], SampleConfig(queries=5)), SampleConfig(queries=5))
    assert again.queries == plan_queries(files, SampleConfig(queries=5)).queries


def test_cached_states_are_bitwise_the_engines_own(toy_dir: Path, tiny_model_dir: Path) -> None:
    # int8: dynamic quantisation scales per call, so this also checks the chunking matches.
    engine = CompletionEngine(load_checkpoint(tiny_model_dir), "int8")
    source = load_files([toy_dir], SampleConfig())[0]
    contexts = {engine.heal(source.text[:c]).context for c in range(1, len(source.text), 7)}
    prompts = FilePrompts(engine, source, contexts)
    for context in contexts:
        logits, state = prompts.after(context)
        expected_logits, expected_state = engine.prompt_state(engine.prompt_ids(context))
        assert torch.equal(logits, expected_logits) and torch.equal(state, expected_state)
    assert prompts.from_scratch == 0


def test_a_context_that_is_not_a_token_prefix_is_computed_from_scratch(
    toy_dir: Path, tiny_engine: CompletionEngine
) -> None:
    source = load_files([toy_dir], SampleConfig())[0]
    context = source.text[: source.text.index("import") + 3]  # "imp" is not a token boundary
    prompts = FilePrompts(tiny_engine, source, {context})
    logits, _ = prompts.after(context)
    assert prompts.from_scratch == 1
    assert torch.equal(logits, tiny_engine.prompt_state(tiny_engine.prompt_ids(context))[0])


def run_eval(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def test_memorised_identifiers_score_high(
    toy_dir: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "eval.json"
    code, out, err = run_eval(
        capsys, str(toy_dir), "--model", str(tiny_model_dir), "--json", str(out_json),
        "--queries", "12", "--typing-lines", "3", "--precision", "fp32",
    )  # fmt: skip
    assert code == 0, err
    assert "keystrokes saved" in out and "bits per char" in out
    report = json.loads(out_json.read_text())
    summary = report["models"][0]["summary"]
    assert summary["ident@1"]["n"] == 12 and summary["ident@1"]["top1"] >= 0.8
    assert summary["member@0"]["top5"] >= 0.8
    assert summary["lm"]["next_token_top1"] >= 0.8
    assert summary["typing"]["saved"] > 0.2
    assert summary["run"]["from_scratch"] == 0
    records = report["models"][0]["records"]
    assert {r["kind"] for r in records} == {"member@0", "member@1", "ident@0", "ident@1", "line"}
    assert len(report["models"][0]["typing"]) == 3


def test_comparing_a_model_with_itself_shows_no_difference(
    toy_dir: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "compare.json"
    model = str(tiny_model_dir)
    code = main([
        str(toy_dir), "--model", model, "--compare", model, "--json", str(out_json),
        "--queries", "6", "--typing-lines", "1",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "B - A" in out and "same top answer on 100.0% of queries" in out
    # Each model's progress says which it is: the same `[1/n]` line came twice.
    progress = err.splitlines()
    assert progress and all(line.startswith(("A: [", "B: [")) for line in progress), err
    assert progress[0].startswith("A: [1/") and progress[-1].startswith("B: [")
    difference = json.loads(out_json.read_text())["difference"]
    for section, numbers in difference.items():
        if section != "run" and isinstance(numbers, dict):
            assert all(v == 0 for v in numbers.values()), section
    assert difference["same_top1_answer"] == 1.0


def test_bad_input_is_one_line_and_exit_2(
    toy_dir: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{")
    empty = tmp_path / "empty"
    empty.mkdir()
    unusable = tmp_path / "unusable"
    unusable.mkdir()
    (unusable / "open_string.py").write_text('x = """never closed\n')
    model = ["--model", str(tiny_model_dir)]
    cases = [
        ([str(tmp_path / "missing"), *model], "no such file or directory"),
        ([str(empty), *model], "no Python files"),
        ([str(unusable), *model], "no usable Python files"),
        ([str(toy_dir), "--model", str(broken)], "cannot load model"),
        ([str(toy_dir), *model, "--compare", str(broken)], "cannot load model"),
        ([str(toy_dir), *model, "--queries", "0"], "--queries must be at least 1"),
        ([str(toy_dir), *model, "--json", str(tmp_path / "no" / "x.json")], "does not exist"),
    ]
    for args, message in cases:
        code, out, err = run_eval(capsys, *args)
        assert code == 2 and out == ""
        assert err.startswith("grucomplete eval: error: ") and message in err
        assert err.count("\n") == 1
    # The `grucomplete` dispatcher routes to the same command.
    assert grucomplete_main(["eval", str(tmp_path / "missing"), *model]) == 2
    assert "grucomplete eval: error:" in capsys.readouterr().err


def test_the_comparison_says_which_model_is_which_and_which_is_better() -> None:
    """A better trained model (B) showed `+7.63` perplexity and `-9.2 pt` top-1 under a column
    called "difference", with nothing to say it was B minus A, nor which way is better."""
    from grucomplete.training.evaluation.command import render
    from grucomplete.training.evaluation.model_eval import ModelReport

    def report(model: str, perplexity: float, top1: float) -> ModelReport:
        return ModelReport(
            model,
            summary={"lm": {"perplexity": perplexity, "tokens": 100}, "member@0": {"top1": top1}},
        )

    text = render([report("runs/old", 20.0, 0.30), report("runs/new", 12.37, 0.392)], "eval")
    lines = text.splitlines()
    assert "  A (--model):   runs/old" in lines and "  B (--compare): runs/new" in lines
    assert lines[4].split() == ["A", "B", "B", "-", "A", "better"]
    perplexity = next(line for line in lines if line.startswith("  perplexity")).split()
    assert perplexity[1:] == ["20.00", "12.37", "-7.63", "B"]  # lower is better
    top1 = next(line for line in lines if line.startswith("  top-1")).split()
    assert top1[1:] == ["30.0%", "39.2%", "+9.2", "pt", "B"]  # higher is better
    tokens = next(line for line in lines if line.startswith("  tokens")).split()
    assert tokens[1:] == ["100", "100", "+0"]  # a count: no side is better
    same = render([report("a", 20.0, 0.3), report("b", 20.0, 0.3)], "eval")
    assert next(x for x in same.splitlines() if x.startswith("  perplexity")).endswith("same")


def test_the_workspace_memory_gain_on_a_projects_own_held_out_files(
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The project's other files print `values` where the tiny model learned `print(path)`:
    # B (with their memory) answers differently from A on the held-out file, which the
    # memory never holds.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    for i in range(3):
        (project / "pkg" / f"other{i}.py").write_text(
            TOY_SOURCES[0].replace("print(path)", "print(values)")
        )
    held_out = project / "pkg" / "main.py"
    held_out.write_text(TOY_SOURCES[0])
    out_json = tmp_path / "memory.json"
    code = main([
        str(held_out), "--model", str(tiny_model_dir), "--precision", "fp32",
        "--workspace", str(project), "--workspace-memory", "0.7", "--queries", "1000",
        "--typing-lines", "0", "--json", str(out_json),
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "  B (--workspace): " in out and "workspace memory 0.7" in out
    assert "workspace memory: 3 files" in err  # the held-out file is not in it
    difference = json.loads(out_json.read_text())["difference"]
    assert difference["same_top1_answer"] < 1.0
    lm = difference["lm"]  # the teacher-forced pass is the model's alone: the same
    assert all(v == 0 for v in lm.values())
    # Both at once are refused, as one line.
    code, _, err = run_eval(
        capsys, str(held_out), "--model", str(tiny_model_dir), "--compare", str(tiny_model_dir),
        "--workspace", str(project),
    )  # fmt: skip
    assert code == 2 and "one comparison at a time" in err
