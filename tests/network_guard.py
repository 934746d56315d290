"""A network guard for subprocess tests: any socket use in the child process fails and is logged.

`guarded_env(directory)` writes a sitecustomize.py into `directory` and returns an environment
that puts it first on PYTHONPATH. Python imports it at startup, and its audit hook (PEP 578)
sees every connect, name lookup, bind and datagram send the child makes from Python. Each is
written to the log and then refused with an exception, so an attempt is caught even when the
code that made it swallows the error. The log's first line says the guard was armed, which
shows that the child really ran under it.

Audit hooks see what Python code does, not the sockets C++ or Rust code opens by itself. That
is enough to show that training and serving make no Python-level connection, which is what
urllib, requests, huggingface_hub and a default `torch.hub` download all go through.
"""

from __future__ import annotations

import os
from pathlib import Path

LOG_VARIABLE = "GRUCOMPLETE_NETWORK_GUARD_LOG"
ARMED = "armed"
BLOCKED_EVENTS = (
    "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
    "socket.getnameinfo", "socket.bind", "socket.sendto", "socket.sendmsg", "urllib.Request",
)  # fmt: skip

_SITECUSTOMIZE = f'''\
"""Written by tests/network_guard.py: refuse and log every network call this process makes."""
import os
import sys

_LOG = os.environ[{LOG_VARIABLE!r}]
_BLOCKED = frozenset({BLOCKED_EVENTS!r})


def _record(line):
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(line + "\\n")


def _guard(event, args):
    if event in _BLOCKED:
        _record(f"{{event}} {{args[1:]!r}} in pid {{os.getpid()}}")
        raise ConnectionRefusedError(f"network guard: {{event}} is not allowed in this test")


_record(f"{ARMED} {{os.getpid()}} {{sys.orig_argv!r}}")
sys.addaudithook(_guard)
'''


def guarded_env(directory: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose Python processes log and refuse network calls (log: directory/log)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    env = dict(os.environ if base is None else base)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(directory) + (os.pathsep + path if path else "")
    env[LOG_VARIABLE] = str(directory / "network.log")
    return env


def attempts(env: dict[str, str]) -> list[str]:
    """The network calls the guarded processes tried; fails if none of them was guarded."""
    log = Path(env[LOG_VARIABLE])
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    if not any(line.startswith(ARMED) for line in lines):
        raise AssertionError(f"the network guard never ran (no {ARMED!r} line in {log})")
    return [line for line in lines if not line.startswith(ARMED)]
