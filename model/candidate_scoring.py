"""Candidate scoring: the model's probability of given words at the cursor, not only its own.

Beam search finds the words the model likes best; static analysis knows which names exist
(the members of the receiver's type, the names in scope) but ranks them alphabetically. This
scores the names someone else proposes with the model, so the two can meet: P(name) is the
probability of the name's tokens after the prompt times the probability that the word ends
there, the same quantity beam search ranks by.

Names share token prefixes, so they are scored as a trie: one batched model step per token
depth, whatever the number of names. Only the `limit` names whose first token the model rates
highest are scored; a name's probability is at most its first token's, so the rest could rank
high only where the model has no opinion, and then the cache and the order given decide.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .interrupt import Interrupt
from .lm import GRULanguageModel, State, select_state
from .prefix_constraint import HealedPrompt, VocabularyIndex
from .tokenizer import CodeTokenizer

# Names scored per request. On held-out code, scoring 16, 32 or all of jedi's names gave the
# same member top-5 (0.56-0.59) at 2 / 5 / 10 ms per request: the model cannot tell apart what
# its first token does not already favour.
SCORED_NAMES = 32


def word_probabilities(
    model: GRULanguageModel,
    tokenizer: CodeTokenizer,
    index: VocabularyIndex,
    healed: HealedPrompt,
    state: State,
    logits: torch.Tensor,
    names: Sequence[str],
    limit: int = SCORED_NAMES,
    interrupt: Interrupt | None = None,
) -> dict[str, float]:
    """P(name is the whole word at the cursor) for up to `limit` of `names`.

    `state` and `logits` (1, V) are the model's after `healed.context`; every name starts with
    `healed.typed`. Names the model cannot spell there, or left out by `limit`, are absent.
    """
    typed = healed.typed
    spellings = {
        name: ids
        for name in dict.fromkeys(names)
        if name.startswith(typed) and (ids := tokenizer.encode(healed.removed + name[len(typed) :]))
    }
    first = torch.log_softmax(logits.float(), dim=-1)[0]  # (V,)
    best = sorted(spellings, key=lambda name: -float(first[spellings[name][0]]))[:limit]
    spellings = {name: spellings[name] for name in best}
    # Trie levels: the log-probabilities after every token prefix the names need.
    after: dict[tuple[int, ...], torch.Tensor] = {(): first}
    rows: dict[tuple[int, ...], int] = {(): 0}
    depth = max((len(ids) for ids in spellings.values()), default=0)
    for d in range(1, depth + 1):
        if interrupt is not None and interrupt.fired():
            return {}
        prefixes = sorted({tuple(ids[:d]) for ids in spellings.values() if len(ids) >= d})
        parents = torch.tensor([rows[p[:-1]] for p in prefixes])
        tokens = torch.tensor([[p[-1]] for p in prefixes])  # (N, 1)
        level_logits, state = model.step(tokens, select_state(state, parents))
        logprobs = torch.log_softmax(level_logits.float(), dim=-1)  # (N, V)
        rows = {p: i for i, p in enumerate(prefixes)}
        after.update(zip(prefixes, logprobs, strict=True))
    ends = index.word_ends.to(torch.float32)
    probabilities = {}
    for name, ids in spellings.items():
        logprob = sum(float(after[tuple(ids[:d])][token]) for d, token in enumerate(ids))
        end = float(torch.dot(after[tuple(ids)].exp(), ends))  # mass of tokens ending a word
        probabilities[name] = float(torch.tensor(logprob).exp()) * end
    return probabilities
