"""Server options: what editors send as `initializationOptions` or settings section `grucomplete`.

Names are camelCase on the wire (`beamWidth`) and snake_case here. Parsing never fails: a bad
value is reported and replaced by its default, so a typo in settings cannot stop completion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import cattrs

from grucomplete.model.completion_settings import CompletionSettings, check_setting
from grucomplete.model.decode_options import PRECISIONS
from grucomplete.model.window import CONTEXT_TOKENS, MIN_CONTEXT_TOKENS

_converter = cattrs.Converter()


@dataclass
class CacheOptions:
    max_documents: int = 50  # open documents whose model state is kept (least recent dropped)
    max_checkpoints: int = 512  # hidden-state checkpoints kept per document
    # Windows of the focused document prepared in the background, so a jump reads a chunk, not
    # a window (~0.9 MB each for the default model with the neural cache; 0: none).
    prepared_windows: int = 16


@dataclass
class ServerOptions(CompletionSettings):
    """The completion settings, and what only the server has: the model, static analysis,
    workspace adaptation and its caches."""

    # A checkpoint directory, or a bundled model: "default", or "fast" (smaller, about half
    # the CPU cost; left unset, "default" runs "fast" where it is predicted too slow).
    model: str = "default"
    device: str = "cpu"  # "cpu" or "cuda"
    precision: str = "int8"  # "int8" (fast on CPU) or "fp32"
    context_tokens: int = CONTEXT_TOKENS  # tokens before the cursor the model reads, at most
    # After `.`, the members jedi knows the receiver has, ranked by the model; the model's own
    # words that jedi says are not members are dropped (needs `pip install 'grucomplete[static]'`).
    static_analysis: bool = True
    static_wait_ms: float = 40.0  # how long a completion waits for static analysis, at most
    static_python: str = ""  # Python or virtualenv whose packages jedi sees ("": $VIRTUAL_ENV)
    workspace_adaptation: bool = False  # fine-tune the model on the workspace in the background
    adaptation_minutes: float = 10.0  # time budget of one background adaptation
    # Size beam width, line length and window to this machine's measured speed (issue 14's
    # budgets); a setting given explicitly is kept as given.
    fit_to_machine: bool = True
    cache: CacheOptions = field(default_factory=CacheOptions)

    # Not a setting (no field): the names of the settings the editor gave, which the fit to
    # the machine keeps; parse_options sets it on the instance (`replace` does not carry it).
    explicit = frozenset[str]()


_CHOICES = {"device": ("cpu", "cuda"), "precision": PRECISIONS}
_AT_LEAST = {"context_tokens": MIN_CONTEXT_TOKENS}
_POSITIVE = {
    "static_wait_ms",
    "adaptation_minutes",
    "max_documents",
    "max_checkpoints",
}


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _check(name: str, value: Any) -> str | None:
    if name in _CHOICES and value not in _CHOICES[name]:
        return f"must be one of {', '.join(_CHOICES[name])}"
    if name in _POSITIVE and value <= 0:
        return "must be positive"
    if name == "prepared_windows" and value < 0:
        return "must be 0 or positive"
    if name in _AT_LEAST and value < _AT_LEAST[name]:
        return f"must be at least {_AT_LEAST[name]}"
    return check_setting(name, value)


def _parse_into(target: Any, raw: Any, path: str, problems: list[str]) -> None:
    if raw == []:  # how Lua (Neovim's `setup({})`) encodes an empty table: no settings
        return
    if not isinstance(raw, dict):
        problems.append(f"{path or 'options'}: expected an object, got {type(raw).__name__}")
        return
    by_wire = {camel_case(f.name): f for f in fields(target)}
    for key, value in raw.items():
        spec = by_wire.get(key)
        where = f"{path}{key}"
        if spec is None:
            problems.append(f"{where}: unknown setting, ignored")
            continue
        current = getattr(target, spec.name)
        if hasattr(current, "__dataclass_fields__"):
            _parse_into(current, value, f"{where}.", problems)
            continue
        kind = type(current)
        # JSON has no int/float distinction worth failing on; bools are not numbers here.
        if isinstance(value, bool) != (kind is bool) or (
            kind in (int, float) and not isinstance(value, (int, float))
        ):
            problems.append(f"{where}: expected {kind.__name__}, got {value!r}; using {current!r}")
            continue
        try:
            parsed = _converter.structure(value, kind)
        except Exception:  # cattrs reports many error types; any means "not this type"
            problems.append(f"{where}: expected {kind.__name__}, got {value!r}; using {current!r}")
            continue
        if (reason := _check(spec.name, parsed)) is not None:
            problems.append(f"{where}: {reason}, got {value!r}; using {current!r}")
            continue
        setattr(target, spec.name, parsed)


def parse_options(raw: Any, base: ServerOptions | None = None) -> tuple[ServerOptions, list[str]]:
    """Options from editor JSON (None or [] means none given), plus a message per rejected
    value."""
    options = (
        ServerOptions()
        if base is None
        else _converter.structure(_converter.unstructure(base), ServerOptions)
    )
    problems: list[str] = []
    if raw is not None:
        _parse_into(options, raw, "", problems)
    base_explicit = base.explicit if base is not None else frozenset()
    given = set()
    if isinstance(raw, dict):
        given = {f.name for f in fields(options) if camel_case(f.name) in raw}
    options.explicit = frozenset(base_explicit | given)
    return options, problems
