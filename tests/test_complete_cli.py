"""`grucomplete complete` as a user runs it: a subprocess, real files, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = "import os\nimport sys\n\n\ndef main():\n    path = os.pa\n"


def grucomplete(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grucomplete.training", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / "main.py"
    path.write_text(SOURCE)
    return path


def test_completes_the_word_and_line_at_a_position(source: Path, tiny_model_dir: Path) -> None:
    done = grucomplete(
        "complete",
        f"{source}:6:17",
        "--model",
        str(tiny_model_dir),
        "--json",
        "--precision",
        "fp32",
        # The model alone, whose answers on the toy corpus are certain.
        "--neural-cache",
        "0",
        "--identifier-cache",
        "0",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["typed"] == "pa"
    assert result["words"][0]["label"] == "path"
    assert result["lines"][0]["label"] == "path = os.path.join(root, name)"
    assert 0 < result["words"][0]["probability"] <= 1


def test_table_output_shows_probabilities(source: Path, tiny_model_dir: Path) -> None:
    done = grucomplete("complete", f"{source}:6:17", "--model", str(tiny_model_dir))
    assert done.returncode == 0, done.stderr
    assert "words (typed 'pa'):" in done.stdout
    assert "%  path" in done.stdout


def test_the_server_settings_are_flags(source: Path, tiny_model_dir: Path) -> None:
    common = ("complete", f"{source}:6:17", "--model", str(tiny_model_dir), "--json")
    one_word = json.loads(grucomplete(*common, "--num-candidates", "1").stdout)
    assert [w["label"] for w in one_word["words"]] == ["path"]
    no_lines = json.loads(grucomplete(*common, "--line-completions", "false").stdout)
    assert no_lines["lines"] == [] and no_lines["words"]
    bad = grucomplete(*common, "--neural-cache", "1.5", "--beam-width", "0")
    assert bad.returncode == 2
    assert "--neural-cache must be at least 0 and below 1" in bad.stderr
    assert "--beam-width must be positive" in bad.stderr


def test_reads_stdin_with_line_and_col(tiny_model_dir: Path) -> None:
    done = grucomplete(
        "complete",
        "-",
        "--line",
        "6",
        "--col",
        "17",
        "--model",
        str(tiny_model_dir),
        "--json",
        stdin=SOURCE,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["words"][0]["label"] == "path"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{dir}/missing.py:1:1", "no such file"),
        ("{file}:99:1", "line 99 is out of range (1..7)"),
        ("{file}:6:40", "column 40 is out of range (1..17)"),
        ("{file}:six:1", "expected FILE:LINE:COL"),
        ("{latin1}:1:1", "not UTF-8 text"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    source: Path, tiny_model_dir: Path, target: str, message: str
) -> None:
    latin1 = source.with_name("latin1.py")
    latin1.write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    target = target.format(dir=source.parent, file=source, latin1=latin1)
    done = grucomplete("complete", target, "--model", str(tiny_model_dir))
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_broken_model_is_reported_not_a_traceback(source: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    done = grucomplete("complete", f"{source}:6:17", "--model", str(broken))
    assert done.returncode == 2
    assert "cannot load model" in done.stderr and "missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_option_is_reported(source: Path, tiny_model_dir: Path) -> None:
    done = grucomplete("complete", f"{source}:6:17", "--model", str(tiny_model_dir), "--top-p", "2")
    assert done.returncode == 2
    assert "--top-p must be in (0, 1]" in done.stderr


def test_version_and_help() -> None:
    assert grucomplete("--version").stdout.startswith("grucomplete ")
    done = grucomplete("nonsense")
    assert done.returncode == 2 and "unknown command" in done.stderr


def test_bundled_model_completes_real_code(tmp_path: Path) -> None:
    path = tmp_path / "walk.py"
    path.write_text("import os\n\nfor root, dirs, files in os.walk('.'):\n    print(os.path.jo")
    done = grucomplete("complete", f"{path}:4:21", "--json")
    assert done.returncode == 0, done.stderr
    words = [w["label"] for w in json.loads(done.stdout)["words"]]
    assert words[0] == "join"
