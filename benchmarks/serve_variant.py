"""`grucomplete serve` with one of its internals changed, for an A/B run under the gauge.

    python benchmarks/serve_variant.py [--no-read-beside] [--quiet-pygls] [--switch-interval S]
        [--worker-nice N] [--spare-core-always] [-- SERVE ARGS]
    lsp_eval.py --server "python benchmarks/serve_variant.py --no-read-beside" ...

`--no-read-beside`: the next window is not read on the spare core while a request decodes
(`PreparedWindows.read_beside`); a moved window is read by the request that moves it.
`--quiet-pygls`: pygls's own log lines (every message, at debug) left out of `-v`'s log, so
that the log's timings (`benchmarks/request_work.py`) are not the log's own cost.
`--switch-interval S`: Python's GIL switch interval (`sys.setswitchinterval`, 0.005 s by
default), how long a thread running Python keeps the model's worker waiting for the GIL.
`--worker-nice N`: jedi's worker process runs at nice N (POSIX), so that the model's threads
take the cores first when both want them.
`--spare-core-always`: a long read takes both cores even while jedi works (the worker is never
`busy`), and the next window is read beside a request then too.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys

from grucomplete.model.engine import CompletionEngine
from grucomplete.server.worker_connection import WorkerConnection
from grucomplete.training.cli import main as grucomplete


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-read-beside", action="store_true")
    parser.add_argument("--quiet-pygls", action="store_true")
    parser.add_argument("--switch-interval", type=float, default=None)
    parser.add_argument("--worker-nice", type=int, default=None)
    parser.add_argument("--spare-core-always", action="store_true")
    parser.add_argument("serve_args", nargs="*", help="after `--`: the arguments of `serve`")
    args = parser.parse_args(argv)
    if args.quiet_pygls:
        logging.getLogger("pygls").setLevel(logging.WARNING)  # `-v` sets only the root's level
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    if args.no_read_beside:
        load = CompletionEngine.__init__

        def without_beside(self: CompletionEngine, *a: object, **k: object) -> None:
            load(self, *a, **k)
            self.beside = None

        CompletionEngine.__init__ = without_beside
    if args.worker_nice is not None:
        start = WorkerConnection._ensure_process
        nice = args.worker_nice

        def niced(self: WorkerConnection) -> subprocess.Popen[str] | None:
            fresh = self._process is None or self._process.poll() is not None
            process = start(self)
            if process is not None and fresh:
                os.setpriority(os.PRIO_PROCESS, process.pid, nice)
            return process

        WorkerConnection._ensure_process = niced
    if args.spare_core_always:
        WorkerConnection.busy = property(lambda self: False)
    return grucomplete(["serve", *args.serve_args])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
