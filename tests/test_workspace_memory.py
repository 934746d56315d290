"""The workspace memory follows the project's files, never reads an open one, stays bounded,
and its builder lets requests go first."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from grucomplete.model import memory_builder, memory_encoder
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.memory_builder import MemoryBuilder, workspace_files
from grucomplete.model.session import DocumentSession, complete_once
from grucomplete.model.workspace_memory import WorkspaceMemory
from grucomplete.server.workspace_names import WorkspaceNames

from .conftest import TOY_SOURCES


def _project(root: Path, count: int = 3) -> list[Path]:
    files = []
    for i in range(count):
        path = root / "pkg" / f"m{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TOY_SOURCES[i % len(TOY_SOURCES)] * 3)
        files.append(path.resolve())
    return files


def _builder(root: Path, model_dir: Path, memory: WorkspaceMemory, **kw: object) -> MemoryBuilder:
    return MemoryBuilder(root, model_dir, memory, "fp32", directory=root / ".store", **kw)


def test_memory_follows_edits_creations_and_deletions(tmp_path: Path, tiny_model_dir: Path) -> None:
    a, b, c = _project(tmp_path)
    memory = WorkspaceMemory()
    builder = _builder(tmp_path, tiny_model_dir, memory)
    assert builder.sync() == 3
    assert memory.paths() == {str(a), str(b), str(c)}
    assert builder.sync() == 0  # nothing changed: nothing fed again
    a.write_text(TOY_SOURCES[1])
    new = tmp_path / "pkg" / "new.py"
    new.write_text(TOY_SOURCES[2])
    b.unlink()
    assert builder.sync() == 2  # the edited file and the new one, not the others
    assert memory.paths() == {str(a), str(c), str(new.resolve())}
    assert memory.size()["files"] == 3
    # A restarted server reloads the stored shards instead of feeding the files again.
    again = _builder(tmp_path, tiny_model_dir, WorkspaceMemory())
    assert again.sync() == 0 and again.memory.size() == memory.size()


def test_open_documents_are_never_read_from_disk(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = _project(tmp_path)
    read: list[str] = []
    original = Path.read_bytes

    def spy(self: Path) -> bytes:
        read.append(str(self))
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    memory = WorkspaceMemory()
    memory.mask(str(a))  # opened in the editor before the first pass
    builder = _builder(tmp_path, tiny_model_dir, memory)
    builder.sync()
    assert str(a) not in read and str(a) not in memory.paths()
    # Opened after it was stored: its entries are never retrieved while it is open.
    engine = CompletionEngine.load(tiny_model_dir, precision="fp32")
    outputs: list = []
    engine.prompt_state(engine.prompt_ids(TOY_SOURCES[1][:40]), outputs)
    query = outputs[-1][-1]
    assert memory.retrieve(query, str(c), 0.3) is not None
    memory.mask(str(b))
    memory.mask(str(c))
    assert memory.retrieve(query, str(c), 0.3) is None  # every stored file is open
    memory.mask(str(b), False)  # closed: the copy on disk is what the user saved
    assert memory.retrieve(query, str(c), 0.3) is not None


def test_memory_stays_within_its_bound(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(tmp_path, 6)
    monkeypatch.setattr(memory_builder, "MAX_KEYS", 200)
    memory = WorkspaceMemory()
    builder = _builder(tmp_path, tiny_model_dir, memory)
    builder.sync()
    assert builder.tokens_fed > 400  # more positions were read than kept
    assert 0 < memory.size()["entries"] <= 2 * 200


def test_gitignored_and_environment_folders_are_skipped(tmp_path: Path) -> None:
    _project(tmp_path, 1)
    (tmp_path / ".gitignore").write_text("generated/\n")
    for folder in ("generated", "venv_x", "pkg/site-packages"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "x.py").write_text("x = 1\n")
    (tmp_path / "venv_x" / "pyvenv.cfg").write_text("")
    assert [p.name for p in workspace_files(tmp_path)] == ["m0.py"]


def test_a_request_goes_before_the_build(tmp_path: Path, tiny_model_dir: Path) -> None:
    _project(tmp_path, 4)
    order: list[str] = []
    request_waiting = threading.Event()
    request_waiting.set()  # a completion is queued when the build starts
    memory = WorkspaceMemory()
    builder = _builder(tmp_path, tiny_model_dir, memory, busy=request_waiting.is_set)
    builder.start(poll_s=60)
    engine = CompletionEngine.load(tiny_model_dir, precision="fp32")
    complete_once(engine, "def total(values):\n    res")
    order.append("request")
    assert builder.tokens_fed == 0  # no batch ran while the request waited
    request_waiting.clear()
    assert builder.ready.wait(60)
    order.append("build")
    builder.stop()
    assert order == ["request", "build"] and memory.size()["entries"] > 0


def test_a_name_used_only_in_other_files_ranks_first_only_with_the_memory(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # The tiny model learned `print(path)` after `path = os.path.join(root, name)`; the
    # project's other files print `values` there, a name the open document never uses.
    other = TOY_SOURCES[0].replace("print(path)", "print(values)")
    assert "values" not in TOY_SOURCES[0]
    for i in range(3):
        (tmp_path / "pkg").mkdir(exist_ok=True)
        (tmp_path / "pkg" / f"other{i}.py").write_text(other)
    document = (tmp_path / "pkg" / "main.py").resolve()
    document.write_text(TOY_SOURCES[0])  # on disk too, but open: masked, never read
    memory = WorkspaceMemory()
    memory.mask(str(document))
    _builder(tmp_path, tiny_model_dir, memory).sync()
    assert str(document) not in memory.paths()
    engine = CompletionEngine.load(tiny_model_dir, precision="fp32")
    text_before = TOY_SOURCES[0][: TOY_SOURCES[0].index("print(") + len("print(")]

    # As in the server: the project's names are legal at a use (the open document's from
    # the editor), so `values` is a real name there.
    names = WorkspaceNames(tmp_path, debounce_s=0.0)
    names.start()
    names.document(document, TOY_SOURCES[0])
    assert names.wait_idle() and "values" in names

    def first_word(weight: float) -> str:
        session = DocumentSession(engine)
        session.workspace_names = names
        settings = CompletionSettings(workspace_memory=weight)  # the defaults otherwise
        found = session.complete(text_before, settings, workspace=memory.for_path(str(document)))
        return found.words[0].label

    try:
        assert first_word(0.0) == "path"
        assert first_word(0.7) == "values"
    finally:
        names.stop()


def test_the_server_builds_with_its_own_model_not_a_second_copy(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second copy of the model and its working set made the server's peak RSS 370-450 MB
    # higher with the memory on; the builder now runs the engine's model once it has loaded.
    _project(tmp_path, 3)
    engine = CompletionEngine.load(tiny_model_dir, precision="fp32")
    loading = [True]

    def no_copy(*args: object, **kw: object) -> None:
        raise AssertionError("the builder loaded a model of its own")

    monkeypatch.setattr(memory_encoder, "load_checkpoint", no_copy)
    memory = WorkspaceMemory()
    builder = _builder(
        tmp_path, tiny_model_dir, memory, engine=lambda: None if loading[0] else engine
    )
    builder.start(poll_s=60)
    assert not builder.ready.wait(1.0)  # waits for the server's model to load
    loading[0] = False
    assert builder.ready.wait(60)
    builder.stop()
    assert builder.state == "ready" and memory.size()["files"] == 3


def test_a_search_finds_what_reading_every_list_row_by_row_finds() -> None:
    """The keys are kept in list order; a search must find the rows (and successors) that
    distances over the same lists' rows, gathered in file order, find."""
    import torch

    from grucomplete.model import workspace_memory as wm

    generator = torch.Generator().manual_seed(0)
    outputs = [torch.randn(n, 32, generator=generator) for n in (3000, 2500, 1800)]
    projection = wm.Projection.fit(outputs)
    memory = wm.WorkspaceMemory(projection)
    shards = {}
    for i, keys in enumerate(outputs):
        codes, lists = projection.encode(keys)
        values = torch.randint(0, 100, (len(keys),), generator=generator, dtype=torch.int32)
        shards[f"/project/file{i}.py"] = wm.Shard(
            f"/project/file{i}.py", str(i), codes, values, lists
        )
        memory.put(shards[f"/project/file{i}.py"])
    memory.rebuild()
    memory.mask("/project/file1.py")  # an open document's rows are never found
    index, allowed = memory._index, memory._allowed
    assert index is not None and allowed is not None
    assert len(index.values) > wm.EXACT_BELOW  # the inverted file is searched, not every row
    file_codes = torch.cat([shards[path].codes for path in index.paths])
    assert torch.equal(index.row_codes(torch.arange(len(file_codes))), file_codes)
    for query in torch.randn(12, 32, generator=generator).split(4):
        z = projection.project(query)
        near = wm._nearest_lists(z, projection.centroids, wm.PROBES)
        sizes = index.offsets[near + 1] - index.offsets[near]
        near = near[: max(1, int((sizes.cumsum(0) <= wm.MAX_ROWS).sum()))]
        rows = torch.cat([torch.nonzero(index.lists == c).flatten() for c in near.tolist()])
        keys = file_codes[rows].float() * projection.scale  # file order, row by row
        distances = (keys * keys).sum(1, keepdim=True) - 2 * keys @ z.T
        distances[~allowed[index.file_of[rows].long()]] = float("inf")
        best = torch.topk(distances, wm.NEIGHBOURS, dim=0, largest=False).indices
        expected = torch.unique(wm._same_file(index, torch.unique(rows[best])))
        found = wm._search(index, allowed, projection, z)
        assert torch.equal(found, expected)
        assert not (index.file_of[found] == 1).any()
    # A rebuild keeps the files that did not change and places the new ones.
    codes, lists = projection.encode(torch.randn(700, 32, generator=generator))
    shards["/project/file0.py"] = wm.Shard(
        "/project/file0.py", "new", codes, codes[:, 0].int(), lists
    )
    memory.put(shards["/project/file0.py"])
    memory.remove("/project/file2.py")
    memory.rebuild()
    index = memory._index
    assert index is not None and sorted(index.paths) == ["/project/file0.py", "/project/file1.py"]
    file_codes = torch.cat([shards[path].codes for path in index.paths])
    assert torch.equal(index.row_codes(torch.arange(len(file_codes))), file_codes)
    assert torch.equal(index.codes, file_codes[index.order.long()])
