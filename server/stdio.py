"""The LSP stream on stdin and stdout, read by the event loop itself.

pygls reads stdin on a thread pool: each header line and each body is handed to a thread and
back, three hand-offs a message, each a wake-up of a thread and of the loop, which on two
cores busy with the model and jedi is a wait for a core. Where stdin is a pipe or a socket
(an editor's child process), the event loop watches it (`connect_read_pipe`) and pygls's own
message loop (`pygls.io_.run_async`) reads it as an `asyncio.StreamReader`: the same frames,
the same handlers, no hand-offs. Anything else (a file, a terminal, stdin and stdout one
socket, which a non-blocking read end would make non-blocking for writes too, or Windows) is
read as pygls reads it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from threading import Event
from typing import BinaryIO

from pygls.io_ import StdoutWriter, run_async
from pygls.server import JsonRPCServer

log = logging.getLogger("grucomplete.server")

# The stream's buffer: a header line longer than this is skipped, a longer body is read in
# several pieces (a pasted 5 MB file is still one frame).
READ_BUFFER = 1 << 20


def watchable(stdin: BinaryIO, stdout: BinaryIO) -> bool:
    """Whether the event loop can read `stdin` itself: a pipe or a socket of its own, on a
    POSIX system (Windows' loops read pipes their own way)."""
    if os.name != "posix":
        return False
    try:
        given, taken = os.fstat(stdin.fileno()), os.fstat(stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (a test's stream)
        return False
    if not (stat.S_ISFIFO(given.st_mode) or stat.S_ISSOCK(given.st_mode)):
        return False
    return (given.st_dev, given.st_ino) != (taken.st_dev, taken.st_ino)


class _PipeReader:
    """A `StreamReader` read as pygls reads its own thread's stream: at the end a body comes
    back short (its JSON then fails to parse, as pygls reports), and a header line longer
    than the buffer is skipped rather than raised out of the loop."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream

    async def readline(self) -> bytes:
        try:
            return await self.stream.readline()
        except ValueError:  # no line break within READ_BUFFER bytes: not a header we know
            return b"?\r\n"

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self.stream.readexactly(n)
        except asyncio.IncompleteReadError as end:
            return end.partial


def serve(server: JsonRPCServer, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Run `server` on `stdin` and `stdout` until the stream ends or `exit` (what pygls's
    `start_io` does, reading on the loop)."""
    server._stop_event = stop = Event()  # what pygls's `shutdown` sets
    server.protocol.set_writer(StdoutWriter(stdout))

    async def read_messages() -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READ_BUFFER)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
        messages = _PipeReader(reader)
        frames = logging.getLogger("pygls.server")  # its debug lines stay pygls's
        await run_async(stop, messages, server.protocol, frames, server.report_server_error)

    try:
        asyncio.run(read_messages())
    except BrokenPipeError:
        log.error("the connection to the client is lost: shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()
