"""The costs of the quietest start on this machine, remembered across starts.

The fit measures at start-up, while the editor starts its other extensions and jedi imports
on the other core. Where the bundled default is predicted near a budget, that noise alone
chose the default at one start and the fast model at the next: the same machine completed
differently from one session to the other. Other work only ever slows a start down, so the
start that predicts the least work time is the best estimate of what the machine can do:
each start measures again and fits to its own costs or the earlier starts' best, whichever
predict less, and so the choice settles instead of swinging. (The costs are kept as one
start's set: each is derived from the same timings as the others, `token_ms` from a chunked
read less single calls, so a minimum taken cost by cost would mix one start's low noise in
one with another's in the next.)

    $XDG_CACHE_HOME/grucomplete/machine_costs.json   {key: {"costs": {...}, "starts": n}}

A key hashes what the costs depend on: the model's architecture and precision, the settings
decoding runs with, PyTorch, the CPU, its kernels' instruction set and the cores in reach.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from .machine_fit import MEDIAN_STEPS, ROWS_PER_BEAM, Costs, Work
from .window import CHUNK, CONTEXT_TOKENS
from .workspace_store import grucomplete_cache

COSTS_FILE = "machine_costs.json"
MAX_KEPT = 32  # keys kept, the least recently used dropped first
# What starts are compared by: a 5-beam keystroke and a whole window read (`machine_fit`).
REFERENCE = Work(CONTEXT_TOKENS, CONTEXT_TOKENS // CHUNK, {ROWS_PER_BEAM * 5: MEDIAN_STEPS})
# What the kernels' instruction set follows besides the CPU (see docs/benchmarks.md, "Holding
# PyTorch's kernels to AVX2 on an AVX-512 machine").
_ISA_VARIABLES = (
    "ATEN_CPU_CAPABILITY",
    "FBGEMM_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_ENABLE_INSTRUCTIONS",
)


def costs_file() -> Path:
    return grucomplete_cache() / COSTS_FILE


def machine_key(model: dict[str, Any], precision: str, settings: object) -> str:
    """What the costs of `model` (its config) at `precision` under `settings` depend on here."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [
        json.dumps(model, sort_keys=True),
        precision,
        repr(settings),
        torch.__version__,
        torch.backends.cpu.get_cpu_capability(),
        _cpu_name(),
        str(cores),
        str(torch.get_num_threads()),
        *(os.environ.get(name, "") for name in _ISA_VARIABLES),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def fastest(measured: Costs, key: str, path: Path | None = None) -> tuple[Costs, int]:
    """`measured` or the best costs remembered under `key`, whichever predict the less time
    for a keystroke and a window's read (`REFERENCE`), and how many starts came before; the
    result is remembered. A missing, unreadable or foreign file counts as no earlier start,
    and one that cannot be written is left as it is."""
    path = path or costs_file()
    kept = _read(path)
    earlier = kept.pop(key, None)
    costs, starts = measured, 0
    names = [f.name for f in fields(Costs)]
    try:
        before = {n: float(earlier["costs"][n]) for n in names}
        starts = max(0, int(earlier["starts"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        pass  # none, or not one this module wrote
    else:
        if not all(math.isfinite(v) and v >= 0 for v in before.values()):
            starts = 0
        elif Costs(**before).predict_ms(REFERENCE) < measured.predict_ms(REFERENCE):
            costs = Costs(**before)
    kept[key] = {"costs": asdict(costs), "starts": starts + 1}
    for old in list(kept)[: max(0, len(kept) - MAX_KEPT)]:
        del kept[old]
    _write(path, kept)
    return costs, starts


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, kept: dict[str, Any]) -> None:
    """Through a file of this process's own, renamed: two servers starting at once leave one
    whole file, not a mix."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(kept))
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()
