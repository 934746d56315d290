"""What reading a receiver's declared members costs the event loop (issue 15, Round 12).

    python benchmarks/declared_members_cost.py .work/heldout [--files 150] [--cuts 20]

Cuts each of `--files` Python files of a corpus at `--cuts` random places, appends a receiver
(`self.`, `self.name.`, `name.`, `Class.`) and times, per receiver, the scan the server runs
at that `.` (`class_members.self_members`, `class_members.attribute_type`,
`receiver_types.declared_type` or `class_members.element_type` with
`class_members.instance_members`, `class_members.class_object_members`), and per cut the scan
each edit runs (`class_members.imported_bases`), per file the first read of each class it
imports by name from the project's source (`source_classes.SourceClasses`, modules not yet
read), and after names the file binds to a call's result (`x = f(...)`, `with A() as x`) the
typing of that result from the callee's source (`call_types.CallTypes`, modules not yet
read), and after a name's attribute (`title.plain.`) the typing of its value from the
class's source (the same), and per file the listing of each module it imports from the
project's source while the worker is busy (`SourceClasses.module_names`): the median and
the slowest (each the fastest of 3 runs, so that the machine's noise does not count), and
the file of the slowest. Every scan must return without raising, whatever the cut:
half-typed code is what it reads.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from grucomplete.server import receiver_types
from grucomplete.server.call_types import CallTypes
from grucomplete.server.class_members import (
    attribute_type,
    class_object_members,
    element_type,
    imported_bases,
    instance_members,
    self_members,
)
from grucomplete.server.receiver_types import declared_type
from grucomplete.server.source_classes import SourceClasses

RECEIVERS = {
    "self.": lambda before, after: self_members(before, after),
    "self.name.": lambda before, after: attribute_type(before, after),
    "name.": lambda before, after: (
        instance_members(before + after, found)
        if (found := declared_type(before) or element_type(before, after))
        else None
    ),
    "Class.": lambda before, after: class_object_members(before + after, "Class"),
}
IMPORTED = "an imported class"
CALLED = "a call's result"
ATTRIBUTE = "an attribute's value"
MODULE = "a module's names"
_IMPORTED_CLASS = re.compile(r"^from[ \t]+[\w.]+[ \t]+import[ \t]+([A-Z]\w*)", re.MULTILINE)
_IMPORTED_MODULE = re.compile(r"^import[ \t]+([\w.]+)[ \t]*$", re.MULTILINE)
# A statement binding a name to a call (`x = f(`, `with f(...) as x:`), up to the line's end.
_BOUND_TO_CALL = re.compile(
    r"^([ \t]*)(?:(\w+)[ \t]*=[ \t]*[\w.]+\(|(?:async[ \t]+)?with[ \t].*\bas[ \t]+(\w+):).*$",
    re.MULTILINE,
)
_NAME_ATTRIBUTE = re.compile(r"(?<![\w.])(?!self\.)[a-z_]\w*\.[a-z_]\w*\b(?![.(])")


def read_class(path: str, text: str, name: str) -> object:
    """A class the document imports, read from source by a server that has read nothing yet."""
    return SourceClasses().members(path, text, name)


def list_module(path: str, module: str) -> object:
    """A module the document imports, listed from the project's source (none found: nothing)."""
    return SourceClasses().module_names(module, path)


def type_call(path: str, before: str, after: str) -> object:
    """The class of the receiver before the cursor (a name bound to a call, or an attribute),
    by a server that has read nothing yet."""
    return CallTypes(SourceClasses()).receiver(path, before, after)


def fastest_ms(scan: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        receiver_types._binding_scope.cache_clear()  # a question's own cache: each run is cold
        started = time.perf_counter()
        scan()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--files", type=int, default=150)
    parser.add_argument("--cuts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    files = sorted(args.corpus.rglob("*.py"))
    chosen = rng.sample(files, min(args.files, len(files)))
    names = [*RECEIVERS, "an edit", IMPORTED, CALLED, ATTRIBUTE, MODULE]
    times: dict[str, list[tuple[float, str]]] = {name: [] for name in names}
    for path in chosen:
        text = path.read_text(errors="replace")
        for name in _IMPORTED_CLASS.findall(text)[:3]:
            read = partial(read_class, str(path), text, name)
            times[IMPORTED].append((fastest_ms(read), str(path)))
        for module in _IMPORTED_MODULE.findall(text)[:3]:
            listed = partial(list_module, str(path), module)
            times[MODULE].append((fastest_ms(listed), str(path)))
        for bound in list(_BOUND_TO_CALL.finditer(text))[: args.cuts]:
            before = f"{text[: bound.end()]}\n{bound.group(1)}{bound.group(2) or bound.group(3)}."
            call = partial(type_call, str(path), before, text[bound.end() :])
            times[CALLED].append((fastest_ms(call), str(path)))
        for read in list(_NAME_ATTRIBUTE.finditer(text))[: args.cuts]:
            attribute = partial(type_call, str(path), text[: read.end()] + ".", text[read.end() :])
            times[ATTRIBUTE].append((fastest_ms(attribute), str(path)))
        for _ in range(args.cuts if text else 0):
            cut = rng.randrange(len(text))
            for receiver, scan in RECEIVERS.items():
                before = text[:cut] + receiver.replace("name", "x")
                after = text[cut:]
                times[receiver].append((fastest_ms(partial(scan, before, after)), str(path)))
            times["an edit"].append((fastest_ms(partial(imported_bases, text)), str(path)))
    print(f"{len(chosen)} files, {args.cuts} cuts each")
    print("scan | p50 ms | max ms | slowest file")
    for name, measured in times.items():
        if measured:
            slowest = max(measured)
            median = statistics.median(ms for ms, _ in measured)
            print(f"{name} | {median:.2f} | {slowest[0]:.2f} | {slowest[1]}")


if __name__ == "__main__":
    main()
