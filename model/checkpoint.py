"""A checkpoint is a directory: config.json + model.safetensors + tokenizer.json. No pickle.

`config.json` holds the model config, the tokenizer's fingerprint and free-form metadata
(data card, steps, validation metrics), so `cat config.json` tells what a model is. Loading
checks every file and raises one `CheckpointError` that names the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .lm import GRUConfig, GRULanguageModel
from .tokenizer import CodeTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint directory that cannot be loaded; the message names the file and why."""


@dataclass
class Checkpoint:
    model: GRULanguageModel
    tokenizer: CodeTokenizer
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in blocks (a checkpoint or an sdist can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# The models shipped in the package, each in model/<name>/: "default", and "fast" (a smaller
# GRU, about half the CPU cost per token; the server runs it where the default is too slow).
BUNDLED_MODELS = ("default", "fast")


def bundled_model_dir(name: str = "default") -> Path:
    """The directory of a bundled model (it may be absent: a source tree without its weights)."""
    return Path(str(resources.files("grucomplete.model") / name))


def default_model_dir() -> Path:
    """The model bundled with the package."""
    return bundled_model_dir("default")


def resolve_model_dir(name: str | os.PathLike[str] | None) -> Path:
    """`None` or a bundled model's name ("default", "fast") means that bundled model; anything
    else is a directory path (`./fast` for a directory of that name)."""
    if name is None:
        return default_model_dir()
    if str(name) in BUNDLED_MODELS:
        return bundled_model_dir(str(name))
    return Path(name).expanduser()


def _staged_write(path: Path, write: Any) -> Path:
    """Write through a temporary file beside `path`; returns it (the caller renames it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; a model is meant to be shared
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def save_checkpoint(
    directory: str | os.PathLike[str],
    model: GRULanguageModel,
    tokenizer: CodeTokenizer,
    metadata: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write the three files, then rename them into place (weights first, config last)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # The output layer is tied to the embedding; store the shared tensor once.
    tensors = {
        name: t.detach().to("cpu", dtype).contiguous()
        for name, t in model.state_dict().items()
        if name != "head.weight"
    }
    config = {
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "tokenizer_fingerprint": tokenizer.fingerprint,
        "metadata": metadata or {},
    }
    writers = [
        (WEIGHTS_FILE, lambda p: save_file(tensors, str(p))),
        (TOKENIZER_FILE, tokenizer.save),
        (CONFIG_FILE, lambda p: p.write_text(json.dumps(config, indent=2) + "\n")),
    ]
    # All three are written before any is replaced: a full disk or a failed write leaves the
    # previous checkpoint whole, never new weights beside an old config.
    staged: list[Path] = []
    try:
        for name, write in writers:
            staged.append(_staged_write(directory / name, write))
        for tmp, (name, _) in zip(staged, writers, strict=True):
            os.replace(tmp, directory / name)
    finally:
        for tmp in staged:
            tmp.unlink(missing_ok=True)  # only the ones not renamed are still there
    return directory


def load_checkpoint(
    directory: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> Checkpoint:
    """Load a checkpoint directory (default: the bundled model) as float32 on `device`."""
    requested = directory
    directory = resolve_model_dir(directory)
    if not directory.is_dir():
        if str(requested) in BUNDLED_MODELS:
            raise CheckpointError(
                f"{directory}: the bundled {requested!r} model is not in this installation"
            )
        raise CheckpointError(f"{directory}: model directory not found")
    for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE):
        if not (directory / name).is_file():
            raise CheckpointError(f"{directory / name}: missing (a checkpoint needs {name})")

    config_path = directory / CONFIG_FILE
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
        config = GRUConfig.from_dict(raw["model"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{config_path}: not a valid model config ({e})") from None

    tokenizer_path = directory / TOKENIZER_FILE
    try:
        tokenizer = CodeTokenizer.load(tokenizer_path)
    except Exception as e:  # the tokenizers library raises bare Exceptions on bad JSON
        raise CheckpointError(f"{tokenizer_path}: not a valid tokenizer ({e})") from None
    expected = raw.get("tokenizer_fingerprint")
    if expected and expected != tokenizer.fingerprint:
        raise CheckpointError(
            f"{tokenizer_path}: does not match the tokenizer the model was trained with "
            f"(fingerprint {tokenizer.fingerprint}, config.json expects {expected})"
        )
    if tokenizer.vocab_size != config.vocab_size:
        raise CheckpointError(
            f"{tokenizer_path}: vocabulary of {tokenizer.vocab_size} tokens, but the model "
            f"in {config_path.name} expects {config.vocab_size}"
        )

    weights_path = directory / WEIGHTS_FILE
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights_path}: unreadable weights ({e})") from None
    model = GRULanguageModel(config)
    expected_shapes = {k: v.shape for k, v in model.state_dict().items() if k != "head.weight"}
    missing = sorted(set(expected_shapes) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected_shapes))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights_path}: tensors do not fit the config (missing {missing}, "
            f"unexpected {unexpected})"
        )
    for name, shape in expected_shapes.items():
        if tensors[name].shape != shape:
            raise CheckpointError(
                f"{weights_path}: tensor {name} has shape {tuple(tensors[name].shape)}, "
                f"the config needs {tuple(shape)}"
            )
    # Copied into the model's own tensors one at a time (fp16 -> fp32 on the fly), so no
    # float copy of the whole file is ever made: loading peaks near the model's size.
    parameters = dict(model.state_dict(keep_vars=True))
    with torch.no_grad():
        for name in list(tensors):
            target = parameters[name]
            target.copy_(tensors.pop(name))
            if not torch.isfinite(target).all():
                raise CheckpointError(f"{weights_path}: tensor {name} holds NaN or infinite values")
    model.to(device).eval()
    return Checkpoint(model, tokenizer, raw.get("metadata", {}), directory)
