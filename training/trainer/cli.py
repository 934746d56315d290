"""`grucomplete train SOURCE_DIR`: train a model on a directory of Python code.

Every field of `TrainConfig` and `GRUConfig` is a flag (`batch_size` -> `--batch-size`), with
its help taken from the comment beside the field, so a new field needs no CLI change. Only the
flags given on the command line override the defaults, which come from the dataclasses for a
new run, from `FINETUNE_DEFAULTS` over them with `--from`, and from the saved run with
`--resume`. Naming any limit (--max-steps, --time-budget-minutes, --max-epochs) replaces the
limits not named (their defaults no longer apply; `--help` says so beside each); the run stops
at the first limit reached. A fine-tuned model is saved in its base's precision (float16 from
the bundled model) unless --fp16 / --no-fp16 says otherwise.

Exit status: 0 when done, 1 when a file could not be written (a full disk: the last saved
state is kept), 2 for a usage or input error, 130/143 when SIGINT/SIGTERM stopped the run
(after saving it: `--resume` continues it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import types
import typing
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any

from grucomplete.model.checkpoint import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    resolve_model_dir,
)
from grucomplete.model.lm import GRUConfig
from grucomplete.model.settings_flags import field_comments

from . import distributed
from .config import STOP_LIMITS, TrainConfig
from .finetune import FINETUNE_DEFAULTS, check_model_settings, saved_dtype
from .graceful_stop import StopRequest
from .resume import FIXED_SETTINGS, resume_dir, saved_run
from .trainer import TrainingError, train_from_directory

PROG = "grucomplete train"
CHOICES = {"device": ("auto", "cpu", "cuda"), "cell": ("gru", "lstm")}
# Set by the tokenizer / by --fp16 rather than directly.
NOT_FLAGS = {GRUConfig: {"vocab_size"}, TrainConfig: {"save_dtype"}}
FLAG_NAMES = {"init_from": "--from"}  # `from` is a Python keyword, so not a field name
METAVARS = {"init_from": "DIR|default", "distill_from": "DIR|default"}
LIMITS_HELP = (
    "; the run stops at the first limit reached, and naming any of --max-steps, "
    "--time-budget-minutes, --max-epochs drops the defaults of the others (with --from: "
    + " and ".join(
        f"--{name.replace('_', '-')} {FINETUNE_DEFAULTS[name]:g}"
        for name in STOP_LIMITS
        if FINETUNE_DEFAULTS.get(name) is not None
    )
    + ")"
)
# What a run folder holds besides the model, and whether it may go once the run is done.
RUN_FOLDER_PARTS = (
    ("best", "the weights of the best validation"),
    ("resume", "optimizer state for --resume"),
    ("data", "the token cache, to train again without re-reading the code"),
)


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        # argparse would exit the process; the dispatcher wants a return code instead.
        raise _UsageError(message)


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
    comments = field_comments(cls)
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name in NOT_FLAGS.get(cls, ()):
            continue
        flag = FLAG_NAMES.get(f.name, "--" + f.name.replace("_", "-"))
        default = f.default if f.default is not MISSING else None
        help_text = f"{comments.get(f.name, '')} (default: {default})".strip()
        if f.name in STOP_LIMITS:
            help_text += LIMITS_HELP
        if typing.get_origin(hints[f.name]) is tuple:  # a list: the flag may be repeated
            group.add_argument(flag, dest=f.name, action="append", metavar="GLOB", help=help_text)
            continue
        kind, optional = _value_parser(hints[f.name])
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
            continue
        metavar = METAVARS.get(f.name, f.name.upper() + ("|none" if optional else ""))
        group.add_argument(
            flag,
            dest=f.name,
            type=kind,
            choices=CHOICES.get(f.name),
            metavar=metavar,
            help=help_text,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Train a completion model on the Python files under SOURCE_DIR.",
        argument_default=argparse.SUPPRESS,  # absent flags leave the dataclass defaults
        epilog="With --from, the defaults differ: "
        + ", ".join(
            f"--{k.replace('_', '-')} {'none' if v is None else v}"
            for k, v in FINETUNE_DEFAULTS.items()
        )
        + ".",
    )
    parser.add_argument("source", metavar="SOURCE_DIR", type=Path, help="code to learn from")
    parser.add_argument(
        "--out", type=Path, help="checkpoint directory (default: ./runs/<SOURCE_DIR name>)"
    )
    parser.add_argument(
        "--fp16",
        action=argparse.BooleanOptionalAction,
        help="store the weights in float16 (half the size); --no-fp16: float32 (default: "
        "float32, or with --from the base model's precision)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out exactly where it stopped (its settings are "
        "kept; flags given change the limits, logging or validation)",
    )
    _add_dataclass_flags(parser, TrainConfig, "training")
    _add_dataclass_flags(parser, GRUConfig, "model")
    return parser


def _with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    settings = {**base, **overrides}
    if any(name in overrides for name in STOP_LIMITS):
        for name in STOP_LIMITS:  # the limits named replace the ones inherited
            settings[name] = overrides.get(name)
    return TrainConfig(**settings)


def _configs(args: dict[str, Any], out_dir: Path) -> tuple[TrainConfig, GRUConfig | None]:
    """The run's configs from the flags given and the defaults of the kind of run."""
    train_args = {f.name: args[f.name] for f in fields(TrainConfig) if f.name in args}
    model_args = {f.name: args[f.name] for f in fields(GRUConfig) if f.name in args}
    if "fp16" in args:
        train_args["save_dtype"] = "float16" if args["fp16"] else "float32"
    if args.get("resume"):
        saved_train, saved_model, _ = saved_run(out_dir)
        for name in FIXED_SETTINGS:
            if name in train_args and train_args[name] != saved_train.get(name):
                raise ValueError(
                    f"--resume keeps the run's --{name.replace('_', '-')} "
                    f"({saved_train.get(name)}); start a new run to change it"
                )
        model = GRUConfig.from_dict(saved_model)
        changed = {k: v for k, v in model_args.items() if getattr(model, k) != v}
        if changed:
            names = ", ".join(f"--{k.replace('_', '-')}" for k in changed)
            raise ValueError(f"--resume keeps the run's model ({model}); drop {names}")
        return _with_overrides(saved_train, train_args), model
    init_from = train_args.get("init_from")
    if init_from is None:
        return _with_overrides(asdict(TrainConfig()), train_args), GRUConfig(**model_args)
    if "vocab_size" in train_args:
        raise ValueError("--vocab-size: fine-tuning keeps the base model's tokenizer")
    config_path = resolve_model_dir(init_from) / CONFIG_FILE
    try:
        base = GRUConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8"))["model"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise TrainingError(f"--from {init_from}: no readable {config_path} ({e})") from None
    model = check_model_settings(base, model_args, init_from)
    if "save_dtype" not in train_args:  # saved as the base is: fp16 stays fp16 (half the size)
        train_args["save_dtype"] = saved_dtype(resolve_model_dir(init_from)) or "float32"
    return _with_overrides({**asdict(TrainConfig()), **FINETUNE_DEFAULTS}, train_args), model


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_folder_report(out_dir: Path) -> str:
    """Where the run is, and what in it can be deleted once the model is all that is wanted."""
    mb = 1024 * 1024
    model = sum(_size(out_dir / name) for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE))
    lines = [
        f"run folder {out_dir} ({_size(out_dir) / mb:.1f} MB): the model is {CONFIG_FILE}, "
        f"{WEIGHTS_FILE} and {TOKENIZER_FILE} ({model / mb:.1f} MB); these can be deleted "
        "when no longer needed:"
    ]
    for name, what in RUN_FOLDER_PARTS:
        if (out_dir / name).exists():
            lines.append(f"  {out_dir / name}/ ({_size(out_dir / name) / mb:.1f} MB): {what}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run `grucomplete train`; returns the exit status (see the module docstring)."""
    try:
        args = vars(build_parser().parse_args(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except _UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    source: Path = args["source"]
    out_dir: Path = args.get("out") or Path("runs") / source.resolve().name
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 alone reports
    level = logging.INFO if main_rank else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    try:
        train_config, model_config = _configs(args, out_dir)
    except (TrainingError, ValueError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    stop = StopRequest()
    try:
        train_from_directory(
            source,
            out_dir,
            train_config,
            model_config,
            resume=bool(args.get("resume")),
            stop=stop,
        )
    except TrainingError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C during it
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a full disk, a lost mount: saves are atomic, so nothing is torn
        print(f"{PROG}: error: {e}", file=sys.stderr)
        if main_rank and resume_dir(out_dir) is not None:
            print(
                f"{PROG}: the last saved state in {out_dir} is intact. Continue it with: "
                f"grucomplete train {source} --out {out_dir} --resume",
                file=sys.stderr,
            )
        return 1
    finally:
        distributed.shutdown()
    if stop.signum is not None:
        if main_rank:
            steps = saved_run(out_dir)[2].get("steps")
            print(
                f"{PROG}: {stop.reason} stopped the run at step {steps}; saved in {out_dir}. "
                f"Continue it with: grucomplete train {source} --out {out_dir} --resume",
                file=sys.stderr,
            )
        return stop.exit_code
    if main_rank:
        print(run_folder_report(out_dir), file=sys.stderr)
        print(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
