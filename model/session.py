"""A document session: one open document's inference state and the one completion pipeline.

The session owns what is cached for a document (its token ids, its hidden-state checkpoints
and the neural cache's keys along the window, in `document_state`) and answers `complete`:

    heal the prompt -> the state after the healed context (cached) -> the neural cache over
    the window -> decode the word and the line together -> rank the words with the document's
    names and the names static analysis knows

The language server keeps one session per open document; `grucomplete complete` uses one
once (`complete_once`); `grucomplete eval` brings states of its own to `decode_completions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from .candidate_scoring import word_probabilities
from .completion_settings import CompletionSettings
from .decode_options import Candidate, StopAt
from .decoding import decode_together
from .document_state import HiddenStateCache, IncrementalTokens, PromptState
from .engine import CompletionEngine
from .identifier_cache import cache_distribution, mix
from .interrupt import Interrupt
from .neural_cache import CacheChain, CachedModel, Mixer, NeuralCache
from .prefix_constraint import HealedPrompt

# Names static analysis says exist at the cursor; asked once decoding is done, so that it can
# work meanwhile (None: it does not know).
KnownWords = Callable[[], Sequence[str] | None]


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


class DocumentSession:
    """Everything cached for one open document, and `complete` at a cursor in it."""

    def __init__(
        self, engine: CompletionEngine, max_checkpoints: int = 512, keep_outputs: bool = True
    ) -> None:
        """`keep_outputs`: keep the neural cache's keys along the window (needed for it)."""
        self.engine = engine
        self.tokens = IncrementalTokens(engine)
        self.states = HiddenStateCache(engine, max_checkpoints, keep_outputs)
        # (text before the cursor, lines asked for, settings, the answer) of the last request
        self._last: tuple[str, bool, CompletionSettings, Completions] | None = None

    def prompt(self, context: str, threads: bool = True) -> PromptState:
        """The model's state after `context` (text before the cursor, healed)."""
        ids = self.tokens.update(context)
        # The ids the tokenizer kept cannot differ from those the chain was fed.
        return self.states.state_after(ids, self.tokens.unchanged, threads)

    def complete(
        self,
        text_before: str,
        settings: CompletionSettings,
        *,
        lines: bool | None = None,
        interrupt: Interrupt | None = None,
        known_words: KnownWords | None = None,
        threads: bool = True,
        workspace: Workspace | None = None,
    ) -> Completions:
        """Words (and lines, unless `lines` or the settings say no) at the end of `text_before`.

        `threads`: whether a long read may use the engine's layer threads (not while another
        process needs the other core). An editor asks for the popup and the ghost text of one
        keystroke one after the other: the second gets the first's answer when it covers it.
        """
        want_lines = settings.line_completions if lines is None else lines
        last = self._last
        if last and (last[0], last[2]) == (text_before, settings) and last[1] >= want_lines:
            return last[3]
        healed = self.engine.heal(text_before)
        prompt = self.prompt(healed.context, threads)
        result = decode_completions(
            self.engine,
            healed,
            prompt,
            settings,
            lines=want_lines,
            interrupt=interrupt,
            known_words=known_words,
            workspace=workspace,
        )
        if interrupt is None or not interrupt.fired():  # a cut-short answer is not repeated
            self._last = (text_before, want_lines, settings, result)
        return result


def complete_once(
    engine: CompletionEngine, text_before: str, settings: CompletionSettings | None = None
) -> Completions:
    """Complete at the end of `text_before` with a session used once (the CLI's way)."""
    settings = settings or CompletionSettings()
    return DocumentSession(engine, keep_outputs=settings.neural_cache > 0).complete(
        text_before, settings
    )


def decode_completions(
    engine: CompletionEngine,
    healed: HealedPrompt,
    prompt: PromptState,
    settings: CompletionSettings,
    *,
    lines: bool = True,
    interrupt: Interrupt | None = None,
    known_words: KnownWords | None = None,
    workspace: Workspace | None = None,
) -> Completions:
    """Decode from the state a caller reached for `healed.context`, and rank the words.

    The neural cache (with its weight in `settings`) needs `prompt.outputs`, the window's keys.
    `known_words()`: when some of its names start with what is typed, they are scored by the
    model too, and only they are offered.
    """
    requests = [(StopAt.IDENTIFIER, settings.word_options())]
    if lines:
        requests.append((StopAt.LINE, settings.line_options()))
    model, logits = engine.model, prompt.logits
    mixers: list[Mixer] = []
    if settings.neural_cache > 0:
        if prompt.outputs is None:
            raise ValueError("the neural cache needs the window's outputs (keep_outputs)")
        mixers.append(NeuralCache(prompt.outputs, prompt.ids, settings.neural_cache))
    if workspace is not None and settings.workspace_memory > 0:
        found = workspace.retrieve(_query(prompt), settings.workspace_memory)
        mixers += [found] if found is not None else []
    if mixers:
        memory = mixers[0] if len(mixers) == 1 else CacheChain(mixers, mixers[0].query)
        logits = memory.mix(logits, memory.query)
        model = CachedModel(engine.model, memory)
    words, *found_lines = decode_together(
        model,
        prompt.state,
        logits,
        engine.index,
        healed.removed,
        requests,
        typed=healed.typed,
        interrupt=interrupt,
    )
    result = Completions(healed.typed)
    # A word cannot start with a digit; the model may still put mass on number tokens.
    result.words = [w for c in words if not (w := _word(healed, c)).label[:1].isdigit()]
    names = known_words() if known_words is not None else None
    known = [n for n in names or () if n.startswith(healed.typed) and n.isidentifier()]
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
        result.words = _rank_words(healed, result.words, settings, scored, set(known))
    if found_lines:
        before = healed.context + healed.removed
        typed_line = before[before.rfind("\n") + 1 :]
        result.lines = [_line(healed, typed_line, c) for c in found_lines[0]]
    return result


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
) -> list[Suggestion]:
    """The beam's words and the scored known names, mixed with the document cache.

    With `known` names, the rest are dropped: static analysis is sure they do not exist here
    (an attribute the receiver's type lacks, a name not in scope).
    """
    model = {w.label: w.probability for w in words}
    for name, p in scored.items():  # the beam sums all spellings; scoring takes one
        model[name] = max(model.get(name, 0.0), p)
    cache = {}
    if settings.identifier_cache > 0:
        cache = cache_distribution(healed.context + healed.removed, healed.typed)
    if known:
        model = {n: p for n, p in model.items() if n in known}
        cache = {n: p for n, p in cache.items() if n in known}
    ranked = mix(model, cache, settings.identifier_cache)
    complete = {w.label: w.complete for w in words}  # names from elsewhere are whole
    return [
        Suggestion(name, name[len(healed.typed) :], p, complete.get(name, True))
        for name, p in ranked[: settings.num_candidates]
    ]


def _word(healed: HealedPrompt, candidate: Candidate) -> Suggestion:
    insert = candidate.text[len(healed.removed) :]
    return Suggestion(healed.typed + insert, insert, candidate.probability, candidate.complete)


def _line(healed: HealedPrompt, typed_line: str, candidate: Candidate) -> Suggestion:
    insert = candidate.text[len(healed.removed) :]
    return Suggestion(
        (typed_line + insert).strip(), insert, candidate.probability, candidate.complete
    )
