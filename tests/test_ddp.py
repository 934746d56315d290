"""Data-parallel training: two CPU processes under torchrun train one model, and rank 0 saves it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.training.trainer.distributed import parameter_checksum
from grucomplete.training.trainer.resume import RESUME_DIR, read_resume_state

from .toy_runs import write_toy_project


def test_two_processes_train_identical_replicas_and_save_once(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=8)
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "grucomplete.training", "train", str(source), "--out", str(out),
        "--device", "cpu", "--max-steps", "10", "--batch-size", "4", "--window", "16",
        "--hidden-size", "32", "--embed-dim", "16", "--num-layers", "1", "--vocab-size", "300",
        "--val-fraction", "0.1", "--eval-every", "5", "--log-every", "5", "--lr", "1e-2",
        "--warmup-steps", "2", "--dropout", "0.1", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(out)  # rank 0 alone reports

    meta = load_checkpoint(out).metadata
    assert meta["world_size"] == 2 and meta["steps"] == 10
    assert meta["tokens_seen"] == 10 * 4 * 16 * 2  # each rank read its own lanes
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in log].count("summary") == 1  # one writer
    assert [r["step"] for r in log if r["kind"] == "val"] == [5, 10, 10]
    # Different data and dropout masks per rank, yet DDP kept the replicas bit-identical,
    # and what rank 0 saved is that model.
    replicas = next(r for r in log if r["kind"] == "summary")["replica_checksums"]
    saved = load_checkpoint(out / RESUME_DIR).model
    assert replicas == [parameter_checksum(saved)] * 2
    state = read_resume_state(out)[1]
    assert state["world_size"] == 2 and len(state["ranks"]) == 2
    assert not state["ranks"][0]["hidden"].equal(state["ranks"][1]["hidden"])
