"""Fine-tuning: start from a trained checkpoint (the bundled model by default) on one repository.

The base model fixes the tokenizer and the model's shape: its weights only mean something with
both. What changes are the training defaults (`FINETUNE_DEFAULTS`): a lower learning rate with
a short warmup, since the weights are already good and a from-scratch rate would wreck them,
and limits sized so a repository of 100,000 lines fine-tunes within 15 minutes on a 2-core
laptop. The new checkpoint records its base (`base_model` in config.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grucomplete.model.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    resolve_model_dir,
)
from grucomplete.model.lm import GRUConfig, GRULanguageModel
from grucomplete.model.workspace_store import weights_fingerprint

from .config import TrainingError

# The defaults `grucomplete train --from` uses for the settings the command line leaves out.
# Sizing, measured on 2 idle CPU cores (torch 2.13, 2 threads): the bundled model (8.2M
# parameters) trains at ~2,800 tokens/s at batch 32 x window 128 and validates at ~8,900.
# 100,000 lines of Python are ~0.95M tokens (9.5 per line with the bundled tokenizer), so one
# epoch takes 0.93M / 2,800 = ~5.5 minutes, plus ~30 s of reading, tokenizing, validating and
# saving. One epoch is also the cap on a GPU, where it takes seconds: more passes over one
# repository overfit it. Cores busy with other work slow training several-fold, so the
# 12-minute budget bounds the run (and any larger repository) to well under 15 minutes.
FINETUNE_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,  # a fifth of the from-scratch peak: the weights are good, keep them near
    "warmup_steps": 10,  # the Adam moments settle fast on weights that already work
    "max_steps": None,
    "time_budget_minutes": 12.0,
    "max_epochs": 1.0,
    "eval_every": 25,  # ~9 validations per epoch of a 100k-line repository, ~1 s each
    "eval_windows": 8,  # one validation reads at most 8 x 32 x 128 = 33k tokens
    "checkpoint_every": 100,  # a resume state every ~2.5 minutes on a laptop
}
# Model settings that do not change what the weights mean: a fine-tuning run may set them.
ADJUSTABLE = frozenset({"dropout"})


@dataclass
class BaseModel:
    checkpoint: Checkpoint  # weights, tokenizer and metadata of the starting point
    record: dict[str, Any]  # what the new checkpoint's metadata says about it


def load_base_model(name: str) -> BaseModel:
    """The checkpoint `name` ("default": the bundled model) and its record for the metadata."""
    directory = resolve_model_dir(name)
    try:
        checkpoint = load_checkpoint(directory)
    except CheckpointError as e:
        raise TrainingError(f"cannot fine-tune from {name!r}: {e}") from None
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
