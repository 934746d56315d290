"""Fine-tuning: start from a trained checkpoint (the bundled model by default) on one repository.

The base model fixes the tokenizer and the model's shape: its weights only mean something with
both. What changes are the training defaults (`FINETUNE_DEFAULTS`): a lower learning rate with
a short warmup, since the weights are already good and a from-scratch rate would wreck them,
and limits sized so a repository of 100,000 lines fine-tunes within 15 minutes on a 2-core
laptop. The new checkpoint records its base (`base_model` in config.json).
"""

from __future__ import annotations

import hashlib
import logging
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from grucomplete.model.checkpoint import (
    WEIGHTS_FILE,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    resolve_model_dir,
)
from grucomplete.model.lm import GRUConfig, GRULanguageModel
from grucomplete.model.tokenizer import CodeTokenizer
from grucomplete.model.workspace_store import weights_fingerprint

from .config import TrainingError
from .data import encode_documents

log = logging.getLogger("grucomplete.training")

MAX_EPOCHS = 2.0  # passes over a project (measured: 1 and 2; each pass forgets more)

# The defaults `grucomplete train --from` uses for the settings the command line leaves out,
# chosen on held-out files of real projects (docs/benchmarks.md, "Retraining on a team's code";
# `benchmarks/retrain_heldout.py`). One pass of 32 x 128-token windows at 1e-3 is only 10-40
# steps on a 40k-150k-token project and left most of it unlearnt (toolz, next-token top-1 on
# held-out files with the neural cache: 0.464 -> 0.486); at 3e-3, batch 16, two passes: 0.532.
# That rate also forgets other code (+0.32 nats a token on packages of neither); a quarter of
# the lanes reading the standard library cut that to +0.24 at no cost on the project. One busy
# CPU core fine-tunes at ~650 tokens/s, so the 10-minute budget is ~0.4M tokens: two passes of
# a 15,000-line project, under half a pass of a 100,000-line one (a time-bound run ends its
# cosine exactly at the budget).
FINETUNE_DEFAULTS: dict[str, Any] = {
    "lr": 3e-3,  # three fifths of the from-scratch peak: 1e-3 left most of a project unlearnt
    "warmup_steps": 10,  # the Adam moments settle fast on weights that already work
    "batch_size": 16,  # half the from-scratch batch: twice the steps for the same tokens
    "base_share": 0.25,  # a quarter of the lanes rehearse the standard library: forgets less
    "max_steps": None,
    "time_budget_minutes": 10.0,
    "max_epochs": MAX_EPOCHS,
    "eval_every": 25,  # ~9 validations per epoch of a 100k-line repository, ~1 s each
    "eval_windows": 8,  # one validation reads at most 8 x 16 x 128 = 16k tokens
    "checkpoint_every": 100,  # a resume state every ~5 minutes on a laptop
}
# Model settings that do not change what the weights mean: a fine-tuning run may set them.
ADJUSTABLE = frozenset({"dropout"})


@dataclass
class BaseModel:
    checkpoint: Checkpoint  # weights, tokenizer and metadata of the starting point
    record: dict[str, Any]  # what the new checkpoint's metadata says about it


def load_base_model(name: str, role: str = "fine-tune from") -> BaseModel:
    """The checkpoint `name` ("default": the bundled model) and its record for the metadata;
    `role` says in an error what it was loaded for."""
    directory = resolve_model_dir(name)
    try:
        checkpoint = load_checkpoint(directory)
    except CheckpointError as e:
        raise TrainingError(f"cannot {role} {name!r}: {e}") from None
    meta = checkpoint.metadata
    data = meta.get("data") or meta.get("data_card") or {}
    summary = {k: meta[k] for k in ("steps", "tokens_seen", "device", "val") if k in meta}
    if data.get("source") or data.get("corpus"):
        summary["data"] = data.get("source") or data.get("corpus")
    if "base_model" in meta:  # a fine-tuned model fine-tuned again: keep the lineage
        summary["base_model"] = meta["base_model"].get("name")
    record = {
        "name": str(name),
        "path": str(directory.resolve()),
        "fingerprint": weights_fingerprint(directory),
        "tokenizer_fingerprint": checkpoint.tokenizer.fingerprint,
        "model": checkpoint.model.config.to_dict(),
        "summary": summary,
    }
    return BaseModel(checkpoint, record)


def saved_dtype(directory: Path) -> str | None:
    """The precision a checkpoint's weights are stored in ("float16", ...), None if unknown."""
    from safetensors import safe_open

    names = {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}
    try:
        with safe_open(str(directory / WEIGHTS_FILE), "pt") as f:
            kinds = {names.get(f.get_slice(k).get_dtype()) for k in f.keys()}  # noqa: SIM118
    except Exception:  # missing or unreadable: the load reports it, with its reason
        return None
    return kinds.pop() if len(kinds) == 1 else None


def check_model_settings(base: GRUConfig, requested: dict[str, Any], source: str) -> GRUConfig:
    """The model config of the fine-tuned model: the base's, with the adjustable settings in
    `requested` applied. Any other requested setting that differs from the base is an error."""
    conflicts = [
        f"{name}={value!r} (the base has {getattr(base, name)!r})"
        for name, value in requested.items()
        if name not in ADJUSTABLE and getattr(base, name) != value
    ]
    if conflicts:
        raise TrainingError(
            f"fine-tuning {source} keeps its model shape and tokenizer; drop the conflicting "
            f"settings: {', '.join(conflicts)}"
        )
    adjusted = {k: v for k, v in requested.items() if k in ADJUSTABLE}
    return GRUConfig(**{**base.to_dict(), **adjusted})


def with_config(model: GRULanguageModel, config: GRUConfig) -> GRULanguageModel:
    """`model`'s weights under `config`, which may differ from its own in adjustable settings."""
    if model.config == config:
        return model
    rebuilt = GRULanguageModel(config)
    rebuilt.load_state_dict(model.state_dict())
    return rebuilt


def standard_library_files() -> list[Path]:
    """The running Python's standard library modules, in a fixed order (by a hash of the name):
    code every machine has, of the kind the bundled model was trained on."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in lib.glob("*.py") if p.is_file()]
    return sorted(files, key=lambda p: hashlib.sha1(p.name.encode()).digest())


def with_base_text(train: torch.Tensor, tokenizer: CodeTokenizer, share: float) -> torch.Tensor:
    """`train` followed by standard-library text making up `share` of the result.

    The batcher cuts the stream into contiguous lanes, so the last `share` of every batch's
    lanes read the library while the others read the project: each step both learns the
    project and rehearses code in general. Without a readable standard library, `train`.
    """
    wanted = round(train.numel() * share / (1.0 - share))
    pieces, have = [], 0
    for path in standard_library_files():
        if have >= wanted:
            break
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        ids = encode_documents(tokenizer, [text])
        pieces.append(ids)
        have += ids.numel()
    if not pieces:
        log.info("no standard library found to mix in; fine-tuning on the project alone")
        return train
    base = torch.cat(pieces)[:wanted].to(train.dtype)
    log.info(f"mixing in {base.numel():,} tokens of the standard library ({share:.0%})")
    return torch.cat([train, base])
