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

from collections.abc import Sequence

import torch

from .lm import GRULanguageModel, State

# Sharpness of the similarity kernel on raw top-layer outputs: a lower one favours words, a
# higher one lines (tuned with `benchmarks/context_levers.py`, see docs/benchmarks.md).
THETA = 1.0

# Keys are stored at half precision: a 512-token window of 768-unit outputs is 0.8 MB per open
# document instead of 1.6 MB. The per-query float32 copy is the same from a cold and a warm
# session, so rankings stay exactly reproducible.
KEY_DTYPE = torch.float16


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
        self, logits: torch.Tensor, queries: torch.Tensor, in_place: bool = False
    ) -> torch.Tensor:
        """Logits (B, V) whose softmax is the mixed distribution, for `queries` (B, H).

        With lse = logsumexp(logits), raising only the cached tokens u to
        lse + log(p_model(u) + weight / (1 - weight) * p_cache(u)) makes the total mass
        exp(lse) / (1 - weight), so after normalising every token gets exactly
        (1 - weight) * p_model + weight * p_cache, without an exp and a log over the vocabulary.
        `in_place` writes into `logits` (a step's own output), sparing a copy.
        """
        if self.weight <= 0 or len(self.slot) == 0:
            return logits
        logits = logits.float()
        scores = torch.mm(queries.float(), self.keys.T).mul_(THETA)  # (B, N)
        attention = torch.softmax(scores, dim=-1)
        p_cache = attention.new_zeros(len(logits), len(self.tokens))
        p_cache.index_add_(1, self.slot, attention)  # (B, U)
        # log_softmax is about twice as fast as logsumexp here; any column gives lse back.
        lse = logits[:, :1] - torch.log_softmax(logits, dim=-1)[:, :1]  # (B, 1)
        # lse + log(p_model + odds * p_cache) == logaddexp(logit, lse + log(odds * p_cache))
        boost = p_cache.mul_(self.weight / (1 - self.weight)).log_().add_(lse)
        mixed = logits if in_place else logits.clone()
        mixed[:, self.tokens] = torch.logaddexp(logits[:, self.tokens], boost)
        return mixed


class CachedModel:
    """The model as decoding sees it, with the cache mixed into every step's distribution."""

    def __init__(self, model: GRULanguageModel, cache: NeuralCache) -> None:
        self.model, self.cache = model, cache

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        logits, outputs, state = self.model.step_outputs(tokens, state)
        return self.cache.mix(logits, outputs[:, -1], in_place=True), state
