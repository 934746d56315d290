"""Which tokens may continue a line: its brackets and strings kept in order.

Line decoding (`decoding`) masks, at every step, the tokens that would close a bracket the
line did not open or begin a comment, given the line's bracket-and-string state
(`code_text.LineState`). The masks depend on the state alone, so each is computed once per
model and kept.
"""

from __future__ import annotations

import numpy as np
import torch

from .code_text import LineState
from .prefix_constraint import VocabularyIndex


def prepare_line_checks(index: VocabularyIndex) -> None:
    """Build the tables line decoding checks brackets with (and the masks of the usual states)
    now, so that the first request does not wait for them."""
    table = BracketTable.of(index)
    for depth in range(4):
        table.bias(LineState(depth))


class BracketTable:
    """Which tokens keep a line's brackets and strings in order, from a given `LineState`.

    Tokens without quotes, `#` or backslashes only move the bracket depth: their lowest depth is
    precomputed and compared at once. The rest (a few hundred) are fed one by one; each state's
    mask is computed once per model.
    """

    def __init__(self, index: VocabularyIndex) -> None:
        self.index = index
        table = index.token_bytes
        special = [any(c in b for c in b"'\"#\\") for b in table]
        self.complex = [i for i, sp in enumerate(special) if sp]
        self.simple = torch.tensor([not sp for sp in special])
        shape = [any(c in b for c in b"'\"#\\()[]{}") for b in table]
        self.plain = np.array([not sp for sp in shape])  # nothing a line state reads
        dips = []
        for b in table:
            depth = low = 0
            for c in b:
                depth += (c in b"([{") - (c in b")]}")
                low = min(low, depth)
            dips.append(low)
        self.dip = torch.tensor(dips)  # (V,) lowest depth a token reaches, from 0
        comment = [b.lstrip(b" \t")[:1] == b"#" for b in table]
        self.comment_starts = torch.tensor(comment)  # tokens that begin a comment
        self._masks: dict[LineState, torch.Tensor] = {}
        self._biases: dict[LineState, torch.Tensor] = {}

    @classmethod
    def of(cls, index: VocabularyIndex) -> BracketTable:
        table = getattr(index, "_bracket_table", None)
        if table is None:
            table = cls(index)
            index._bracket_table = table  # type: ignore[attr-defined]
        return table

    @staticmethod
    def fits(state: LineState | None, data: bytes) -> bool:
        """Whether `data` may follow `state`: no unopened bracket closed, no comment begun."""
        if state is None:
            return False
        after = state.feed(data)
        return after is not None and (state.comment or not after.comment)

    def keep_fitting(self, state: LineState, ids: np.ndarray, skip: int) -> np.ndarray:
        """The `ids` whose bytes past the first `skip` may follow `state` (only the tokens with
        brackets, quotes, `#` or backslashes are fed)."""
        plain = self.plain[ids]
        if plain.all():
            return ids
        table = self.index.token_bytes
        keep = plain.copy()
        for k in np.flatnonzero(~plain).tolist():
            keep[k] = self.fits(state, table[ids[k]][skip:])
        return ids[keep]

    def mask(self, state: LineState | None) -> torch.Tensor:
        """(V,) the tokens that may continue a line in `state` (none for a broken state)."""
        if state is None:
            return torch.zeros(self.index.vocab_size, dtype=torch.bool)
        mask = self._masks.get(state)
        if mask is None:
            if state.quote or state.comment:  # brackets do not count in a string or comment
                mask = self.simple.clone()
            else:
                mask = self.simple & (self.dip >= -state.depth)
            table = self.index.token_bytes
            for i in self.complex:
                mask[i] = self.fits(state, table[i])
            mask &= self.index.line_continues
            if len(self._masks) < 4096:
                self._masks[state] = mask
        return mask

    def bias(self, state: LineState | None) -> torch.Tensor:
        bias = self._biases.get(state) if state is not None else None
        if bias is None:
            bias = additive_mask(self.mask(state))
            if state is not None and len(self._biases) < 4096:
                self._biases[state] = bias
        return bias


def additive_mask(allowed: torch.Tensor) -> torch.Tensor:
    """0 where `allowed`, -inf elsewhere: added to logits, it masks them."""
    # Adding 0 / -inf is exact and ~7x faster than `torch.where` with a boolean mask here.
    return torch.zeros(allowed.shape).masked_fill_(~allowed, float("-inf"))
