"""A fuzz target for the server's JSON-RPC surface: random methods and param shapes.

Each example is a short burst of requests and notifications, with LSP method names, made-up
ones and near misses, and params of any JSON shape, some built around the real types (a
position whose fields are strings or huge numbers, a text document that is a list). The
property: every request gets exactly one answer, a result or an error, and the server lives.

`tests/test_server_robustness.py` runs a bounded number of examples (GRUCOMPLETE_FUZZ_EXAMPLES,
default 50). For a longer run against any model:

    GRUCOMPLETE_FUZZ_EXAMPLES=5000 python -m tests.fuzz_jsonrpc --model default
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from hypothesis import strategies as st

from .raw_lsp import RawServer

FUZZ_EXAMPLES = int(os.environ.get("GRUCOMPLETE_FUZZ_EXAMPLES", "50"))

# Requests the fuzzer may send. Left out on purpose: initialize (resets the workspace),
# shutdown and exit (end the session; tested on their own).
REQUESTS = [
    "textDocument/completion",
    "textDocument/inlineCompletion",
    "completionItem/resolve",
    "textDocument/hover",
    "textDocument/definition",
    "workspace/executeCommand",
    "workspace/symbol",
    "$/unknownRequest",
    "textdocument/completion",  # a near miss: methods are case-sensitive
]
NOTIFICATIONS = [
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didClose",
    "textDocument/didSave",
    "workspace/didChangeConfiguration",
    "$/cancelRequest",
    "$/setTrace",
    "initialized",
    "$/unknownNotification",
]

URIS = st.sampled_from(
    ["file:///tmp/grucomplete-robust/main.py", "file:///tmp/fuzz.py", "untitled:1", "", "\x00"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
NUMBERS = st.integers(min_value=-5, max_value=2**53) | st.sampled_from(
    [0, 1, 5, 14, 2**31 - 1, 2**31]
)
POSITION = st.fixed_dictionaries({"line": NUMBERS | JSON, "character": NUMBERS | JSON})
LSP_LIKE = st.fixed_dictionaries(
    {
        "textDocument": st.fixed_dictionaries(
            {"uri": URIS | JSON},
            optional={"text": st.text(max_size=200), "version": NUMBERS, "languageId": JSON},
        )
        | JSON,
        "position": POSITION | JSON,
    },
    optional={
        "contentChanges": st.lists(
            st.fixed_dictionaries(
                {"text": st.text(max_size=50)},
                optional={"range": st.fixed_dictionaries({"start": POSITION, "end": POSITION})},
            ),
            max_size=3,
        )
        | JSON,
        "context": JSON,
        "settings": st.fixed_dictionaries({"grucomplete": JSON}) | JSON,
        "id": JSON,
    },
)
PARAMS = st.one_of(st.just("<omitted>"), LSP_LIKE, JSON)


def _harmless(method: str) -> bool:
    return method not in ("initialize", "shutdown", "exit")


@st.composite
def fuzz_messages(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A burst of 1 to 5 messages; requests have ids, notifications none."""
    messages = []
    for _ in range(draw(st.integers(1, 5))):
        is_request = draw(st.booleans())
        names = REQUESTS if is_request else NOTIFICATIONS
        method = draw(st.sampled_from(names) | st.text(min_size=1, max_size=30).filter(_harmless))
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        params = draw(PARAMS)
        if params != "<omitted>":
            message["params"] = params
        if is_request:
            message["id"] = draw(st.integers(10**6, 10**9) | st.text(min_size=1, max_size=12))
        messages.append(message)
    return messages


def check_answered(
    server: RawServer, messages: list[dict[str, Any]], timeout: float = 10.0
) -> None:
    """Send `messages`; every request must be answered once, with a result or an error."""
    requests = []
    for message in messages:
        if "id" in message:
            # Ids unique per run, whatever hypothesis drew: keep the drawn type.
            unique = server.new_id()
            drawn = message["id"]
            message = {**message, "id": f"{drawn}#{unique}" if isinstance(drawn, str) else unique}
            requests.append(message["id"])
        server.send(message)
    for msg_id in requests:
        reply = server.wait(msg_id, timeout)
        assert ("result" in reply) != ("error" in reply), reply
        if "error" in reply:
            assert isinstance(reply["error"].get("code"), int), reply
    assert server.proc.poll() is None, "the server died"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="checkpoint directory or 'default'")
    parser.add_argument("--examples", type=int, default=FUZZ_EXAMPLES)
    args = parser.parse_args(argv)

    from hypothesis import HealthCheck, given, settings

    server = RawServer()
    server.initialize(args.model, precision="int8")
    began = time.monotonic()

    @settings(
        max_examples=args.examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(messages=fuzz_messages())
    def fuzz(messages: list[dict[str, Any]]) -> None:
        check_answered(server, messages)

    try:
        fuzz()
    finally:
        server.close()
    print(f"{args.examples} examples answered in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
