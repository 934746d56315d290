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

`{"id", "path", "before", "members_of": "Base"}` asks for the members of an instance of
`Base` as the imports in `before` name it (a class the document imports: a base, or what a
name is declared as; see `class_members`). Such questions are never superseded: each class is
asked once.

`{"id", "module": "os.path"}` asks for the names a module has (`{"id", "module", "names"}`,
names null when unknown); `"file"` says where the module's source is when the server found it
in the workspace (a project's own package, not installed). It is answered at once, by the
thread that reads stdin, even while jedi works on a question: after `os.` the names are
known long before jedi has parsed `os`.
How a module is listed without jedi: `module_listing`.
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

from .module_listing import module_members

_EOF = None
MAX_MODULES = 300  # parsed modules kept before they are all forgotten (~1 MB each)
WARM_DELAY_S = 0.25  # how long a warm-up waits for a question that would make it needless
BASES_FILE = "__grucomplete_bases__.py"  # where `members_of` questions are asked (never written)
_write_lock = threading.Lock()


def _read_requests(lines: queue.Queue[dict[str, Any] | None]) -> None:
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            continue  # the server only writes JSON; a torn line is not worth dying for
        if "module" in request:  # answered here and now, not behind jedi's questions
            try:
                file = request.get("file")
                names = module_members(str(request["module"]), file, stdout_lock=_write_lock)
            except BaseException:  # a module's import gone wrong must not stop the reading
                names = None
            _answer({"id": request.get("id"), "module": request["module"], "names": names})
            continue
        request["received"] = time.monotonic()
        lines.put(request)
    lines.put(_EOF)


def _stream(request: dict[str, Any]) -> tuple[Any, Any]:
    """What a newer request must share to supersede this one: its file, and the base class
    it asks about, if any."""
    return request.get("path"), request.get("members_of")


def _newest(pending: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The request to answer now (the oldest stream's newest cursor, questions before
    warm-ups) and the superseded ones. A base class's members are asked on a document's
    edits and take a few tens of ms: they come before its next cursor's question, which
    would keep them waiting for as long as jedi is slower than the typing."""
    questions = [r for r in pending if not r.get("warm")]
    first = (questions or pending)[0]
    same_file = [r for r in pending if _stream(r) == _stream(first)]
    # A warm-up never supersedes a question: the question parses the file anyway.
    newest = [r for r in same_file if not r.get("warm")][-1] if questions else same_file[-1]
    return newest, [r for r in same_file if r is not newest]


def _trust_the_parser_cache() -> None:
    """Make parso's on-disk cache of parsed modules (jedi's, under ~/.cache/jedi) safe to use.

    parso writes each pickle in place, so a worker killed mid-write (the server stops it at
    shutdown) leaves a truncated file, and every later question that loads it fails with
    `EOFError: Ran out of input` until the file is deleted. Here a pickle that cannot be loaded
    is deleted and its module parsed again, and pickles are written to a temporary file that
    replaces the old one only once complete.
    """
    import pickle

    import parso.cache as cache

    load, hashed_path = cache._load_from_file_system, cache._get_hashed_path

    def load_or_forget(hashed_grammar: str, path: str, p_time: float, cache_path: Any = None):
        try:
            return load(hashed_grammar, path, p_time, cache_path=cache_path)
        except Exception:  # EOFError, UnpicklingError, a class parso no longer has, ...
            with contextlib.suppress(OSError):
                os.remove(hashed_path(hashed_grammar, path, cache_path=cache_path))
            return None  # parso parses the module again, and saves it anew

    def save_atomically(hashed_grammar: str, path: str, item: Any, cache_path: Any = None):
        target = hashed_path(hashed_grammar, path, cache_path=cache_path)
        partial = f"{target}.{os.getpid()}.tmp"
        try:
            with open(partial, "wb") as f:
                pickle.dump(item, f, pickle.HIGHEST_PROTOCOL)
            os.replace(partial, target)
        finally:
            with contextlib.suppress(OSError):
                os.remove(partial)

    if getattr(cache._load_from_file_system, "grucomplete", False):
        return  # done already (tests make several workers in one process)
    load_or_forget.grucomplete = True  # type: ignore[attr-defined]
    cache._load_from_file_system = load_or_forget
    cache._save_to_file_system = save_atomically


def import_root(path: str | None) -> str | None:
    """The folder a file's package is imported from: the parent of its outermost package (the
    chain of folders with an `__init__.py` above it); None for a file outside a package.

    jedi names a module by its path under the project's folder, so a package below a folder
    that is not on the import path (a `src/` layout, a monorepo's `services/billing/billing`,
    a workspace holding several projects) got a module name its own imports do not use, and
    its relative imports and the annotations they bring were unknown to jedi."""
    if path is None:
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isfile(os.path.join(folder, "__init__.py")):
        return None
    while os.path.isfile(os.path.join(os.path.dirname(folder), "__init__.py")):
        folder = os.path.dirname(folder)
    return os.path.dirname(folder)


def configure(jedi: Any) -> None:
    """jedi as the worker runs it. An unannotated parameter's type is not looked for in the
    calls of every other module of the project: that search grows with the project and made
    most answers late, while the answers at the gauge's member positions stayed the same
    (`benchmarks/jedi_settings.py`). Calls in the same file are still searched."""
    jedi.settings.dynamic_params_for_other_modules = False


class _Jedi:
    def __init__(self) -> None:
        import jedi  # imported here so a missing extra is reported as an answer, not a crash

        with contextlib.suppress(ImportError, AttributeError):  # a parso without these names
            _trust_the_parser_cache()
        configure(jedi)
        self.jedi = jedi
        self.projects: dict[tuple[str, str | None, str | None], Any] = {}

    def project(self, root: str | None, path: str | None, python: str | None) -> Any:
        imports = import_root(path)
        if root is None and python is None and imports is None:
            return None  # jedi finds the file's project itself, with the default Python
        if root is None:  # no workspace folder: the project jedi would find for the file
            root = str(self.jedi.get_default_project(os.path.dirname(path) if path else None).path)
        key = (root, python, imports)
        if key not in self.projects:
            if python:
                self.jedi.create_environment(python)  # a bad path fails here, with its reason
            self.projects[key] = self.jedi.Project(
                root, environment_path=python or None, added_sys_path=[imports] if imports else []
            )
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

        if request.get("members_of"):
            request = _members_question(request)
        lines = parso.split_lines(request["before"])  # the same line breaks jedi counts
        return [c.name for c in self.script(request).complete(len(lines), len(lines[-1]))]

    def warm(self, request: dict[str, Any]) -> None:
        """Parse the file and the modules it imports: parso keeps them, so the file's first
        question re-parses only what changed (a cold file's first answer took 130-240 ms on
        held-out files; parsed, 5-35 ms)."""
        for name in self.script(request).get_names():
            if name.type == "module":  # `import x` and `from x import y` alike
                name.infer()


def _members_question(request: dict[str, Any]) -> dict[str, Any]:
    """The question `members_of` asks: `Base().` below the document's imports, in a file
    beside the document (its relative imports mean the same) but not the document itself:
    parso keeps one parse per path, and the document's next question re-parses only what
    changed since its last."""
    path = request.get("path")
    beside = os.path.join(os.path.dirname(path), BASES_FILE) if path else None
    code = f"{request['before']}\n{request['members_of']}()."
    return {**request, "path": beside, "before": code, "after": ""}


def _answer(message: dict[str, Any]) -> None:
    with _write_lock:  # the reader thread answers module questions
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def main() -> int:
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
    # Reading starts first: module questions are answered while jedi is still being imported.
    threading.Thread(target=_read_requests, args=(lines,), daemon=True).start()
    try:
        analyzer = _Jedi()
    except ImportError as e:
        _answer({"id": None, "error": f"jedi is not installed ({e})"})
        return 1
    _answer({"id": None, "ready": True})
    # jedi's first question loads the builtins' stubs (~0.3 s here): do it before anyone asks.
    try:
        analyzer.warm({"path": None, "before": "import builtins\n"})
    except Exception as e:  # the questions will fail the same way, and say why
        _answer({"id": None, "warning": f"{type(e).__name__}: {e}"})
    pending: list[dict[str, Any]] = []
    while True:
        arrived: list[dict[str, Any] | None] = [] if pending else [lines.get()]
        while not lines.empty():
            arrived.append(lines.get_nowait())
        if _EOF in arrived:
            return 0
        pending += [r for r in arrived if r is not None]
        request, superseded = _newest(pending)
        if request.get("warm"):
            delay = request.get("received", 0.0) + WARM_DELAY_S - time.monotonic()
            if delay > 0:
                with contextlib.suppress(queue.Empty):
                    if (late := lines.get(timeout=delay)) is _EOF:
                        return 0
                    pending.append(late)
                continue
        for old in superseded:
            _answer({"id": old.get("id"), "skipped": True})
        pending = [r for r in pending if _stream(r) != _stream(request)]
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
