"""The VS Code extension in a real VS Code: code-server, driven in headless Chromium by Playwright
(editors/vscode/e2e/e2e.mjs), with the real server and the tiny test model.

Installing code-server builds VS Code's native modules and needs system packages (see
editors/vscode/e2e/install.sh, which CI runs), so the test runs where code-server is installed
and skips, saying why, where it is not. GRUCOMPLETE_E2E_VSCODE=1 requires it (a missing
prerequisite then fails with what to install, and install.sh is run if needed); =0 skips it.
The run leaves its screenshot in pytest's temporary folder: its path is a `screenshot` property
of each test (in a JUnit XML report) and is printed at the end of pytest's summary, with or
without `-s`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parent.parent / "editors" / "vscode"
E2E = EXTENSION / "e2e"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The interpreter the extension runs the server with (`grucomplete.pythonPath`): this one, unless
# GRUCOMPLETE_E2E_PYTHON names another install to test (a venv with a built wheel, say).
PYTHON = os.environ.get("GRUCOMPLETE_E2E_PYTHON", sys.executable)
OPT_IN = "GRUCOMPLETE_E2E_VSCODE"
PREFIX_LINE = "    path = os"  # the last line of the e2e's file; the test types `.` after it

INSTALLED = (E2E / "node_modules" / ".bin" / "code-server").exists() and Path(CHROMIUM).is_file()
pytestmark = pytest.mark.skipif(
    os.environ.get(OPT_IN, "1" if INSTALLED else "0") != "1",
    reason=f"code-server or Chromium is not installed (bash editors/vscode/e2e/install.sh; "
    f"{OPT_IN}=1 to require the test)",
)


def run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def require(condition: bool, what: str) -> None:
    if not condition:
        pytest.fail(f"{OPT_IN}=1 but {what}", pytrace=False)


@pytest.fixture(scope="module")
def vsix(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    require(shutil.which("npm") is not None, "npm is missing (Node 20 is needed)")
    extension = request.getfixturevalue("vscode_extension_copy")  # built outside the checkout
    out = tmp_path_factory.mktemp("vsix") / "grucomplete.vsix"
    done = run(["npm", "run", "package", "--", "--out", str(out)], extension, 300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def e2e(vsix: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One run of the e2e script: each check's outcome, by name."""
    require(
        Path(CHROMIUM).is_file(), f"there is no Chromium at {CHROMIUM} (apt-get install chromium)"
    )
    if not (E2E / "node_modules" / ".bin" / "code-server").exists():
        done = run(["bash", "install.sh"], E2E, 1200)
        require(
            done.returncode == 0, f"install.sh failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
        )
    out = tmp_path_factory.mktemp("vscode-e2e")
    report = out / "report.json"
    done = run(
        [
            "node", "e2e.mjs", "--vsix", str(vsix), "--model", str(tiny_model_dir),
            "--python", PYTHON, "--chromium", CHROMIUM, "--neural-cache", "0",
            "--report", str(report), "--screenshot", str(out / "vscode.png"),
        ],
        E2E,
        300,
    )  # fmt: skip
    print(done.stdout)
    screenshot = out / "vscode.png"
    results = json.loads(report.read_text()) if report.exists() else {}
    if not results or "run" in results:
        pytest.fail(
            f"the e2e did not get through (screenshot: {screenshot}):\n"
            f"{done.stdout[-6000:]}{done.stderr[-6000:]}"
        )
    results["_output"] = done.stdout[-6000:] + done.stderr[-6000:]
    results["_screenshot"] = str(screenshot)
    return results


@pytest.fixture(autouse=True)
def _screenshot_in_the_report(request: pytest.FixtureRequest, record_property) -> Iterator[None]:
    """Each test names the screenshot (conftest prints it in the summary)."""
    yield
    if "e2e" in request.fixturenames:
        shot = request.getfixturevalue("e2e").get("_screenshot")
        if shot and Path(shot).exists():
            record_property("screenshot", shot)


def outcome(e2e: dict, name: str) -> object:
    result = e2e[name]
    assert result["ok"], f"{result['error']}\n(screenshot: {e2e['_screenshot']})\n{e2e['_output']}"
    return result["value"]


def test_typing_a_dot_opens_the_popup_with_the_servers_words(e2e: dict) -> None:
    rows = outcome(e2e, "popup")  # aria labels: "label, Kind"
    labels = [row.rsplit(", ", 1)[0] for row in rows]
    # The most probable item first; VS Code shows ghost text, so the line is not in the popup.
    assert labels[0] == "path", rows
    assert not any(" " in label for label in labels), rows


def test_ghost_text_shows_the_servers_whole_line(e2e: dict) -> None:
    # The selected item's part (`path`) may be drawn as its preview, the rest as ghost text.
    assert outcome(e2e, "ghostText").endswith("join(root, name)")


def test_tab_inserts_the_top_item(e2e: dict) -> None:
    assert outcome(e2e, "accepted") == f"{PREFIX_LINE}.path"
