"""The VS Code extension: type check, unit tests of its own logic, and the .vsix build."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parent.parent / "editors" / "vscode"


def npm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", *args], cwd=EXTENSION, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def installed() -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (Node 20+ is needed to build the VS Code extension)")
    done = npm("ci", "--no-audit", "--no-fund")
    assert done.returncode == 0, done.stdout + done.stderr


def test_type_check_and_unit_tests_pass(installed: None) -> None:
    done = npm("test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout


def test_vsix_holds_the_bundled_extension(installed: None) -> None:
    for old in EXTENSION.glob("*.vsix"):
        old.unlink()
    done = npm("run", "package")
    assert done.returncode == 0, done.stdout + done.stderr
    (vsix,) = EXTENSION.glob("grucomplete-*.vsix")
    names = zipfile.ZipFile(vsix).namelist()
    assert "extension/dist/extension.js" in names
    assert "extension/package.json" in names


def test_extension_declares_every_server_setting_with_the_servers_default() -> None:
    """The settings UI must offer exactly what the server accepts, with the same defaults."""
    import json
    from dataclasses import fields, is_dataclass

    from grucomplete.server.options import ServerOptions, camel_case

    def flatten(options: object, prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(options):
            value = getattr(options, f.name)
            key = prefix + camel_case(f.name)
            out.update(flatten(value, key + ".") if is_dataclass(value) else {key: value})
        return out

    manifest = json.loads((EXTENSION / "package.json").read_text())
    declared = manifest["contributes"]["configuration"]["properties"]
    client_only = {
        "serverPath",
        "pythonPath",
        "serverArgs",
        "inlineCompletions",
        "popupCompletions",
    }
    server_side = {
        k.removeprefix("grucomplete."): v["default"]
        for k, v in declared.items()
        if k.removeprefix("grucomplete.") not in client_only
    }
    assert server_side == flatten(ServerOptions())
