"""Where each completion's time went, from a server's debug log.

    grucomplete serve -v --log-file LOG     # e.g. as the gauge's --server
    python benchmarks/request_work.py LOG [--last 300] [--top 10] [--gauge RUN.json]

Reads the `complete at ...: read N tokens in X ms, decoded ... in Y ms (static analysis Z ms
of it)` lines the service logs at debug level (requests answered from the last answer read
and decode nothing and are left out) and prints, per kind of decoding (words, words+line,
line), the medians of tokens read, read time, decoding time and static analysis's wait, the
50th/90th/99th percentiles of read + decode, and the slowest requests. With `--gauge`, the
gauge's record of the same run (`lsp_eval.py --json`): per kind of position, the medians of
the latency the gauge saw, of read and decode, and of the rest (the request's way in and out,
its handling on the event loop, its wait for the worker), each request joined to its log
line by document and offset.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

_WORK = re.compile(
    r"complete at (\d+) in (\S+): read (\d+) tokens in ([\d.]+) ms, "
    r"decoded (\S+) in ([\d.]+) ms \(static analysis ([\d.]+) ms"
)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--last", type=int, default=0, help="only the last N requests")
    parser.add_argument("--top", type=int, default=10, help="slowest requests listed")
    parser.add_argument("--gauge", type=Path, help="the gauge's --json record of the run")
    args = parser.parse_args(argv)
    rows = []
    for line in args.log.read_text(errors="replace").splitlines():
        found = _WORK.search(line)
        if found:
            at, uri, tokens, read, decoded, decode, static = found.groups()
            rows.append((int(tokens), float(read), decoded, float(decode), float(static), uri, at))
    rows = rows[-args.last :] if args.last else rows
    if not rows:
        parser.error(f"no completion work in {args.log} (was the server run with -v?)")
    print("decoded | n | tokens read p50 | read ms p50 | decode ms p50 | static ms p50")
    for kind in sorted({r[2] for r in rows}):
        of_kind = [r for r in rows if r[2] == kind]
        medians = [statistics.median(r[i] for r in of_kind) for i in (0, 1, 3, 4)]
        print(f"{kind} | {len(of_kind)} | " + " | ".join(f"{m:.1f}" for m in medians))
    total = [r[1] + r[3] for r in rows]
    print(
        f"read + decode (ms), {len(rows)} requests: p50 {percentile(total, 0.5):.1f}, "
        f"p90 {percentile(total, 0.9):.1f}, p99 {percentile(total, 0.99):.1f}"
    )
    print("slowest: tokens read, read ms, decoded, decode ms, document, offset")
    for r in sorted(rows, key=lambda r: -(r[1] + r[3]))[: args.top]:
        print(f"  {r[0]}, {r[1]:.1f}, {r[2]}, {r[3]:.1f}, {r[5].rsplit('/', 1)[-1]}, {r[6]}")
    if args.gauge is not None:
        print_rest(rows, json.loads(args.gauge.read_text())["queries"])
    return 0


def print_rest(rows: list[tuple], queries: list[dict]) -> None:
    """Per kind of gauge position: latency, read, decode and the rest, medians in ms."""
    at_offset: dict[int, list[tuple]] = {}
    for r in rows:
        at_offset.setdefault(int(r[6]), []).append(r)
    kinds: dict[str, list[tuple[float, float, float]]] = {}
    for query in queries:
        here = at_offset.get(query["offset"], [])
        row = next((r for r in here if r[5].endswith("/" + query["file"])), None)
        if row is not None and query.get("latency_ms") is not None:
            kinds.setdefault(query["kind"], []).append((query["latency_ms"], row[1], row[3]))
    print("gauge kind | n | latency p50 | read p50 | decode p50 | the rest p50")
    for kind, joined in sorted(kinds.items()):
        medians = [statistics.median(j[i] for j in joined) for i in (0, 1, 2)]
        rest = statistics.median(j[0] - j[1] - j[2] for j in joined)
        print(f"{kind} | {len(joined)} | " + " | ".join(f"{m:.1f}" for m in [*medians, rest]))


if __name__ == "__main__":
    raise SystemExit(main())
