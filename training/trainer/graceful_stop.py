"""Graceful stop on SIGINT/SIGTERM: the signal only sets a flag; training stops between steps.

A step is never cut in half, so the resume state written after the last one continues the run
exactly. The same signal a second time means "stop now": it raises KeyboardInterrupt, as
Python's default SIGINT handler would, and the previous resume state stays as it was. A
different second signal is ignored: on Ctrl-C under torchrun each worker gets the terminal's
SIGINT and then the SIGTERM torchrun forwards, and neither should cut the save short.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger("grucomplete.training")

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Whether training should stop at the next step boundary, and which signal asked for it.

    The trainer asks `should_stop(step)` before every step; a subclass can stop at a chosen
    step (tests cut a run in two that way).
    """

    def __init__(self) -> None:
        self.signum: int | None = None

    def request(self, signum: int) -> None:
        self.signum = signum

    def should_stop(self, step: int) -> bool:
        return self.signum is not None

    @property
    def reason(self) -> str:
        """The signal's name ("SIGINT", "SIGTERM"), or "stopped" when no signal asked."""
        return signal.Signals(self.signum).name if self.signum is not None else "stopped"

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum if self.signum is not None else 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            if signum == self.signum:
                raise KeyboardInterrupt  # asked twice: the user does not want to wait
            return
        self.request(signum)
        log.warning(
            "%s received: stopping after this step and saving (repeat it to abort)",
            signal.Signals(signum).name,
        )

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to `request` inside the block; restore the old handlers.

        Only the main thread may install handlers; elsewhere the block changes nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.getsignal(s) for s in HANDLED}
        for s in HANDLED:
            signal.signal(s, self._handle)
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
