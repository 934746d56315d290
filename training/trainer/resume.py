"""Exact resume: all a run needs to go on as if it had never stopped, kept in OUT/resume/.

OUT/resume/ is an ordinary checkpoint directory (float32 weights, whatever --fp16 says) plus
`resume.pt`: the optimizer's moments, the schedule position (step, tokens seen, elapsed time),
the data position, each rank's RNG states and carried hidden state, and the early-stopping
bookkeeping. `resume.pt` holds only tensors, numbers, strings, lists and dicts, and is read
with `torch.load(weights_only=True)`, which cannot run code from the file.

A new state is written to a temporary directory and swapped in by two renames (the old one is
moved to resume.old/ first). Whenever a write fails, one complete state is left: the reader
falls back to resume.old/ when resume/ is missing. A process killed mid-write leaves its
temporaries behind (a resume state's is as large as the model and optimizer together); the
next run removes them with `remove_interrupted_writes`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import random
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from grucomplete.model.checkpoint import (
    CONFIG_FILE,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from grucomplete.model.lm import GRUConfig, GRULanguageModel
from grucomplete.model.tokenizer import CodeTokenizer

from .config import TrainConfig, TrainingError

RESUME_DIR = "resume"
OLD_DIR = "resume.old"
STATE_FILE = "resume.pt"
STATE_VERSION = 1
# Settings a resumed run must share with the run it continues: they decide which tokens a step
# reads and what the weights are.
FIXED_SETTINGS = (
    "batch_size", "window", "seed", "vocab_size", "val_fraction", "max_files",
    "max_file_bytes", "init_from",
)  # fmt: skip


# The temporaries of our atomic writes: mkdtemp's ".resume-XXXXXXXX.tmp" directories, and
# mkstemp's ".NAME.XXXXXXXX.tmp" files for the checkpoint's and the token cache's files.
_TEMPORARY = re.compile(
    r"\.(resume-|(model\.safetensors|tokenizer\.json|config\.json|manifest\.json"
    r"|tokens-\w+\.npy)\.)\w+\.tmp"
)


@dataclass
class RunPosition:
    step: int = 0  # optimizer steps taken
    tokens_seen: int = 0  # training tokens read, all ranks together
    elapsed_s: float = 0.0  # training time so far, carried over resumes for the time budget
    best_loss: float = math.inf  # best scheduled validation: early stopping counts from it
    evals_since_best: int = 0  # scheduled validations since best_loss last improved
    metrics_bytes: int = 0  # length of metrics.jsonl here: a resumed run cuts what came after


def stream_fingerprint(stream: torch.Tensor) -> str:
    """A hash of a token stream: a resumed run must read exactly the tokens the first one did."""
    array = stream.detach().to("cpu", torch.int32).contiguous().numpy()
    return hashlib.blake2b(array.tobytes(), digest_size=8).hexdigest()


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's RNG states as tensors and lists (what weights_only loading accepts)."""
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "python": [version, list(internal), gauss],
    }


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def resume_dir(out_dir: Path) -> Path | None:
    """The complete resume state under `out_dir`, if there is one."""
    for name in (RESUME_DIR, OLD_DIR):
        if (Path(out_dir) / name / STATE_FILE).is_file():
            return Path(out_dir) / name
    return None


def write_resume_state(
    out_dir: Path,
    model: GRULanguageModel,
    tokenizer: CodeTokenizer,
    metadata: dict[str, Any],
    state: dict[str, Any],
) -> Path:
    """Replace OUT/resume/ with `model` + `state`; at every instant one complete state exists."""
    out_dir = Path(out_dir)
    final, old = out_dir / RESUME_DIR, out_dir / OLD_DIR
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=".resume-", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp's owner-only mode would survive the rename
        save_checkpoint(tmp, model, tokenizer, metadata, dtype=torch.float32)
        torch.save({"version": STATE_VERSION, **state}, tmp / STATE_FILE)
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final


def read_resume_state(out_dir: Path) -> tuple[Checkpoint, dict[str, Any]]:
    """The weights and `resume.pt` contents of the run in `out_dir`."""
    directory = resume_dir(out_dir)
    if directory is None:
        raise TrainingError(
            f"{out_dir}: no resume state to continue from (a run writes one every "
            "--checkpoint-every steps, when stopped by Ctrl-C or SIGTERM, and at its end)"
        )
    try:
        checkpoint = load_checkpoint(directory)
        state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
    except (CheckpointError, OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise TrainingError(f"{directory}: unreadable resume state ({e})") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise TrainingError(f"{directory / STATE_FILE}: not a resume state this version writes")
    return checkpoint, state


def remove_interrupted_writes(directory: Path) -> list[str]:
    """Delete what writes killed halfway left in `directory`; returns the names removed.

    Only for a directory no other process is writing to: the run's own, before it starts.
    """
    try:
        entries = [e for e in os.scandir(directory) if _TEMPORARY.fullmatch(e.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)
    return sorted(e.name for e in entries)


def discard_resume_state(out_dir: Path) -> None:
    for name in (RESUME_DIR, OLD_DIR):
        shutil.rmtree(Path(out_dir) / name, ignore_errors=True)


def saved_run(out_dir: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(train config, model config, metadata) of the resumable run in `out_dir`, as dicts.

    Read from the resume checkpoint's config.json, without loading any tensor.
    """
    directory = resume_dir(out_dir)
    if directory is None:
        read_resume_state(out_dir)  # raises the explanatory error
    config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    metadata = config.get("metadata", {})
    return metadata["train_config"], config["model"], metadata


def check_compatible(
    out_dir: Path,
    state: dict[str, Any],
    train_config: TrainConfig,
    model_config: GRUConfig,
    tokenizer: CodeTokenizer,
    data_fingerprint: str,
    world_size: int,
) -> None:
    """Refuse to resume from `state` when this run would not continue it exactly."""

    def refuse(problem: str) -> None:
        raise TrainingError(
            f"{out_dir}: cannot resume: {problem}. Keep the run's settings, or start a new run "
            "with another --out"
        )

    saved_model = state["model_config"]
    if saved_model != model_config.to_dict():
        changed = sorted(k for k, v in model_config.to_dict().items() if saved_model.get(k) != v)
        refuse(
            "the model changed ("
            + ", ".join(f"{k} {saved_model.get(k)} -> {getattr(model_config, k)}" for k in changed)
            + ")"
        )
    if state["tokenizer_fingerprint"] != tokenizer.fingerprint:
        refuse(
            f"the tokenizer changed (fingerprint {state['tokenizer_fingerprint']} -> "
            f"{tokenizer.fingerprint})"
        )
    for name in FIXED_SETTINGS:
        before, now = state["train_config"].get(name), getattr(train_config, name)
        if before != now:
            refuse(f"--{name.replace('_', '-')} is {now}, the run used {before}")
    if state["world_size"] != world_size:
        n = state["world_size"]
        refuse(f"it ran as {n} processes (torchrun --nproc_per_node {n}), this is {world_size}")
    if state["data_fingerprint"] != data_fingerprint:
        refuse("the training data changed since the state was written")
