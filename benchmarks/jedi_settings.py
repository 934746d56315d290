"""How long jedi takes at the gauge's member positions with its defaults, with the worker's
settings, and as the worker asks it (its settings and each package's import root), and
whether its answers differ (issues 14, 15).

    python benchmarks/jedi_settings.py GAUGE.json [--corpus .work/heldout] [--wait-ms 40]

Replays the `.` positions of an `lsp_eval --json` record file in the gauge's order (the text
before each dot, its file's path, the corpus as the project), once in a fresh process per
configuration, so none inherits another's caches. Prints the percentiles of jedi's time, how
many answers came within the server's default wait, how many name anything, and at how many
positions the answers differ from the defaults'.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONFIGURATIONS = ("defaults", "settings", "worker")


def replay(gauge_json: Path, corpus: Path, configuration: str) -> list[tuple[float, list[str]]]:
    """jedi's time (ms) and answer at each member position, in this process."""
    import jedi
    import parso

    from grucomplete.server.static_worker import _Jedi, configure

    worker = _Jedi() if configuration == "worker" else None  # configures jedi itself
    if configuration == "settings":
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
            if worker is not None:
                request = {"before": at_dot, "path": str(path), "root": str(corpus)}
                names = sorted(worker.names(request))
            else:
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
    parser.add_argument("--child", choices=CONFIGURATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        rows = replay(args.gauge_json, args.corpus, args.child)
        print(json.dumps(rows))
        return 0
    results = {}
    for name in CONFIGURATIONS:
        command = [sys.executable, __file__, str(args.gauge_json), "--corpus", str(args.corpus)]
        out = subprocess.run([*command, "--child", name], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(out.stderr)
        results[name] = json.loads(out.stdout)
    print("jedi | positions | p25 / p50 / p75 / p90 ms | within the wait | answered | differ")
    for name, rows in results.items():
        ms = [r[0] for r in rows]
        q = statistics.quantiles(ms, n=20) if len(ms) > 1 else ms * 19
        within = sum(m <= args.wait_ms for m in ms)
        answered = sum(bool(r[1]) for r in rows)
        differ = sum(a[1] != b[1] for a, b in zip(results["defaults"], rows, strict=True))
        print(
            f"{name} | {len(rows)} | {q[4]:.1f} / {q[9]:.1f} / {q[14]:.1f} / {q[17]:.1f} | "
            f"{within} | {answered} | {differ}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
