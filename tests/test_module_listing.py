"""A module's names listed without jedi (`server/module_listing.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grucomplete.server.module_listing import module_members


def test_a_modules_members_come_from_the_standard_library_or_its_source_never_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    members = module_members
    assert {"getcwd", "path", "environ"} <= set(members("os"))
    assert "join" in members("os.path")
    assert members("os.environ") is None  # a name, not a module
    assert members("this") is None and capsys.readouterr().out == ""  # its import prints
    # Anything not in the standard library is read, never run: importing this would exit.
    package = tmp_path / "site" / "pkg_not_run"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from .tools import helper\nimport os\nos._exit(3)\n")
    (package / "tools.py").write_text(
        "import os\nos._exit(3)\n\ndef helper():\n    pass\n\n"
        "if os.name:\n    LIMIT = 1\nelse:\n    LIMIT = 2\n\nclass Tool:\n    pass\n"
    )
    (package / "star.py").write_text("from os import *\n")
    (package / "facade.py").write_text("from .tools import *\nfrom .exported import *\n")
    (package / "exported.py").write_text("__all__ = ['shown']\nshown = hidden = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert {"helper", "os", "LIMIT", "Tool"} <= set(members("pkg_not_run.tools"))
    assert {"helper", "tools", "star"} <= set(members("pkg_not_run"))  # submodules too
    # `import *` binds the module's `__all__`, else its public names, where they can be read;
    # `os` star-imports a compiled module (`posix`): its names cannot all be known.
    facade = set(members("pkg_not_run.facade") or ())
    assert {"helper", "Tool", "LIMIT", "shown"} <= facade and not {"hidden", "_exit"} & facade
    assert members("pkg_not_run.star") is None
    assert members("pkg_not_run.missing") is None
