"""What decoding is asked for and what it returns: plain data, importable without torch.

The language server parses its settings into these before the model (and torch) is loaded,
so `initialize` is answered in a fraction of a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

PRECISIONS = ("int8", "fp32")


class StopAt(str, Enum):
    IDENTIFIER = "identifier"  # the word being typed, or the attribute after `.`
    LINE = "line"  # the rest of the current line


STRATEGIES = ("greedy", "sample", "beam")


@dataclass
class DecodeOptions:
    strategy: str = "beam"  # "greedy", "sample" or "beam"
    beam_width: int = 5  # hypotheses kept per step (beam search)
    num_candidates: int = 5  # candidates returned; for sampling, the number of draws
    max_tokens: int = 16  # new tokens per candidate
    temperature: float = 1.0  # sampling only: < 1 sharpens, > 1 flattens
    top_k: int = 0  # sampling only: keep the k likeliest options (0: all)
    top_p: float = 1.0  # sampling only: keep the smallest set with this much mass
    repetition_penalty: float = 1.0  # > 1 discourages tokens the candidate already produced
    length_penalty: float = 0.0  # beam ranking by logprob / length**alpha (0: probability)
    # Beam search stops once its first `settled` candidates can no longer change (0: all
    # `num_candidates`); the rest are what it has found by then, in order.
    settled: int = 0
    seed: int | None = None  # sampling seed, for reproducible draws

    def __post_init__(self) -> None:
        problems = []
        if self.strategy not in STRATEGIES:
            problems.append(f"strategy must be one of {', '.join(STRATEGIES)}")
        for name in ("beam_width", "num_candidates", "max_tokens"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.temperature <= 0:
            problems.append("temperature must be positive")
        if self.top_k < 0:
            problems.append("top_k must be 0 or positive")
        if not 0 < self.top_p <= 1:
            problems.append("top_p must be in (0, 1]")
        if self.settled < 0:
            problems.append("settled must be 0 or positive")
        if self.repetition_penalty <= 0:
            problems.append("repetition_penalty must be positive")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class Candidate:
    text: str  # generated text, starting with the constrained prefix
    logprob: float  # natural log of the model's probability of this text (merged over spellings)
    complete: bool = True  # False when cut by max_tokens, the deadline or a cancel

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)
