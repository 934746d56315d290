"""Decoding on a model that memorised the toy corpus: exact answers, constraints, stops, limits."""

from __future__ import annotations

import threading
import time

import pytest

from grucomplete.model.decoding import DecodeOptions, StopAt, decode
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.interrupt import Interrupt

from .conftest import complete_text

MAIN = "import os\nimport sys\n\n\ndef main():\n    path = os."
POINT = "class Point:\n    def __init__(self, x, y):\n"


def run(engine: CompletionEngine, text: str, stop: StopAt, **kwargs):
    healed = engine.heal(text)
    logits, state = engine.prompt_state(engine.prompt_ids(healed.context))
    options = kwargs.pop("options", DecodeOptions())
    return decode(
        engine.model,
        state,
        logits,
        engine.index,
        healed.removed,
        stop,
        options,
        typed=healed.typed,
        **kwargs,
    )


def test_member_after_dot_is_the_memorised_attribute(tiny_engine: CompletionEngine) -> None:
    result = complete_text(tiny_engine, MAIN)
    assert result.words[0].label == "path"
    assert result.lines[0].label == "path = os.path.join(root, name)"
    assert result.lines[0].insert == "path.join(root, name)"


def test_partial_word_only_yields_words_with_that_prefix(tiny_engine: CompletionEngine) -> None:
    result = complete_text(tiny_engine, MAIN + "pa")
    assert result.typed == "pa"
    assert result.words[0].label == "path"
    assert result.words[0].insert == "th"
    assert all(w.label.startswith("pa") for w in result.words)
    assert result.lines[0].label == "path = os.path.join(root, name)"


def test_prompt_ending_inside_a_token_is_healed(tiny_engine: CompletionEngine) -> None:
    # "sy" is not a token the model saw before "s.exit"; without healing this is garbage.
    result = complete_text(
        tiny_engine, MAIN + "path.join(root, name)\n    print(path)\n    return sy"
    )
    assert result.words[0].label == "sys"
    assert result.lines[0].label == "return sys.exit(0)"


def test_words_are_distinct_identifiers_with_disjoint_probabilities(
    tiny_engine: CompletionEngine,
) -> None:
    words = complete_text(tiny_engine, POINT + "        self.", num_candidates=10).words
    labels = [w.label for w in words]
    assert labels[0] in {"x", "y"}
    assert len(labels) == len(set(labels))
    assert all(label.isidentifier() for label in labels)
    # Each word is the event "this identifier, then a non-identifier character": disjoint.
    assert sum(w.probability for w in words) <= 1.0 + 1e-6


def test_settled_candidates_are_those_of_the_full_search_in_fewer_steps(
    tiny_engine: CompletionEngine,
) -> None:
    class Counting:
        def __init__(self) -> None:
            self.rows = 0

        def step(self, tokens, state):
            self.rows += tokens.shape[0]
            return tiny_engine.model.step(tokens, state)

    healed = tiny_engine.heal(POINT + "        self.")
    logits, state = tiny_engine.prompt_state(tiny_engine.prompt_ids(healed.context))
    found = {}
    for settled in (0, 2):
        model = Counting()
        options = DecodeOptions(num_candidates=10, settled=settled)
        words = decode(model, state, logits, tiny_engine.index, healed.removed,
                       StopAt.IDENTIFIER, options)  # fmt: skip
        found[settled] = (words, model.rows)
    (full, full_rows), (early, early_rows) = found[0], found[2]
    assert early[:2] == full[:2] and early_rows < full_rows
    ranked = [c.logprob for c in early]  # the others: what was found by then, in order
    assert len(early) > 2 and ranked == sorted(ranked, reverse=True)


def test_state_decides_which_attribute_comes_next(tiny_engine: CompletionEngine) -> None:
    assert (
        complete_text(tiny_engine, POINT + "        self.x = x\n        self.").words[0].label
        == "y"
    )


def test_line_candidates_stop_at_the_end_of_the_line(tiny_engine: CompletionEngine) -> None:
    for cand in run(tiny_engine, MAIN, StopAt.LINE, options=DecodeOptions(num_candidates=8)):
        assert "\n" not in cand.text


def test_greedy_agrees_with_beam_on_a_certain_prompt(tiny_engine: CompletionEngine) -> None:
    greedy = run(tiny_engine, MAIN, StopAt.LINE, options=DecodeOptions(strategy="greedy"))
    beam = run(tiny_engine, MAIN, StopAt.LINE)
    assert len(greedy) == 1
    assert greedy[0].text == beam[0].text
    assert greedy[0].logprob == pytest.approx(beam[0].logprob, abs=1e-4)


def test_sampling_is_reproducible_with_a_seed(tiny_engine: CompletionEngine) -> None:
    options = DecodeOptions(strategy="sample", seed=7, temperature=1.5, num_candidates=6)
    first = run(tiny_engine, POINT + "        self.", StopAt.LINE, options=options)
    second = run(tiny_engine, POINT + "        self.", StopAt.LINE, options=options)
    assert first == second
    assert all(c.text.startswith(".") for c in first)


def test_top_k_one_sampling_is_greedy(tiny_engine: CompletionEngine) -> None:
    sampled = run(
        tiny_engine,
        MAIN,
        StopAt.LINE,
        options=DecodeOptions(strategy="sample", top_k=1, seed=3, num_candidates=3),
    )
    greedy = run(tiny_engine, MAIN, StopAt.LINE, options=DecodeOptions(strategy="greedy"))
    assert [c.text for c in sampled] == [greedy[0].text]


def test_repetition_penalty_reduces_repeated_tokens(tiny_engine: CompletionEngine) -> None:
    text = POINT + "        self.x = x\n        self.y = y\n\n    def norm(self):\n        return "

    def repeats(penalty: float) -> int:
        options = DecodeOptions(strategy="greedy", max_tokens=20, repetition_penalty=penalty)
        line = run(tiny_engine, text, StopAt.LINE, options=options)[0].text
        ids = tiny_engine.tokenizer.encode(line)
        return len(ids) - len(set(ids))

    assert repeats(1.0) > 0  # the line multiplies self.x and self.y: tokens recur
    assert repeats(50.0) < repeats(1.0)


def test_expired_deadline_returns_at_once(tiny_engine: CompletionEngine) -> None:
    start = time.perf_counter()
    found = run(tiny_engine, MAIN, StopAt.LINE, interrupt=Interrupt(deadline=time.monotonic()))
    assert found == []
    assert time.perf_counter() - start < 0.5


def test_cancel_stops_decoding_within_one_step(tiny_engine: CompletionEngine, monkeypatch) -> None:
    cancel = threading.Event()
    steps = 0
    real_step = tiny_engine.model.step

    def counting_step(tokens, state):
        nonlocal steps
        steps += 1
        if steps == 3:
            cancel.set()
        return real_step(tokens, state)

    monkeypatch.setattr(tiny_engine.model, "step", counting_step)
    found = run(
        tiny_engine,
        MAIN,
        StopAt.LINE,
        interrupt=Interrupt(cancel=cancel),
        options=DecodeOptions(max_tokens=30, length_penalty=1.0),
    )
    assert steps == 3
    # What was found so far comes back, cut short and marked so (only where a line may stop:
    # `.path.` is not offered, `.exit(` is).
    assert found and not found[0].complete and found[0].text.startswith(".")
    assert not any(c.text.endswith(".") for c in found)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("strategy", "nucleus"),
        ("beam_width", 0),
        ("temperature", 0.0),
        ("top_p", 1.5),
        ("max_tokens", 0),
        ("top_k", -1),
    ],
)
def test_invalid_options_are_rejected_with_the_reason(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        DecodeOptions(**{field: value})
