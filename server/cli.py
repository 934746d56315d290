"""`grucomplete serve`: run the language server over stdio (or TCP, for debugging).

Exit codes follow the LSP spec: 0 after `shutdown` then `exit` (or the client closing the
stream after `shutdown`), 1 when the server stops without a `shutdown` first, 2 for bad flags.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer


class _LogToClient(logging.Handler):
    """Forward our log records to the editor as window/logMessage."""

    def __init__(self, server: LanguageServer) -> None:
        super().__init__()
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        from lsprotocol import types

        levels = {
            logging.ERROR: types.MessageType.Error,
            logging.WARNING: types.MessageType.Warning,
            logging.INFO: types.MessageType.Info,
        }
        kind = levels.get(record.levelno, types.MessageType.Log)
        # Before a client is connected this fails; the log file still has the record.
        with contextlib.suppress(Exception):
            self.server.window_log_message(types.LogMessageParams(kind, self.format(record)))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grucomplete serve", description=__doc__)
    p.add_argument(
        "--tcp",
        metavar="[HOST:]PORT",
        help="listen on TCP instead of stdio (host defaults to 127.0.0.1)",
    )
    p.add_argument(
        "--model",
        help='checkpoint directory, or a bundled model: "default", "fast" (overrides the '
        "editor's setting)",
    )
    p.add_argument("--log-file", help="also write logs to this file")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads inside each model kernel (default 1: batch-1 steps are too small "
        "to share, and spinning threads collapse when the editor also needs the CPU); long "
        "feeds also run each layer on a thread of its own where the process may use more than "
        "one core (`taskset -c 0 grucomplete serve` keeps it to one)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    host, port = "127.0.0.1", None  # never all interfaces unless asked: no auth on the socket
    if args.tcp:
        host_part, _, port_part = args.tcp.rpartition(":")
        if not port_part.isdigit() or int(port_part) > 65535:
            print(f"grucomplete serve: error: bad --tcp {args.tcp!r}", file=sys.stderr)
            return 2
        host, port = host_part.strip("[]") or host, int(port_part)

    from .language_server import server

    server.service.threads = max(1, args.threads)

    level = logging.DEBUG if args.verbose else logging.INFO
    logger = logging.getLogger("grucomplete")
    logger.setLevel(level)
    client_handler = _LogToClient(server)
    client_handler.setLevel(logging.INFO)
    logger.addHandler(client_handler)
    if args.log_file:
        handler = logging.FileHandler(args.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(level)
    if args.model:
        server.defaults.model = args.model
        server.defaults.explicit = frozenset({"model"})  # the fit never swaps it for `fast`
    # pygls' `exit` handler raises SystemExit; over stdio pygls catches it itself.
    with contextlib.suppress(SystemExit, KeyboardInterrupt):
        if port is None:
            server.start_io()
        else:
            server.start_tcp(host, port)
    code = 0 if server.protocol.shutdown_requested else 1
    # Exit now: the model worker may be in the middle of a long prefill that nobody wants,
    # and interpreter shutdown would wait for it (and flush a stdout pygls already closed).
    server.stop_background_work()  # no orphan: adaptation and jedi end with the server
    logging.shutdown()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)
