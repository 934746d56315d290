"""What a candidate may contain and where it may end: the masks and stop rules of one search.

Every candidate starts with `prefix`, the text token healing removed. A word goes on with
identifier characters; a line is kept well formed: given the bracket-and-string state at the
cursor (`code_text.LineState`), a token that would close a bracket the line did not open, or
begin a comment, is masked out (the line's probability is that of the line among those that do
not), and a line may end only where a person would stop (`code_text.well_formed_line`). The
masks are `line_tokens`'s; "the candidate ends here" weighs the mass of the tokens that would
end it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .code_text import LineState, well_formed_line
from .decode_options import StopAt
from .line_tokens import BracketTable, additive_mask
from .prefix_constraint import VocabularyIndex

NEG_INF = float("-inf")


@dataclass
class Hypothesis:
    """A candidate under way: its tokens, their log-probability and their bytes."""

    tokens: list[int] = field(default_factory=list)
    logprob: float = 0.0
    text: bytes = b""

    def remaining(self, prefix: bytes) -> bytes:
        """What of `prefix` this hypothesis has yet to spell."""
        return prefix[len(self.text) :] if len(self.text) < len(prefix) else b""


class SearchRules:
    """Masks and stop rules for one decoding request."""

    def __init__(
        self,
        index: VocabularyIndex,
        prefix: bytes,
        stop: StopAt,
        typed: str,
        line_start: LineState | None = None,
        line_before: str = "",
    ) -> None:
        self.index, self.prefix, self.stop = index, prefix, stop
        self.typed_len = len(typed)
        self.brackets = BracketTable.of(index) if stop is StopAt.LINE else None
        self.line_start = line_start or LineState()
        self.line_before = line_before
        if stop is StopAt.IDENTIFIER:
            ends = index.word_ends
        else:  # before a comment is a line's natural end too (unless the cursor is in one)
            ends = index.line_ends
            if not self.line_start.comment and self.brackets is not None:
                ends = ends | self.brackets.comment_starts
        self.end_weights = ends.to(torch.float32)  # (V,) 1 where a token ends the candidate
        self._open_bias = additive_mask(self._open_continuations())
        self._states: dict[bytes, LineState | None] = {}

    def line_state(self, hyp: Hypothesis) -> LineState | None:
        """The bracket-and-string state after the hypothesis's text past the prefix."""
        rest = self.after_prefix(hyp)
        if rest not in self._states:
            self._states[rest] = self.line_start.feed(rest)
        return self._states[rest]

    def after_prefix(self, hyp: Hypothesis) -> bytes:
        return hyp.text[len(self.prefix) :]

    def continuations(self, hyp: Hypothesis) -> torch.Tensor:
        """Boolean mask (V,) of the tokens this hypothesis may take next."""
        ix = self.index
        rem = hyp.remaining(self.prefix)
        if not rem:
            if self.brackets is not None:
                return self.brackets.mask(self.line_state(hyp))
            return self._open_continuations()
        ids = ix.consistent_with(rem)
        overhang = ix.lengths[ids] - len(rem)  # bytes past the prefix (<= 0: still inside it)
        if self.stop is StopAt.IDENTIFIER:
            ids = ids[overhang <= ix.identifier_tail[ids]]
        else:
            ids = ids[(overhang <= 0) | (ix.newline_at[ids] >= len(rem))]
            if self.brackets is not None:
                ids = self.brackets.keep_fitting(self.line_start, ids, len(rem))
        mask = torch.zeros(ix.vocab_size, dtype=torch.bool)
        mask[torch.from_numpy(ids)] = True
        return mask

    def _open_continuations(self) -> torch.Tensor:
        """The mask past the prefix: whatever continues the word or the line."""
        ix = self.index
        return ix.word_continues if self.stop is StopAt.IDENTIFIER else ix.line_continues

    def continuation_bias(self, hyp: Hypothesis) -> torch.Tensor:
        """`continuations` as (V,) additive log-weights: 0 where allowed, -inf elsewhere."""
        if not hyp.remaining(self.prefix):
            if self.brackets is not None:
                return self.brackets.bias(self.line_state(hyp))
            return self._open_bias
        return additive_mask(self.continuations(hyp))

    def end_logprob(self, hyp: Hypothesis, logprobs: torch.Tensor) -> float:
        """Log-probability that the candidate ends right after this hypothesis."""
        return self.end_logprobs([hyp], logprobs[None])[0]

    def end_logprobs(self, live: list[Hypothesis], logprobs: torch.Tensor) -> list[float]:
        """`end_logprob` of each hypothesis, from its row of `logprobs` (B, V), in one pass."""
        mass = torch.mv(logprobs.exp(), self.end_weights).log()  # (B,) one product, no gather
        masses = mass.tolist()
        return [m if self.can_end(h) else NEG_INF for h, m in zip(live, masses, strict=True)]

    def can_end(self, hyp: Hypothesis) -> bool:
        if hyp.remaining(self.prefix):
            return False
        rest = self.after_prefix(hyp)
        if self.stop is StopAt.IDENTIFIER:
            return self.typed_len + len(rest) > 0
        if not rest.strip():
            return False
        state = self.line_state(hyp)
        line = self.line_before + rest.decode("utf-8", errors="ignore")
        return state is not None and well_formed_line(self.line_before, line, state)
