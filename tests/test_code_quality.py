"""The code's own checks, run with the tests so CI cannot skip them: lint, format and types."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    lint = run(sys.executable, "-m", "ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout
    formatting = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert formatting.returncode == 0, formatting.stdout


def test_the_packages_type_check() -> None:
    # The packages named in pyproject's [tool.mypy] files: model/, server/, training/.
    checked = run(sys.executable, "-m", "mypy")
    assert checked.returncode == 0, checked.stdout[-5000:]
