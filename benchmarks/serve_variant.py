"""`grucomplete serve` with one of its internals changed, for an A/B run under the gauge.

    python benchmarks/serve_variant.py [--no-read-beside] [--quiet-pygls] [--switch-interval S]
        [-- SERVE ARGS]
    lsp_eval.py --server "python benchmarks/serve_variant.py --no-read-beside" ...

`--no-read-beside`: the next window is not read on the spare core while a request decodes
(`PreparedWindows.read_beside`); a moved window is read by the request that moves it.
`--quiet-pygls`: pygls's own log lines (every message, at debug) left out of `-v`'s log, so
that the log's timings (`benchmarks/request_work.py`) are not the log's own cost.
`--switch-interval S`: Python's GIL switch interval (`sys.setswitchinterval`, 0.005 s by
default), how long a thread running Python keeps the model's worker waiting for the GIL.
"""

from __future__ import annotations

import argparse
import logging
import sys

from grucomplete.model.engine import CompletionEngine
from grucomplete.training.cli import main as grucomplete


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-read-beside", action="store_true")
    parser.add_argument("--quiet-pygls", action="store_true")
    parser.add_argument("--switch-interval", type=float, default=None)
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
    return grucomplete(["serve", *args.serve_args])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
