"""How the one completion pipeline decodes and ranks: the settings of a session's `complete`.

Declared once: the language server's settings extend this dataclass (camelCase on the wire),
and `grucomplete complete` / `grucomplete eval` generate their flags from it (`settings_flags`).
Plain Python, importable without torch, so the server parses settings before loading the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .decode_options import STRATEGIES, DecodeOptions


@dataclass
class CompletionSettings:
    strategy: str = "beam"  # "beam", "greedy" or "sample"
    beam_width: int = 5  # hypotheses kept per decoding step
    num_candidates: int = 10  # words offered per request
    # Decoding stops once this many words are certain (0: all of `num_candidates`); the others
    # are the words found by then. Waiting for every rank to be certain costs model steps for
    # ranks people rarely read.
    settled_words: int = 5
    max_tokens: int = 16  # tokens generated for a word
    temperature: float = 1.0  # sampling only: < 1 sharpens, > 1 flattens
    top_k: int = 0  # sampling only: keep the k likeliest tokens (0: all)
    top_p: float = 1.0  # sampling only: keep the smallest set of tokens with this much mass
    seed: int = -1  # sampling only: seed for reproducible draws (-1: a fresh one each time)
    latency_budget_ms: float = 80.0  # decoding time allowed once the document state is ready
    identifier_cache: float = 0.85  # weight of names already in the document (0: model only)
    neural_cache: float = 0.35  # weight of the window's own next tokens, by similarity (0: off)
    # Weight of the workspace's other files' next tokens, by similarity (0: off). Needs a memory
    # of the workspace (the server builds one in the background; see model/workspace_memory.py).
    workspace_memory: float = 0.0
    line_completions: bool = True  # offer whole-line completions besides words
    # Asking for one line lets beam search stop as soon as the best line cannot change.
    line_candidates: int = 1  # whole lines offered per request
    line_max_tokens: int = 16  # tokens generated for a whole line
    line_length_penalty: float = 0.0  # rank lines by logprob / length**this (0: probability)
    # Offer the rest of a line as the document or project finished it before, where one way
    # prevails (`line_memory`), beside the model's lines.
    recall_lines: bool = True
    # Ghost text only where a line is this likely (0: always); chosen in docs/benchmarks.md.
    ghost_text_threshold: float = 0.15  # show a line as ghost text from this probability

    def word_options(self) -> DecodeOptions:
        return DecodeOptions(
            strategy=self.strategy,
            beam_width=self.beam_width,
            num_candidates=self.num_candidates,
            settled=self.settled_words,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            seed=None if self.seed < 0 else self.seed,
        )

    def line_options(self) -> DecodeOptions:
        options = self.word_options()
        options.num_candidates = self.line_candidates
        options.max_tokens = self.line_max_tokens
        options.length_penalty = self.line_length_penalty
        return options


def line_confidence(probability: float, tokens: int) -> float:
    """The geometric mean of a line's per-token probabilities (its probability per token)."""
    return probability ** (1 / max(tokens, 1))


_CHOICES = {"strategy": STRATEGIES}
_POSITIVE = {
    "beam_width",
    "num_candidates",
    "max_tokens",
    "temperature",
    "latency_budget_ms",
    "line_candidates",
    "line_max_tokens",
}
_NON_NEGATIVE = {"top_k", "line_length_penalty", "settled_words"}
_UNIT_INTERVAL = {"identifier_cache", "ghost_text_threshold"}
# A cache weight of 1 would give every token the document never used probability 0.
_BELOW_ONE = {"neural_cache", "workspace_memory"}


def check_setting(name: str, value: Any) -> str | None:
    """Why `value` is not valid for the setting `name`; None when it is (or `name` is not one)."""
    if name in _CHOICES and value not in _CHOICES[name]:
        return f"must be one of {', '.join(_CHOICES[name])}"
    if name in _POSITIVE and value <= 0:
        return "must be positive"
    if name in _NON_NEGATIVE and value < 0:
        return "must be 0 or positive"
    if name in _UNIT_INTERVAL and not 0 <= value <= 1:
        return "must be between 0 and 1"
    if name in _BELOW_ONE and not 0 <= value < 1:
        return "must be at least 0 and below 1"
    if name == "top_p" and not 0 < value <= 1:
        return "must be in (0, 1]"
    return None
