"""`grucomplete train SOURCE_DIR`: train a model on a directory of Python code.

Every field of `TrainConfig` and `GRUConfig` is a flag (`batch_size` -> `--batch-size`), with
its help taken from the comment beside the field, so a new field needs no CLI change. Only the
flags given on the command line override the dataclass defaults.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import re
import sys
import types
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from grucomplete.model.lm import GRUConfig

from .config import TrainConfig
from .trainer import TrainingError, train_from_directory

PROG = "grucomplete train"
CHOICES = {"device": ("auto", "cpu", "cuda"), "cell": ("gru", "lstm")}
# Set by the tokenizer / by --fp16 rather than directly.
NOT_FLAGS = {GRUConfig: {"vocab_size"}, TrainConfig: {"save_dtype"}}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        # argparse would exit the process; the dispatcher wants a return code instead.
        raise _UsageError(message)


def _field_comments(cls: type) -> dict[str, str]:
    """`name: type = default  # comment` -> {name: comment}, read from the class source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # no source shipped (e.g. a zipped install): no help text
        return {}
    return dict(re.findall(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", source, flags=re.MULTILINE))


def _value_parser(kind: Any) -> tuple[Any, bool]:
    """The argparse `type` for a field annotation, and whether the field accepts None."""
    optional = False
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        optional, kind = len(args) < len(typing.get_args(kind)), args[0]
    if not optional:
        return kind, False

    def parse(text: str) -> Any:
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its "invalid value" error
    return parse, True


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    group = parser.add_argument_group(title)
    comments = _field_comments(cls)
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name in NOT_FLAGS.get(cls, ()):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f"{comments.get(f.name, '')} (default: {default})".strip()
        kind, optional = _value_parser(hints[f.name])
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
            continue
        metavar = f.name.upper() + ("|none" if optional else "")
        group.add_argument(
            flag, type=kind, choices=CHOICES.get(f.name), metavar=metavar, help=help_text
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Train a completion model on the Python files under SOURCE_DIR.",
        argument_default=argparse.SUPPRESS,  # absent flags leave the dataclass defaults
    )
    parser.add_argument("source", metavar="SOURCE_DIR", type=Path, help="code to learn from")
    parser.add_argument(
        "--out", type=Path, help="checkpoint directory (default: ./runs/<SOURCE_DIR name>)"
    )
    parser.add_argument(
        "--fp16", action="store_true", help="store the weights in float16 (half the size)"
    )
    _add_dataclass_flags(parser, TrainConfig, "training")
    _add_dataclass_flags(parser, GRUConfig, "model")
    return parser


def _configs(args: dict[str, Any]) -> tuple[TrainConfig, GRUConfig]:
    train_args = {f.name: args[f.name] for f in fields(TrainConfig) if f.name in args}
    model_args = {f.name: args[f.name] for f in fields(GRUConfig) if f.name in args}
    if "time_budget_minutes" in args and "max_steps" not in args:
        train_args["max_steps"] = None  # a budget alone means: train for the whole budget
    if args.get("fp16"):
        train_args["save_dtype"] = "float16"
    return TrainConfig(**train_args), GRUConfig(**model_args)


def main(argv: list[str] | None = None) -> int:
    """Run `grucomplete train`; returns the exit status (2 for a usage or input error)."""
    try:
        args = vars(build_parser().parse_args(sys.argv[1:] if argv is None else argv))
        train_config, model_config = _configs(args)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except (_UsageError, ValueError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2

    source: Path = args["source"]
    out_dir = args.get("out") or Path("runs") / source.resolve().name
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        train_from_directory(source, out_dir, train_config, model_config)
    except TrainingError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside the training loop, which handles its own
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    print(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
