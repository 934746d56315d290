"""Candidate scoring: the model's probability of given words at the cursor, not only its own.

Beam search finds the words the model likes best; static analysis knows which names exist
(the members of the receiver's type, the names in scope) but ranks them alphabetically. This
scores the names someone else proposes with the model, so the two can meet: P(name) is the
probability of the name's tokens after the prompt times the probability that the word ends
there, the same quantity beam search ranks by.

Names share token prefixes, so they are scored as a trie, one batched model step per token
depth whatever the number of names, and searched like a beam: at each depth only the `limit`
most probable prefixes go on. A name's probability is at most its prefix's, so the names cut
could rank high only where the model has no opinion; there the cache and static analysis
decide. (A bound on the first token alone would not do: after `.` every name starts `.`.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .decoding import Stepper
from .interrupt import Interrupt
from .lm import State, select_state
from .prefix_constraint import HealedPrompt, VocabularyIndex
from .tokenizer import CodeTokenizer

# Prefixes kept per token depth: more found no better names on held-out code (see
# docs/benchmarks.md), and the cost grows with the count.
SCORED_NAMES = 16
# A prefix this much less probable than the best name already scored is not followed: its
# names could not rank near the top on the model's word, and every depth is a model step
# (long names kept a handful of prefixes alive for up to 13 steps after `.`). On the gauge's
# member positions (both seeds) the top 1 did not move and MRR went 0.526 -> 0.525; a member
# completion took 13-17% less time (docs/benchmarks.md, round 5).
NEGLIGIBLE = 1e-4


def word_probabilities(
    model: Stepper,
    tokenizer: CodeTokenizer,
    index: VocabularyIndex,
    healed: HealedPrompt,
    state: State,
    logits: torch.Tensor,
    names: Sequence[str],
    limit: int = SCORED_NAMES,
    interrupt: Interrupt | None = None,
    negligible: float = NEGLIGIBLE,
) -> dict[str, float]:
    """P(name is the whole word at the cursor) for up to `limit` of `names`. A name whose
    prefix is less probable than `negligible` times the best name is not followed further:
    it gets that prefix's probability, a bound, and ranks below the names scored.

    `state` and `logits` (1, V) are the model's after `healed.context`; every name starts with
    `healed.typed`. Names the model cannot spell there, or left out by `limit`, are absent.
    """
    typed = healed.typed
    spellings: dict[tuple[int, ...], list[str]] = {}  # token ids -> the names spelled so
    for name in dict.fromkeys(n for n in names if n.startswith(typed)):
        if ids := tokenizer.encode(healed.removed + name[len(typed) :]):
            spellings.setdefault(tuple(ids), []).append(name)
    ends = index.word_ends.to(torch.float32)
    probabilities: dict[str, float] = {}
    # The live trie nodes: token prefix -> (its log-probability, its row in `state`/`logprobs`).
    live: dict[tuple[int, ...], tuple[float, int]] = {(): (0.0, 0)}
    logprobs = torch.log_softmax(logits.float(), dim=-1)  # (N, V), a row per live node
    depth = 0
    while live:
        children: dict[tuple[int, ...], tuple[float, int]] = {}
        for prefix, (logprob, row) in live.items():
            for name in spellings.get(prefix, ()):  # a name spelled exactly so ends here
                end = float(torch.dot(logprobs[row].exp(), ends))  # mass that ends a word
                probabilities[name] = math.exp(logprob) * end
        best_name = max(probabilities.values(), default=0.0)
        floor = math.log(best_name * negligible) if best_name * negligible > 0 else -math.inf
        for spelled in spellings:
            prefix, grown = spelled[:depth], spelled[: depth + 1]
            if len(spelled) <= depth or prefix not in live or grown in children:
                continue
            logprob, row = live[prefix]
            grown_logprob = logprob + float(logprobs[row, spelled[depth]])
            if grown_logprob >= floor:
                children[grown] = (grown_logprob, row)
            else:  # not followed: its names rank last, by this prefix's probability (a bound)
                for name in spellings[spelled]:
                    probabilities.setdefault(name, math.exp(grown_logprob))
        if not children or (interrupt is not None and interrupt.fired()):
            break
        best = sorted(children.items(), key=lambda item: -item[1][0])[:limit]
        parents = torch.tensor([row for _, (_, row) in best])
        tokens = torch.tensor([[prefix[-1]] for prefix, _ in best])  # (N, 1)
        step_logits, state = model.step(tokens, select_state(state, parents))
        logprobs = torch.log_softmax(step_logits.float(), dim=-1)
        live = {prefix: (logprob, i) for i, (prefix, (logprob, _)) in enumerate(best)}
        depth += 1
    return probabilities
