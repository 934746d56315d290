"""The VS Code extension: type check, unit tests of its own logic, and the .vsix build.

They run in a temporary copy of editors/vscode (the `vscode_extension_copy` fixture), where
`npm ci` installs the build tools: the checkout is left as it was.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

EXTENSION = Path(__file__).resolve().parent.parent / "editors" / "vscode"


def npm(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npm", *args], cwd=where, capture_output=True, text=True, timeout=600)


def test_type_check_and_unit_tests_pass(vscode_extension_copy: Path) -> None:
    done = npm(vscode_extension_copy, "test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout


def test_vsix_holds_the_bundled_extension(vscode_extension_copy: Path) -> None:
    done = npm(vscode_extension_copy, "run", "package")
    assert done.returncode == 0, done.stdout + done.stderr
    (vsix,) = vscode_extension_copy.glob("grucomplete-*.vsix")
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
