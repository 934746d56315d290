"""Completions from a document's state: the words and the line at the cursor, ranked.

    the neural cache (and the workspace memory) over the window -> decode the word and the
    line together -> rank the words with the document's names and the names static analysis
    knows -> a line written before joins the lines, and inside a line its word the words
    (`line_memory`) -> keep only real names (`real_names`)

`DocumentSession` brings the state (cached per document); `grucomplete eval` brings states of
its own. Either way this is the one place where candidates become what an editor shows.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import torch

from .candidate_scoring import word_probabilities
from .code_text import CodeText, code_window, defines_name, well_formed_line
from .completion_settings import CompletionSettings
from .decode_options import Candidate, StopAt
from .decoding import Stepper, decode_together
from .document_state import PromptState
from .engine import CompletionEngine
from .identifier_cache import cache_distribution, mix
from .interrupt import Interrupt
from .line_memory import LineSource, RecalledLine, recall
from .neural_cache import CacheChain, CachedModel, Mixer, NeuralCache
from .prefix_constraint import HealedPrompt
from .real_names import VOCABULARY_CHARS, LegalNames, keep_real_names, lines_of_real_names

# Names static analysis says exist at the cursor; asked once decoding is done, so that it can
# work meanwhile (None: it does not know).
KnownWords = Callable[[], Sequence[str] | None]


@dataclass(frozen=True)
class NamesNow:
    """`KnownWords` already in hand before decoding (an earlier answer, what the document
    declares, jedi's answer in time): after `.` they are scored, not searched for."""

    names: Sequence[str] | None

    def __call__(self) -> Sequence[str] | None:
        return self.names


class Workspace(Protocol):
    """Entries of the workspace's other files near a query (the server's workspace memory)."""

    def retrieve(self, query: torch.Tensor, weight: float) -> Mixer | None: ...


@dataclass(frozen=True)
class Suggestion:
    label: str  # what a user sees: the whole word, or the whole line from its start
    insert: str  # text to insert at the cursor
    probability: float
    complete: bool = True  # False when cut short by max tokens, deadline or cancel


@dataclass
class Completions:
    typed: str  # identifier characters before the cursor, which `words` all start with
    words: list[Suggestion] = field(default_factory=list)
    lines: list[Suggestion] = field(default_factory=list)
    # The words are every name that may be offered for any continuation of `typed` (static
    # analysis listed the names, all of them fit): an editor may filter them as typing goes on.
    closed: bool = False
    checked: bool = False  # the words were checked against the names static analysis knows
    lines_decoded: bool = False  # lines were asked for (`lines` may still be empty)


def decode_completions(
    engine: CompletionEngine,
    healed: HealedPrompt,
    prompt: PromptState,
    settings: CompletionSettings,
    *,
    lines: bool = True,
    words: bool = True,
    interrupt: Interrupt | None = None,
    known_words: KnownWords | None = None,
    workspace_names: Container[str] | None = None,
    code: CodeText | None = None,
    workspace: Workspace | None = None,
    line_source: LineSource | None = None,
) -> Completions:
    """Decode from the state a caller reached for `healed.context`, and rank the words.

    `words=False` decodes the line alone (ghost text whose words an earlier answer has).

    The neural cache (with its weight in `settings`) needs `prompt.outputs`, the window's keys.
    `known_words()`: when some of its names start with what is typed, they are scored by the
    model too, and only they are offered. Where a name is used (not after `.`), words and lines
    are kept to real names (`real_names`, with `workspace_names`). Words are identifiers; lines
    a separate list, each well formed (decoding keeps the brackets and strings in order).
    `code`: a `CodeText` kept for the document (brought up to date here); without one, a window
    is scanned. A line the document or `line_source` (the project's other files) finished the
    same way before joins the model's lines (`line_memory`).
    """
    before = healed.context + healed.removed
    if code is None:
        code = CodeText.of(code_window(before, VOCABULARY_CHARS))
    else:
        code.update(before)
    line_before = before[before.rfind("\n") + 1 :]
    at_use = not before[: len(before) - len(healed.typed)].rstrip().endswith(".")
    # After `.`, members known before decoding are all scored below: a beam search of the
    # model's own words would find a few of them at the cost of its steps, the rest dropped.
    searched = words and not (
        not at_use
        and isinstance(known_words, NamesNow)
        and bool(_continuing(known_words.names, healed.typed))
    )
    requests = [(StopAt.IDENTIFIER, settings.word_options())] if searched else []
    if lines:
        requests.append((StopAt.LINE, settings.line_options()))
    model: Stepper = engine.model
    logits = prompt.logits
    mixers: list[Mixer] = []
    if settings.neural_cache > 0:
        if prompt.outputs is None:
            raise ValueError("the neural cache needs the window's outputs (keep_outputs)")
        mixers.append(NeuralCache(prompt.outputs, prompt.ids, settings.neural_cache))
    if workspace is not None and settings.workspace_memory > 0:
        nearby = workspace.retrieve(_query(prompt), settings.workspace_memory)
        mixers += [nearby] if nearby is not None else []
    if mixers:
        memory = mixers[0] if len(mixers) == 1 else CacheChain(mixers, mixers[0].query)
        logits = memory.mix(logits, memory.query)
        model = CachedModel(engine.model, memory)
    found = decode_together(
        model,
        prompt.state,
        logits,
        engine.index,
        healed.removed,
        requests,
        typed=healed.typed,
        line_start=code.line_state() if lines else None,
        line_before=line_before,
        interrupt=interrupt,
    )
    result = Completions(healed.typed, lines_decoded=lines)
    # Lines use what is recalled; words only inside a line (at its start the line competes).
    recalling = settings.recall_lines and (lines or words and bool(line_before.strip()))
    recalled = recall(before, line_source) if recalling else None
    # Static analysis's names judge words, and lines only at a use: a line alone after `.`
    # (ghost text whose words an earlier answer has) does not wait for them.
    names = known_words() if known_words is not None and (words or at_use) else None
    legal = LegalNames(code, names or (), workspace_names)
    defining = defines_name(line_before)
    if lines:
        found_lines = found[-1]
        if at_use and not defining:  # a line begins with a name that exists, too
            found_lines = lines_of_real_names(found_lines, healed, line_before, legal)
        elif not at_use and names:  # after `.`, with a member static analysis lists
            found_lines = lines_of_real_names(found_lines, healed, line_before, set(names))
        result.lines = [_line(healed, line_before, c) for c in found_lines]
        if recalled is not None and (line := recalled.line()) is not None:
            result.lines = _with_recalled(result.lines, line, line_before, code)
    if not words:
        return result
    # A word is a name: not a number, not glued to punctuation or a line's fragment.
    found_words = found[0] if searched else []
    result.words = [w for c in found_words if (w := _word(healed, c)).label.isidentifier()]
    known = _continuing(names, healed.typed)
    if settings.identifier_cache > 0 or known:
        scored = {}
        if known:
            # Every object has two dozen dunder members and people rarely type one after a
            # dot; unless `_` is typed they are left to the beam, not scored.
            wanted = known if healed.typed[:1] == "_" else [n for n in known if n[:2] != "__"]
            scored = word_probabilities(
                model,
                engine.tokenizer,
                engine.index,
                healed,
                prompt.state,
                logits,
                wanted,
                interrupt=interrupt,
            )
            # Every name static analysis lists was scored and fits: the popup has them all.
            result.closed = len(wanted) == len(known) <= settings.num_candidates
        result.words = _rank_words(healed, result.words, settings, scored, set(known), code)
    if recalled is not None and line_before.strip():
        word = recalled.word(healed.typed)
        if word is not None and (not known or word[0] in known):
            result.words = _with_recalled_word(healed, result.words, *word, settings)
    if at_use:
        result.words = keep_real_names(result.words, legal, defining)
    result.checked = names is not None
    return result


def _continuing(names: Sequence[str] | None, typed: str) -> list[str]:
    """The names that continue what is typed."""
    return [n for n in names or () if n.startswith(typed) and n.isidentifier()]


def _query(prompt: PromptState) -> torch.Tensor:
    """The top-layer output after the prompt (1, H): a GRU's last output is its top state."""
    if prompt.outputs is not None:
        return prompt.outputs[-1:].float()
    state = prompt.state[0] if isinstance(prompt.state, tuple) else prompt.state
    return state[-1, :1].float()


def _rank_words(
    healed: HealedPrompt,
    words: list[Suggestion],
    settings: CompletionSettings,
    scored: dict[str, float],
    known: set[str],
    code: CodeText | None = None,
) -> list[Suggestion]:
    """The beam's words and the scored known names, mixed with the document cache.

    With `known` names, the rest are dropped: static analysis is sure they do not exist here
    (an attribute the receiver's type lacks, a name not in scope).
    """
    model = {w.label: w.probability for w in words}
    for name, p in scored.items():  # the beam sums all spellings; scoring takes one
        model[name] = max(model.get(name, 0.0), p)
    before = healed.context + healed.removed
    cache = {}
    if settings.identifier_cache > 0:
        cache = cache_distribution(before, healed.typed, code)
    if known:
        model = {n: p for n, p in model.items() if n in known}
        cache = {n: p for n, p in cache.items() if n in known}
    line_start = not before[before.rfind("\n") + 1 :].strip()
    ranked = mix(model, cache, settings.identifier_cache, line_start)
    complete = {w.label: w.complete for w in words}  # names from elsewhere are whole
    return [
        Suggestion(name, name[len(healed.typed) :], p, complete.get(name, True))
        for name, p in ranked[: settings.num_candidates]
    ]


def _word(healed: HealedPrompt, candidate: Candidate) -> Suggestion:
    insert = candidate.text[len(healed.removed) :]
    return Suggestion(healed.typed + insert, insert, candidate.probability, candidate.complete)


def _with_recalled(
    lines: list[Suggestion], recalled: RecalledLine, line_before: str, code: CodeText
) -> list[Suggestion]:
    """The model's lines and a line written before, by probability (a line both found is
    offered once, at the likelier of the two)."""
    state = code.line_state().feed(recalled.insert.encode())
    if state is None or not well_formed_line(line_before, line_before + recalled.insert, state):
        return lines
    line = Suggestion(
        (line_before + recalled.insert).strip(), recalled.insert, recalled.probability
    )
    same = [other for other in lines if other.insert.rstrip() == line.insert]
    if same and same[0].probability >= line.probability:
        return lines
    lines = [line] + [other for other in lines if other not in same]
    return sorted(lines, key=lambda other: -other.probability)


def _with_recalled_word(
    healed: HealedPrompt,
    words: list[Suggestion],
    word: str,
    share: float,
    settings: CompletionSettings,
) -> list[Suggestion]:
    """The words, with the word the line went on with before given its share: (1 - share) of
    each word's probability, and `share` more for it. Where ways are recalled, theirs is right
    more often than the model's first word (docs/benchmarks.md, round 7)."""
    offered = {w.label: w for w in words}
    scaled = {w.label: (1 - share) * w.probability for w in words}
    scaled[word] = scaled.get(word, 0.0) + share
    ranked = sorted(scaled.items(), key=lambda kv: -kv[1])[: settings.num_candidates]
    return [
        replace(offered[name], probability=p)
        if name in offered
        else Suggestion(name, name[len(healed.typed) :], p)
        for name, p in ranked
    ]


def _line(healed: HealedPrompt, typed_line: str, candidate: Candidate) -> Suggestion:
    insert = candidate.text[len(healed.removed) :]
    return Suggestion(
        (typed_line + insert).strip(), insert, candidate.probability, candidate.complete
    )
