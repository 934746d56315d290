"""The neural cache: what it offers, that it is the stated mixture, and that it stays exact."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings

from grucomplete.model.engine import CompletionEngine
from grucomplete.model.neural_cache import THETA, CacheChain, NeuralCache
from grucomplete.model.session import DocumentSession
from grucomplete.model.window import CHUNK
from grucomplete.server.completion_service import CompletionService
from grucomplete.server.options import ServerOptions, parse_options

from .conftest import MODEL_ONLY, TOY_SOURCES, complete_text
from .test_server_state import apply, edit_scripts

# The toy corpus always returns `result` here; this document returned `values` once already.
VARIANT = TOY_SOURCES[2].replace("return result", "return values")
SECOND_TIME = VARIANT + "\n\n" + VARIANT[: VARIANT.index("return values") + len("return ")]


def words(engine: CompletionEngine, text: str, weight: float) -> dict[str, float]:
    return {w.label: w.probability for w in complete_text(engine, text, neural_cache=weight).words}


def test_what_followed_the_same_context_earlier_is_offered(tiny_engine: CompletionEngine) -> None:
    plain = words(tiny_engine, SECOND_TIME, 0.0)
    cached = words(tiny_engine, SECOND_TIME, 0.35)
    assert max(plain, key=plain.get) == "result"
    assert plain.get("values", 0.0) < 0.01  # the model alone has memorised `return result`
    assert cached["values"] > 0.2
    assert sorted(cached, key=cached.get, reverse=True)[:2] == ["result", "values"]


def test_weight_zero_is_the_model_alone(tiny_engine: CompletionEngine) -> None:
    model_alone = complete_text(tiny_engine, SECOND_TIME, neural_cache=0.0)
    assert complete_text(tiny_engine, SECOND_TIME, neural_cache=0.0) == model_alone
    assert complete_text(tiny_engine, SECOND_TIME, neural_cache=0.35) != model_alone


def test_the_mixture_is_the_interpolated_distribution() -> None:
    torch.manual_seed(0)
    outputs = torch.randn(40, 8)
    ids = torch.randint(0, 30, (40,)).tolist()
    cache = NeuralCache(outputs, ids, weight=0.35)
    logits, queries = torch.randn(3, 30), torch.randn(3, 8)
    mixed = cache.mix(logits, queries)
    keys = outputs.half().float()[:-1]
    attention = torch.softmax(THETA * queries @ keys.T, dim=-1)
    p_cache = torch.zeros(3, 30).index_add_(1, torch.tensor(ids[1:]), attention)
    expected = 0.65 * torch.softmax(logits, dim=-1) + 0.35 * p_cache
    assert torch.allclose(mixed.exp(), expected, atol=1e-6)  # log-probabilities


def test_a_chain_keeps_each_share_and_hands_on_log_probabilities() -> None:
    torch.manual_seed(1)
    first = NeuralCache(torch.randn(30, 8), torch.randint(0, 30, (30,)).tolist(), weight=0.3)
    second = NeuralCache(torch.randn(20, 8), torch.randint(0, 30, (20,)).tolist(), weight=0.2)
    logits, queries = torch.randn(3, 30) * 4, torch.randn(3, 8)
    chained = CacheChain([first, second], first.query).mix(logits, queries)
    p_first = first.mix(logits, queries).exp() - 0.7 * torch.softmax(logits, dim=-1)
    p_second = second.mix(logits, queries).exp() - 0.8 * torch.softmax(logits, dim=-1)
    expected = 0.8 * (0.7 * torch.softmax(logits, dim=-1) + p_first) + p_second
    assert torch.allclose(chained.exp(), expected, atol=1e-6)


def test_a_weight_of_one_is_refused() -> None:
    with pytest.raises(ValueError):
        NeuralCache(torch.zeros(2, 4), [1, 2], weight=1.0)
    options, problems = parse_options({"neuralCache": 1.0})
    assert options.neural_cache == ServerOptions().neural_cache and problems


def check_warm_equals_cold(engine: CompletionEngine, script: list) -> None:
    settings = replace(MODEL_ONLY, neural_cache=0.35)
    session = DocumentSession(engine, max_checkpoints=4, keep_outputs=True)
    # The states are what is compared: a continued word answered from the last answer has
    # its probabilities renormalised, which a cold answer does not (tests/test_popup.py).
    session.reuse = False
    text = SECOND_TIME * 2
    session.prompt(engine.heal(text).context)
    for edit in script:
        text, cursor = apply(text, edit)
        from_session = session.complete(text[:cursor], settings)
        assert from_session == complete_text(engine, text[:cursor], neural_cache=0.35)


@settings(max_examples=15, deadline=None)
@given(edit_scripts())
def test_a_document_edited_many_times_completes_as_a_fresh_one(
    tiny_engine: CompletionEngine, script: list
) -> None:
    check_warm_equals_cold(tiny_engine, script)


@pytest.fixture(scope="module")
def small_window_engine(tiny_engine: CompletionEngine) -> CompletionEngine:
    """The tiny model reading at most 2 chunks, so edits keep moving the context window."""
    return CompletionEngine(tiny_engine.checkpoint, "fp32", context_tokens=2 * CHUNK)


@settings(max_examples=15, deadline=None)
@given(edit_scripts())
def test_the_same_holds_as_the_context_window_moves(
    small_window_engine: CompletionEngine, script: list
) -> None:
    check_warm_equals_cold(small_window_engine, script)


def test_the_server_setting_turns_it_on_and_off(tiny_model_dir: Path) -> None:
    options = ServerOptions(model=str(tiny_model_dir), precision="fp32", latency_budget_ms=10_000)
    # `return values` was written before: recalling it would offer `values` without the cache.
    alone = replace(options, neural_cache=0.0, identifier_cache=0.0, recall_lines=False)
    service = CompletionService(alone)
    service.load_model().result()

    def offered(uri: str) -> list[str]:
        result = service.executor.submit(service.complete, uri, SECOND_TIME).result()
        return [w.label for w in result.words]

    assert "values" not in offered("file:///a.py")[:2]
    service.reconfigure(replace(service.options, neural_cache=0.35))
    assert offered("file:///a.py")[:2] == ["result", "values"]  # the open document too
    service.shutdown()
