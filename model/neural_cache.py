"""A continuous cache (Grave et al., 2017): the document's own next tokens, found by similarity.

The model's top-layer output h_i at each position of the fed window is a key; the token that
followed that position, x_{i+1}, is its value. At every decoding step the next-token
distribution becomes

    p(w) = (1 - weight) * p_model(w) + weight * sum_i [x_{i+1} = w] softmax_i(THETA * h_t . h_i)

so a context that resembles an earlier one in the file (`self.` inside the same class, a call
like one made ten lines up) proposes what came next there. Unlike the word-level identifier
cache it works per token, inside the beam, so it also helps whole lines and names the beam
would otherwise never reach. No training change; the keys are a by-product of reading the window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch

from .lm import GRULanguageModel, State

# Sharpness of the similarity kernel on raw top-layer outputs: a lower one favours words, a
# higher one lines (tuned with `benchmarks/context_levers.py`, see docs/benchmarks.md).
THETA = 1.0

# Keys are stored at half precision: a 512-token window of 768-unit outputs is 0.8 MB per open
# document instead of 1.6 MB. The per-query float32 copy is the same from a cold and a warm
# session, so rankings stay exactly reproducible.
KEY_DTYPE = torch.float16


class SparseValues(Protocol):
    """What `mix_attention` needs of a store of (key -> next token) entries."""

    weight: float  # the store's share of the mixture, in [0, 1)
    tokens: torch.Tensor  # (U,) the distinct tokens the entries propose
    slot: torch.Tensor  # (N,) each entry's index into `tokens`


class Mixer(Protocol):
    """Anything decoding can mix into each step: the window's cache, the workspace memory.

    `mix` returns the mixture's log-probabilities (B, V) for `queries` (B, H); `lse` (B, 1),
    if known, is the logsumexp of `logits` (0 when they are log-probabilities already)."""

    weight: float
    query: torch.Tensor  # (1, H) the top-layer output after the prompt

    def mix(
        self,
        logits: torch.Tensor,
        queries: torch.Tensor,
        in_place: bool = False,
        lse: torch.Tensor | None = None,
    ) -> torch.Tensor: ...


class NeuralCache:
    """Keys and values of one prompt's window, and the query for its next token."""

    def __init__(self, outputs: torch.Tensor, ids: Sequence[int], weight: float) -> None:
        """`outputs` (T, H): top-layer outputs after each of the `ids` (T) fed, any dtype."""
        if len(ids) != len(outputs):
            raise ValueError(f"{len(outputs)} outputs for {len(ids)} ids")
        if not 0 <= weight < 1:
            raise ValueError("the neural cache weight must be at least 0 and below 1")
        outputs = outputs.to(KEY_DTYPE).float()
        self.weight = weight
        # Position i is followed by ids[i + 1]; the last position's successor is being predicted.
        self.keys = outputs[:-1]  # (N, H)
        self.query = outputs[-1:]  # (1, H)
        values = torch.tensor(ids[1:], dtype=torch.long)  # (N,)
        # The cache proposes at most N distinct tokens: mixing touches only those columns.
        self.tokens, self.slot = torch.unique(values, return_inverse=True)  # (U,), (N,)

    @torch.inference_mode()
    def mix(
        self,
        logits: torch.Tensor,
        queries: torch.Tensor,
        in_place: bool = False,
        lse: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The mixed distribution's log-probabilities (B, V), for `queries` (B, H).

        `in_place` writes into `logits` (a step's own output), sparing a copy.
        """
        if self.weight <= 0 or len(self.slot) == 0:
            return log_probabilities(logits, lse)
        scores = torch.mm(queries.float(), self.keys.T).mul_(THETA)  # (B, N)
        return mix_attention(logits, torch.softmax(scores, dim=-1), self, in_place, lse=lse)


def mix_attention(
    logits: torch.Tensor,
    attention: torch.Tensor,
    store: SparseValues,
    in_place: bool = False,
    weight: torch.Tensor | None = None,
    lse: torch.Tensor | None = None,
) -> torch.Tensor:
    """Log-probabilities (B, V) of (1 - weight) * softmax(logits) + weight * p_store, where
    p_store(u) sums the `attention` (B, N) over the entries whose value is u.

    With lse = logsumexp(logits), raising only the stored tokens u to
    lse + log(p_model(u) + weight / (1 - weight) * p_store(u)) makes the total mass
    exp(lse) / (1 - weight), so subtracting lse - log(1 - weight) normalises every token to
    exactly the mixture, without an exp and a log over the vocabulary. Shared by the window's
    cache and the workspace memory (`workspace_memory`): mixing both is applying one after the
    other, and the second is given lse 0.
    """
    logits = logits.float()
    p_store = attention.new_zeros(len(logits), len(store.tokens))
    p_store.index_add_(1, store.slot, attention)  # (B, U)
    if lse is None:
        # log_softmax is about twice as fast as logsumexp here; any column gives lse back.
        lse = logits[:, :1] - torch.log_softmax(logits, dim=-1)[:, :1]  # (B, 1)
    # lse + log(p_model + odds * p_store) == logaddexp(logit, lse + log(odds * p_store))
    # `weight` (B, 1), if given, is each row's own share (the workspace memory's gate).
    odds: float | torch.Tensor
    kept: float | torch.Tensor
    if weight is None:  # one share for every row: plain floats, no tensor per step
        odds, kept = store.weight / (1 - store.weight), math.log1p(-store.weight)
    else:
        odds, kept = weight / (1 - weight), torch.log1p(-weight)
    boost = p_store.mul_(odds).log_().add_(lse)
    mixed = logits if in_place else logits.clone()
    mixed[:, store.tokens] = torch.logaddexp(logits[:, store.tokens], boost)
    return mixed.sub_(lse - kept)


def log_probabilities(logits: torch.Tensor, lse: torch.Tensor | None = None) -> torch.Tensor:
    """`logits` normalised, given their logsumexp `lse` if known (what a mixer with nothing to
    mix returns)."""
    return torch.log_softmax(logits.float(), dim=-1) if lse is None else logits.float() - lse


class CachedModel:
    """The model as decoding sees it, with the cache mixed into every step's distribution."""

    def __init__(self, model: GRULanguageModel, cache: Mixer) -> None:
        self.model, self.cache = model, cache

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        logits, outputs, state = self.model.step_outputs(tokens, state)
        return self.cache.mix(logits, outputs[:, -1], in_place=True), state


class CacheChain:
    """Several mixers applied one after the other: each keeps its own share of what it is given
    ((1 - w2) * ((1 - w1) * p_model + w1 * p_1) + w2 * p_2), so none needs to know the others."""

    def __init__(self, mixers: Sequence[Mixer], query: torch.Tensor) -> None:
        self.mixers = [m for m in mixers if m.weight > 0]
        self.query = query  # (1, H)
        left = 1.0
        for m in self.mixers:
            left *= 1 - m.weight
        self.weight = 1 - left  # the share of the mixture that is not the model's

    def mix(
        self,
        logits: torch.Tensor,
        queries: torch.Tensor,
        in_place: bool = False,
        lse: torch.Tensor | None = None,
    ) -> torch.Tensor:
        for i, m in enumerate(self.mixers):
            # After the first, each is given log-probabilities: their logsumexp is 0.
            known = lse if i == 0 else logits.new_zeros(len(logits), 1)
            logits = m.mix(logits, queries, in_place=in_place or i > 0, lse=known)
        return logits
