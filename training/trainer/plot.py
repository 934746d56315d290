"""The training curve: train and validation loss against tokens seen, as training_curve.png.

Drawn from metrics.jsonl at the end of a run, and only when matplotlib is installed (the
optional `plot` extra: pip install 'grucomplete[plot]'); without it a log line says so and
training is otherwise unaffected. Uses matplotlib's object API with the Agg canvas, so it
never touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("grucomplete.training")

CURVE_FILE = "training_curve.png"


def read_metrics(path: Path) -> list[dict]:
    """The records of a metrics.jsonl file (a torn last line, from a killed run, is skipped)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def plot_training_curve(metrics_path: Path, out_path: Path) -> Path | None:
    """Write the curve of `metrics_path` to `out_path`; None when matplotlib is missing or
    there is nothing to draw."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        log.info("matplotlib is not installed: no %s (pip install 'grucomplete[plot]')", CURVE_FILE)
        return None
    records = read_metrics(metrics_path)
    train = [(r["tokens_seen"], r["loss"]) for r in records if r.get("kind") == "train"]
    # Periodic validations only: the final full one reads a different set of windows.
    val = [
        (r["tokens_seen"], r["loss"]) for r in records if r.get("kind") == "val" and not r["full"]
    ]
    if not train and not val:
        return None
    figure = Figure(figsize=(7, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if train:
        axes.plot(*zip(*train, strict=True), label="train", linewidth=1.2)
    if val:
        axes.plot(*zip(*val, strict=True), label="validation", marker="o", markersize=3)
    axes.set_xlabel("tokens seen")
    axes.set_ylabel("loss (nats per token)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(out_path)
    return Path(out_path)
