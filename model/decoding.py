"""Decoding: greedy, sampling and beam search with a prefix constraint and stop conditions.

Every strategy treats "the candidate ends here" as one more option beside the vocabulary,
with probability equal to the mass of the tokens that would end it (for a word: tokens not
starting with an identifier character; for a line: tokens starting with a line break or a
comment). A candidate's probability is therefore the model's probability of exactly that word
or line, and beam search, greedy and sampling share one loop. Decoding checks a deadline and a
cancel flag between steps and returns the best candidates found so far when either fires.
What a candidate may contain and where it may end (the prefix, a line kept well formed) are
`search_rules`'s.
"""

from __future__ import annotations

from typing import Protocol

import torch

from .code_text import LineState
from .decode_options import STRATEGIES, Candidate, DecodeOptions, StopAt
from .interrupt import Interrupt
from .lm import State, concat_states, select_state
from .prefix_constraint import VocabularyIndex
from .search_rules import NEG_INF, Hypothesis, SearchRules

__all__ = ["STRATEGIES", "Candidate", "DecodeOptions", "StopAt", "decode"]


class Stepper(Protocol):
    """What decoding needs of a model: the GRU itself, or it with the neural cache mixed in."""

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...


def decode(
    model: Stepper,
    state: State,
    logits: torch.Tensor,
    index: VocabularyIndex,
    prefix: str = "",
    stop: StopAt = StopAt.LINE,
    options: DecodeOptions | None = None,
    *,
    typed: str = "",
    line_start: LineState | None = None,
    line_before: str = "",
    interrupt: Interrupt | None = None,
) -> list[Candidate]:
    """Ranked, distinct candidates continuing a prompt.

    `state` and `logits` (1, V) are the model's after the prompt; every candidate starts with
    `prefix` (the text token healing removed). `typed` is the part of the current word already
    typed (it counts toward a non-empty word). For lines, `line_start` is the bracket-and-string
    state at the cursor and `line_before` the current line up to it.
    """
    requests = [(stop, options or DecodeOptions())]
    return decode_together(
        model,
        state,
        logits,
        index,
        prefix,
        requests,
        typed=typed,
        line_start=line_start,
        line_before=line_before,
        interrupt=interrupt,
    )[0]


def decode_together(
    model: Stepper,
    state: State,
    logits: torch.Tensor,
    index: VocabularyIndex,
    prefix: str,
    requests: list[tuple[StopAt, DecodeOptions]],
    *,
    typed: str = "",
    line_start: LineState | None = None,
    line_before: str = "",
    interrupt: Interrupt | None = None,
) -> list[list[Candidate]]:
    """`decode` for several stops of one prompt (the word and the line), sharing model steps.

    A step for all their beams at once costs little more than one search's step (each step
    reads every weight once, whatever the batch), so a word and a line cost about a line.
    """
    interrupt = interrupt or Interrupt()
    searches = [
        (SearchRules(index, prefix.encode("utf-8"), stop, typed, line_start, line_before), options)
        for stop, options in requests
    ]
    beams = [_beam_search(s, o) for s, o in searches if o.strategy != "sample"]
    found = iter(_run_beams(model, state, logits, beams, interrupt))
    return [
        _sample(model, state, logits, s, o, interrupt) if o.strategy == "sample" else next(found)
        for s, o in searches
    ]


def _beam_search(search: SearchRules, options: DecodeOptions) -> _BeamSearch:
    greedy = options.strategy == "greedy"
    width = 1 if greedy else options.beam_width
    return _BeamSearch(search, options, width, 1 if greedy else options.num_candidates)


def _penalised_logprobs(
    logits: torch.Tensor, hyps: list[Hypothesis], penalty: float, temperature: float = 1.0
) -> torch.Tensor:
    logits = logits.float()
    if penalty != 1.0:
        logits = logits.clone()
        for row, hyp in enumerate(hyps):
            if hyp.tokens:
                seen = torch.tensor(sorted(set(hyp.tokens)))
                values = logits[row, seen]
                logits[row, seen] = torch.where(values > 0, values / penalty, values * penalty)
    return torch.log_softmax(logits / temperature, dim=-1)


class _Results:
    """Finished candidates, distinct by text; spellings of the same text add probabilities."""

    def __init__(self, search: SearchRules, length_penalty: float) -> None:
        self.search, self.length_penalty = search, length_penalty
        self.by_text: dict[bytes, tuple[float, bool, int]] = {}
        self.paths: set[tuple[int, ...]] = set()

    def add(
        self, hyp: Hypothesis, logprob: float, complete: bool, text: bytes | None = None
    ) -> None:
        """Record `hyp` (or its first `text` bytes) as a candidate; a repeated path is ignored."""
        text = hyp.text if text is None else text
        path = tuple(hyp.tokens)
        if not text.startswith(self.search.prefix) or logprob == NEG_INF or path in self.paths:
            return
        self.paths.add(path)
        length = len(path)
        old = self.by_text.get(text)
        if old is not None:
            logprob = float(torch.logaddexp(torch.tensor(old[0]), torch.tensor(logprob)))
            complete, length = complete or old[1], min(length, old[2])
        self.by_text[text] = (logprob, complete, length)

    def add_unfinished(self, live: list[Hypothesis]) -> None:
        """Out of tokens or time: keep what the live hypotheses have, marked incomplete."""
        search = self.search
        for hyp in live:
            if hyp.remaining(search.prefix) or not search.after_prefix(hyp).strip():
                continue
            if search.stop is StopAt.IDENTIFIER or search.can_end(hyp):  # a line well formed
                self.add(hyp, hyp.logprob, False)

    def complete_logprobs(self) -> list[float]:
        return sorted((lp for lp, done, _ in self.by_text.values() if done), reverse=True)

    def ranked(self, limit: int) -> list[Candidate]:
        def rank(item: tuple[bytes, tuple[float, bool, int]]) -> float:
            lp, _, length = item[1]
            return -lp / max(length, 1) ** self.length_penalty

        out = []
        for text, (lp, done, _) in sorted(self.by_text.items(), key=rank)[:limit]:
            # A cut-off candidate may end inside a UTF-8 character; drop the partial bytes.
            out.append(Candidate(text.decode("utf-8", errors="ignore"), lp, done))
        return out


class _BeamSearch:
    """One beam search, advanced a step at a time so several can share each model call."""

    def __init__(
        self, search: SearchRules, options: DecodeOptions, width: int, wanted: int
    ) -> None:
        self.search, self.options, self.width, self.wanted = search, options, width, wanted
        self.settled = min(options.settled or wanted, wanted)  # the stop rule's candidates
        self.results = _Results(search, options.length_penalty)
        self.live = [Hypothesis()]

    def expand(self, logits: torch.Tensor) -> list[int] | None:
        """Pick the next hypotheses from `logits` (B, V), one row per live one.

        Returns the rows the new hypotheses extend (the states to step), or None when the
        search is over.
        """
        search, live, width = self.search, self.live, self.width
        logprobs = _penalised_logprobs(logits, live, self.options.repetition_penalty)  # (B, V)
        biases = [search.continuation_bias(hyp) for hyp in live]
        # Most steps, every hypothesis is past the prefix and shares one bias: broadcast it.
        same = all(b is biases[0] for b in biases)
        bias = biases[0][None] if same else torch.stack(biases)  # (1 or B, V)
        so_far = torch.tensor([[hyp.logprob] for hyp in live])  # (B, 1)
        scores = (logprobs + bias).add_(so_far)  # (B, V), -inf where not allowed
        ends = [
            h.logprob + e for h, e in zip(live, search.end_logprobs(live, logprobs), strict=True)
        ]
        flat = torch.cat([scores.flatten(), torch.tensor(ends)])
        top = torch.topk(flat, min(2 * width, flat.numel()))
        found = zip(top.values.tolist(), top.indices.tolist(), strict=True)
        pairs = [(score, pos) for score, pos in found if score > NEG_INF]
        if not pairs:
            return None
        vocab, table = logprobs.shape[1], search.index.token_bytes
        next_live: list[Hypothesis] = []
        parents: list[int] = []
        for rank, (score, pos) in enumerate(pairs):
            if pos >= scores.numel():
                if rank < width:  # an end only counts where beam search would have kept it
                    self.results.add(live[pos - scores.numel()], score, True)
                continue
            if len(next_live) == width:
                continue
            row, token = divmod(pos, vocab)
            parent = live[row]
            child = Hypothesis([*parent.tokens, token], score, parent.text + table[token])
            next_live.append(child)
            parents.append(row)
        self.live = next_live
        done = self.results.complete_logprobs()
        if not next_live or (
            self.options.length_penalty == 0
            and len(done) >= self.settled
            and max(h.logprob for h in next_live) <= done[self.settled - 1]
        ):
            self.live = []  # nothing left can enter the top `settled`
            return None
        if len(next_live[0].tokens) >= self.options.max_tokens:
            return None
        return parents

    def candidates(self) -> list[Candidate]:
        self.results.add_unfinished(self.live)
        return self.results.ranked(self.wanted)


def _run_beams(
    model: Stepper,
    state: State,
    logits: torch.Tensor,
    beams: list[_BeamSearch],
    interrupt: Interrupt,
) -> list[list[Candidate]]:
    """Run beam searches from one prompt, all live hypotheses in one batched step each time."""
    pending = [(beam, logits, state) for beam in beams]
    while pending and not interrupt.fired():
        stepping = []
        for beam, beam_logits, beam_state in pending:
            parents = beam.expand(beam_logits)
            if parents is not None:
                stepping.append((beam, select_state(beam_state, torch.tensor(parents))))
        if not stepping:
            break
        tokens = torch.tensor([[h.tokens[-1]] for beam, _ in stepping for h in beam.live])
        logits, state = model.step(tokens, concat_states([s for _, s in stepping]))
        pending, start = [], 0
        for beam, _ in stepping:
            rows = torch.arange(start, start + len(beam.live))
            pending.append((beam, logits[rows], select_state(state, rows)))
            start += len(beam.live)
    return [beam.candidates() for beam in beams]


def _sample(
    model: Stepper,
    state: State,
    logits: torch.Tensor,
    search: SearchRules,
    options: DecodeOptions,
    interrupt: Interrupt,
) -> list[Candidate]:
    generator = torch.Generator().manual_seed(
        options.seed if options.seed is not None else torch.seed()
    )
    results = _Results(search, options.length_penalty)
    n = options.num_candidates
    live = [Hypothesis() for _ in range(n)]
    rows = torch.zeros(n, dtype=torch.long)
    logits, state = logits.expand(n, -1), select_state(state, rows)
    table = search.index.token_bytes
    for _ in range(options.max_tokens + 1):
        if interrupt.fired() or not live:
            break
        exact = _penalised_logprobs(logits, live, options.repetition_penalty)
        tempered = _penalised_logprobs(
            logits, live, options.repetition_penalty, options.temperature
        )
        next_live, parents = [], []
        for row, hyp in enumerate(live):
            allowed = search.continuations(hyp)
            weights = torch.cat(
                [
                    tempered[row].masked_fill(~allowed, NEG_INF),
                    torch.tensor([search.end_logprob(hyp, tempered[row])]),
                ]
            )
            choice = _draw(weights, options.top_k, options.top_p, generator)
            if choice is None:
                continue
            if choice == len(allowed):
                results.add(hyp, hyp.logprob + search.end_logprob(hyp, exact[row]), True)
                continue
            child = Hypothesis(
                [*hyp.tokens, choice],
                hyp.logprob + float(exact[row, choice]),
                hyp.text + table[choice],
            )
            next_live.append(child)
            parents.append(row)
        live = next_live
        if not live or len(live[0].tokens) > options.max_tokens - 1:
            break
        step_tokens = torch.tensor([[h.tokens[-1]] for h in live])
        logits, state = model.step(step_tokens, select_state(state, torch.tensor(parents)))
    results.add_unfinished(live)
    return results.ranked(n)


def _draw(
    logweights: torch.Tensor, top_k: int, top_p: float, generator: torch.Generator
) -> int | None:
    """Sample an index from log-weights after top-k and nucleus filtering; None if all -inf."""
    if not torch.isfinite(logweights).any():
        return None
    probs = torch.softmax(logweights, dim=0)
    if top_k:
        kth = torch.topk(probs, min(top_k, probs.numel())).values[-1]
        probs = torch.where(probs >= kth, probs, 0.0)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, 0) - sorted_probs < top_p * probs.sum()
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))
