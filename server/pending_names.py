"""Names on their way from the jedi worker, and how long a completion may wait for them.

A completion after `.` asks static analysis (`static_analysis.StaticAnalyzer.names_at`) and
gets this at once: jedi's future answer with its deadline (`staticWaitMs`), and what is known
without jedi (an earlier answer after the same receiver, a module's members listed ahead,
what the document declares), which serves where jedi's answer is not in.
"""

from __future__ import annotations

import logging
import time
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass

from .worker_connection import Names

log = logging.getLogger("grucomplete.server")


@dataclass(frozen=True)
class PendingNames:
    """Names on their way from the worker, and how long a completion may wait for them."""

    future: Future[Names]
    deadline: float  # time.monotonic() past which the completion goes on without them
    # The members of the module the receiver names, when it is one (listed ahead: jedi's
    # first `os.` parses `os` for a second or more).
    module: Future[Names] | None = None
    # jedi's answer at an earlier `.` after the same receiver in the same scope of the
    # document (`receiver_key`).
    earlier: Names = None
    # The members the document says the receiver has (its class's, read or listed), when they
    # are all known (`StaticAnalyzer._declared_members`).
    declared: Names = None

    def result(self) -> Names:
        # Members already known for this receiver are used at once unless jedi's answer is in
        # too: the same object has the same members, and jedi's answer, asked all the same,
        # serves the next `.` after it.
        if not self.future.done():
            listed = self.module.result() if self.module and self.module.done() else None
            if listed:
                log.debug("static analysis: %d module members, listed ahead", len(listed))
                return listed
            if self.earlier is not None:
                log.debug("static analysis: %d names from an earlier answer", len(self.earlier))
                return self.earlier
            if self.declared is not None:
                log.debug("static analysis: %d members its class declares", len(self.declared))
                return self.declared
        names = self._wait(self.future)
        if names is None and self.module is not None:
            names = self._wait(self.module)
            log.debug("static analysis: %s module members", "no" if names is None else len(names))
        if names is None:  # jedi answered with nothing, or not in time
            names = self.earlier if self.earlier is not None else self.declared
        log.debug("static analysis: %s names", "no" if names is None else len(names))
        return names

    def ready(self) -> bool:
        """Whether `result` answers without waiting."""
        listed = self.module is not None and self.module.done() and bool(self.module.result())
        return (
            self.future.done()
            or listed
            or self.earlier is not None
            or self.declared is not None
            or time.monotonic() >= self.deadline
        )

    def _wait(self, future: Future[Names]) -> Names:
        try:
            return future.result(timeout=max(0.0, self.deadline - time.monotonic()))
        except futures.TimeoutError:  # the builtin TimeoutError only from Python 3.11
            return None
