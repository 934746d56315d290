"""The static-analysis worker: a child process that asks jedi which names exist at a cursor.

jedi is pure Python and can take seconds on a cold import graph, so it runs here, on its own
core and its own GIL, never in the server's process. Protocol: one JSON object per line on
stdin, `{"id", "path", "before", "after", "root", "python"}`; one answer per line on stdout,
`{"id", "names"}` or `{"id", "error"}`. Requests that queued up behind a slow one are answered
`{"id", "skipped": true}` when a newer request for the same file is waiting: only the newest
cursor matters. A request with `"warm": true` asks for no names: it parses the file and the
modules it imports ahead of its first question. It waits while any question is queued, and
for WARM_DELAY_S after it came: a question that follows an edit at once parses the file
itself, and then the warm-up is skipped. The worker exits when stdin closes (the server is
gone).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
import time
from typing import Any

_EOF = None
MAX_MODULES = 300  # parsed modules kept before they are all forgotten (~1 MB each)
WARM_DELAY_S = 0.25  # how long a warm-up waits for a question that would make it needless


def _read_requests(lines: queue.Queue[dict[str, Any] | None]) -> None:
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            continue  # the server only writes JSON; a torn line is not worth dying for
        request["received"] = time.monotonic()
        lines.put(request)
    lines.put(_EOF)


def _newest(pending: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The request to answer now (the oldest file's newest cursor, questions before warm-ups)
    and the superseded ones."""
    questions = [r for r in pending if not r.get("warm")]
    first = (questions or pending)[0]
    same_file = [r for r in pending if r.get("path") == first.get("path")]
    # A warm-up never supersedes a question: the question parses the file anyway.
    newest = [r for r in same_file if not r.get("warm")][-1] if questions else same_file[-1]
    return newest, [r for r in same_file if r is not newest]


class _Jedi:
    def __init__(self) -> None:
        import jedi  # imported here so a missing extra is reported as an answer, not a crash

        self.jedi = jedi
        self.projects: dict[tuple[str | None, str | None], Any] = {}

    def project(self, root: str | None, path: str | None, python: str | None) -> Any:
        if root is None and python is None:
            return None  # jedi finds the file's project itself, with the default Python
        if root is None:  # no workspace folder, but a Python to use: the file's folder
            root = os.path.dirname(path) if path else os.getcwd()
        key = (root, python)
        if key not in self.projects:
            if python:
                self.jedi.create_environment(python)  # a bad path fails here, with its reason
            self.projects[key] = self.jedi.Project(root, environment_path=python or None)
        return self.projects[key]

    def bound_memory(self) -> None:
        """Forget every parsed module once more than MAX_MODULES are kept.

        parso keeps each module jedi parses (the project's files and everything they import)
        for ten minutes at least, so a session that visits a large project grows with every
        file; re-parsing after a clear costs one slow answer.
        """
        import parso.cache

        if sum(len(c) for c in parso.cache.parser_cache.values()) > MAX_MODULES:
            parso.cache.parser_cache.clear()

    def script(self, request: dict[str, Any]) -> Any:
        return self.jedi.Script(
            code=request["before"] + request.get("after", ""),
            path=request.get("path"),
            project=self.project(request.get("root"), request.get("path"), request.get("python")),
        )

    def names(self, request: dict[str, Any]) -> list[str]:
        import parso

        lines = parso.split_lines(request["before"])  # the same line breaks jedi counts
        return [c.name for c in self.script(request).complete(len(lines), len(lines[-1]))]

    def warm(self, request: dict[str, Any]) -> None:
        """Parse the file and the modules it imports: parso keeps them, so the file's first
        question re-parses only what changed (a cold file's first answer took 130-240 ms on
        held-out files; parsed, 5-35 ms)."""
        for name in self.script(request).get_names():
            if name.type == "module":  # `import x` and `from x import y` alike
                name.infer()


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
    try:
        analyzer = _Jedi()
    except ImportError as e:
        _answer({"id": None, "error": f"jedi is not installed ({e})"})
        return 1
    _answer({"id": None, "ready": True})
    # jedi's first question loads the builtins' stubs (~0.3 s here): do it before anyone asks.
    analyzer.warm({"path": None, "before": "import builtins\n"})
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
    threading.Thread(target=_read_requests, args=(lines,), daemon=True).start()
    pending: list[dict[str, Any]] = []
    while True:
        if not pending:
            pending.append(lines.get())
        while not lines.empty():
            pending.append(lines.get_nowait())
        if _EOF in pending:
            return 0
        request, superseded = _newest(pending)
        if request.get("warm"):
            delay = request.get("received", 0.0) + WARM_DELAY_S - time.monotonic()
            if delay > 0:
                with contextlib.suppress(queue.Empty):
                    pending.append(lines.get(timeout=delay))
                continue
        for old in superseded:
            _answer({"id": old.get("id"), "skipped": True})
        pending = [r for r in pending if r.get("path") != request.get("path")]
        try:
            if request.get("warm"):
                analyzer.warm(request)
                _answer({"id": request.get("id"), "names": None})
            else:
                _answer({"id": request.get("id"), "names": analyzer.names(request)})
            analyzer.bound_memory()
        except analyzer.jedi.InvalidPythonEnvironment as e:  # the setting, not the code
            _answer({"id": request.get("id"), "error": str(e), "environment": True})
        except Exception as e:  # jedi has many failure modes on half-typed code; none is fatal
            _answer({"id": request.get("id"), "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    sys.exit(main())
