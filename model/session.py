"""A document session: one open document's inference state, and the answers it gives.

The session owns what is cached for a document (its token ids, its hidden-state checkpoints
and the neural cache's keys along the window, in `document_state`; its code without comments
and strings, in `code_text`; its other windows' states, read ahead while idle or beside a
request, in `prepared_windows`) and answers `complete`:

    heal the prompt -> the state after the healed context (cached) -> `decode_completions`
    (`completions`: decode, rank, keep real names)

and answers from its last answer what that answer covers (a continued word, a line the
typing follows). The language server keeps one session per open document; `grucomplete
complete` uses one once (`complete_once`); `grucomplete eval` brings states of its own to
`decode_completions`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, replace

from .answer_reuse import (
    LastAnswer,
    carried_lines,
    continued,
    wanted_lines,
    without_lines,
)
from .code_text import CodeText
from .completion_settings import CompletionSettings
from .completions import Completions, KnownWords, NamesNow, Workspace, decode_completions
from .document_state import HiddenStateCache, IncrementalTokens, PromptState
from .engine import CompletionEngine
from .interrupt import Interrupt
from .line_memory import LineSource
from .prepared_windows import PreparedWindows
from .window import CHUNK


@dataclass(frozen=True)
class RequestWork:
    """What one `complete` cost: tokens read into the state, the time of that read and of
    decoding (waiting for static analysis included: `static_ms` of it), and what was decoded
    ("words", "line", "words+line"; "" when the last answer covered the request)."""

    tokens_read: int = 0
    read_ms: float = 0.0
    decode_ms: float = 0.0
    static_ms: float = 0.0
    decoded: str = ""

    def __str__(self) -> str:
        if not self.decoded:
            return "from the last answer"
        return (
            f"read {self.tokens_read} tokens in {self.read_ms:.1f} ms, decoded {self.decoded} "
            f"in {self.decode_ms:.1f} ms (static analysis {self.static_ms:.1f} ms of it)"
        )


class _TimedWait:
    """`KnownWords` that counts how long it was waited for."""

    def __init__(self, ask: KnownWords) -> None:
        self.ask, self.seconds = ask, 0.0

    def __call__(self) -> Sequence[str] | None:
        asked = time.perf_counter()
        try:
            return self.ask()
        finally:
            self.seconds += time.perf_counter() - asked


class DocumentSession:
    """Everything cached for one open document, and `complete` at a cursor in it."""

    def __init__(
        self,
        engine: CompletionEngine,
        max_checkpoints: int = 512,
        keep_outputs: bool = True,
        max_prepared: int = 16,
    ) -> None:
        """`keep_outputs`: keep the neural cache's keys along the window (needed for it).
        `max_prepared`: windows `prepare` keeps ready besides the one being typed in (each
        ~0.9 MB for the default model with the neural cache's keys, ~0.2 MB without)."""
        self.engine = engine
        self.tokens = IncrementalTokens(engine)
        self.states = HiddenStateCache(engine, max_checkpoints, keep_outputs)
        # Background preparation: a chain of states per window start other than the current
        # one's, dense with checkpoints (`prepare`, and the next window beside a request).
        self.windows = PreparedWindows(engine, max_checkpoints, keep_outputs, max_prepared)
        self._tokens_fed_states = True  # the ids of `tokens` are those `states` was fed
        # The project's names (a `WorkspaceNames`), set by whoever owns the session; with the
        # document's own, builtins and keywords they are the names legal at a use.
        self.workspace_names: Container[str] | None = None
        # The project's other files' lines (a `LineMemory.for_file`), for lines written before.
        self.line_source: LineSource | None = None
        # Whether another process leaves the spare core free now (None: always), set by the
        # owner: the next window is read beside a request only then (`prompt`).
        self.spare_core_free: Callable[[], bool] | None = None
        self.code = CodeText()  # the document's code before the cursor, followed incrementally
        self._last: LastAnswer | None = None  # the last answer not cut short
        # The last prompt's state: the line decoded after a popup's words reads nothing again.
        self._last_prompt: tuple[str, PromptState] | None = None
        # Answer from `_last` where it covers a request (off: only the very same request, the
        # reference in benchmarks/keystroke_reuse.py).
        self.reuse = True
        # How requests were answered: `model_runs` decoded (words, a line or both), the rest
        # came from the last answer, at no model step.
        self.requests = 0
        self.model_runs = 0
        self.last_work = RequestWork()  # the last `complete`'s, for the server's debug log

    def prompt(self, context: str, threads: bool = True) -> PromptState:
        """The model's state after `context` (text before the cursor, healed)."""
        if self._last_prompt is not None and self._last_prompt[0] == context:
            return self._last_prompt[1]  # only `prompt` moves the chain: it is still there
        self.windows.await_beside()
        ids = self.tokens.update(context)
        # The ids the tokenizer kept cannot differ from those the chain was fed (unless they
        # were read ahead into another window's chain: then compare them all).
        known_common = self.tokens.unchanged if self._tokens_fed_states else 0
        prepared = self.windows.take(self.engine.window_start(ids), self.states)
        if prepared is not None:
            # A jump to a window prepared in the background: read from its nearest checkpoint.
            # Its ids were those of an earlier text: compare them all (`known_common` 0).
            self.states, known_common = prepared, 0
        state = self.states.state_after(ids, known_common, threads)
        self._last_prompt, self._tokens_fed_states = (context, state), True
        if threads:  # the next window, read on the spare core while this request decodes
            self.windows.read_beside(ids, self.states.origin, self.spare_core_free)
        return state

    def prepare(self, text: str, budget: int = CHUNK, cursor: int | None = None) -> bool:
        """One slice of background work over the whole `text`: about `budget` tokens read into
        the window that the nearest unprepared position of the text would read. True while
        work remains. First the state at `cursor` (where the last edit ended), so that typing
        on after a paste reads a chunk, not the paste. Then every window start of the text
        gets its chain of states (up to `max_prepared` of them, nearest the window being
        typed in first), so that a jump anywhere reads from a checkpoint at most a chunk back
        instead of a whole window; the states are those a cold run reaches, bitwise (the
        chunks are a query's)."""
        self.windows.await_beside()
        if cursor is not None and self._read_towards(text[:cursor], budget):
            return True
        return self.windows.prepare(text, budget, self.states.origin)

    def _read_towards(self, text_before: str, budget: int) -> bool:
        """A slice of what a query at the end of `text_before` would read; True while more."""
        ids = self.tokens.update(self.engine.heal(text_before).context)
        origin = self.engine.window_start(ids)
        if origin == self.states.origin:
            chain = self.states
            self._last_prompt = None  # the chain moves on from it
        else:
            self._tokens_fed_states = False  # `self.tokens` now holds ids it was not fed
            chain = self.windows.chain(origin)
        self.windows.edit_origin = origin
        return chain.prepare(ids, budget)

    @property
    def prepared(self) -> dict[int, HiddenStateCache]:
        """The chains of states prepared for other windows than the current one, by start."""
        return self.windows.chains

    def drop_prepared(self) -> None:
        """Give back the memory of background preparation (another document has the focus)."""
        self.windows.drop()

    def complete(
        self,
        text_before: str,
        settings: CompletionSettings,
        *,
        lines: bool | None = None,
        defer_line: bool = False,
        interrupt: Interrupt | None = None,
        known_words: KnownWords | None = None,
        threads: bool = True,
        workspace: Workspace | None = None,
    ) -> Completions:
        """Words (and lines, unless `lines` or the settings say no) at the end of `text_before`.

        `threads`: whether a long read may use the engine's layer threads (not while another
        process needs the other core). What the last answer covers is not decoded again: an
        editor asks for the popup (words) and the ghost text (a line) of one keystroke one
        after the other, and the second decodes the line alone; a keystroke that continues a
        word of the last answer is answered from it (`continued`).

        `defer_line` (a popup with no ghost text beside it, whose line would cost more than
        its words): the line is decoded now only where a line begins; elsewhere the popup
        offers the last answer's lines that the typing still follows, and `lines_decoded` is
        False when there are none, for the caller to decode one (`lines=True`) when idle.
        """
        want_lines, deferred = wanted_lines(text_before, settings, lines, defer_line)
        last = self._last
        self.requests += 1
        self.last_work = RequestWork()
        result = self._complete(
            text_before, settings, want_lines, interrupt, known_words, threads, workspace
        )
        return self._carry_lines(last, text_before, settings, result) if deferred else result

    def answer_from_last(
        self,
        text_before: str,
        settings: CompletionSettings,
        *,
        lines: bool | None = None,
        defer_line: bool = False,
        known_words: KnownWords | None = None,
    ) -> Completions | None:
        """`complete`'s answer where the last answer covers the request (the same question,
        a continued word), None where the model must run. It touches no model state, so it
        may run on another thread than `complete`'s while that one works: the last answer is
        only ever replaced whole."""
        want_lines, deferred = wanted_lines(text_before, settings, lines, defer_line)
        last = self._last
        answer, _ = self._from_last(text_before, settings, want_lines, known_words)
        if answer is None:
            return None
        self.requests += 1
        self.last_work = RequestWork()
        return self._carry_lines(last, text_before, settings, answer) if deferred else answer

    def _carry_lines(
        self,
        last: LastAnswer | None,
        text_before: str,
        settings: CompletionSettings,
        words: Completions,
    ) -> Completions:
        """A popup's words with the lines of `last` that the typing still follows (its line
        is decoded later, if at all)."""
        carried = carried_lines(last, text_before) if last and last.settings == settings else []
        result = replace(words, lines=carried, lines_decoded=bool(carried))
        if self._last is not None and self._last.text_before == text_before:
            self._last = replace(self._last, result=result)  # the lines go on being carried
        return result

    @property
    def last_text_before(self) -> str | None:
        """The text before the cursor of the last answer (None before any)."""
        return None if self._last is None else self._last.text_before

    def _from_last(
        self,
        text_before: str,
        settings: CompletionSettings,
        want_lines: bool,
        known_words: KnownWords | None,
    ) -> tuple[Completions | None, Completions | None]:
        """What the last answer gives: (the answer, None) where it covers the request (the
        last answer moves on to it), (None, the words) where only the line is left to decode,
        (None, None) where the model must decode all."""
        last = self._last
        if last is None or last.settings != settings:
            return None, None
        if not self.reuse:  # as before: only an answer to the very same question
            if last.text_before == text_before and last.result.lines_decoded >= want_lines:
                return last.result, None
            return None, None
        if last.text_before == text_before:
            if last.result.lines_decoded or not want_lines:
                return (last.result if want_lines else without_lines(last.result)), None
            return None, last.result
        if not (last.text_before and text_before.startswith(last.text_before)):
            return None, None
        reused = continued(last.result, text_before[len(last.text_before) :])
        if reused is not None and known_words is not None and not reused.checked:
            return None, None  # static analysis may know better now: ask it
        if reused is not None and (not want_lines or reused.lines_decoded):
            self._last = LastAnswer(text_before, settings, reused)
            return (reused if want_lines else without_lines(reused)), None
        return None, reused

    def _complete(
        self,
        text_before: str,
        settings: CompletionSettings,
        want_lines: bool,
        interrupt: Interrupt | None,
        known_words: KnownWords | None,
        threads: bool,
        workspace: Workspace | None,
    ) -> Completions:
        answer, reused = self._from_last(text_before, settings, want_lines, known_words)
        if answer is not None:
            return answer
        self.model_runs += 1
        started = time.perf_counter()
        healed = self.engine.heal(text_before)
        prompt = self.prompt(healed.context, threads)
        read = time.perf_counter()
        known = known_words
        if known_words is not None and not isinstance(known_words, NamesNow):
            known = _TimedWait(known_words)
        result = decode_completions(
            self.engine,
            healed,
            prompt,
            settings,
            lines=want_lines,
            words=reused is None,
            interrupt=interrupt,
            known_words=known,
            workspace_names=self.workspace_names,
            code=self.code,
            workspace=workspace,
            line_source=self.line_source,
        )
        if reused is not None:  # the words were known: only the line was decoded
            result = replace(reused, lines=result.lines, lines_decoded=True)
        decoded = "+".join(["words"] * (reused is None) + ["line"] * want_lines)
        self.last_work = RequestWork(
            prompt.tokens_fed,
            (read - started) * 1000,
            (time.perf_counter() - read) * 1000,
            known.seconds * 1000 if isinstance(known, _TimedWait) else 0.0,
            decoded,
        )
        if interrupt is None or not interrupt.fired():  # a cut-short answer is not repeated
            self._last = LastAnswer(text_before, settings, result)
        return result


def complete_once(
    engine: CompletionEngine, text_before: str, settings: CompletionSettings | None = None
) -> Completions:
    """Complete at the end of `text_before` with a session used once (the CLI's way)."""
    settings = settings or CompletionSettings()
    return DocumentSession(engine, keep_outputs=settings.neural_cache > 0).complete(
        text_before, settings
    )
