"""`CompletionSettings` as command-line flags, for `grucomplete complete` and `grucomplete eval`.

Every field is a flag (`beam_width` -> `--beam-width`) whose help is the comment beside the
field, so a new setting needs no CLI change.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Collection
from dataclasses import fields, replace

from .completion_settings import CompletionSettings, check_setting
from .decode_options import STRATEGIES

# Short names kept from before the flags were generated.
_ALIASES = {"beam_width": ("--beam",), "num_candidates": ("-n", "--num")}


def field_comments(cls: type) -> dict[str, str]:
    """`name: type = default  # comment` -> {name: comment}, read from the class source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # no source shipped (e.g. a zipped install): no help text
        return {}
    return dict(re.findall(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", source, flags=re.MULTILINE))


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_settings_flags(
    parser: argparse.ArgumentParser,
    defaults: CompletionSettings,
    exclude: Collection[str] = (),
) -> None:
    """One flag per setting not in `exclude`, defaulting to `defaults`."""
    group = parser.add_argument_group("completion settings")
    comments = field_comments(CompletionSettings)
    for f in fields(CompletionSettings):
        if f.name in exclude or any(a.dest == f.name for a in parser._actions):
            continue
        default = getattr(defaults, f.name)
        kind = _parse_bool if isinstance(default, bool) else type(default)
        names = (*_ALIASES.get(f.name, ()), "--" + f.name.replace("_", "-"))
        group.add_argument(
            *names,
            dest=f.name,
            type=kind,
            default=default,
            choices=STRATEGIES if f.name == "strategy" else None,
            metavar=None if f.name == "strategy" else f.name.split("_")[-1].upper(),
            help=f"{comments.get(f.name, '')} (default: {default})",
        )


def settings_from(args: argparse.Namespace, defaults: CompletionSettings) -> CompletionSettings:
    """The settings the flags give; raises ValueError naming every bad value."""
    given = {
        f.name: getattr(args, f.name) for f in fields(CompletionSettings) if hasattr(args, f.name)
    }
    settings = replace(defaults, **given)
    problems = [
        f"--{name.replace('_', '-')} {problem}"
        for name, value in vars(settings).items()
        if (problem := check_setting(name, value)) is not None
    ]
    if problems:
        raise ValueError("; ".join(problems))
    return settings
