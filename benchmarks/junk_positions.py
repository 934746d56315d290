"""Junk measured in-process on the gauge's positions, without the deadline's noise (issue 15).

    python benchmarks/junk_positions.py lines GAUGE.json               # line ES@1 / EM@5
    python benchmarks/junk_positions.py invented GAUGE.json            # INVENTED_NAME_MIN_SHARE
    python benchmarks/junk_positions.py where GAUGE.json       # junk.py's invented, uses/defs
    python benchmarks/junk_positions.py members GAUGE.json     # attributes the receiver lacks
    python benchmarks/junk_positions.py unlisted GAUGE.json    # the same, jedi late, by cut
    python benchmarks/junk_positions.py scope GAUGE.json       # identifier words, index scoped

Reads the positions of an `lsp_eval --json` record file (seed 1 to report, seed 2 to tune:
their files are disjoint) and completes each with a fresh `DocumentSession` and no deadline, so
that two commits compare on decoding alone (run it from a checkout of each: the paired numbers
in docs/benchmarks.md, "Junk", came from aebaa6b's tree beside this one).

`lines`: at line positions, the first item as the server orders it (the best line, unless it is
the best word) and the top 5, scored as the gauge scores them (edit similarity, exact match).
`invented`: at identifier positions, every word the model proposes before invented names are
dropped, its share of the words, and whether it exists (the document before the cursor, the
package's other files, builtins, keywords: what an editor would know while the name is typed);
then, per threshold, how many invented names a use position would keep and how many of them
were the expected name, at uses and at definitions.
`where` and `members` read the gauge's own answers (no model): `junk.py`'s invented items split
by use and definition positions, and after `.` the share of the top 5 items whose name is not
among the members jedi (unhurried, in this process) lists, where it lists any.
`unlisted`: at those positions, the words offered when jedi's list is not in (late, no earlier
answer): for each cut (words below that share of the words offered are left out), the share of
the top 5 the receiver lacks, member top-1 and top-5, and items offered.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import torch

from grucomplete.model import completions as completions_module
from grucomplete.model import session as session_module
from grucomplete.model.code_text import code_names, defines_name
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.engine import CompletionEngine

# The shared gauge sits beside the checkout (../shared/gauge).
GAUGE = Path(__file__).resolve().parents[2] / "shared" / "gauge"
CORPUS = Path(".work/heldout")
_NAME = re.compile(r"[^\W\d]\w*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # junk.py's


def _queries(gauge_json: str, kind: str) -> list[dict]:
    return [q for q in json.loads(Path(gauge_json).read_text())["queries"] if q["kind"] == kind]


def lines(engine: CompletionEngine, gauge_json: str) -> None:
    sys.path.insert(0, str(GAUGE))
    from lsp_eval import edit_sim  # the gauge's own measure

    settings = CompletionSettings(latency_budget_ms=1e6)
    es = em = 0.0
    queries = _queries(gauge_json, "line")
    for q in queries:
        before = (CORPUS / q["file"]).read_text()[: q["offset"]]
        found = session_module.DocumentSession(engine, keep_outputs=True).complete(before, settings)
        typed_line = before[before.rfind("\n") + 1 :].strip()
        best_word = found.words[0].label if found.words else ""
        firsts = []
        if found.lines and (found.typed + found.lines[0].insert).rstrip() != best_word:
            firsts.append(typed_line + found.typed + found.lines[0].insert)
        firsts += [typed_line + w.label for w in found.words]
        firsts = [f.strip() for f in firsts[:5]]
        expected = q["expected"].strip()
        es += edit_sim(firsts[0], expected) if firsts else 0.0
        em += expected in firsts
    print(f"n={len(queries)} ES@1={es / len(queries):.3f} EM@5={em / len(queries):.3f}")


def invented(engine: CompletionEngine, gauge_json: str) -> None:
    seen: list[tuple] = []

    def spy(words, legal, defining):  # keep every word: the threshold is applied below
        seen.append((list(words), legal, defining))
        return words

    completions_module.keep_real_names = spy
    settings = CompletionSettings(latency_budget_ms=1e6)
    packages: dict[str, dict[str, set[str]]] = {}
    records = []
    for q in _queries(gauge_json, "ident"):
        package = q["file"].split("/")[0]
        if package not in packages:
            files = (CORPUS / package).rglob("*.py")
            packages[package] = {
                str(p.relative_to(CORPUS)): code_names(p.read_text(errors="replace")) for p in files
            }
        others = set().union(*(v for k, v in packages[package].items() if k != q["file"]))
        before = (CORPUS / q["file"]).read_text(errors="replace")[: q["offset"]]
        session = session_module.DocumentSession(engine, keep_outputs=True)
        session.workspace_names = others
        seen.clear()
        session.complete(before, settings, lines=False)
        if not seen:
            continue  # after `.`: no names are dropped there
        words, legal, defining = seen[0]
        total = sum(w.probability for w in words) or 1.0
        items = [(w.label, w.probability / total, w.label in legal, w.complete) for w in words]
        records.append((q["expected"], defining, items))
    for defining, title in ((False, "uses"), (True, "definitions")):
        chosen = [r for r in records if r[1] == defining]
        shares = sorted(p for _, _, items in chosen for _, p, legal, _ in items if not legal)
        print(f"{title}: positions={len(chosen)} invented proposed={len(shares)}")
        print(f"largest shares: {[round(s, 2) for s in shares[-5:]]}")
        for threshold in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9):
            kept = hits = n = cut = 0
            for expected, _, items in chosen:
                top = [
                    (w, legal, whole)
                    for w, p, legal, whole in items
                    if legal or (whole and p >= threshold)
                ]
                n += len(top[:5])
                kept += sum(not legal for _, legal, _ in top[:5])
                hits += any(w == expected and not legal for w, legal, _ in top[:5])
            for _, _, items in chosen:  # cut short: dropped at every threshold
                cut += sum(not legal and not whole for _, _, legal, whole in items[:5])
            print(
                f"threshold {threshold}: invented kept {kept}/{n}, of them expected {hits} "
                f"(cut short, never kept: {cut})"
            )


def _listed_members(analyzer: Any, q: dict) -> tuple[str, set[str]]:
    """The text before a gauge position after `.`, and the members jedi (unhurried) lists for
    its receiver: none where jedi fails on the code (the receiver is not known there)."""
    path = (CORPUS / q["file"]).resolve()
    before = path.read_text(errors="replace")[: q["offset"]]
    request = dict(before=before, path=str(path), root=str(CORPUS.resolve()))
    try:
        return before, set(analyzer.names(request))
    except Exception:
        return before, set()


def members(gauge_json: str) -> None:
    """After `.`, the share of the top 5 items that name an attribute the receiver lacks, where
    jedi (unhurried, in this process) lists the receiver's members."""
    from grucomplete.server.static_worker import _Jedi

    analyzer = _Jedi()
    positions = known = items = lacking = 0
    examples = []
    for q in _queries(gauge_json, "member"):
        if q.get("status") != "ok":
            continue
        positions += 1
        names = _listed_members(analyzer, q)[1]
        if not names:
            continue
        known += 1
        for item in q.get("top", [])[:5]:
            head = _NAME.match(item)
            items += 1
            if head is None or head.group() not in names:
                lacking += 1
                examples.append(f"{q['expected']}: {item}")
    print(
        f"member positions={positions} jedi_knows={known} items={items} "
        f"junk_lacking={lacking / max(items, 1):.3f}"
    )
    print("examples:", examples[:25])


def unlisted(engine: CompletionEngine, gauge_json: str) -> None:
    from grucomplete.server.static_worker import _Jedi

    analyzer = _Jedi()
    settings = CompletionSettings(latency_budget_ms=1e6)
    records = []
    for q in _queries(gauge_json, "member"):
        before, names = _listed_members(analyzer, q)
        if not names:
            continue
        session = session_module.DocumentSession(engine, keep_outputs=True)
        found = session.complete(before, settings, lines=False)
        total = sum(w.probability for w in found.words) or 1.0
        words = [(w.label, w.probability / total) for w in found.words]
        records.append((q["expected"], names, words))
    print(f"member positions where jedi lists the receiver's members: {len(records)}")
    for cut in (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3):
        items = lacking = top1 = top5 = 0
        for expected, names, words in records:
            kept = [w for w, p in words if p >= cut][:5]
            items += len(kept)
            lacking += sum(w not in names for w in kept)
            top1 += kept[:1] == [expected]
            top5 += expected in kept
        n = max(len(records), 1)
        print(
            f"cut {cut:.2f}: lacking {lacking / max(items, 1):.3f} of {items} items, "
            f"top-1 {top1 / n:.3f}, top-5 {top5 / n:.3f}, items a position {items / n:.1f}"
        )


def where(gauge_json: str) -> None:
    """`junk.py`'s invented items of a gauge run, split by where the name is: a use, or where a
    name is defined (`defines_name`: a def/class/as name, a parameter, a for-target...)."""
    import builtins
    import keyword

    known = set(keyword.kwlist) | set(dir(builtins))
    package_names: dict[str, set[str]] = {}
    counts = {False: [0, 0], True: [0, 0]}  # defining -> [items, invented]
    examples: dict[bool, list[str]] = {False: [], True: []}
    for q in _queries(gauge_json, "ident"):
        if q.get("status") != "ok":
            continue
        package = q["file"].split("/")[0]
        if package not in package_names:  # junk.py's rule: every identifier of the package
            files = (CORPUS / package).rglob("*.py")
            package_names[package] = {
                n for p in files for n in _IDENTIFIER.findall(p.read_text(errors="replace"))
            }
        before = (CORPUS / q["file"]).read_text(errors="replace")[: q["offset"]]
        defining = defines_name(before[before.rfind("\n") + 1 :])
        for item in q.get("top", [])[:5]:
            head = _IDENTIFIER.match(item)
            if head is None:
                continue
            counts[defining][0] += 1
            if head.group() not in package_names[package] and head.group() not in known:
                counts[defining][1] += 1
                examples[defining].append(f"{q['expected']}: {item}")
    for defining, title in ((False, "uses"), (True, "definitions")):
        items, invented = counts[defining]
        print(f"{title}: invented {invented}/{items} = {invented / max(items, 1):.3f}")
        print("  examples:", examples[defining][:20])


def scope(engine: CompletionEngine, gauge_json: str) -> None:
    """Identifier words with the server's workspace index of the whole corpus folder against
    the same index scoped to the document's project (`WorkspaceNames.for_document`)."""
    from grucomplete.server.workspace_names import WorkspaceNames

    root = CORPUS.resolve()
    index = WorkspaceNames(root, debounce_s=0.0)
    index.start()
    index.wait_idle(300)
    settings = CompletionSettings(latency_budget_ms=1e6)
    queries = _queries(gauge_json, "ident")
    found = {"whole folder": [0, 0, 0], "project only": [0, 0, 0]}  # top-1, top-5, items
    for q in queries:
        path = root / q["file"]
        before = path.read_text(errors="replace")[: q["offset"]]
        for mode, tally in found.items():
            session = session_module.DocumentSession(engine, keep_outputs=True)
            session.workspace_names = index if mode == "whole folder" else index.for_document(path)
            words = [w.label for w in session.complete(before, settings, lines=False).words][:5]
            tally[0] += bool(words) and words[0] == q["expected"]
            tally[1] += q["expected"] in words
            tally[2] += len(words)
    index.stop()
    for mode, (top1, top5, items) in found.items():
        n = len(queries)
        print(f"{mode}: top1={top1 / n:.3f} top5={top5 / n:.3f} items={items} n={n}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "measure", choices=("lines", "invented", "members", "unlisted", "where", "scope")
    )
    p.add_argument("gauge_json")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.measure in ("members", "where"):
        (members if args.measure == "members" else where)(args.gauge_json)
        return
    engine = CompletionEngine.load()
    measures = dict(lines=lines, invented=invented, unlisted=unlisted, scope=scope)
    measures[args.measure](engine, args.gauge_json)


if __name__ == "__main__":
    main()
