"""A document's other windows, read ahead: a chain of states per window start, ready for a jump.

A query reads at most a window of tokens, from a start that moves every half window
(`window.window_start`). A jump elsewhere in the file, or typing on into the next window, would
read up to a whole window at once. Idle time (`DocumentSession.prepare`) and the spare core
beside a request (`read_beside`) read those windows ahead instead, each into its own chain of
states dense with checkpoints, so that the query reads from a checkpoint at most a chunk back.
The states are those a cold run reaches, bitwise (the chunks are a query's).

`DocumentSession` owns one `PreparedWindows` beside the chain of the window being typed in, and
swaps a prepared chain in (`take`) when a query's window is one of these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future

from .document_state import HiddenStateCache, IncrementalTokens
from .engine import CompletionEngine
from .window import CHUNK, CONTEXT_CHARS


class PreparedWindows:
    """The chains of states of a document's windows other than the current one (the one
    being typed in, which the session keeps), at most `max_chains` of them."""

    def __init__(
        self,
        engine: CompletionEngine,
        max_checkpoints: int = 512,
        keep_outputs: bool = True,
        max_chains: int = 16,
    ) -> None:
        """`max_checkpoints`, `keep_outputs`: those of every chain (see `HiddenStateCache`).
        `max_chains`: each ~0.9 MB for the default model with the neural cache's keys, ~0.2 MB
        without."""
        self.engine = engine
        self.max_checkpoints, self.keep_outputs = max_checkpoints, keep_outputs
        self.max_chains = max_chains
        self.chains: dict[int, HiddenStateCache] = {}  # by window start
        self.text_tokens = IncrementalTokens(engine)  # the whole text's, to plan from
        self._planned: tuple[int, list[tuple[int, int]]] = (-1, [])  # (for origin, plan)
        # The window of the last edit's end, read ahead by the session: typing goes on there,
        # so a new plan keeps its chain.
        self.edit_origin = 0
        self._beside: Future[bool] | None = None  # the next window, read on the spare core

    def chain(self, origin: int) -> HiddenStateCache:
        """The prepared chain of states from window start `origin`, new if there is none
        (dense with checkpoints: a jump into it reads from the nearest)."""
        chain = self.chains.get(origin)
        if chain is None:
            chain = HiddenStateCache(
                self.engine, self.max_checkpoints, self.keep_outputs, far_stride=CHUNK
            )
            self.chains[origin] = chain
        return chain

    def take(self, origin: int, current: HiddenStateCache) -> HiddenStateCache | None:
        """The chain prepared from `origin`, to become the current one in place of `current`
        (kept here if it read anything: a jump back reads from it); None if there is none."""
        if origin == current.origin or origin not in self.chains:
            return None
        chain = self.chains.pop(origin)
        if len(current.ids) > 1:
            self.chains[current.origin] = current
        self._bound(chain.origin)
        return chain

    def read_beside(
        self,
        ids: Sequence[int],
        current_origin: int,
        spare_core_free: Callable[[], bool] | None = None,
    ) -> None:
        """Read on the spare core, while a request decodes, the window that typing on after
        `ids` moves into. Every half window typed the window moves, and a request would read
        its 256-512 tokens at once; idle time reads it ahead too, but typing without pauses,
        or a jump, leaves none. The session starts it once the request's own read (which may
        take both cores) is done; not while `spare_core_free` says no (jedi works: None,
        always free). The next `prompt` or `prepare` waits for it (`await_beside`: it is
        usually over by then)."""
        if self.engine.beside is None:
            return
        if spare_core_free is not None and not spare_core_free():
            return  # left for a request or idle time when the core is free
        following = self.engine.next_window_start(ids)
        if following in (None, current_origin):
            return
        chain = self.chain(following)
        self._bound(current_origin)
        # A copy: typing edits the token array in place while the spare core reads.
        self._beside = self.engine.beside.submit(chain.prepare, ids[:], len(ids), following)

    def await_beside(self) -> None:
        """The next window's read is over (its chain may be used or changed again)."""
        if self._beside is not None:
            beside, self._beside = self._beside, None
            beside.result()

    def prepare(self, text: str, budget: int, current_origin: int) -> bool:
        """About `budget` tokens read into the window of `text` nearest `current_origin` that
        is not yet prepared; True while work remains."""
        # Queries in a text longer than CONTEXT_CHARS tokenize from a start that moves with
        # the cursor (`window.text_origin`); the windows of its first CONTEXT_CHARS are those
        # of every query there.
        ids = self.text_tokens.update(text[:CONTEXT_CHARS])
        if self.text_tokens.unchanged < len(ids) or self._planned[0] != current_origin:
            whole = len(text) <= CONTEXT_CHARS  # the text's end is that of `ids`
            self._planned = (current_origin, self._plan(ids, current_origin, whole))
        for origin, end in self._planned[1]:
            chain = self.chain(origin)
            if chain.prepare(ids[:end], budget, origin):
                return True
        return False

    def _plan(
        self, ids: Sequence[int], current_origin: int, whole: bool = True
    ) -> list[tuple[int, int]]:
        """(window start, last prefix read from it) for the windows to prepare, nearest the
        current window first, at most `max_chains`; the current window is the typing's.
        Besides the windows of the text, the one text added at its end moves to, if `ids` is
        the `whole` text (typing at the end of a file would otherwise read half a window at
        once every half window)."""
        context, step = self.engine.context_tokens, self.engine.context_tokens // 2
        windows = []
        for k in range(1, -(-(len(ids) - context) // step) + 1):
            end = min(len(ids), k * step + context)  # the longest prefix read from this start
            origin = self.engine.window_start(ids[:end])
            if origin != current_origin:
                windows.append((origin, end))
        following = self.engine.next_window_start(ids) if whole else None
        if following is not None and following not in (current_origin, *dict(windows)):
            windows.append((following, len(ids)))
        if current_origin != 0:
            windows.append((0, min(len(ids), context)))
        windows.sort(key=lambda w: abs(w[0] - current_origin))
        windows = windows[: self.max_chains]
        keep = {origin for origin, _ in windows} | {self.edit_origin}
        for origin in [o for o in self.chains if o not in keep]:
            del self.chains[origin]
        return windows

    def _bound(self, current_origin: int) -> None:
        """At most `max_chains`: the farthest from the current window go first."""
        while len(self.chains) > self.max_chains:
            far = max(self.chains, key=lambda o: abs(o - current_origin))
            del self.chains[far]

    def drop(self) -> None:
        """Give back the memory of every prepared chain (another document has the focus)."""
        self.await_beside()
        self.chains.clear()
        self.text_tokens = IncrementalTokens(self.engine)
        self._planned = (-1, [])
