"""Static analysis for completion: which names exist at the cursor, from a jedi worker process.

The model ranks well but invents attributes; jedi knows the members of a receiver's type and
the names in scope but ranks them alphabetically. `StaticAnalyzer` asks jedi (in
`static_worker`, a child process, so its pure-Python work neither blocks the model's thread
nor shares its GIL; `worker_connection` talks to it) and hands back a future: the completion
waits for it only as long as the `staticWaitMs` setting allows, then ranks what it has. jedi
is an optional extra (`pip install 'grucomplete[static]'`): without it the analyzer reports
once and stays off. Where jedi is late, what the document says serves: an earlier answer, a
module's members listed ahead (`module_listing`), the class of `self` or of a plainly
declared name (`class_members`, `receiver_types`) or of a call's result or an attribute's
value where the source says (`call_types`), read from the project's source where the document
imports it (`source_classes`); in an import, the modules in a package's folder.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple

from .call_types import CallTypes
from .class_members import (
    TYPE_MEMBERS,
    DeclaredMembers,
    attribute_type,
    class_object_members,
    element_type,
    imported_bases,
    instance_members,
    property_members,
    self_members,
    super_members,
)
from .document_imports import (
    dotted_receiver,
    import_bindings,
    import_statements,
    imported_module,
    imported_modules,
    imported_package,
    package_of,
    submodules,
)
from .pending_names import PendingNames
from .receiver_types import class_alias, declared_type
from .source_classes import SourceClasses
from .worker_connection import Names, WorkerConnection

log = logging.getLogger("grucomplete.server")

# Documents larger than this are not sent: jedi's time grows with the file, past any wait.
MAX_DOCUMENT_CHARS = 1_000_000
# An answer this many waits late marks its file as one not to wait for. One wait late is
# common (jedi's inference takes 60-70 ms at the median on held-out code, 270 at the 90th
# percentile): not waiting then left the model's words unchecked at most later dots.
LATE_FACTOR = 4
PREFETCHED_MODULES = 30  # modules a document imports whose members are listed ahead
IMPORTS_READ = 50_000  # characters of a document read for its imports on each edit
MAX_LISTED = 10_000  # (document, module) pairs remembered as listed
MAX_RECEIVERS = 512  # jedi answers kept for a later `.` after the same receiver


_SCOPE = re.compile(r"^([ \t]*)(?:async[ \t]+)?(def|class)[ \t]+(\w+)", re.MULTILINE)


def receiver_key(before: str) -> tuple[str, str] | None:
    """What an earlier answer must share to serve a `.` at the end of `before`: the receiver
    (a dotted name) and the scope it is read in, the enclosing class for `self.`/`cls.`, else
    the enclosing function or class (the same name elsewhere may be another object). None
    when the receiver is not a dotted name (a call, a subscript: its value may differ)."""
    receiver = dotted_receiver(before)
    if receiver is None:
        return None
    line_start = before.rfind("\n") + 1
    indent = len(before[line_start:]) - len(before[line_start:].lstrip())
    want_class = receiver.partition(".")[0] in ("self", "cls")
    # The nearest def/class above, less indented than the cursor's line (its enclosing scope).
    scope = ""
    for match in reversed(list(_SCOPE.finditer(before, max(0, len(before) - 20_000)))):
        kind, name = match.group(2), match.group(3)
        if len(match.group(1)) < indent and (kind == "class" or not want_class):
            scope = f"{kind} {name}"
            break
    return receiver, scope


class _Asked(NamedTuple):
    """A question asked, jedi's answer to come, its module's members, its declared ones."""

    question: tuple[str | None, str, str]
    future: Future[Names]
    module: Future[Names] | None
    declared: Names


def _forget_unanswered(kept: dict[Any, Future[Names]], key: Any, done: Future[Names]) -> None:
    if done.result() is None and kept.get(key) is done:
        del kept[key]


class StaticAnalyzer:
    """One jedi worker for one workspace; call `names_at` from one thread (the event loop)."""

    def __init__(self, root: str | None, python: str = "") -> None:
        self.worker = WorkerConnection(root, python)
        self._last: _Asked | None = None
        self._late: dict[str | None, bool] = {}  # file -> its last answer missed the wait
        # (file, `receiver_key`) -> jedi's last answer there, the most recent last.
        self._receivers: OrderedDict[tuple[str | None, tuple[str, str]], list[str]]
        self._receivers = OrderedDict()
        self._listed: set[tuple[str | None, str]] = set()  # (document, module) asked ahead
        # document -> the count of "import" in its head when its `from` imports were last
        # read, and the modules they bind (read again when an import line comes or goes)
        self._from_imported: dict[str | None, tuple[int, frozenset[str]]] = {}
        # (document, a class it imports) -> the members of its instances, asked or known
        self._classes: dict[tuple[str | None, str], Future[Names]] = {}
        # (module, its source in the workspace) -> its members, asked or known
        self._modules: dict[tuple[str, str | None], Future[Names]] = {}
        # Where a module of the workspace's own is (a dotted name, the document's path -> its
        # source file), for a package that is not installed.
        self.locate: Callable[[str, str | None], str | None] | None = None
        self.sources = SourceClasses(lambda: self.locate)
        self.calls = CallTypes(self.sources)
        self._read_bases: set[tuple[str | None, str]] = set()  # (document, base) read from source

    @property
    def disabled(self) -> str | None:
        """Why static analysis is off for good (None while it is on)."""
        return self.worker.disabled

    def status(self) -> dict[str, Any]:
        """Where static analysis stands (`WorkerConnection.status`)."""
        return self.worker.status()

    def start(self) -> None:
        """Start the worker now (it imports jedi in the background), so the first
        completion does not wait for it."""
        self.worker.start()

    def names_at(self, path: str | None, before: str, after: str, wait_s: float) -> PendingNames:
        """The names jedi completes at the end of `before` in a file `before + after`.

        An editor asks twice per keystroke (the popup and the ghost text): the same question
        gets the same pending answer, not a second run of jedi.
        """
        sent = time.monotonic()
        # A file whose last answer came far too late (a huge file jedi re-parses) is not
        # waited for: its answers are still asked for, and used again once one is in time.
        deadline = sent if self._late.get(path) else sent + wait_s
        question = (path, before, after)
        receiver = receiver_key(before)
        earlier = self._receivers.get((path, receiver)) if receiver is not None else None
        last = self._last
        if last is not None and last.question == question:  # the text is read once per question
            if earlier is None and last.declared is None and self._listing(path):
                last = last._replace(declared=self._declared_members(path, before, after))
                self._last = last
            return PendingNames(last.future, deadline, last.module, earlier, last.declared)
        # An earlier answer serves before what the document declares: it lists the inherited.
        declared = self._declared_members(path, before, after) if earlier is None else None
        module = imported_module(before + after, before, package_of(path))
        members = None if module is None else self._module_members(module, path)
        listing = members is not None and not members.done()
        if module is not None and listing and declared is None and earlier is None:
            declared = self.sources.module_names(module, path)  # the worker is busy: read here
        future: Future[Names] = Future()
        future.add_done_callback(lambda done: self._timed(path, done, sent, wait_s))
        if receiver is not None:
            future.add_done_callback(lambda done: self._remember(path, receiver, done))
        self._last = _Asked(question, future, members, declared)
        if len(before) + len(after) > MAX_DOCUMENT_CHARS:
            future.set_result(None)
        else:
            self.worker.send(future, {"path": path, "before": before, "after": after})
        return PendingNames(future, deadline, members, earlier, declared)

    def _declared_members(self, path: str | None, before: str, after: str) -> Names:
        """The members the document says the receiver has, when they are all known now: after
        `self.`, what its class declares and inherits (the bases it imports listed by the
        worker: `list_ahead`), and after `super().` its bases'; a property's at `@name.`; after
        a name or a `self.name` the document declares plainly (`receiver_types`,
        `class_members.attribute_type`), its class's, and likewise a class's own, a call's
        result or an attribute's value (`call_types`); in an import, a package's modules."""
        package = imported_package(before)
        if package is not None:  # `from rich.`: the modules in the package's folder, if found
            file = self.sources.module_file(package, path)
            modules = None if file is None else submodules(file)
            return None if modules is None else sorted(modules)
        text = before + after
        declared = (
            self_members(before, after)
            or super_members(before, after)
            or property_members(before, after)
        )
        if declared is None:
            class_name = (
                declared_type(before)
                or attribute_type(before, after)
                or element_type(before, after)
            )
            declared = instance_members(text, class_name) if class_name else None
        if declared is None:
            declared = self._class_object(path, before, text)
        if declared is None:
            declared = self._call_result(path, before, after)
        if declared is None:
            return None
        names = set(declared.names)
        for imported in declared.imported:
            read = self.sources.members(path, text, imported)
            if read is not None:  # the project's own class: its source says
                names.update(read)
                continue
            listed = self._instance_members(path, imported, text)
            # Every instance has a `__class__`: an answer without one is jedi not knowing the
            # base (`Base = make_base()`), or knowing it badly (`io.RawIOBase`: `__doc__`).
            if not listed.done() or "__class__" not in (listed.result() or ()):
                return None
            names.update(listed.result() or ())
        return sorted(names)

    def _class_object(self, path: str | None, before: str, text: str) -> DeclaredMembers | None:
        """After a class's own name (or a name bound to it), its members: a class the document
        defines, or the project's source where the document imports it (a name the worker would
        have to be asked about is not known to be a class: nothing)."""
        receiver = dotted_receiver(before)
        if receiver is None or not receiver.isidentifier():
            return None
        receiver = class_alias(before) or receiver  # `_Style = Style`: the class itself
        own = class_object_members(text, receiver)
        if own is not None:
            return own
        read = self.sources.members(path, text, receiver, instance=False)
        return None if read is None else DeclaredMembers(read | TYPE_MEMBERS, frozenset())

    def _call_result(self, path: str | None, before: str, after: str) -> DeclaredMembers | None:
        """After a name bound to a call's result, the members of the class its source says the
        call returns (`call_types`)."""
        typed = self.calls.receiver(path, before, after)
        if typed is None:
            return None
        if typed.file is None:  # as the document names it: its own class, or one it imports
            return instance_members(before + after, typed.name)
        members = self.sources.members_in(typed.file, typed.name)
        return None if members is None else DeclaredMembers(members, frozenset())

    def _listing(self, path: str | None) -> bool:
        """Whether the worker is listing a class for the document at `path`."""
        return any(not listed.done() for (at, _), listed in self._classes.items() if at == path)

    def _instance_members(self, path: str | None, name: str, text: str) -> Future[Names]:
        """The members of an instance of class `name` as the document at `path` imports it,
        asked of the worker once per document."""
        return self._ask_once(
            self._classes,
            (path, name),
            lambda: {"path": path, "before": import_statements(text), "members_of": name},
        )

    def _remember(self, path: str | None, receiver: tuple[str, str], done: Future[Names]) -> None:
        names = done.result()
        if names:  # an empty list is jedi not knowing the receiver, not a receiver without members
            self._receivers[(path, receiver)] = names
            self._receivers.move_to_end((path, receiver))
            while len(self._receivers) > MAX_RECEIVERS:
                self._receivers.popitem(last=False)

    def _module_members(self, module: str, path: str | None = None) -> Future[Names]:
        """The members of `module` (as the document at `path` imports it), asked of the worker
        once."""
        source = self.sources.module_file(module, path)
        return self._ask_once(
            self._modules, (module, source), lambda: {"module": module, "file": source}
        )

    def _ask_once(
        self, kept: dict[Any, Future[Names]], key: Any, request: Callable[[], dict[str, Any]]
    ) -> Future[Names]:
        """The worker's answer to `request()`, kept in `kept` under `key` and asked once (a
        worker that died before answering leaves nothing kept, and the next need asks again);
        the request is made only when it is asked (a document's imports are read once)."""
        known = kept.get(key)
        if known is not None:
            return known
        future: Future[Names] = Future()
        future.add_done_callback(lambda done: _forget_unanswered(kept, key, done))
        kept[key] = future
        self.worker.send(future, request())
        return future

    @property
    def busy(self) -> bool:
        """Whether the worker has a question to answer (it is using a core)."""
        return self.worker.busy

    def warm(self, path: str, text: str) -> None:
        """Have the worker parse a document and its imports before its first `.` is typed:
        a cold file's first answer comes long after any wait, a parsed one's within it."""
        if len(text) <= MAX_DOCUMENT_CHARS:
            self.worker.send(Future(), {"path": path, "before": text, "after": "", "warm": True})

    def list_ahead(self, path: str | None, text: str) -> None:
        """Ask for the members of what the document imports and was not asked for yet: its
        modules (and those its `from` imports bind), so that the first `.` after one has them
        (listing a module in the worker took longer than the wait when it was asked at the
        `.`, on a busy machine), and the base classes its classes import, so that `self.` has
        its whole list before jedi has read the class (`class_members`)."""
        self._list_modules(path, text)
        if len(text) <= MAX_DOCUMENT_CHARS:
            self._list_bases(path, text)

    def _list_modules(self, path: str | None, text: str) -> None:
        if len(self._listed) > MAX_LISTED:
            self._listed.clear()
        head = text[:IMPORTS_READ]  # bounded work per keystroke; imports are mostly on top
        bound = {
            m for m in imported_modules(head).values() if all(map(str.isidentifier, m.split(".")))
        }
        modules = sorted(bound | self._imported_submodules(path, head, bound))
        for module in modules[:PREFETCHED_MODULES]:
            if (path, module) not in self._listed:
                self._listed.add((path, module))
                self._module_members(module, path)

    def _imported_submodules(
        self, path: str | None, head: str, modules: set[str]
    ) -> frozenset[str]:
        """The modules the document's `from` imports bind (`from attr import _config`), looked
        for on disk when an import line comes or goes (not at each keystroke: a large head's
        scan costs tenths of a ms, its names' look on disk a few ms)."""
        imports = head.count("import")
        read = self._from_imported.get(path)
        if read is not None and read[0] == imports:
            return read[1]
        if len(self._from_imported) > MAX_LISTED:
            self._from_imported.clear()
        found = frozenset(
            dotted
            for dotted in import_bindings(head, package_of(path)).values()
            # not a top-level name, nor an `import` statement's (a module, listed already)
            if "." in dotted
            and dotted not in modules
            and self.sources.module_file(dotted, path) is not None
        )
        self._from_imported[path] = (imports, found)
        return found

    def _list_bases(self, path: str | None, text: str) -> None:
        if len(self._classes) > MAX_LISTED:
            self._classes.clear()
        if len(self._read_bases) > MAX_LISTED:
            self._read_bases.clear()
        for name in sorted(imported_bases(text))[:PREFETCHED_MODULES]:
            if (path, name) in self._classes or (path, name) in self._read_bases:
                continue  # asked, or read from source: once per document
            if self.sources.members(path, text, name) is not None:
                self._read_bases.add((path, name))
            else:
                self._instance_members(path, name, text)

    def forget(self, path: str) -> None:
        """The document at `path` closed: what was kept for its questions goes (jedi's answer
        after a receiver can hold hundreds of names; a session that visits many files would
        keep them until the bounds)."""
        for key in [key for key in list(self._receivers) if key[0] == path]:
            self._receivers.pop(key, None)
        self._late.pop(path, None)
        self._listed = {(document, module) for document, module in self._listed if document != path}
        self._from_imported.pop(path, None)
        for listed in [listed for listed in self._classes if listed[0] == path]:
            self._classes.pop(listed, None)
        self._read_bases = {read for read in self._read_bases if read[0] != path}

    def _timed(self, path: str | None, done: Future[Names], sent: float, wait_s: float) -> None:
        if done.result() is not None:  # an answer, not a skip, an error or a dead worker
            took = time.monotonic() - sent
            log.debug("static analysis: answered in %.1f ms", took * 1000)
            self._late[path] = took > LATE_FACTOR * wait_s

    def close(self) -> None:
        self.worker.close()
