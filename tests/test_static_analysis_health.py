"""What static analysis reports of itself: a broken parser cache heals, and a failing
worker is reported with its reason, by the analyzer and in the server's status."""

from __future__ import annotations

from pathlib import Path

import pytest

from grucomplete.server.static_analysis import StaticAnalyzer

from .raw_lsp import RawServer


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
