"""When a decoder must stop early: a deadline and a cancel flag, checked between model steps."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class Interrupt:
    """When to give up and return what was found: a monotonic deadline and/or a cancel flag."""

    deadline: float | None = None
    cancel: threading.Event | None = None

    @classmethod
    def after_ms(cls, ms: float | None, cancel: threading.Event | None = None) -> Interrupt:
        return cls(None if ms is None else time.monotonic() + ms / 1000, cancel)

    def fired(self) -> bool:
        if self.cancel is not None and self.cancel.is_set():
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline
