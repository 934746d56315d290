"""How long jedi takes at the gauge's member positions, as the worker configures it and with
jedi's defaults, and whether its answers differ (issues 14, 15).

    python benchmarks/jedi_settings.py GAUGE.json [--corpus .work/heldout] [--wait-ms 40]

Replays the `.` positions of an `lsp_eval --json` record file in the gauge's order (the text
before each dot, its file's path, the corpus as the project), once in a fresh process per
configuration, so neither inherits the other's caches. Prints the percentiles of jedi's time,
how many answers came within the server's default wait, and at how many positions the two
configurations' answers differ.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def replay(gauge_json: Path, corpus: Path, configured: bool) -> list[tuple[float, list[str]]]:
    """jedi's time (ms) and answer at each member position, in this process."""
    import jedi
    import parso

    from grucomplete.server.static_worker import configure

    if configured:
        configure(jedi)
    corpus = corpus.resolve()  # as the server names its workspace folder
    project = jedi.Project(corpus)
    jedi.Script("import builtins\n").get_names()  # the stubs load once, as the worker does
    rows = []
    for q in json.loads(gauge_json.read_text())["queries"]:
        if q["kind"] != "member" or q.get("status") != "ok":
            continue
        path = corpus / q["file"]
        text = path.read_text(errors="replace")[: q["offset"]]
        at_dot = text[: len(text) - len(q.get("prefix", ""))]
        lines = parso.split_lines(at_dot)
        started = time.perf_counter()
        try:
            script = jedi.Script(at_dot, path=path, project=project)
            names = sorted(c.name for c in script.complete(len(lines), len(lines[-1])))
        except Exception:  # jedi fails on some half-typed code, as in the worker
            names = []
        rows.append(((time.perf_counter() - started) * 1000, names))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gauge_json", type=Path)
    parser.add_argument("--corpus", type=Path, default=Path(".work/heldout"))
    parser.add_argument("--wait-ms", type=float, default=40.0, help="the server's staticWaitMs")
    parser.add_argument("--child", choices=["configured", "defaults"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        rows = replay(args.gauge_json, args.corpus, args.child == "configured")
        print(json.dumps(rows))
        return 0
    results = {}
    for name in ("defaults", "configured"):
        command = [sys.executable, __file__, str(args.gauge_json), "--corpus", str(args.corpus)]
        out = subprocess.run([*command, "--child", name], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(out.stderr)
        results[name] = json.loads(out.stdout)
    print("jedi | positions | p25 / p50 / p75 / p90 ms | within the wait | answered")
    for name, rows in results.items():
        ms = [r[0] for r in rows]
        q = statistics.quantiles(ms, n=20) if len(ms) > 1 else ms * 19
        within = sum(m <= args.wait_ms for m in ms)
        answered = sum(bool(r[1]) for r in rows)
        print(
            f"{name} | {len(rows)} | {q[4]:.1f} / {q[9]:.1f} / {q[14]:.1f} / {q[17]:.1f} | "
            f"{within} | {answered}"
        )
    pairs = zip(results["defaults"], results["configured"], strict=True)
    differ = sum(a[1] != b[1] for a, b in pairs)
    print(f"positions where the answers differ: {differ}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
