"""The benchmarks still run: a smoke run of each on the tiny model, so they cannot rot."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grucomplete.model.checkpoint import load_checkpoint

from .conftest import TOY_SOURCES

ROOT = Path(__file__).resolve().parent.parent


def run_script(args: list[str], timeout: int = 300, cwd: Path | None = None) -> str:
    """Run a Python script (`args`: its path and arguments) to success; its standard output."""
    run = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def toy_corpus(tmp_path: Path, min_chars: int = 0) -> Path:
    """The toy sources as a folder of files, each repeated 4 times or to `min_chars`."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, source in enumerate(TOY_SOURCES):
        times = min_chars // len(source) + 1 if min_chars else 4
        (corpus / f"m{i}.py").write_text(source * times)
    return corpus


@pytest.mark.parametrize(
    "serve",
    [
        "-m grucomplete.training serve",
        f"{ROOT / 'benchmarks/serve_variant.py'} --no-read-beside --quiet-pygls"
        " --switch-interval 0.001 --worker-nice 5 --spare-core-always --",
    ],
    ids=["serve", "serve_variant"],
)
def test_server_speed_benchmark_runs_end_to_end(
    tiny_model_dir: Path, tmp_path: Path, serve: str
) -> None:
    corpus = toy_corpus(tmp_path, min_chars=2_500)
    server = f"{sys.executable} {serve} --model {tiny_model_dir}"
    out = run_script(
        [str(ROOT / "benchmarks/server_speed.py"), "--corpus", str(corpus)]
        + ["--server", server, "--reference", "", "--files", "2", "--queries", "6"]
        + ["--open-lines", "300", "--sizes", "50,600", "--open-documents", "3"]
        + ["--paced-chars", "100"],
    )
    table = dict(line.split(" | ")[:2] for line in out.splitlines()[1:])
    assert float(table["errors"]) == 0
    assert float(table["completion p50 (ms)"]) > 0
    assert float(table["peak RSS, 3 documents open (MB)"]) > 0
    assert float(table["paced typing, p99 (ms)"]) > 0


def test_the_junk_measures_count_what_is_known_to_be_junk(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """`junk_positions.py where` and `members` on a gauge record whose junk is known, and
    `member_scoring.py` on its member position."""
    import json

    package = tmp_path / ".work" / "heldout" / "pkg"
    package.mkdir(parents=True)
    (package / "shapes.py").write_text(
        "class Circle:\n    def area(self):\n        return 1\n\n"
        "def draw(circle_radius):\n    c = Circle()\n    c.area()\n"
    )
    text = (package / "shapes.py").read_text()
    use, dot = text.index("Circle()"), text.index("area()")
    queries = [  # a use: one invented item of four; a parameter: one of two
        {"file": "pkg/shapes.py", "kind": "ident", "offset": use + 1, "expected": "Circle",
         "status": "ok", "top": ["Circle", "Cirkel", "circle_radius", "draw"]},
        {"file": "pkg/shapes.py", "kind": "ident", "offset": text.index("circle_radius") + 1,
         "expected": "circle_radius", "status": "ok", "top": ["circle_radius", "cradius"]},
        {"file": "pkg/shapes.py", "kind": "member", "offset": dot, "expected": "area",
         "status": "ok", "top": ["area", "radius", "area()", "draw"]},  # two the receiver lacks
    ]  # fmt: skip
    record = tmp_path / "gauge.json"
    record.write_text(json.dumps({"queries": queries}))

    def measure(script: str, *args: str) -> str:
        return run_script([str(ROOT / "benchmarks" / script), *args], cwd=tmp_path)

    where = measure("junk_positions.py", "where", str(record))
    assert "uses: invented 1/4 = 0.250" in where and "definitions: invented 1/2" in where
    assert "junk_lacking=0.500" in measure("junk_positions.py", "members", str(record))
    scoring = measure("member_scoring.py", str(record), "--model", str(tiny_model_dir))
    assert "member positions with jedi's names: 1" in scoring
    in_hand = measure(
        "member_scoring.py", str(record), "--compare", "in-hand", "--model", str(tiny_model_dir)
    )
    assert "in hand, scored alone:" in in_hand and "asked after a search:" in in_hand
    decoding = measure(
        "decode_time.py", str(record), "--rounds", "1", "--model", str(tiny_model_dir)
    )
    assert "words: 3 decodings" in decoding and "answers digest:" in decoding
    profiled = measure(
        "decode_time.py",
        str(record),
        "--rounds",
        "1",
        "--model",
        str(tiny_model_dir),
        "--profile",
        "5",
        "--parts",
    )
    assert "quantized_gru" in profiled and re.search(r"model kernels: .* \(\d+%\)", profiled)
    assert re.search(r"words parts: [\d.]+ beam steps a decoding; a step's model", profiled)


# Where the benchmarks look for the shared gauge: beside the checkout.
GAUGE = ROOT.parent / "shared" / "gauge"


@pytest.mark.skipif(not (GAUGE / "lsp_eval.py").exists(), reason="the shared gauge is not here")
def test_context_levers_benchmark_runs(tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = toy_corpus(tmp_path)
    out = run_script(
        [str(ROOT / "benchmarks/context_levers.py"), "--corpus", str(corpus)]
        + ["--model", str(tiny_model_dir), "--files", "3", "--queries", "12", "--context", "64"]
        + ["--theta", "1", "--lam", "0.35"],
    )
    rows = [line for line in out.splitlines() if line.startswith("   64 ")]
    assert len(rows) == 4  # identifier cache, model only, neural alone, neural + identifiers


def test_read_beside_benchmark_runs(tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = toy_corpus(tmp_path, min_chars=8_000)
    out = run_script(
        [str(ROOT / "benchmarks/read_beside.py"), "--corpus", str(corpus)]
        + ["--model", str(tiny_model_dir), "--context-tokens", "256", "--rounds", "1"],
    )
    rows = {line.split(":")[0]: line.split(" | ") for line in out.splitlines()[1:]}
    assert int(rows["alone"][-1]) > 0  # without the spare core, moves read half a window
    assert int(rows["beside"][-1]) == 0


def test_decode_speed_benchmark_runs(tiny_model_dir: Path) -> None:
    out = run_script(
        [str(ROOT / "benchmarks/decode_speed.py"), "--model", str(tiny_model_dir)]
        + ["--repeats", "10"],
    )
    assert "x the limit" in out
    assert "a thread per layer" in out


def test_work_units_benchmark_predicts_and_checks(tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = toy_corpus(tmp_path, min_chars=5_000)
    costs = tmp_path / "costs.json"
    args = ["--model", str(tiny_model_dir), "--corpus", str(corpus), "--files", "2"]
    args += ["--queries", "4", "--type-last", "2"]
    out = run_script(
        [str(ROOT / "benchmarks/work_units.py"), *args] + ["--save-costs", str(costs), "--avx2"],
    )
    assert "predicted p50/p99 ms" in out and out.count("\nkey ") == 4
    assert "FBGEMM_ENABLE_INSTRUCTIONS=AVX2" in out  # the AVX2 rerun happened
    # Another machine's costs predict this machine's requests.
    out = run_script(
        [str(ROOT / "benchmarks/work_units.py"), *args, "--costs", str(costs)],
    )
    assert f"from {costs}" in out


def test_settled_words_benchmark_runs(tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = toy_corpus(tmp_path)
    out = run_script(
        [str(ROOT / "benchmarks/settled_words.py"), str(corpus)]
        + ["--model", str(tiny_model_dir), "--max-files", "2", "--queries", "6"]
        + ["--values", "0,2"],
    )
    rows = [line.split(" | ") for line in out.splitlines() if line[:4] in ("| 0 ", "| 2 ")]
    assert len(rows) == 2 and rows[0][-1].startswith("1.000")  # the reference agrees with itself
    assert float(rows[1][2]) <= float(rows[0][2])  # settling earlier never steps more


def test_request_work_summarises_a_debug_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(
        "x DEBUG grucomplete.server: complete at 10 in file:///a.py: read 300 tokens in 90.0 ms,"
        " decoded words in 5.0 ms (static analysis 0.0 ms of it)\n"
        "x DEBUG grucomplete.server: complete at 12 in file:///a.py: from the last answer\n"
        "x DEBUG grucomplete.server: complete at 20 in file:///a.py: read 4 tokens in 2.0 ms,"
        " decoded words+line in 30.0 ms (static analysis 1.5 ms of it)\n"
    )
    out = run_script(
        [str(ROOT / "benchmarks/request_work.py"), str(log), "--top", "1"],
    )
    assert "words | 1 | 300.0 | 90.0 | 5.0 | 0.0" in out
    assert "words+line | 1 | 4.0 | 2.0 | 30.0 | 1.5" in out
    assert "  300, 90.0, words, 5.0, a.py, 10" in out  # the slowest
    gauge = tmp_path / "run.json"
    queries = [
        {"file": "a.py", "kind": "ident", "offset": 10, "latency_ms": 99.0},
        {"file": "a.py", "kind": "line", "offset": 20, "latency_ms": 40.0},
        {"file": "b.py", "kind": "line", "offset": 20, "latency_ms": 7.0},  # not in the log
    ]
    gauge.write_text(json.dumps({"queries": queries}))
    out = run_script(
        [str(ROOT / "benchmarks/request_work.py"), str(log), "--gauge", str(gauge)],
    )
    assert "ident | 1 | 99.0 | 90.0 | 5.0 | 4.0" in out
    assert "line | 1 | 40.0 | 2.0 | 30.0 | 8.0" in out


def test_model_cost_compares_models(tiny_model_dir: Path) -> None:
    out = run_script(
        [str(ROOT / "benchmarks/model_cost.py"), str(tiny_model_dir)]
        + ["default", "--rounds", "2", "--window", "40"],
    )
    rows = out.splitlines()[1:]
    assert len(rows) == 2 and rows[0].count("1.00x") == 2  # the reference: 1x on both


def test_step_parts_times_each_layer_and_the_output(tiny_model_dir: Path) -> None:
    out = run_script(
        [str(ROOT / "benchmarks/step_parts.py"), "--model", str(tiny_model_dir)]
        + ["--repeats", "20"],
    )
    rows = dict(line.split(" | ", 1) for line in out.splitlines()[1:])
    layers = load_checkpoint(tiny_model_dir).model.config.num_layers
    assert len(rows) == 3 * layers + 3 and "output layer" in rows and "whole step" in rows
    for times in rows.values():
        assert all(float(ms) > 0 for ms in times.split(" | "))


def test_the_training_recipe_writes_both_bundled_models(tmp_path: Path) -> None:
    """examples/train_default_model.py on the toy corpus, a step or two of each model."""
    from grucomplete.model.checkpoint import load_checkpoint

    corpus = toy_corpus(tmp_path, min_chars=20_000)
    out = tmp_path / "models"
    run_script(
        [str(ROOT / "examples/train_default_model.py"), str(corpus), str(corpus)]
        + [str(ROOT / "model/default/tokenizer.json"), str(out), "--device", "cpu"]
        + ["--minutes", "default=0.001", "fast=0.001", "--batch-size", "2", "--window", "16"]
        + ["--distill", "fast=default"],
        timeout=600,
    )
    teacher = load_checkpoint(out / "fast").metadata["teacher"]
    assert teacher["path"] == str((out / "default").resolve())
    for name, hidden in (("default", 768), ("fast", 448)):
        assert load_checkpoint(out / name).model.config.hidden_size == hidden
        assert not (out / name / "resume").exists()  # only what ships is left
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["shipped"] in ("final", "best") and summary["heldout_final"]["tokens"] > 0


def test_scheduled_sampling_experiment_trains_both_arms(tmp_path: Path) -> None:
    corpus = toy_corpus(tmp_path, min_chars=20_000)
    out = tmp_path / "ss"
    run_script(
        [str(ROOT / "benchmarks/scheduled_sampling.py"), str(corpus), str(corpus)]
        + [str(ROOT / "model/default/tokenizer.json"), str(out), "--seconds", "0.1"]
        + ["--batch-size", "2", "--device", "cpu"],
        timeout=600,
    )
    results = json.loads((out / "scheduled_sampling.json").read_text())
    assert [r["scheduled_sampling"] for r in results.values()] == [0.0, 0.25]
    assert all((out / name / "model.safetensors").is_file() for name in results)


def test_declared_members_cost_benchmark_runs(tmp_path: Path) -> None:
    corpus = toy_corpus(tmp_path)
    out = run_script(
        [str(ROOT / "benchmarks/declared_members_cost.py"), str(corpus)]
        + ["--files", "2", "--cuts", "3"],
        timeout=120,
    )
    rows = {line.split(" | ")[0]: line.split(" | ") for line in out.splitlines()[2:]}
    assert {"self.", "self.name.", "name.", "Class.", "an edit"} <= set(rows)
    assert all(float(row[2]) >= float(row[1]) >= 0 for row in rows.values())


def test_fit_stability_benchmark_runs() -> None:
    # The model named: the fit's own choice may differ between the starts where the default
    # is near a budget, and the model only measured at the second start has no earlier costs.
    script = ROOT / "benchmarks/fit_stability.py"
    out = run_script(
        [str(script), "--starts", "2", "--busy", "1", "--model", "default"],
    )
    rows = [line.split(" | ") for line in out.splitlines()[1:]]
    assert [row[1] for row in rows] == ["no", "yes"]
    assert [row[2] for row in rows] == ["default", "default"]
    assert [row[-1] for row in rows] == ["1", "2"]  # the second start knew the first's costs
