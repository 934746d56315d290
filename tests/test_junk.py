"""Nothing a Python developer would call junk: invented names, comment words at code positions,
line fragments among the words, lines that close what was never opened or stop mid-expression."""

from __future__ import annotations

import re
import time
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grucomplete.model.code_text import (
    CodeText,
    LineState,
    code_names,
    code_only,
    defines_name,
    line_state,
    well_formed_line,
)
from grucomplete.model.completions import Suggestion
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.identifier_cache import cache_distribution
from grucomplete.model.real_names import keep_real_names
from grucomplete.server.workspace_names import WorkspaceNames
from grucomplete.training.evaluation.metrics import JunkTally, closes_unopened, open_depth

from .conftest import complete_text, decode_from


def test_junk_metric_counts_what_is_known_to_be_junk() -> None:
    tally = JunkTally()
    names = {"count", "values"}
    tally.add(["count", "cmount", "len", "withment", "values("], 0, names)  # 2 invented of 5
    tally.add(["x)", "foo(a)", "'('"], 0, None)  # one closes nothing open
    tally.add(["b)"], open_depth("f(a, "), None)  # that one is open
    summary = tally.summary()
    assert summary["ident_items"] == 5 and summary["invented"] == 2 / 5
    assert summary["items"] == 9 and summary["unmatched"] == 1 / 9


def test_comment_and_string_words_do_not_count_at_code_positions() -> None:
    text = "# LATIN LETTER the\nLABEL = 'LATIN the'\nLIMIT = 1\n"
    assert set(cache_distribution(text + "L", "L")) == {"LABEL", "LIMIT"}
    # In a comment, the comment's words are what is being written.
    assert "LATIN" in cache_distribution(text + "# L", "L")


def _words(*names_and_probabilities: tuple[str, float]) -> list[Suggestion]:
    return [Suggestion(n, n, p) for n, p in names_and_probabilities]


def test_an_invented_name_is_dropped_and_a_name_being_defined_is_kept() -> None:
    words = _words(("count", 0.3), ("cmount", 0.3), ("counter", 0.4))
    legal = {"count", "counter"}
    assert [w.label for w in keep_real_names(words, legal, False)] == ["count", "counter"]
    assert [w.label for w in keep_real_names(words, legal, True)] == ["count", "cmount", "counter"]
    # Even where a name is defined, a new one the model barely gives is not offered.
    words = _words(("count", 0.5), ("cmount", 0.1), ("counter", 0.4))
    assert [w.label for w in keep_real_names(words, legal, True)] == ["count", "counter"]
    for line in ("def cmo", "class Cm", "import numpy as n", "    for i, cm", "def f(self, cm",
                 "import os, sy", "from collections.ab", "from m import x as y"):  # fmt: skip
        assert defines_name(line), line
    for line in ("    x = cm", "print(cm", "return cm", "from abc import A", "from m import a, b"):
        assert not defines_name(line), line


def test_a_new_name_cut_short_is_not_offered_where_a_name_is_defined() -> None:
    words = [Suggestion("test_get_", "", 0.5, complete=False), *_words(("test_get_value", 0.5))]
    assert [w.label for w in keep_real_names(words, set(), True)] == ["test_get_value"]
    words = [Suggestion("test_", "", 0.5, complete=False)]
    assert [w.label for w in keep_real_names(words, {"test_"}, True)] == ["test_"]  # it exists


def test_a_sure_model_may_offer_a_new_name() -> None:
    words = _words(("brand_new", 0.9), ("count", 0.1))
    assert [w.label for w in keep_real_names(words, {"count"}, False)][0] == "brand_new"


def test_words_are_identifiers_and_lines_are_well_formed(tiny_engine: CompletionEngine) -> None:
    found = complete_text(tiny_engine, "def main():\n    path = os.path.join(root, name)\n    ")
    assert all(w.label.isidentifier() for w in found.words)
    for line in found.lines:
        state = line_state("    " + line.insert)
        assert well_formed_line("", line.label, state)


def test_a_line_stops_where_a_person_would() -> None:
    for line, ok in [("x = 1", True), ("x = ", False), ("f(a,", True), ("f(x:", False),
                     ("f(", True), ("if x:", True), ("y = 'abc", False), ("a and", False),
                     ("x = 1,", False), ("f(a and", True)]:  # fmt: skip
        state = LineState().feed(line.encode())
        assert state is not None and well_formed_line("", line, state) is ok, line
    # Deep in a long list begun before the text read, an item line ends at its comma.
    table = "TABLE = [\n" + "    (1, 2, 0),\n" * 400 + "    "
    state = line_state(table)
    assert state.unknown_start and well_formed_line("    ", "    (3, 4, 0),", state)
    assert line_state("x = [\n    (1, 2),\n    ") == LineState(1)


PIECES = ["x", " = ", "f(", "a", ", ", "[", "1", "]", ")", "{", "'s'", " + ", "\n    ", ".y"]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(PIECES), max_size=8))
@example([" = ", "\n    ", "x", "f("])  # a line indented wrong before the open bracket
def test_no_item_closes_a_bracket_that_is_not_open(
    tiny_engine: CompletionEngine, pieces: list[str]
) -> None:
    text = "import os\n\n\ndef main():\n    " + "".join(pieces)
    depth = open_depth(text)
    found = complete_text(tiny_engine, text, line_max_tokens=12)
    for item in [*found.words, *found.lines]:
        assert not closes_unopened(item.insert, depth), (text, item)


def test_a_line_after_a_dot_begins_with_a_member_static_analysis_lists(
    tiny_engine: CompletionEngine,
) -> None:
    text = "import os\n\n\ndef main():\n    found = os."
    unchecked = decode_from(tiny_engine, text)
    members = ["getcwd", "sep"]
    heads = {_head(unchecked.typed + line.insert) for line in unchecked.lines}
    assert heads - set(members)  # the model alone begins a line with another name
    checked = decode_from(tiny_engine, text, known_words=lambda: members)
    assert unchecked.lines[0].insert not in [line.insert for line in checked.lines]
    for line in checked.lines:
        assert _head(checked.typed + line.insert) in members, line


def _head(text: str) -> str:
    match = re.match(r"\w+", text)
    return match.group() if match else ""


def _index(root: Path, **bounds: int) -> WorkspaceNames:
    index = WorkspaceNames(root, debounce_s=0.0, **bounds)
    index.start()
    assert index.wait_idle()
    return index


def test_workspace_names_follow_edits_creations_and_deletions(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def alpha_function():\n    pass  # comment_word\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "v.py").write_text("venv_name = 1\n")
    index = _index(tmp_path)
    try:
        assert "alpha_function" in index
        assert "comment_word" not in index and "venv_name" not in index
        # An open document is the editor's text, never its copy on disk.
        index.document(tmp_path / "a.py", "def alpha_renamed():\n")
        assert index.wait_idle()
        assert "alpha_renamed" in index and "alpha_function" not in index
        (tmp_path / "a.py").write_text("def from_disk_future():\n")
        index.changed_on_disk(tmp_path / "a.py")
        assert index.wait_idle() and "from_disk_future" not in index
        # Created, then deleted, on disk.
        (tmp_path / "b.py").write_text("beta_class = 2\n")
        index.changed_on_disk(tmp_path / "b.py")
        assert index.wait_idle() and "beta_class" in index
        (tmp_path / "b.py").unlink()
        index.changed_on_disk(tmp_path / "b.py")
        assert index.wait_idle() and "beta_class" not in index
        # Closed: the disk counts again; a re-scan by mtime finds a file nobody announced.
        index.closed(tmp_path / "a.py")
        assert index.wait_idle() and "from_disk_future" in index
        (tmp_path / "c.py").write_text("gamma_value = 3\n")
        index.rescan()
        assert "gamma_value" in index
    finally:
        index.stop()


def test_workspace_names_respect_their_bounds(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"m{i:02d}.py").write_text("\n".join(f"name_{i}_{j} = 0" for j in range(50)))
    index = _index(tmp_path, max_names=500, max_files=20)
    try:
        assert len(index) <= 500 and index.truncated
        assert "name_25_0" not in index  # past the file bound
    finally:
        index.stop()
    began = time.monotonic()
    index = _index(tmp_path, max_seconds=0.0)
    try:
        assert index.truncated and time.monotonic() - began < 5
    finally:
        index.stop()


def test_a_document_uses_the_names_of_its_own_project_and_what_it_imports(
    tmp_path: Path,
) -> None:
    # A folder of two projects: `one` without a marker, `two` with a pyproject.toml.
    (tmp_path / "one" / "src" / "one").mkdir(parents=True)
    (tmp_path / "one" / "src" / "one" / "core.py").write_text("def one_helper(one_param): ...\n")
    for folder in ("lib", "tests"):
        (tmp_path / "two" / folder).mkdir(parents=True)
    (tmp_path / "two" / "pyproject.toml").write_text("[project]\nname = 'two'\n")
    (tmp_path / "two" / "lib" / "util.py").write_text("TWO_CONSTANT = 1\n")
    document = tmp_path / "two" / "tests" / "test_util.py"
    document.write_text("")
    index = _index(tmp_path)
    try:
        names = index.for_document(document)
        assert "TWO_CONSTANT" in names  # the project is the folder with the marker
        assert "one_helper" in index and "one_helper" not in names
        index.document(document, "from one.core import one_helper\n\none_helper(")
        assert index.wait_idle()
        assert "one_param" in names  # the file it imports counts, with its parameters
        index.document(document, "import os\n")
        assert index.wait_idle() and "one_param" not in names
        # Without a marker, the folder directly under the root is the project.
        assert "one_param" in index.for_document(tmp_path / "one" / "tests" / "test_core.py")
        assert "TWO_CONSTANT" not in index.for_document(tmp_path / "one" / "new.py")
        assert "one_param" in index.for_document(tmp_path / "top_level_script.py")
    finally:
        index.stop()


EDITS = ["x = f(a, ", '"""doc\n', "# note (\n", "'s", "\n", "y]", "def g(", '"""\n', "b'\\'", "z\n"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(EDITS), st.integers(0, 200), st.booleans()), max_size=12))
def test_code_text_follows_edits_as_a_fresh_scan_reads_them(edits) -> None:
    kept, text = CodeText(), ""
    for piece, at, cut in edits:
        at = min(at, len(text))
        text = text[:at] + (text[at + len(piece) :] if cut else piece + text[at:])
        kept.update(text)
        fresh = CodeText.of(text)
        assert kept.code == fresh.code and len(kept.code) == len(text)
        code, inside = code_only(text)
        assert kept.inside == inside and kept.code.split() == code.split()
        assert kept.line_state() == line_state(text)
        assert kept.names(100_000) == code_names(text)
