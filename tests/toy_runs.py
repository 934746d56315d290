"""Toy Python projects and tiny training settings shared by the training tests.

A run on these takes a second or two on a laptop CPU, and the code is repetitive enough that a
64-unit GRU learns it: tests can assert that training learned, not merely that it ran.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from grucomplete.model.lm import GRUConfig
from grucomplete.training.trainer.config import TrainConfig

NAMES = ["alpha", "beta", "gamma", "delta", "count", "total", "value", "item"]
TINY_MODEL = GRUConfig(embed_dim=64, hidden_size=64, num_layers=1, dropout=0.0)


def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread meanwhile (a test module makes it an autouse fixture).

    Tiny models gain nothing from threads, and on a shared 2-core machine threads that wait
    for each other behind other work made a 3-second training fixture take 40.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_train_config(**overrides: object) -> TrainConfig:
    settings: dict[str, object] = dict(
        batch_size=8, window=32, lr=1e-2, warmup_steps=10, max_steps=200, eval_every=100,
        eval_windows=10, log_every=10, vocab_size=300, val_fraction=0.1, progress=False,
        device="cpu",  # the same numbers on every machine; the CUDA test asks for cuda
    )  # fmt: skip
    settings.update(overrides)
    return TrainConfig(**settings)  # type: ignore[arg-type]


def write_toy_project(root: Path, files: int = 30, seed: int = 0) -> Path:
    """Repetitive toy Python: predictable once a model has learned the pattern."""
    rng = random.Random(seed)
    for f in range(files):
        lines = []
        for k in range(8):
            a, b = rng.sample(NAMES, 2)
            lines += [
                f"def {a}_{k}({b}, n):",
                f"    {a} = {b} + n",
                "    for i in range(n):",
                f"        {a} += i",
                f"    return {a}",
                "",
            ]
        path = root / f"pkg{f % 3}" / f"mod{f:02d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
    return root


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until a training subprocess writes `path`, or fail with its stderr."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.communicate()[1]
            pytest.fail(f"{path} never appeared; exit {process.returncode}:\n{output[-2000:]}")
        time.sleep(0.05)
