"""The language server end to end: a real `grucomplete serve` subprocess driven over LSP."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = [sys.executable, "-m", "grucomplete.training", "serve"]
URI = "file:///tmp/grucomplete-test/main.py"
MAIN = "import os\nimport sys\n\n\ndef main():\n    path = os."


async def start(
    model: Path,
    encodings: list[str] | None = None,
    *,
    root: Path | None = None,
    env: dict[str, str] | None = None,
    inline: bool = False,
    **options,
) -> LanguageClient:
    """A client like Neovim 0.11's (no ghost text), or like VS Code's with `inline`."""
    client = await ClientServerConfig(server_command=SERVER, server_env=env).start()
    general = types.GeneralClientCapabilities(position_encodings=encodings) if encodings else None
    ghost = types.InlineCompletionClientCapabilities() if inline else None
    capabilities = types.ClientCapabilities(
        general=general,
        text_document=types.TextDocumentClientCapabilities(inline_completion=ghost),
    )
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=root.as_uri() if root else None,
            initialization_options={
                "model": str(model),
                "precision": "fp32",
                "latencyBudgetMs": 10_000,
                # The exact lines asserted are the tiny model's own. On these six-line buffers
                # the neural cache matches the line being typed (`path` was followed by ` =`)
                # and offers `path = x`; its ranking is tested in test_neural_cache.
                "neuralCache": 0,
                **options,
            },
        )
    )
    return client


def open_doc(client: LanguageClient, text: str, uri: str = URI) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )


def complete(client: LanguageClient, line: int, character: int, uri: str = URI):
    return client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri),
            position=types.Position(line, character),
        )
    )


async def complete_with_line(client: LanguageClient, line: int, character: int):
    """Mid-line, the popup of a client without ghost text answers with the words and has its
    line decoded after the answer; the same request again waits for that line."""
    await complete(client, line, character)
    return await complete(client, line, character)


def labels(result: types.CompletionList) -> list[str]:
    return [item.label for item in sorted(result.items, key=lambda i: i.sort_text)]


@pytest_asyncio.fixture()
async def client(tiny_model_dir: Path):
    client = await start(tiny_model_dir)
    yield client
    await client.shutdown_session()


async def test_initialize_reports_server_info_and_capabilities(tiny_model_dir: Path) -> None:
    client = await ClientServerConfig(server_command=SERVER).start()
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"model": str(tiny_model_dir)},
        )
    )
    assert result.server_info.name == "grucomplete"
    caps = result.capabilities
    assert list(caps.completion_provider.trigger_characters) == ["."]
    assert caps.inline_completion_provider
    assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    await client.shutdown_session()


async def test_edits_follow_lsp_lines_past_a_form_feed(client: LanguageClient) -> None:
    # str.splitlines breaks at \x0c (pygls's own documents do): the edit would land a line off.
    open_doc(client, "import os\x0c\nimport sys\n")
    here = types.Position(2, 0)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=2, uri=URI),
            [types.TextDocumentContentChangePartial(range=types.Range(here, here), text="os.pa")],
        )
    )
    found = labels(await complete_with_line(client, 2, 5))
    assert found[0] == "path" and "os.path.join(root, name)" in found  # the word, then the line


async def test_completion_after_open_and_edits(client: LanguageClient) -> None:
    open_doc(client, "import os\nimport sys\n\n\ndef main():\n    path = ")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=2, uri=URI),
            [
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(5, 11), types.Position(5, 11)), text="os.pa"
                )
            ],
        )
    )
    first = await complete(client, 5, 16)
    assert {i.kind for i in first.items} == {types.CompletionItemKind.Variable}  # no line yet
    result = await complete(client, 5, 16)  # the line was decoded once the words were out
    words = [i for i in result.items if i.kind == types.CompletionItemKind.Variable]
    best = min(words, key=lambda i: i.sort_text)
    assert best.label == "path"
    assert best.text_edit.new_text == "path"
    assert best.text_edit.range == types.Range(types.Position(5, 14), types.Position(5, 16))
    assert "%" in best.detail
    line = [i for i in result.items if i.kind == types.CompletionItemKind.Snippet]
    assert line and line[0].text_edit.new_text == "path.join(root, name)"


async def test_inline_completion_gives_the_rest_of_the_line(client: LanguageClient) -> None:
    open_doc(client, MAIN)
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Automatic),
            text_document=types.TextDocumentIdentifier(URI),
            position=types.Position(5, 14),
        )
    )
    assert result.items[0].insert_text == "path.join(root, name)"


def inline(client: LanguageClient, line: int, character: int):
    return client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Automatic),
            text_document=types.TextDocumentIdentifier(URI),
            position=types.Position(line, character),
        )
    )


async def test_a_client_with_ghost_text_gets_words_in_the_popup_and_the_line_inline(
    tiny_model_dir: Path,
) -> None:
    client = await start(tiny_model_dir, inline=True)
    open_doc(client, MAIN)
    popup = await complete(client, 5, 14)
    assert labels(popup)[0] == "path"
    assert all(i.kind == types.CompletionItemKind.Variable for i in popup.items)  # no line
    assert (await inline(client, 5, 14)).items[0].insert_text == "path.join(root, name)"
    await complete(client, 5, 14)  # asked again: answered from the last answer
    stats = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="grucomplete.completionStats")
    )
    assert stats == {"requests": 3, "modelRuns": 2}  # the words, then the line alone
    await client.shutdown_session()


@pytest.mark.parametrize("threshold", [0.0, 1.0])
async def test_ghost_text_is_shown_only_above_its_threshold(
    tiny_model_dir: Path, threshold: float
) -> None:
    client = await start(tiny_model_dir, inline=True, ghostTextThreshold=threshold)
    open_doc(client, MAIN)
    shown = [i.insert_text for i in (await inline(client, 5, 14)).items]
    assert shown == (["path.join(root, name)"] if threshold < 1 else [])
    await client.shutdown_session()


@pytest.mark.parametrize("recall", [True, False])
async def test_ghost_text_recalls_a_line_another_file_of_the_workspace_wrote(
    tiny_model_dir: Path, tmp_path: Path, recall: bool
) -> None:
    (tmp_path / "helpers.py").write_text(
        "import os\n\n\ndef find(alpha_dir, beta_file):\n"
        "    value = os.path.join(alpha_dir, beta_file)\n    return value\n"
    )
    client = await start(tiny_model_dir, root=tmp_path, inline=True, recallLines=recall)
    uri = (tmp_path / "main.py").as_uri()
    open_doc(client, "import os\n\n\ndef main():\n    value = os.pa", uri)
    params = types.InlineCompletionParams(
        context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Automatic),
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(4, 17),
    )
    recalled = "th.join(alpha_dir, beta_file)"
    shown: list[str] = []
    for _ in range(30):  # the workspace's files are read in the background
        shown = [i.insert_text for i in (await client.text_document_inline_completion_async(
            params)).items]  # fmt: skip
        if recalled in shown:
            break
        await asyncio.sleep(0.1)
    assert (recalled in shown) == recall, shown
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="grucomplete.serverStatus")
    )
    lines = status["workspaceLines"]
    if recall:  # helpers.py's 5 lines; the open document's, once indexed, besides
        assert lines["state"] == "ready" and lines["lines"] >= 5, lines
    else:
        assert lines["state"] == "off", lines
    await client.shutdown_session()


async def test_unknown_document_and_out_of_range_positions_get_empty_results(
    client: LanguageClient,
) -> None:
    assert (await complete(client, 0, 0, "file:///nowhere.py")).items == ()
    open_doc(client, MAIN)
    assert (await complete(client, 99, 0)).items == ()
    assert (await complete(client, 0, 500)).items == ()
    assert labels(await complete(client, 5, 14))[0].startswith("path")  # still serving


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
async def test_columns_after_an_emoji_follow_the_negotiated_encoding(
    tiny_model_dir: Path, encoding: str
) -> None:
    client = await start(tiny_model_dir, encodings=[encoding])
    text = "import os\nimport sys\n\n\ndef main():\n    s = '😀'; path = os.pa"
    open_doc(client, text)
    column = len(
        "    s = '😀'; path = os.pa".encode("utf-16-le" if encoding == "utf-16" else "utf-8")
    ) // (2 if encoding == "utf-16" else 1)
    result = await complete(client, 5, column)
    best = next(i for i in result.items if i.label == "path")
    assert best.text_edit.range.start.character == column - 2
    await client.shutdown_session()


async def test_invalid_settings_are_reported_and_defaults_used(tiny_model_dir: Path) -> None:
    client = await start(tiny_model_dir, beamWidth="wide")
    open_doc(client, MAIN)
    assert labels(await complete(client, 5, 14))[0].startswith("path")
    assert any("beamWidth" in m.message for m in client.messages)
    await client.shutdown_session()


async def test_configuration_change_turns_line_completions_off(
    client: LanguageClient, tiny_model_dir: Path
) -> None:
    open_doc(client, MAIN)
    kinds = {i.kind for i in (await complete_with_line(client, 5, 14)).items}
    assert types.CompletionItemKind.Snippet in kinds
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={
                "grucomplete": {
                    "model": str(tiny_model_dir),
                    "precision": "fp32",
                    "lineCompletions": False,
                }
            }
        )
    )
    kinds = {i.kind for i in (await complete(client, 5, 14)).items}
    assert kinds == {types.CompletionItemKind.Variable}


async def test_model_missing_then_appearing_is_picked_up(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    client = await start(model)
    open_doc(client, MAIN)
    assert (await complete(client, 5, 14)).items == ()
    for _ in range(50):
        if client.messages:
            break
        await asyncio.sleep(0.1)
    assert "cannot load the model" in client.messages[0].message
    shutil.copytree(tiny_model_dir, model)  # e.g. `grucomplete train` just finished
    for _ in range(100):
        await asyncio.sleep(0.1)
        if (await complete(client, 5, 14)).items:
            break
    assert labels(await complete(client, 5, 14))[0].startswith("path")
    await client.shutdown_session()


async def test_cancelled_request_gets_request_cancelled(client: LanguageClient) -> None:
    # Big documents' prefills keep the worker busy; the request on another waits behind them.
    for i in range(40):
        open_doc(client, f"x_{i} = 1\n" * 30_000, uri=f"file:///tmp/grucomplete-test/big{i}.py")
    open_doc(client, MAIN)
    await asyncio.sleep(0.5)  # let the didOpens finish crossing the pipe
    params = types.CompletionParams(
        text_document=types.TextDocumentIdentifier(URI), position=types.Position(5, 14)
    )
    # send_request (not _async) writes at once, so the cancel cannot overtake the request.
    pending = asyncio.wrap_future(
        client.protocol.send_request(types.TEXT_DOCUMENT_COMPLETION, params, msg_id="to-cancel")
    )
    await asyncio.sleep(0.3)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="to-cancel"))
    with pytest.raises(JsonRpcRequestCancelled):
        await pending
    # The server is still healthy and answers the next request.
    assert labels(await complete(client, 5, 14))[0].startswith("path")


async def test_a_new_request_supersedes_the_one_in_flight(client: LanguageClient) -> None:
    open_doc(client, MAIN + "path.join(root, name)\n" + "x = 1\n" * 200_000)
    first = complete(client, 200_006, 0)
    second = complete(client, 5, 14)
    stale, fresh = await asyncio.gather(first, second)
    assert labels(fresh)[0].startswith("path")
    assert not stale.items  # superseded before it ran: nothing computed for it


def test_the_server_answers_initialize_before_importing_torch() -> None:
    # torch takes most of a second to import: it loads on the worker, after `initialize`.
    import subprocess

    code = "import sys, grucomplete.server.cli, grucomplete.server.language_server; "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
