"""Server options: what editors send as `initializationOptions` or settings section `grucomplete`.

Names are camelCase on the wire (`beamWidth`) and snake_case here. Parsing never fails: a bad
value is reported and replaced by its default, so a typo in settings cannot stop completion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import cattrs

from grucomplete.model.decode_options import CONTEXT_TOKENS, PRECISIONS, STRATEGIES, DecodeOptions

_converter = cattrs.Converter()

# Whole lines offered: the best one, in the completion list and as ghost text. Asking for one
# lets beam search stop as soon as it cannot change: 5 steps instead of 7 for 3 lines, 13 for
# 10 (held-out gauge p50 15.8 -> 14.3 ms, same edit similarity).
LINE_CANDIDATES = 1


@dataclass
class CacheOptions:
    max_documents: int = 50  # open documents whose model state is kept (least recent dropped)
    max_checkpoints: int = 512  # hidden-state checkpoints kept per document


@dataclass
class ServerOptions:
    model: str = "default"  # checkpoint directory, or "default" for the bundled model
    device: str = "cpu"  # "cpu" or "cuda"
    precision: str = "int8"  # "int8" (fast on CPU) or "fp32"
    strategy: str = "beam"  # "beam", "greedy" or "sample"
    beam_width: int = 5  # hypotheses kept per decoding step
    num_candidates: int = 10  # words (and lines) offered per request
    max_tokens: int = 16  # tokens generated per candidate
    temperature: float = 1.0  # sampling temperature (strategy "sample")
    context_tokens: int = CONTEXT_TOKENS  # tokens before the cursor the model reads, at most
    latency_budget_ms: float = 80.0  # decoding time allowed once the document state is ready
    identifier_cache: float = 0.85  # weight of names already in the document (0: model only)
    neural_cache: float = 0.35  # weight of the window's own next tokens, by similarity (0: off)
    line_completions: bool = True  # offer whole-line completions besides words
    line_max_tokens: int = 16  # tokens generated for a whole line
    line_length_penalty: float = 0.0  # rank lines by logprob / length**this (0: probability)
    # After `.`, the members jedi knows the receiver has, ranked by the model; the model's own
    # words that jedi says are not members are dropped (needs `pip install 'grucomplete[static]'`).
    static_analysis: bool = True
    static_wait_ms: float = 40.0  # how long a completion waits for static analysis, at most
    static_python: str = ""  # Python or virtualenv whose packages jedi sees ("": $VIRTUAL_ENV)
    # Weight of the workspace's other files' next tokens, by similarity (0: off; see
    # model/workspace_memory.py). Built in the background from the files on disk. Off until
    # it pays: see docs/benchmarks.md, "Workspace memory".
    workspace_memory: float = 0.0
    workspace_adaptation: bool = False  # fine-tune the model on the workspace in the background
    adaptation_minutes: float = 10.0  # time budget of one background adaptation
    cache: CacheOptions = field(default_factory=CacheOptions)

    def line_decode_options(self) -> DecodeOptions:
        return replace(
            self.decode_options(),
            num_candidates=min(self.num_candidates, LINE_CANDIDATES),
            max_tokens=self.line_max_tokens,
            length_penalty=self.line_length_penalty,
        )

    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(
            strategy=self.strategy,
            beam_width=self.beam_width,
            num_candidates=self.num_candidates,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )


_CHOICES = {"device": ("cpu", "cuda"), "precision": PRECISIONS, "strategy": STRATEGIES}
_UNIT_INTERVAL = {"identifier_cache"}
# A cache weight of 1 would give every token the document never used probability 0.
_BELOW_ONE = {"neural_cache", "workspace_memory"}
_AT_LEAST = {"context_tokens": 64}  # two of the engine's chunks
_POSITIVE = {
    "beam_width",
    "num_candidates",
    "max_tokens",
    "temperature",
    "latency_budget_ms",
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
    if name in _AT_LEAST and value < _AT_LEAST[name]:
        return f"must be at least {_AT_LEAST[name]}"
    if name in _UNIT_INTERVAL and not 0 <= value <= 1:
        return "must be between 0 and 1"
    if name in _BELOW_ONE and not 0 <= value < 1:
        return "must be at least 0 and below 1"
    return None


def _parse_into(target: Any, raw: Any, path: str, problems: list[str]) -> None:
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
    """Options from editor JSON (None means none given), plus a message per rejected value."""
    options = (
        ServerOptions()
        if base is None
        else _converter.structure(_converter.unstructure(base), ServerOptions)
    )
    problems: list[str] = []
    if raw is not None:
        _parse_into(options, raw, "", problems)
    return options, problems
