"""Static names ranked by the model (`model/candidate_scoring.py`): only the names offered,
in the model's order, each with the probability beam search would give it."""

from __future__ import annotations

import torch

from grucomplete.model.candidate_scoring import word_probabilities
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.lm import State

from .conftest import decode_from


def test_static_names_are_ranked_by_the_model_and_nothing_else_is_offered(
    tiny_engine: CompletionEngine,
) -> None:
    text = "import os\nimport sys\n\n\ndef main():\n    path = os."
    known = ["getcwd", "sep", "path"]  # alphabetical is not the model's order
    words = decode_from(tiny_engine, text, known_words=lambda: known, lines=False).words
    assert {w.label for w in words} == set(known)
    assert words[0].label == "path"  # what the toy corpus always says after `os.`


def test_a_scored_word_has_the_probability_beam_search_gives_it(
    tiny_engine: CompletionEngine,
) -> None:
    healed = tiny_engine.heal("class Point:\n    def __init__(self, x, y):\n        self.")
    logits, state = tiny_engine.prompt_state(tiny_engine.prompt_ids(healed.context))
    words = decode_from(tiny_engine, healed.context + healed.removed, lines=False).words
    scored = word_probabilities(
        tiny_engine.model,
        tiny_engine.tokenizer,
        tiny_engine.index,
        healed,
        state,
        logits,
        [w.label for w in words],
    )
    best = words[0]
    # The beam adds up every spelling of a word; scoring takes the tokenizer's own one.
    assert 0.5 * best.probability <= scored[best.label] <= best.probability * 1.001
    assert sum(scored.values()) <= 1.0 + 1e-6


def test_names_far_below_the_best_are_not_followed(tiny_engine: CompletionEngine) -> None:
    """Scoring stops following a name once it is `negligible` times less probable than the
    best: fewer model steps; the name is still offered, with a bound for its probability."""
    healed = tiny_engine.heal("class Point:\n    def __init__(self, x, y):\n        self.")
    logits, state = tiny_engine.prompt_state(tiny_engine.prompt_ids(healed.context))
    names = ["x", "y", "x_coordinate_of_the_point", "total_length_of_the_point", "yy"]

    class CountingSteps:
        steps = 0

        def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
            CountingSteps.steps += 1
            return tiny_engine.model.step(tokens, state)

    def score(negligible: float) -> tuple[dict[str, float], int]:
        CountingSteps.steps = 0
        scored = word_probabilities(
            CountingSteps(), tiny_engine.tokenizer, tiny_engine.index, healed, state, logits,
            names, negligible=negligible,
        )  # fmt: skip
        return scored, CountingSteps.steps

    every, all_steps = score(0.0)
    assert set(every) == set(names)
    best = max(every.values())
    cutoff = sorted(every.values())[1] / best * 1.01  # above the two least probable names
    cut, steps = score(cutoff)
    assert set(cut) == set(names)  # every name is still offered
    bounded = [n for n in names if cut[n] != every[n]]
    assert bounded and steps < all_steps
    for name in bounded:  # not followed to its end: its prefix's probability, a bound
        # (steps batched differently round differently: a word may edge past its prefix)
        assert every[name] <= cut[name] * (1 + 1e-4) and cut[name] < cutoff * best


def test_names_the_model_cannot_spell_after_the_typed_part_are_skipped(
    tiny_engine: CompletionEngine,
) -> None:
    healed = tiny_engine.heal("import os\nos.pa")
    logits, state = tiny_engine.prompt_state(tiny_engine.prompt_ids(healed.context))
    args = (tiny_engine.model, tiny_engine.tokenizer, tiny_engine.index, healed, state, logits)
    scored = word_probabilities(*args, ["path", "pardir", "sep"])
    assert set(scored) == {"path", "pardir"}  # `sep` does not start with what is typed
