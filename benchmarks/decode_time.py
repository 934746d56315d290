"""Decoding alone at the gauge's positions: its time, and a digest of the answers.

    python benchmarks/decode_time.py GAUGE.json [--rounds 3] [--model default]
        [--threads 1] [--step-threads 2] [--no-read-beside] [--profile N] [--parts]

For each position of an `lsp_eval --json` record (held-out files under .work/heldout), a
fresh `DocumentSession` reads the text before it (untimed), then completes there, timing
`decode_completions` alone, `--rounds` times over all the positions: words at
member and identifier positions, words and the line at line positions, as the popup of a
client without ghost text asks. No static analysis, no workspace. Printed: the median and
mean per kind, and a digest of the first round's answers, equal for two trees whose
decoding gives the same answers (run a change's tree and its parent's one after the other,
`PYTHONPATH=TREE`, and compare). `--profile N`: also the N functions with the most time of
their own inside decoding (cProfile, which slows the Python between kernels the most), and the
share of the model's own kernels (the int8 GRU, the int8 linear layers, the embedding).
`--parts`: where decoding's time goes, per beam step (the model's step, the caches' mixing,
the choice of the next hypotheses) and outside the steps (the caches' setup, ranking, names).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from grucomplete.model import decoding, neural_cache
from grucomplete.model import session as session_module
from grucomplete.model.checkpoint import load_checkpoint, resolve_model_dir
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.engine import CompletionEngine

CORPUS = Path(".work/heldout")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gauge_json")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="default", help="a model directory, or 'default'")
    parser.add_argument("--threads", type=int, default=1, help="torch's threads while decoding")
    parser.add_argument(
        "--step-threads", type=int, default=0, help="torch's threads in the model's steps only"
    )
    parser.add_argument(
        "--no-read-beside",
        action="store_true",
        help="the next window is not read on the spare core while decoding",
    )
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--parts", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    engine = CompletionEngine(load_checkpoint(resolve_model_dir(args.model)), "int8")
    if args.no_read_beside:
        engine.beside = None
    if args.step_threads:
        step_outputs = engine.model.step_outputs

        def threaded(*a: Any, **k: Any) -> Any:
            torch.set_num_threads(args.step_threads)
            try:
                return step_outputs(*a, **k)
            finally:
                torch.set_num_threads(args.threads)

        engine.model.step_outputs = threaded
    settings = CompletionSettings()
    decode = session_module.decode_completions
    spent: list[float] = []
    profile = cProfile.Profile() if args.profile else None

    def timed(*a: Any, **k: Any) -> Any:
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        try:
            return decode(*a, **k)
        finally:
            if profile is not None:
                profile.disable()
            spent.append((time.perf_counter() - started) * 1000)

    session_module.decode_completions = timed  # type: ignore[assignment]
    parts = time_parts(engine) if args.parts else None
    by_kind: dict[str, dict[str, float]] = {}  # kind of decoding -> its parts' totals
    positions = []
    for q in json.loads(Path(args.gauge_json).read_text())["queries"]:
        text = (CORPUS / q["file"]).read_text(errors="replace")
        positions.append((text[: q["offset"]], q["kind"] == "line"))
    if not positions:
        parser.error("no positions in the record")
    times: dict[str, list[float]] = {"words": [], "words+line": []}
    digest = hashlib.sha256()
    for round_ in range(args.rounds):
        for before, lines in positions:
            session = session_module.DocumentSession(engine)
            session.prompt(engine.heal(before).context)
            spent.clear()
            kind = "words+line" if lines else "words"
            before_parts = dict(parts) if parts is not None else {}
            answer = session.complete(before, settings, lines=lines)
            times[kind].append(spent[-1])
            if parts is not None:
                into = by_kind.setdefault(kind, dict.fromkeys(parts, 0.0))
                for part, total in parts.items():
                    into[part] += total - before_parts[part]
            if round_ == 0:
                labels = [w.label for w in answer.words] + [line.label for line in answer.lines]
                digest.update(repr(labels).encode())
    for kind, values in times.items():
        if values:
            median, mean = statistics.median(values), statistics.mean(values)
            print(f"{kind}: {len(values)} decodings, p50 {median:.2f} ms, mean {mean:.2f} ms")
    print(f"answers digest: {digest.hexdigest()[:16]}")
    if profile is not None:
        print_profile(profile, args.profile)
    for kind, kind_parts in by_kind.items():
        print_parts(kind, kind_parts, times[kind])
    return 0


def time_parts(engine: CompletionEngine) -> dict[str, float]:
    """Seconds spent in each part of decoding from now on, and the beam steps taken."""
    spent = dict.fromkeys(("model", "step", "expand", "beams", "steps"), 0.0)

    def timing(owner: Any, name: str, part: str, counted: bool = False) -> None:
        inner = getattr(owner, name)

        def timed(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[part] += time.perf_counter() - started
                spent["steps"] += counted

        setattr(owner, name, timed)

    timing(engine.model, "step_outputs", "model")
    timing(neural_cache.CachedModel, "step", "step", counted=True)
    timing(decoding._BeamSearch, "expand", "expand")
    timing(decoding, "_run_beams", "beams")
    return spent


def print_parts(kind: str, spent: dict[str, float], decodings_ms: list[float]) -> None:
    """Where `kind`'s decodings spent their time, from `time_parts`' totals."""
    steps, decodings = spent["steps"], len(decodings_ms)
    if not steps:
        print(f"{kind} parts: no beam steps through the caches (neural cache off?)")
        return
    mixing = spent["step"] - spent["model"]
    outside = sum(decodings_ms) / 1000 - spent["beams"]
    print(
        f"{kind} parts: {steps / decodings:.2f} beam steps a decoding; a step's model "
        f"{spent['model'] / steps * 1000:.3f} ms, caches' mixing {mixing / steps * 1000:.3f} "
        f"ms, next hypotheses {spent['expand'] / steps * 1000:.3f} ms; outside the steps "
        f"{outside / decodings * 1000:.2f} ms a decoding"
    )


MODEL_KERNELS = ("quantized_gru", "linear_dynamic", "embedding")


def print_profile(profile: cProfile.Profile, top: int) -> None:
    """The `top` functions by time of their own, and the model kernels' share of the whole."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    own = {f"{file}:{name}": row[2] for (file, _, name), row in stats.stats.items()}
    total = sum(own.values())
    model = sum(t for key, t in own.items() if any(k in key for k in MODEL_KERNELS))
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue().strip())
    print(f"model kernels: {model:.2f} of {total:.2f} s profiled ({model / total:.0%})")


if __name__ == "__main__":
    raise SystemExit(main())
