"""Lines written before, recalled whole (`line_memory`): from the document and the project."""

from __future__ import annotations

from pathlib import Path

from grucomplete.model.engine import CompletionEngine
from grucomplete.model.line_memory import LineMemory, recall, recall_line
from grucomplete.server.workspace_names import WorkspaceNames

from .conftest import decode_from

CALLS = (
    "def f(alpha_dir, beta_file):\n"
    "    value = os.path.join(alpha_dir, beta_file)\n"
    "    return value\n\n\n"
)


def test_a_line_finished_before_is_recalled_inside_a_line_and_at_its_start() -> None:
    inside = recall_line(CALLS + "def g():\n    value = os.pa")
    assert inside is not None and inside.insert == "th.join(alpha_dir, beta_file)"
    decorated = "@fixture\ndef make(tmp):\n    pass\n\n\n@fixture\n"
    at_start = recall_line(decorated)
    assert at_start is not None and at_start.insert == "def make(tmp):"
    # Seen once, with one way not seen yet: as likely right as not.
    assert at_start.probability == 0.5
    twice = recall_line("@fixture\ndef make(tmp):\n" * 2 + "@fixture\n    ")
    assert twice is not None and twice.probability == 2 / 3


def test_nothing_is_recalled_where_no_way_prevails_or_little_is_typed() -> None:
    split = "x = 1\nprint(a)\nx = 1\nprint(b)\nx = 1\nprint(c)\nx = 1\n"
    assert recall_line(split) is None  # three ways, none of them half
    assert recall_line("value = compute(a)\nval") is None  # too little of the line typed
    assert recall_line("") is None and recall_line("\n\n") is None
    assert recall_line("value = compute(a)\nvalue = compute(a)") is None  # nothing left


def test_the_memory_follows_its_files_and_leaves_the_document_out() -> None:
    memory = LineMemory()
    memory.update("a.py", CALLS)
    memory.update("b.py", "import os\n")
    assert recall_line("def g():\n    value = os.pa", memory) is not None
    # The document's own lines come from the editor's text, not from the memory's copy.
    assert recall_line("def g():\n    value = os.pa", memory.for_file("a.py")) is None
    memory.update("a.py", "def f(root, name):\n    value = os.path.split(root)\n")
    found = recall_line("value = os.pa", memory)
    assert found is not None and found.insert == "th.split(root)"
    memory.update("a.py", None)
    memory.update("b.py", None)
    assert len(memory) == 0 and recall_line("value = os.pa", memory) is None
    assert memory.continuations("", "import os") == {}


def test_the_memory_respects_its_bound() -> None:
    memory = LineMemory(max_lines=5)
    memory.update("small.py", "a = 1\nb = 2\n")
    memory.update("big.py", "".join(f"name_{i} = {i}\n" for i in range(10)))
    assert len(memory) == 2 and memory.truncated
    assert recall_line("name_3 = ", memory) is None


def test_a_recalled_line_joins_the_models_lines_only_where_it_is_well_formed(
    tiny_engine: CompletionEngine,
) -> None:
    text = CALLS + "def g():\n    value = os.pa"
    lines = decode_from(tiny_engine, text, recall_lines=True).lines
    assert [line.insert for line in lines].count("th.join(alpha_dir, beta_file)") == 1
    without = decode_from(tiny_engine, text, recall_lines=False).lines
    assert "th.join(alpha_dir, beta_file)" not in [line.insert for line in without]
    # After `first,` came `]` where a bracket was open; here none is: `]` is not offered.
    closing = "items = [\n    first,\n]\nfirst,\n"
    assert recall_line(closing) is not None
    lines = decode_from(tiny_engine, closing, recall_lines=True).lines
    assert "]" not in [line.insert.strip() for line in lines]


def test_a_document_opened_through_a_link_is_never_read_from_disk(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    real = tmp_path / "src" / "module.py"
    real.write_text("import os\nvalue = os.path.join(future, lines)\n")
    (tmp_path / ".open").mkdir()
    link = tmp_path / ".open" / "module.py"
    link.symlink_to(real)
    index = WorkspaceNames(tmp_path, debounce_s=0.0)
    index.document(link, "import os\n")  # opened through the link, before the build
    index.start()
    try:
        assert index.wait_idle()
        assert "future" not in index
        assert recall_line("value = os.pa", index.lines) is None
    finally:
        index.stop()


def test_the_word_a_recalled_line_goes_on_with_is_offered_first(
    tiny_engine: CompletionEngine,
) -> None:
    text = CALLS + "def g():\n    value = os.path.join(alp"
    recalled = decode_from(tiny_engine, text, recall_lines=True).words
    assert recalled[0].label == "alpha_dir" and recalled[0].probability >= 0.5
    model_only = decode_from(tiny_engine, text, recall_lines=False).words
    assert [w.label for w in model_only][:1] != ["alpha_dir"]
    # Where static analysis lists the names, a recalled word it does not list is not offered.
    listed = decode_from(tiny_engine, text, known_words=lambda: ["alpine"], recall_lines=True)
    assert "alpha_dir" not in [w.label for w in listed.words]


def test_a_word_may_prevail_where_no_line_does() -> None:
    calls = "".join(f"value = compute(alpha_arg, {i})\n" for i in range(3))
    found = recall(calls + "value = compute(alp")
    assert found is not None and found.line() is None  # three ways, none of them half
    assert found.word("alp") == ("alpha_arg", 0.75)
    assert recall(calls + "value = compute(").word("") == ("alpha_arg", 0.75)
    others = "value = compute(beta_arg)\nvalue = compute(gamma_arg)\n" * 2
    assert recall(calls + others + "value = compute(").word("") is None  # 3 of 7
