"""The per-document caches: what they compute always equals a cold, from-scratch run."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grucomplete.model.document_state import IncrementalTokens
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.session import DocumentSession
from grucomplete.model.window import CHUNK, CONTEXT_CHARS, text_origin
from grucomplete.server.options import ServerOptions, parse_options
from grucomplete.server.positions import character_at, line_bounds, offset_at

from .conftest import MODEL_ONLY, TOY_SOURCES, complete_text

PIECES = st.sampled_from(
    [
        "self.",
        "x",
        " = ",
        "\n",
        "\n    ",
        "os.path",
        "(",
        ")",
        "é",
        "😀",
        "\r\n",
        "\t",
        "# c",
        "return ",
        "def f():",
        "ïñ",
        "  ",
        "pa",
    ]
)


@st.composite
def edit_scripts(draw: st.DrawFn) -> list[tuple[int, int, str, int]]:
    """(start, delete, insert, cursor) edits over a growing text, as fractions of its length."""
    return draw(
        st.lists(
            st.tuples(
                st.floats(0, 1),
                st.integers(0, 6),
                st.lists(PIECES, max_size=4).map("".join),
                st.floats(0, 1),
            ),
            min_size=1,
            max_size=12,
        )
    )


def apply(text: str, edit: tuple[float, int, str, float]) -> tuple[str, int]:
    where, delete, insert, cursor = edit
    start = int(where * len(text))
    text = text[:start] + insert + text[start + delete :]
    return text, int(cursor * len(text))


@settings(max_examples=60, deadline=None)
@given(edit_scripts())
def test_incremental_tokens_equal_a_fresh_tokenization(
    tiny_engine: CompletionEngine, script: list
) -> None:
    tokens = IncrementalTokens(tiny_engine)
    text = TOY_SOURCES[1]
    tokens.update(text)
    for edit in script:
        text, cursor = apply(text, edit)
        assert list(tokens.update(text[:cursor])) == tiny_engine.tokenizer.encode(text[:cursor])


@pytest.fixture(scope="module")
def small_window_engine(tiny_engine: CompletionEngine) -> CompletionEngine:
    """The tiny model reading at most 2 chunks, so edits keep moving the context window (and
    reading the next window beside each request, whatever the cores here)."""
    return CompletionEngine(
        tiny_engine.checkpoint, "fp32", context_tokens=2 * CHUNK, layer_threads=True
    )


def check_cache_equals_cold_runs(engine: CompletionEngine, script: list) -> None:
    session = DocumentSession(engine, max_checkpoints=4)
    text = TOY_SOURCES[0] * 3  # long enough for several checkpoints
    session.prompt(engine.heal(text).context)
    for edit in script:
        text, cursor = apply(text, edit)
        healed = engine.heal(text[:cursor])
        warm = session.prompt(healed.context)
        cold_logits, cold_state = engine.prompt_state(engine.prompt_ids(healed.context))
        assert torch.allclose(warm.state, cold_state, atol=1e-5)
        assert torch.allclose(warm.logits, cold_logits, atol=1e-5)
    # And so the completions are those of a cold server.
    settings = replace(MODEL_ONLY, neural_cache=0.0)
    assert session.complete(text[:cursor], settings) == complete_text(engine, text[:cursor])


@settings(max_examples=15, deadline=None)
@given(edit_scripts())
def test_cached_state_equals_a_cold_run_after_any_edits(
    tiny_engine: CompletionEngine, script: list
) -> None:
    check_cache_equals_cold_runs(tiny_engine, script)


@settings(max_examples=15, deadline=None)
@given(edit_scripts())
def test_cached_state_equals_a_cold_run_as_the_context_window_moves(
    small_window_engine: CompletionEngine, script: list
) -> None:
    check_cache_equals_cold_runs(small_window_engine, script)


def test_a_keystroke_feeds_only_the_last_chunk(tiny_engine: CompletionEngine) -> None:
    session = DocumentSession(tiny_engine)
    text = "".join(TOY_SOURCES) * 10
    first = session.prompt(text)
    assert first.tokens_fed > 10 * CHUNK
    typed = session.prompt(text + "x = 1\n")
    assert typed.tokens_fed <= CHUNK + 8


def test_the_context_window_bounds_the_work_on_a_huge_file(tiny_engine: CompletionEngine) -> None:
    session = DocumentSession(tiny_engine)
    text = "".join(TOY_SOURCES) * 200  # far longer than the window
    ids = tiny_engine.tokenizer.encode(text)
    assert len(ids) > 10 * tiny_engine.context_tokens
    opened = session.prompt(text)
    assert opened.tokens_fed <= tiny_engine.context_tokens + 1
    typed = session.prompt(text + "x = 1\n")
    assert typed.tokens_fed <= CHUNK + 8
    # Typing on: a keystroke feeds its line, and a whole window only when the window moves.
    fed, moves = [], 0
    for i in range(40):
        text += f"value_{i} = compute(value, {i})\n"
        start = session.states.origin
        fed.append(session.prompt(text).tokens_fed)
        moves += session.states.origin != start
    assert max(fed) <= tiny_engine.context_tokens + 1
    assert sorted(fed)[len(fed) * 3 // 4] <= CHUNK + 32  # the last chunk and the line
    assert moves <= 1 + sum(fed) // (tiny_engine.context_tokens // 2)


def test_a_huge_text_is_tokenized_only_near_the_cursor(tiny_engine: CompletionEngine) -> None:
    tokens = IncrementalTokens(tiny_engine)
    text = "".join(TOY_SOURCES) * (3 * CONTEXT_CHARS // len("".join(TOY_SOURCES)))
    for typed in ("", "x = 1\n", "\n" * 5, "y"):  # typing on; one step moves the origin
        text += typed + "".join(TOY_SOURCES) * 40 * (typed == "\n" * 5)
        origin = text_origin(text)
        assert 0 < len(text) - origin <= CONTEXT_CHARS
        assert list(tokens.update(text)) == tiny_engine.tokenizer.encode(text[origin:])
    # The model then reads what a cold engine reads.
    session = DocumentSession(tiny_engine)
    warm = session.prompt(text)
    cold_logits, _ = tiny_engine.prompt_state(tiny_engine.prompt_ids(text))
    assert torch.allclose(warm.logits, cold_logits, atol=1e-5)


def test_the_window_moves_in_half_windows_and_starts_at_a_line(
    small_window_engine: CompletionEngine,
) -> None:
    engine = small_window_engine
    ids = engine.tokenizer.encode("".join(TOY_SOURCES) * 4)
    starts = [engine.window_start(ids[:n]) for n in range(len(ids) + 1)]
    size = engine.context_tokens
    assert starts[size] == 0 and starts[-1] > 0
    for n, start in enumerate(starts):
        assert n - start <= size  # never reads more than the window
        assert start == 0 or engine.index.starts_line[ids[start]] or start % (size // 2) == 0
    # Typing forward moves the start rarely: once per half window at most.
    assert len(set(starts)) <= 2 + 2 * len(ids) // size


def test_checkpoints_are_capped(tiny_engine: CompletionEngine) -> None:
    session = DocumentSession(tiny_engine, max_checkpoints=8)
    session.prompt("".join(TOY_SOURCES) * 20)
    assert len(session.states.checkpoints) <= 8


def test_options_parse_camel_case_and_keep_defaults_for_bad_values() -> None:
    options, problems = parse_options(
        {
            "beamWidth": 3,
            "latencyBudgetMs": 25,
            "lineCompletions": False,
            "cache": {"maxDocuments": 7},
            "strategy": "nucleus",
            "maxTokens": -1,
            "temperature": "hot",
            "mystery": 1,
        }
    )
    assert (options.beam_width, options.latency_budget_ms, options.line_completions) == (
        3,
        25,
        False,
    )
    assert options.cache.max_documents == 7
    assert options.strategy == ServerOptions().strategy
    assert options.max_tokens == ServerOptions().max_tokens
    assert options.temperature == ServerOptions().temperature
    assert len(problems) == 4
    assert any("strategy: must be one of" in p for p in problems)
    assert any("mystery: unknown setting" in p for p in problems)
    assert parse_options("nonsense")[1] == ["options: expected an object, got str"]


def test_an_empty_list_is_no_settings() -> None:
    # Lua encodes an empty table as `[]`: Neovim's `setup({})` sent it, and was told off.
    assert parse_options([]) == (ServerOptions(), [])
    assert parse_options({"cache": []}) == (ServerOptions(), [])
    assert parse_options([1])[1] == ["options: expected an object, got list"]


def test_positions_count_code_units_of_the_negotiated_encoding() -> None:
    source = "s = '😀'  # é\r\nx = 1\n"
    after_emoji = source.index("'", 5)
    assert offset_at(source, 0, 7, "utf-16") == after_emoji  # the emoji is 2 UTF-16 units
    assert offset_at(source, 0, 9, "utf-8") == after_emoji  # and 4 UTF-8 bytes
    assert offset_at(source, 0, 6, "utf-16") == after_emoji - 1  # inside the pair: its start
    assert offset_at(source, 1, 5) == source.index("1") + 1
    assert offset_at(source, 2, 0) == len(source)
    assert offset_at(source, 3, 0) is None and offset_at(source, 1, 99) is None
    assert offset_at(source, -1, 0) is None
    assert character_at(source, after_emoji, "utf-16") == 7
    assert character_at(source, source.index("x"), "utf-8") == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "é", "😀", "\n", "\r\n", "\r", " "]), max_size=30), st.data())
def test_line_bounds_follow_the_lsp_line_breaks(pieces: list[str], data: st.DataObject) -> None:
    source = "".join(pieces)
    lines = re.split(r"\r\n|\r|\n", source)  # the LSP spec's line breaks, nothing else
    line = data.draw(st.integers(-1, len(lines)))
    bounds = line_bounds(source, line)
    if not 0 <= line < len(lines):
        assert bounds is None
    else:
        start, end = bounds
        assert source[start:end] == lines[line]


def check_prepared_states_equal_cold_runs(engine: CompletionEngine, script: list) -> None:
    """Background preparation between edits, then a query at the edit and a jump elsewhere:
    the states and the neural cache's keys are a cold run's, bitwise, and the query at the
    edit reads at most a chunk (its state was read ahead)."""
    session = DocumentSession(engine, max_checkpoints=64, max_prepared=3)
    text = TOY_SOURCES[0] * 6
    session.prompt(engine.heal(text[:40]).context)
    for edit in script:
        text, cursor = apply(text, edit)
        while session.prepare(text, cursor=cursor):
            pass
        for at in (cursor, len(text) // 2):
            healed = engine.heal(text[:at])
            warm = session.prompt(healed.context)
            cold_outputs: list[torch.Tensor] = []
            ids = engine.prompt_ids(healed.context)
            cold_logits, cold_state = engine.prompt_state(ids, cold_outputs)
            assert torch.equal(warm.state, cold_state)
            assert torch.equal(warm.logits, cold_logits)
            assert torch.equal(warm.outputs, torch.cat(cold_outputs).to(warm.outputs.dtype))
            if at == cursor:
                assert warm.tokens_fed <= CHUNK


@settings(max_examples=15, deadline=None)
@given(edit_scripts())
def test_prepared_states_equal_a_cold_run_as_the_window_jumps(
    small_window_engine: CompletionEngine, script: list
) -> None:
    check_prepared_states_equal_cold_runs(small_window_engine, script)


def test_reading_ahead_into_another_window_keeps_the_current_one_exact(
    small_window_engine: CompletionEngine,
) -> None:
    """A paste inside the window being typed in, read ahead to where it ends (another
    window), then queries back inside the paste: each state is a cold run's."""
    engine = small_window_engine
    text = TOY_SOURCES[0] * 4
    at = len(text) // 3
    cut = at - 10
    pasted = text[:cut] + TOY_SOURCES[1] + text[cut:]
    end = cut + len(TOY_SOURCES[1])
    for query in range(cut + 1, end, 9):
        session = DocumentSession(engine)
        session.prompt(engine.heal(text[:at]).context)
        while session.prepare(pasted, cursor=end):
            pass
        healed = engine.heal(pasted[:query])
        _, cold = engine.prompt_state(engine.prompt_ids(healed.context))
        assert torch.equal(session.prompt(healed.context).state, cold), query


def test_a_jump_into_a_prepared_window_reads_a_chunk(small_window_engine: CompletionEngine) -> None:
    engine = small_window_engine
    text = TOY_SOURCES[0] * 8
    session = DocumentSession(engine, max_prepared=64)
    session.prompt(engine.heal(text[:30]).context)
    slices = 0
    while session.prepare(text):
        slices += 1
    assert slices > 1  # the work came in slices
    for cut in (len(text) // 2, len(text) // 3, len(text) - 5):
        assert session.prompt(engine.heal(text[:cut]).context).tokens_fed <= CHUNK
    cold = DocumentSession(engine)
    assert cold.prompt(engine.heal(text[: len(text) // 2]).context).tokens_fed > CHUNK


def test_typing_at_the_end_moves_into_a_prepared_window(tiny_engine: CompletionEngine) -> None:
    """Typing on at the end of a file, a query at each piece typed: the window the typing
    moves into was read ahead, in idle time after each query or on the spare core while it
    decoded, so a query reads what was typed since the last and at most a chunk before it,
    and each state is a cold run's. With neither, a move reads half a window or more."""
    checkpoint, window = tiny_engine.checkpoint, 4 * CHUNK
    alone = CompletionEngine(checkpoint, "fp32", context_tokens=window, layer_threads=False)
    spare = CompletionEngine(checkpoint, "fp32", context_tokens=window, layer_threads=True)
    text = TOY_SOURCES[0] * 6
    idle, busy, beside = DocumentSession(alone), DocumentSession(alone), DocumentSession(spare)
    origins, reads, busy_reads, beside_reads = set(), [], [], []
    for end in range(40, len(text), 7):
        context = alone.heal(text[:end]).context
        _, cold = alone.prompt_state(alone.prompt_ids(context))
        for session, counts in ((idle, reads), (beside, beside_reads)):
            warm = session.prompt(context)
            assert torch.equal(warm.state, cold), end
            counts.append(warm.tokens_fed)
        origins.add(idle.states.origin)
        busy_reads.append(busy.prompt(context).tokens_fed)
        while idle.prepare(text[:end], cursor=end):
            pass
    assert len(origins) > 3  # the window moved several times
    assert max(reads[1:]) < 2 * CHUNK  # 7 characters typed are fewer than a chunk of tokens
    assert max(beside_reads[1:]) < 2 * CHUNK
    assert max(busy_reads[1:]) >= 2 * CHUNK
