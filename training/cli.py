"""The `grucomplete` command: a thin dispatcher that imports each subcommand's layer lazily.

It lives in `training/`, the top layer: `server` and `training` build on `model`, which
imports neither, and only this dispatcher names the server (lazily, for `serve`). Subcommands
are named by module path only, so `grucomplete complete` and `grucomplete serve` never import
training code. Each module exposes `main(argv) -> int`.
"""

from __future__ import annotations

import importlib
import sys

from grucomplete.model import package_version

SUBCOMMANDS = {
    "complete": ("grucomplete.model.complete_command", "print completions at FILE:LINE:COL"),
    "serve": ("grucomplete.server.cli", "run the language server (stdio; --tcp for debugging)"),
    "train": ("grucomplete.training.trainer.cli", "train a model on a directory of Python code"),
    "adapt": (
        "grucomplete.training.trainer.adapt",
        "fine-tune a model on a workspace, in the background",
    ),
    "eval": ("grucomplete.training.evaluation.command", "measure a model on held-out Python files"),
    "fetch-corpus": ("grucomplete.training.corpus.manifest", "download the pinned training corpus"),
}


def _usage() -> str:
    lines = ["usage: grucomplete [--version] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in SUBCOMMANDS.items()]
    lines += ["", "Run 'grucomplete COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"grucomplete {package_version()}")
        return 0
    entry = SUBCOMMANDS.get(argv[0])
    if entry is None:
        print(f"grucomplete: error: unknown command {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
