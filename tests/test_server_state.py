"""The per-document caches: what they compute always equals a cold, from-scratch run."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grucomplete.model.engine import CompletionEngine
from grucomplete.server.document_state import DocumentSession, IncrementalTokens
from grucomplete.server.options import ServerOptions, parse_options
from grucomplete.server.positions import column_of, offset_at

from .conftest import TOY_SOURCES

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
        assert tokens.update(text[:cursor]) == tiny_engine.tokenizer.encode(text[:cursor])


@settings(max_examples=15, deadline=None)
@given(edit_scripts())
def test_cached_state_equals_a_cold_run_after_any_edits(
    tiny_engine: CompletionEngine, script: list
) -> None:
    session = DocumentSession(tiny_engine, max_checkpoints=4)
    text = TOY_SOURCES[0] * 3  # long enough for several checkpoints
    session.prompt(tiny_engine.heal(text).context)
    for edit in script:
        text, cursor = apply(text, edit)
        healed = tiny_engine.heal(text[:cursor])
        warm = session.prompt(healed.context)
        cold_logits, cold_state = tiny_engine.prompt_state(tiny_engine.prompt_ids(healed.context))
        assert torch.allclose(warm.state, cold_state, atol=1e-5)
        assert torch.allclose(warm.logits, cold_logits, atol=1e-5)
    # And so the completions are those of a cold server.
    warm_result = tiny_engine.complete_from(healed, warm.state, warm.logits)
    assert warm_result == tiny_engine.complete(text[:cursor])


def test_a_keystroke_feeds_only_the_last_chunk(tiny_engine: CompletionEngine) -> None:
    session = DocumentSession(tiny_engine)
    text = "".join(TOY_SOURCES) * 10
    first = session.prompt(text)
    assert first.tokens_fed > 500
    typed = session.prompt(text + "x = 1\n")
    assert typed.tokens_fed <= 64 + 8


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
    assert column_of(source, after_emoji, "utf-16") == (0, 7)
    assert column_of(source, source.index("x"), "utf-8") == (1, 0)
