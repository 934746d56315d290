"""The workspace memory's cost per request: memory on and off alternating in one process.

The memory is built first (from the store when there is one), then the same positions of one
file are completed with `workspaceMemory` at the weight and at 0, in alternating order, 0.6 s
apart (the builder waits after each request), through `CompletionService.complete` on its
worker thread. Wall time and the worker thread's CPU time are printed per configuration: on
a shared machine the CPU time is the one to compare.

    python benchmarks/memory_latency_ab.py .work/team/toolz-1.2.0/project \
        toolz/tests/test_functoolz.py 0.35 [--positions 40] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from grucomplete.server.completion_service import CompletionService
    from grucomplete.server.options import ServerOptions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("file", help="relative to root: the document completed in")
    parser.add_argument("weight", type=float)
    parser.add_argument("--positions", type=int, default=40)
    parser.add_argument("--profile", action="store_true", help="cProfile the requests with it")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    held = root / args.file
    on = ServerOptions(static_analysis=False, workspace_memory=args.weight, latency_budget_ms=1000)
    off = replace(on, workspace_memory=0.0)
    service = CompletionService(on)
    service.workspace_root = root
    service.load_model().result()
    uri, text = held.as_uri(), held.read_text()
    service.opened(uri, "").result()
    service.start_workspace_memory()
    assert service.workspace_memory is not None
    service.workspace_memory.builder.ready.wait(600)
    time.sleep(1)
    cuts = [i for i in range(200, len(text), 97) if text[i - 1] in " .(\n"][: args.positions]
    profile = cProfile.Profile()
    results: dict[str, tuple[list[float], list[float]]] = {"off": ([], []), "on": ([], [])}
    for n, cut in enumerate(cuts):
        order = [("off", off), ("on", on)] if n % 2 else [("on", on), ("off", off)]
        for label, options in order:
            service.options = options

            def job(label: str = label, cut: int = cut) -> float:
                started = time.thread_time()
                if args.profile and label == "on":
                    profile.enable()
                service.complete(uri, text[:cut])
                if args.profile and label == "on":
                    profile.disable()
                return (time.thread_time() - started) * 1000

            started = time.perf_counter()
            cpu = service.executor.submit(job).result()
            results[label][0].append((time.perf_counter() - started) * 1000)
            results[label][1].append(cpu)
            time.sleep(0.6)
    for label, (wall, cpu) in results.items():
        print(
            f"{label}: wall p50 {statistics.median(wall):.0f} mean {statistics.mean(wall):.0f} ms"
            f" | worker CPU p50 {statistics.median(cpu):.1f} mean {statistics.mean(cpu):.1f} ms"
        )
    if args.profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    service.shutdown()
    os._exit(0)  # the builder and the model worker are daemon threads


if __name__ == "__main__":
    sys.exit(main())
