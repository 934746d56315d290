"""Adaptation to the workspace: `grucomplete adapt`, its per-workspace store, and the server
adapting in the background, reusing the result after a restart, and resetting it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from grucomplete.model.checkpoint import load_checkpoint, save_checkpoint
from grucomplete.model.workspace_store import (
    MODEL_DIR,
    adapted_model,
    is_current,
    read_record,
    store_dir,
    weights_fingerprint,
)
from grucomplete.training.trainer.adapt import main

from .test_server_lsp import MAIN, complete, labels, open_doc
from .test_server_lsp import start as start_server
from .toy_runs import one_torch_thread, write_toy_project

one_thread = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private $XDG_CACHE_HOME: stores land here, never in the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    return write_toy_project(tmp_path / "project", files=30)


def adapt(workspace: Path, base: Path, *flags: str) -> int:
    return main([str(workspace), "--from", str(base), "--time-budget-minutes", "0.5", *flags])


def test_adapt_stores_a_better_model_with_its_record_and_reuses_it(
    tiny_model_dir: Path, workspace: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert adapt(workspace, tiny_model_dir, "--exclude", "pkg0/mod00.py") == 0
    store = store_dir(workspace)
    assert store.is_relative_to(cache / "grucomplete" / "workspaces")
    assert capsys.readouterr().out.strip() == str(store / MODEL_DIR)
    adapted = load_checkpoint(store / MODEL_DIR)  # a complete checkpoint the server can load
    record = read_record(store)
    assert record["base"]["fingerprint"] == weights_fingerprint(tiny_model_dir)
    assert record["improved"] and record["val_loss"]["adapted"] < record["val_loss"]["base"]
    trained = record["files"]["train"] + record["files"]["val"]
    assert len(trained) == 29 and "pkg0/mod00.py" not in trained  # the excluded file
    assert record["tokens_seen"] == adapted.metadata["tokens_seen"] > 0
    assert adapted_model(store, str(tiny_model_dir)) == store / MODEL_DIR

    # Up to date: the second run adapts nothing and leaves the model as it was.
    weights = (store / MODEL_DIR / "model.safetensors").read_bytes()
    assert adapt(workspace, tiny_model_dir) == 0
    assert read_record(store)["finished"] == record["finished"]
    assert (store / MODEL_DIR / "model.safetensors").read_bytes() == weights


def test_a_changed_base_invalidates_the_adaptation(
    tiny_model_dir: Path, workspace: Path, cache: Path, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    assert adapt(workspace, base) == 0
    store = store_dir(workspace)
    assert adapted_model(store, str(base)) is not None
    retrained = load_checkpoint(base)  # the base is retrained: same shape, other weights
    for p in retrained.model.parameters():
        p.data.mul_(1.01)
    save_checkpoint(base, retrained.model, retrained.tokenizer, retrained.metadata)
    assert not is_current(store, str(base)) and adapted_model(store, str(base)) is None
    assert adapt(workspace, base) == 0  # so it is adapted again, from the new base
    assert read_record(store)["base"]["fingerprint"] == weights_fingerprint(base)


def test_reset_removes_the_adaptation(
    tiny_model_dir: Path, workspace: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert adapt(workspace, tiny_model_dir) == 0
    assert main([str(workspace), "--reset"]) == 0
    assert not store_dir(workspace).exists()
    assert "removed" in capsys.readouterr().out


def test_too_little_code_is_a_usage_error(
    tiny_model_dir: Path, tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = write_toy_project(tmp_path / "small", files=3)
    assert adapt(small, tiny_model_dir) == 2
    assert "too few" in capsys.readouterr().err
    assert adapted_model(store_dir(small), str(tiny_model_dir)) is None


# --- the language server ------------------------------------------------------------------


async def start(cache: Path, workspace: Path, model: Path, **options: object) -> LanguageClient:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return await start_server(model, root=workspace, env=env, adaptationMinutes=0.5, **options)


async def wait_for(client: LanguageClient, text: str, timeout: float = 90) -> str:
    """The first showMessage or logMessage containing `text`, waiting for it if need be."""
    for _ in range(int(timeout * 10)):
        for m in [*client.messages, *client.log_messages]:
            if text in m.message:
                return m.message
        await asyncio.sleep(0.1)
    seen = [m.message for m in [*client.messages, *client.log_messages]]
    pytest.fail(f"no message with {text!r} in {timeout} s; got {seen}")


async def test_server_adapts_in_the_background_and_reuses_it_after_a_restart(
    tiny_model_dir: Path, workspace: Path, cache: Path
) -> None:
    client = await start(cache, workspace, tiny_model_dir, workspaceAdaptation=True)
    open_doc(client, MAIN)  # completions are served by the base model meanwhile
    assert labels(await complete(client, 5, 14))[0].startswith("path")
    assert "validation loss" in await wait_for(client, "adapted to project")
    adapted = store_dir(workspace) / MODEL_DIR
    await wait_for(client, f"loaded model {adapted}")
    assert labels(await complete(client, 5, 14))  # now answered by the adapted model
    await client.shutdown_session()

    # A restart uses the stored adaptation at once: no second background run.
    client = await start(cache, workspace, tiny_model_dir, workspaceAdaptation=True)
    open_doc(client, MAIN)
    assert labels(await complete(client, 5, 14))
    await wait_for(client, f"loaded model {adapted}")
    assert not any("in the background" in m.message for m in client.log_messages)

    # The reset command forgets it and goes back to the base model.
    message = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="grucomplete.resetAdaptation")
    )
    assert "reset" in message and not store_dir(workspace).exists()
    await wait_for(client, f"loaded model {tiny_model_dir}")

    # "Retrain on Workspace" adapts anew, the same way, into the same store.
    client.messages.clear()
    message = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="grucomplete.adaptWorkspace")
    )
    assert "adapting to project in the background" in message
    assert "validation loss" in await wait_for(client, "adapted to project")
    await wait_for(client, f"loaded model {adapted}")
    await client.shutdown_session()


async def test_server_with_adaptation_off_adapts_nothing(
    tiny_model_dir: Path, workspace: Path, cache: Path
) -> None:
    client = await start(cache, workspace, tiny_model_dir, workspaceAdaptation=False)
    open_doc(client, MAIN)
    assert labels(await complete(client, 5, 14))[0].startswith("path")
    message = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="grucomplete.adaptWorkspace")
    )
    assert "turn on the workspaceAdaptation setting" in message
    await client.shutdown_session()
    assert not store_dir(workspace).exists()
    assert not any("in the background" in m.message for m in client.log_messages)


async def test_shutdown_kills_the_background_adaptation(
    tiny_model_dir: Path, workspace: Path, cache: Path
) -> None:
    client = await start(cache, workspace, tiny_model_dir, workspaceAdaptation=True)
    started = await wait_for(client, "in the background (pid ")
    pid = int(started.rsplit("pid ", 1)[1].rstrip(")"))
    await client.shutdown_session()
    for _ in range(50):
        try:
            Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break  # gone, and reaped by the server (a zombie would still be listed)
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"the adaptation process {pid} outlived the server")
    assert read_record(store_dir(workspace)) is None  # stopped: nothing half-done is kept


def test_a_background_adaptation_ends_when_its_parent_dies(
    tiny_model_dir: Path, workspace: Path, cache: Path
) -> None:
    # A parent that starts `adapt --background` and dies at once, as a killed server would.
    launcher = (
        "import os, subprocess, sys; print(subprocess.Popen([sys.executable, '-m', "
        "'grucomplete.training', 'adapt', sys.argv[1], '--from', sys.argv[2], '--background-for', "
        "str(os.getpid())], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"
    )
    out = subprocess.run(
        [sys.executable, "-c", launcher, str(workspace), str(tiny_model_dir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    stat = Path(f"/proc/{int(out.stdout)}/stat")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in "ZX":  # dead, not yet reaped
                break
        except OSError:
            break  # dead and reaped
        time.sleep(0.1)
    else:
        pytest.fail("the orphaned adaptation kept running")
    assert read_record(store_dir(workspace)) is None  # and it kept nothing


def test_where_the_fit_runs_fast_the_workspace_adapts_fast(
    bundled_fast: Path, cost_by_width: None, workspace: Path, cache: Path
) -> None:
    from grucomplete.model.checkpoint import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE
    from grucomplete.model.workspace_store import RECORD_FILE
    from grucomplete.server.completion_service import CompletionService
    from grucomplete.server.options import ServerOptions
    from grucomplete.server.workspace_adaptation import WorkspaceAdaptation

    def server() -> tuple[CompletionService, WorkspaceAdaptation, list[tuple[str, str]]]:
        service = CompletionService(ServerOptions(precision="fp32", workspace_adaptation=True))
        adaptation = WorkspaceAdaptation(service, lambda message, error: None)
        adaptation.workspace = workspace
        started: list[tuple[str, str]] = []  # (model setting, base adapted)
        adaptation._start = lambda store, setting, base, *_: started.append((setting, base))  # type: ignore[method-assign]
        adaptation.reconfigure(service.options)  # as `initialized` does: before the load
        return service, adaptation, started

    service, _, started = server()
    assert started == []  # the fit chooses the base: nothing is adapted before it has
    service.load_model().result()
    assert service.model_dir == bundled_fast
    assert started == [("default", "fast")]  # not the default, too slow on this machine
    service.shutdown()

    # Once the store holds fast's adaptation, a restart completes with it at once.
    store = store_dir(workspace)
    (store / MODEL_DIR).mkdir(parents=True)
    for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE):
        shutil.copy(bundled_fast / name, store / MODEL_DIR / name)
    record = {"base": {"fingerprint": weights_fingerprint(bundled_fast)}, "improved": True}
    (store / RECORD_FILE).write_text(json.dumps(record))
    service, _, started = server()
    service.load_model().result()
    assert started == [] and service.model_dir == store / MODEL_DIR
    fit = service.machine_fit()
    assert (fit["model"], fit["model_reason"]) == ("fast", "fast adapted to the workspace")
    service.shutdown()
